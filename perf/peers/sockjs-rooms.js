'use strict';
// Peer server: sockjs-node 0.3.24 + websocket-multiplex 0.1.0 with sockjs-rooms semantics, SockJS
// prefix /rooms on 127.0.0.1:$PORT. Serves the SockJS transports (websocket at
// /rooms/<server>/<session>/websocket) and sockjs-node's raw WebSocket at /rooms/websocket; the
// multiplex messages are the same on both. A channel's handler writes each message to every
// subscriber of that topic, sender included. websocket-multiplex only routes registered channels,
// so a channel is registered (through its public registerChannel) the first time anyone subscribes.
const http = require('http');
const sockjs = require('sockjs');
const { MultiplexServer } = require('websocket-multiplex');

const port = Number(process.env.PORT || 8083);
const service = sockjs.createServer({ log: () => {} });

// Registered before the MultiplexServer's own listener, so this runs first for every message.
service.on('connection', (conn) => {
  if (!conn) return;
  conn.on('data', (message) => {
    if (!message.startsWith('sub,')) return;
    const topic = message.split(',')[1];
    if (!(topic in mux.registered_channels)) openRoom(topic);
  });
});
const mux = new MultiplexServer(service);

function openRoom(topic) {
  const members = new Set();
  mux.registerChannel(topic).on('connection', (channel) => {
    members.add(channel);
    channel.on('data', (payload) => {
      for (const member of members) member.write(payload);
    });
    channel.on('close', () => members.delete(channel));
  });
}

openRoom('bench');

const server = http.createServer();
service.installHandlers(server, { prefix: '/rooms' });
server.listen(port, '127.0.0.1', () => {
  console.log(`sockjs-rooms (node ${process.version}, sockjs 0.3.24, websocket-multiplex 0.1.0) listening on 127.0.0.1:${port}`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
