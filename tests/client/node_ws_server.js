// A WebSocket echo server on node `ws` (tests/node/node_modules, found via
// NODE_PATH), with the same test paths as peers.py's Python server. Prints
// its port on stdout once listening: that line is the readiness signal.
'use strict';
const { WebSocketServer } = require('ws');

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: true, // off by default in ws 8; we want it tested
  maxPayload: 64 * 1024 * 1024,
  handleProtocols: (protocols) => {
    for (const p of ['chat', 'superchat']) if (protocols.has(p)) return p;
    return false;
  },
});

wss.on('connection', (ws, req) => {
  const path = req.url;
  if (path.startsWith('/server-close')) {
    ws.close(4001, 'bye');
    return;
  }
  if (path.startsWith('/fragments')) {
    ws.send('frag', { fin: false });
    ws.send('mented', { fin: false });
    ws.send('!', { fin: true });
  }
  if (path.startsWith('/subprotocol')) ws.send('proto=' + ws.protocol);
  if (path.startsWith('/headers'))
    ws.send('x-test=' + (req.headers['x-test'] || ''));
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

wss.on('listening', () => {
  process.stdout.write(wss.address().port + '\n');
});
