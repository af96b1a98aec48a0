#!/usr/bin/env node
// integ.node_ws: the npm `ws` client (an independent RFC 6455/7692 peer)
// against the demo's /ws echo endpoint.
//
// Run through the helper, which starts and stops the demo:
//   python3 demo.py run --demo BIN -- node node_ws_test.js
// Env: WS101_DEMO_WS_URL (set by demo.py run), WS101_NODE_DIR (tests/node,
// where `npm ci` installed `ws`). Exits 77 with "SKIPPED:" if `ws` is absent.
'use strict';

const path = require('path');
const assert = require('assert/strict');
const crypto = require('crypto');
const { createRequire } = require('module');

const SKIP = 77;
const T = 15000; // ms deadline for any single wait

function skip(why) {
  const msg = `SKIPPED: ${why}`;
  const bar = '*'.repeat(Math.min(78, Math.max(20, msg.length)));
  console.log(`${bar}\n${msg}\n${bar}`);
  process.exit(SKIP);
}

const nodeDir = process.env.WS101_NODE_DIR ||
  path.join(__dirname, '..', 'node');
let WebSocket;
try {
  WebSocket = createRequire(path.join(nodeDir, 'package.json'))('ws');
} catch (e) {
  skip(`npm package 'ws' not installed in ${nodeDir} ` +
       `(run: npm ci --prefix ${nodeDir}): ${e.message}`);
}
const URL = process.env.WS101_DEMO_WS_URL;
if (!URL) {
  console.error('WS101_DEMO_WS_URL is not set; run through demo.py run');
  process.exit(2);
}

