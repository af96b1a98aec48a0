// wss_load.js - a WebSocket echo load generator that speaks ws:// and
// wss:// (bench/wsload.c has no TLS), for bench/tls_echo.sh. It is slower
// than wsload, so tls_echo.sh compares servers by the instructions they
// spend per message under callgrind, which does not depend on how fast the
// load is offered.
//
//   node wss_load.js URL CONNECTIONS PIPELINE SIZE SECONDS [--gate]
//
// Each connection keeps PIPELINE messages of SIZE bytes (text below 1 KiB,
// binary from 1 KiB) in flight for SECONDS, then prints one JSON line
// {"messages": N, "errors": E}. Certificates are not verified: the bench
// makes its own throw-away ones. With --gate it prints "OPEN" on stderr once
// every connection is open and starts sending only when a line arrives on
// stdin, so a profiler can leave the handshakes out.
'use strict';
const WebSocket = require('ws');

const [url, conns, pipeline, size, seconds, gateArg] = process.argv.slice(2);
const gate = gateArg === '--gate';
const N = Number(conns), P = Number(pipeline), S = Number(size);
const binary = S >= 1024;
const payload = binary ? Buffer.alloc(S, 7) : 'x'.repeat(S);
let messages = 0, errors = 0, open = 0, running = true;
const sockets = [];

function done() {
  running = false;
  for (const ws of sockets) ws.terminate();
  process.stdout.write(JSON.stringify({ messages, errors }) + '\n');
  process.exit(0);
}

for (let i = 0; i < N; i++) {
  const ws = new WebSocket(url, { rejectUnauthorized: false, perMessageDeflate: false });
  sockets.push(ws);
  ws.on('open', () => {
    open++;
    if (open < N) return;
    const start = () => {
      for (const s of sockets)
        for (let k = 0; k < P; k++) s.send(payload, { binary });
      setTimeout(done, Number(seconds) * 1000);
    };
    if (!gate) return start();
    process.stderr.write('OPEN\n');
    process.stdin.once('data', start);
  });
  ws.on('message', () => {
    if (!running) return;
    messages++;
    ws.send(payload, { binary });
  });
  ws.on('error', () => { errors++; });
}
// Bounded whatever happens: connections that never open end the run too.
setTimeout(done, (Number(seconds) + 120) * 1000).unref();
