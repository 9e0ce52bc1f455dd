#!/usr/bin/env node
// Reference server for the interop harness: sockjs-node 0.3.24 + websocket-multiplex 0.1.0,
// mounted with the same service layout ringcast serves for these tests. The harness must
// pass against this server before its verdict on ringcast means anything.
//
//   PORT=8081 SOCKJS_URL=http://127.0.0.1:8089/sockjs.min.js node reference-server.js
//
// PORT (default 8081; 0 = any free port), HOST (default 127.0.0.1), SOCKJS_URL: the
// script URL embedded in <prefix>/iframe.html (iframe transports load it; it must be
// sockjs-client 1.6.1, the harness serves it). Prints one line with the actual address.
'use strict';

const http = require('http');
const { EventEmitter } = require('events');
const sockjs = require('sockjs');
const { MultiplexServer } = require('websocket-multiplex');

const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.env.PORT ?? 8081);
const SOCKJS_URL = process.env.SOCKJS_URL || undefined; // undefined = sockjs-node's CDN default

const common = {
  sockjs_url: SOCKJS_URL,
  log: (severity, line) => { if (severity === 'error') console.error(line); },
};

// The four services of the sockjs-protocol test suite (sockjs.md §12).
function echoService(options) {
  const service = sockjs.createServer({ ...common, ...options });
  service.on('connection', (conn) => conn.on('data', (m) => conn.write(m)));
  return service;
}
const services = {
  '/echo': echoService({ response_limit: 4096 }),
  '/disabled_websocket_echo': echoService({ websocket: false }),
  '/cookie_needed_echo': echoService({ jsessionid: true }),
  '/close': sockjs.createServer(common),
  '/rooms': sockjs.createServer(common),
};
services['/close'].on('connection', (conn) => conn.close(3000, 'Go away!'));

// /rooms: websocket-multiplex in rooms mode (multiplex.md §4).
//
// websocket-multiplex 0.1.0 ignores every message whose topic is not a key of
// `registered_channels` (it has no hook for unknown topics), so rooms are registered on
// demand: a 'data' listener added *before* the MultiplexServer's own one sees `sub,T`
// first and registers T. Topics that name an Object.prototype member (`__proto__`,
// `constructor`, ...) are never registered: websocket-multiplex keeps each connection's
// open channels in a plain object, where such a topic looks already open and its `msg`
// would throw. The registered table itself gets a null prototype for the same reason.
const MAX_TOPIC = 256;
const rooms = services['/rooms'];
rooms.on('connection', (conn) => conn.on('data', (message) => {
  if (typeof message !== 'string') return;
  const [type, topic] = message.split(',');
  if (type === 'sub' && topic !== undefined && topic.length <= MAX_TOPIC &&
      !(topic in Object.prototype) && !(topic in multiplexer.registered_channels)) {
    multiplexer.registered_channels[topic] = createRoom(topic);
  }
}));
const multiplexer = new MultiplexServer(rooms);
multiplexer.registered_channels = Object.create(null);

// A room is a websocket-multiplex channel whose handler writes every message it receives
// to every member, the sender included. `uns` and connection close emit 'close' on the
// member's channel; an empty room is forgotten.
function createRoom(topic) {
  const room = new EventEmitter();
  const members = new Set();
  room.on('connection', (channel) => {
    members.add(channel);
    channel.on('data', (payload) => { for (const m of members) m.write(payload); });
    channel.on('close', () => {
      members.delete(channel);
      if (members.size === 0 && multiplexer.registered_channels[topic] === room) {
        delete multiplexer.registered_channels[topic];
      }
    });
  });
  return room;
}

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('not found\n');
});
for (const [prefix, service] of Object.entries(services)) {
  service.installHandlers(server, { prefix });
}
server.listen(PORT, HOST, () => {
  const { port } = server.address();
  console.log(`reference server (sockjs-node 0.3.24 + websocket-multiplex 0.1.0) ` +
    `listening on http://${HOST}:${port} | services ${Object.keys(services).join(' ')} | ` +
    `sockjs_url ${SOCKJS_URL || '(sockjs-node default)'}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
