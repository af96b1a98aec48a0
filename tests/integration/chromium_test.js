#!/usr/bin/env node
// integ.chromium: headless Chromium (driven by puppeteer-core) loads the
// demo page, echoes through window.ws101Echo, and opens its own WebSocket to
// check that permessage-deflate was negotiated with a real browser.
//
// Run through the helper, which starts and stops the demo:
//   python3 demo.py run --demo BIN -- node chromium_test.js
// Env: WS101_DEMO_URL (set by demo.py run), WS101_NODE_DIR (tests/node),
// WS101_CHROMIUM (default /usr/bin/chromium), WS101_TEST_CA_SPKI (base64
// SHA-256 of the test CA's public key: Chromium then trusts that CA, for
// the https:// run in tests/tls/test_tls_chromium.py). Exits 77 with "SKIPPED:" when
// Chromium or puppeteer-core is missing.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const assert = require('assert/strict');
const { createRequire } = require('module');

const SKIP = 77;
const T = 20000;

function skip(why) {
  const msg = `SKIPPED: ${why}`;
  const bar = '*'.repeat(Math.min(78, Math.max(20, msg.length)));
  console.log(`${bar}\n${msg}\n${bar}`);
  process.exit(SKIP);
}

const chromium = process.env.WS101_CHROMIUM || '/usr/bin/chromium';
try {
  fs.accessSync(chromium, fs.constants.X_OK);
} catch (e) {
  skip(`${chromium} is missing (apt-get install chromium)`);
}
const nodeDir = process.env.WS101_NODE_DIR || path.join(__dirname, '..', 'node');
let puppeteer;
try {
  puppeteer = createRequire(path.join(nodeDir, 'package.json'))('puppeteer-core');
} catch (e) {
  skip(`npm package 'puppeteer-core' not installed in ${nodeDir} ` +
       `(run: npm ci --prefix ${nodeDir}): ${e.message}`);
}
const BASE = process.env.WS101_DEMO_URL;
if (!BASE) {
  console.error('WS101_DEMO_URL is not set; run through demo.py run');
  process.exit(2);
}

