// Peer server: websocket-multiplex rooms on Bun's built-in WebSocket pub/sub, at
// ws://127.0.0.1:$PORT/rooms/websocket. `sub,<topic>` is ws.subscribe(topic), `uns,<topic>` is
// ws.unsubscribe(topic), and `msg,<topic>,<payload>` from a member is server.publish(topic, ...),
// which reaches every subscriber including the sender. Run with the Bun binary from @oven/bun-linux-x64.
const port = Number(process.env.PORT || 8082);

function parse(text) {
  const a = text.indexOf(',');
  if (a < 0) return null;
  const b = text.indexOf(',', a + 1);
  return {
    type: text.slice(0, a),
    topic: b < 0 ? text.slice(a + 1) : text.slice(a + 1, b),
    payload: b < 0 ? '' : text.slice(b + 1),
  };
}

const server = Bun.serve({
  hostname: '127.0.0.1',
  port,
  fetch(req, srv) {
    if (new URL(req.url).pathname === '/rooms/websocket' && srv.upgrade(req)) return undefined;
    return new Response('not found', { status: 404 });
  },
  websocket: {
    perMessageDeflate: false,
    maxPayloadLength: 64 * 1024,
    message(ws, message) {
      if (typeof message !== 'string') return;
      const m = parse(message);
      if (!m) return;
      if (m.type === 'sub') ws.subscribe(m.topic);
      else if (m.type === 'uns') ws.unsubscribe(m.topic);
      else if (m.type === 'msg' && ws.isSubscribed(m.topic)) {
        server.publish(m.topic, 'msg,' + m.topic + ',' + m.payload);
      }
    },
  },
});

console.log(`bun-rooms (bun ${Bun.version}) listening on ${server.hostname}:${server.port}`);
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
