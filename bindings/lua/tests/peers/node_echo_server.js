#!/usr/bin/env node
// The npm `ws` server (an independent RFC 6455/7692 peer) for the Lua
// client tests: echoes every message with its type, accepts the "chat"
// subprotocol, offers permessage-deflate. Prints
// "listening on ws://127.0.0.1:PORT/" when ready; exits on SIGTERM.
// Env: WS101_NODE_DIR (tests/node, where npm installed `ws`).
'use strict';
const path = require('path');
const { createRequire } = require('module');
const nodeDir = process.env.WS101_NODE_DIR || path.join(__dirname, '..', '..', '..', '..', 'tests', 'node');
let WebSocketServer;
try {
  ({ WebSocketServer } = createRequire(path.join(nodeDir, 'package.json'))('ws'));
} catch (e) {
  console.log('SKIPPED: npm ws not installed in ' + nodeDir);
  process.exit(77);
}
const wss = new WebSocketServer({
  host: '127.0.0.1', port: 0, perMessageDeflate: true,
  handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => {
  console.log(`listening on ws://127.0.0.1:${wss.address().port}/`);
});
process.on('SIGTERM', () => process.exit(0));