let passed = 0, failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL - ${name}: ${e && e.stack || e}`);
  }
}

(async () => {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws101-chromium-'));
  let browser;
  const killer = setTimeout(() => {
    console.log('FAIL - overall deadline (100 s) passed');
    if (browser && browser.process()) browser.process().kill('SIGKILL');
    process.exit(1);
  }, 100000);
  try {
    browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true, // the --headless=new flag below is what Chromium sees
      timeout: T,
      protocolTimeout: T,
      args: [
        '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic',
        '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync',
        `--user-data-dir=${userDir}`,
      ].concat(process.env.WS101_TEST_CA_SPKI
        ? [`--ignore-certificate-errors-spki-list=${process.env.WS101_TEST_CA_SPKI}`]
        : []),
    });
    const page = await browser.newPage();
    page.setDefaultTimeout(T);
    const consoleLines = [];
    page.on('console', (m) => consoleLines.push(m.text()));
    page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));

    // Watch the handshake at the network layer too (CDP).
    const cdp = await page.createCDPSession();
    await cdp.send('Network.enable');
    const handshakes = [];
    cdp.on('Network.webSocketHandshakeResponseReceived', (ev) =>
      handshakes.push(ev.response));

    await check('page loads with 200 text/html', async () => {
      const resp = await page.goto(BASE + '/', { waitUntil: 'load', timeout: T });
      assert.equal(resp.status(), 200);
      assert.match(resp.headers()['content-type'] || '', /^text\/html/);
      if (BASE.startsWith('https:')) {
        const sec = resp.securityDetails();
        assert.ok(sec, 'no TLS security details for an https page');
        assert.match(sec.protocol(), /^TLS 1\.[23]$/);
        console.log(`   (TLS: ${sec.protocol()}, issuer ${sec.issuer()})`);
      }
      await page.waitForFunction('typeof window.ws101Echo === "function"',
        { timeout: T });
    });

    await check('window.ws101Echo echoes several messages', async () => {
      const msgs = ['hello', '', 'h\u00e9llo \u2603 \u{1F600}',
        'x'.repeat(70000), 'compressible '.repeat(20000)];
      for (const m of msgs) {
        const got = await page.evaluate((s) => window.ws101Echo(s), m);
        assert.equal(got, m, `echo of a ${m.length}-char message differs`);
      }
      // concurrent calls keep their order
      const many = await page.evaluate(async () => {
        const ps = [];
        for (let i = 0; i < 50; i++) ps.push(window.ws101Echo(`c${i}`));
        return Promise.all(ps);
      });
      assert.deepEqual(many, Array.from({ length: 50 }, (_, i) => `c${i}`));
    });

    await check('own WebSocket: permessage-deflate negotiated, echo works',
      async () => {
        const r = await page.evaluate(async () => {
          const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
          const ws = new WebSocket(`${scheme}://${location.host}/ws`);
          ws.binaryType = 'arraybuffer';
          const opened = await new Promise((res) => {
            ws.onopen = () => res(true);
            ws.onerror = () => res(false);
          });
          if (!opened) return { opened };
          const recv = () => new Promise((res) => { ws.onmessage = (e) => res(e.data); });
          const out = { opened, extensions: ws.extensions, protocol: ws.protocol };
          let p = recv(); ws.send('in the browser'); out.text = await p;
          const bin = new Uint8Array(300000);
          for (let i = 0; i < bin.length; i++) bin[i] = (i * 7) & 0xff;
          p = recv(); ws.send(bin); const back = new Uint8Array(await p);
          out.binOk = back.length === bin.length && back.every((v, i) => v === bin[i]);
          const closed = new Promise((res) => { ws.onclose = (e) => res([e.code, e.reason]); });
          ws.send('close:4001:done');
          out.close = await closed;
          return out;
        });
        assert.equal(r.opened, true, 'WebSocket did not open');
        assert.match(r.extensions, /permessage-deflate/,
          `ws.extensions = '${r.extensions}'`);
        assert.equal(r.text, 'in the browser');
        assert.equal(r.binOk, true, 'binary echo differs');
        assert.deepEqual(r.close, [4001, 'done']);
      });

    // Over https Chromium speaks HTTP/2 (ALPN h2) and opens WebSockets as
    // RFC 8441 extended CONNECTs, answered 200 on a stream; over http it
    // is the HTTP/1.1 upgrade, answered 101.
    const overH2 = BASE.startsWith('https:');
    await check(`CDP saw a ${overH2 ? '200 (RFC 8441)' : '101'} with permessage-deflate`, async () => {
      assert.ok(handshakes.length >= 1, 'no WebSocket handshake seen');
      for (const h of handshakes) {
        assert.equal(h.status, overH2 ? 200 : 101);
        const ext = Object.entries(h.headers)
          .filter(([k]) => k.toLowerCase() === 'sec-websocket-extensions')
          .map(([, v]) => v).join(',');
        assert.match(ext, /permessage-deflate/, JSON.stringify(h.headers));
      }
    });

    if (overH2) {
      await check('the server counted the WebSockets on HTTP/2 streams', async () => {
        const st = await page.evaluate(async () => (await fetch('/stats')).json());
        assert.equal(st.http_version, 20, JSON.stringify(st));
        assert.ok(st.h2_websockets >= 2, `h2 WebSockets: ${JSON.stringify(st)}`);
      });
    }

    await check('fetch /hello and POST /echo from the page', async () => {
      const r = await page.evaluate(async () => {
        const a = await fetch('/hello');
        const b = await fetch('/echo', { method: 'POST', body: 'posted \u2603' });
        const c = await fetch('/nope');
        return [a.status, await a.text(), b.status, await b.text(), c.status];
      });
      assert.deepEqual(r, [200, 'hello from libws101\n', 200, 'posted \u2603', 404]);
    });

    if (failed) console.log('page console:\n' + consoleLines.join('\n'));
  } catch (e) {
    failed++;
    console.log(`FAIL - browser: ${e && e.stack || e}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    clearTimeout(killer);
    fs.rmSync(userDir, { recursive: true, force: true });
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