function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([
    p,
    new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`timeout: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function open(perMessageDeflate) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(URL, {
      perMessageDeflate,
      maxPayload: 32 * 1024 * 1024,
      handshakeTimeout: T,
    });
    ws.binaryType = 'nodebuffer';
    // a queue of incoming messages and a close promise
    ws.inbox = [];
    ws.waiters = [];
    ws.on('message', (data, isBinary) => {
      const m = { data, isBinary };
      const w = ws.waiters.shift();
      if (w) w(m); else ws.inbox.push(m);
    });
    ws.closed = new Promise((res) => {
      ws.on('close', (code, reason) => res({ code, reason: reason.toString() }));
    });
    ws.on('upgrade', (res) => { ws.upgradeHeaders = res.headers; });
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
    ws.on('unexpected-response', (req, res) =>
      reject(new Error(`unexpected response ${res.statusCode}`)));
  }), T, 'open');
}

function next(ws) {
  if (ws.inbox.length) return Promise.resolve(ws.inbox.shift());
  return withTimeout(new Promise((res) => ws.waiters.push(res)), T, 'message');
}

async function echo(ws, msg, opts = {}) {
  const binary = Buffer.isBuffer(msg);
  ws.send(msg, { binary, ...opts });
  const m = await next(ws);
  assert.equal(m.isBinary, binary, 'echo changed text/binary');
  if (binary) {
    assert.equal(m.data.length, msg.length);
    assert.ok(m.data.equals(msg), 'binary echo differs');
  } else {
    assert.equal(m.data.toString('utf8'), msg);
  }
}

async function closeWith(ws, code, reason) {
  ws.close(code, reason);
  return withTimeout(ws.closed, T, 'close');
}

const tests = [];
function test(name, fn) { tests.push({ name, fn }); }

const configs = [
  ['plain', false],
  ['deflate', true],
  // compress every message, empty and tiny ones included
  ['deflate-threshold0', { threshold: 0 }],
  ['deflate-params', {
    threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true,
    serverMaxWindowBits: 10, clientMaxWindowBits: 11,
  }],
];
for (const [tag, pmd] of configs) {

  test(`${tag}: extension negotiation`, async () => {
    const ws = await open(pmd);
    // ws.extensions lists only names; the raw answer has the parameters
    const ext = ws.upgradeHeaders['sec-websocket-extensions'] || '';
    if (pmd) assert.equal(ws.extensions, 'permessage-deflate');
    if (pmd) assert.match(ext, /permessage-deflate/, `got '${ext}'`);
    else assert.equal(ext, '');
    if (pmd && pmd.serverNoContextTakeover) {
      assert.match(ext, /server_no_context_takeover/, ext);
      const m = /server_max_window_bits=(\d+)/.exec(ext);
      assert.ok(m && Number(m[1]) <= 10, `server_max_window_bits in '${ext}'`);
    }
    await closeWith(ws, 1000);
  });

  test(`${tag}: text, binary, empty, unicode`, async () => {
    const ws = await open(pmd);
    await echo(ws, 'hello from node');
    await echo(ws, Buffer.from([0, 1, 2, 255, 254]));
    await echo(ws, '');
    await echo(ws, Buffer.alloc(0));
    await echo(ws, 'h\u00e9llo \u2603 \u{1F600} \u65e5\u672c');
    await echo(ws, 'compress me please '.repeat(4000));
    const c = await closeWith(ws, 1000, 'done');
    assert.equal(c.code, 1000);
  });

  test(`${tag}: large binary (3 MiB random + 2 MiB compressible)`, async () => {
    const ws = await open(pmd);
    await echo(ws, crypto.randomBytes(3 * 1024 * 1024));
    await echo(ws, Buffer.alloc(2 * 1024 * 1024, 'ab'));
    await closeWith(ws, 1000);
  });

  test(`${tag}: fragmented messages (fin: false)`, async () => {
    const ws = await open(pmd);
    ws.send('frag', { fin: false });
    ws.send('ment', { fin: false });
    ws.send('ed \u2603', { fin: true });
    let m = await next(ws);
    assert.equal(m.isBinary, false);
    assert.equal(m.data.toString(), 'fragmented \u2603');
    const parts = [Buffer.alloc(1000, 1), Buffer.alloc(70000, 2), Buffer.alloc(1, 3)];
    ws.send(parts[0], { binary: true, fin: false });
    ws.send(parts[1], { binary: true, fin: false });
    ws.send(parts[2], { binary: true, fin: true });
    m = await next(ws);
    assert.equal(m.isBinary, true);
    assert.ok(m.data.equals(Buffer.concat(parts)), 'fragmented binary differs');
    // a ping between fragments is answered and the message still arrives
    const pong = new Promise((res) => ws.once('pong', res));
    ws.send('a', { fin: false });
    ws.ping('mid');
    ws.send('b', { fin: true });
    assert.equal((await withTimeout(pong, T, 'pong')).toString(), 'mid');
    assert.equal((await next(ws)).data.toString(), 'ab');
    await closeWith(ws, 1000);
  });

  test(`${tag}: 300 messages in order`, async () => {
    const ws = await open(pmd);
    for (let i = 0; i < 300; i++) ws.send(`n${i}`);
    for (let i = 0; i < 300; i++) assert.equal((await next(ws)).data.toString(), `n${i}`);
    await closeWith(ws, 1000);
  });

  test(`${tag}: close 4000 bye is echoed`, async () => {
    const ws = await open(pmd);
    const c = await closeWith(ws, 4000, 'bye');
    assert.equal(c.code, 4000);
  });

  test(`${tag}: server close command close:4001:done`, async () => {
    const ws = await open(pmd);
    ws.send('close:4001:done');
    const c = await withTimeout(ws.closed, T, 'server close');
    assert.equal(c.code, 4001);
    assert.equal(c.reason, 'done');
  });

  test(`${tag}: server close command with 3000 and empty reason`, async () => {
    const ws = await open(pmd);
    ws.send('close:3000:');
    const c = await withTimeout(ws.closed, T, 'server close');
    assert.equal(c.code, 3000);
    assert.equal(c.reason, '');
  });
}

(async () => {
  let passed = 0, failed = 0;
  for (const t of tests) {
    try {
      await withTimeout(t.fn(), 4 * T, t.name);
      passed++;
      console.log(`ok - ${t.name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL - ${t.name}: ${e && e.stack || e}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
