'use strict';
// Peer server: websocket-multiplex rooms on the Node `ws` library, at ws://127.0.0.1:$PORT/rooms/websocket.
// `sub,<topic>` joins, `uns,<topic>` leaves, `msg,<topic>,<payload>` from a member goes to every
// member (sender included) as `msg,<topic>,<payload>`. Written the way a careful Node developer would:
// the outgoing text is encoded once per publish and that buffer is sent to every member.
const { WebSocketServer } = require('ws');

const port = Number(process.env.PORT || 8081);
const rooms = new Map(); // topic -> Set<WebSocket>

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

function join(ws, joined, topic) {
  let members = rooms.get(topic);
  if (!members) rooms.set(topic, (members = new Set()));
  members.add(ws);
  joined.add(topic);
}

function leave(ws, joined, topic) {
  const members = rooms.get(topic);
  if (members) {
    members.delete(ws);
    if (members.size === 0) rooms.delete(topic);
  }
  joined.delete(topic);
}

function publish(topic, payload) {
  const frame = Buffer.from('msg,' + topic + ',' + payload);
  for (const member of rooms.get(topic)) member.send(frame, { binary: false });
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  path: '/rooms/websocket',
  perMessageDeflate: false,
  clientTracking: false,
  maxPayload: 64 * 1024,
});

wss.on('connection', (ws) => {
  const joined = new Set();
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const m = parse(data.toString());
    if (!m) return;
    if (m.type === 'sub') join(ws, joined, m.topic);
    else if (m.type === 'uns') leave(ws, joined, m.topic);
    else if (m.type === 'msg' && joined.has(m.topic)) publish(m.topic, m.payload);
  });
  ws.on('close', () => {
    for (const topic of [...joined]) leave(ws, joined, topic);
  });
});

wss.on('listening', () => console.log(`ws-rooms (node ${process.version}, ws 8) listening on 127.0.0.1:${port}`));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
