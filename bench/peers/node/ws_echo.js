'use strict';
// Echo peer: node `ws`. usage: node ws_echo.js PORT
// WebSocket echo at ws://127.0.0.1:PORT/ws (text->text, binary->binary) and
// "hello" at GET /hello on the same port. permessage-deflate is offered when
// the client asks (ws' default threshold: messages under 1024 B go out
// uncompressed). Prints "listening on http://127.0.0.1:PORT/" once ready.
const http = require('http');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2]);
const server = http.createServer((req, res) => {
  if (req.url === '/hello') {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 5 });
    res.end('hello');
  } else {
    res.writeHead(404, { 'Content-Length': 0 });
    res.end();
  }
});
const wss = new WebSocketServer({
  server,
  path: '/ws',
  maxPayload: 64 * 1024 * 1024,
  perMessageDeflate: { clientNoContextTakeover: true },
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => {
  console.log(`listening on http://127.0.0.1:${port}/`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
