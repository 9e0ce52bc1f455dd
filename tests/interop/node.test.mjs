// Node-side interop: the real sockjs-client 1.6.1 and the real websocket-multiplex 0.1.0
// client against the server at INTEROP_URL, once per transport sockjs-client has in Node.
// Run: INTEROP_URL=http://127.0.0.1:8080 node --test node.test.mjs
//
// Test names cite the spec checklists: "sockjs #N" = sockjs.md §15 item N,
// "multiplex #N" = multiplex.md §6 item N.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE, TEST_TIMEOUT, QUIET_MS, Client, ECHO_MESSAGES, bigMessage, loadWebSocketMultiplex,
  sleep, uid, until,
} from './helpers.mjs';

// Node has no global EventSource in v20; sockjs-client's Node build brings its own driver
// (the `eventsource` npm package), so the eventsource transport works here too.
const TRANSPORTS = ['websocket', 'xhr-streaming', 'xhr-polling', 'eventsource'];

// The checklist items each transport exercises for a plain echo round trip.
const ECHO_ITEMS = {
  websocket: 'sockjs #67',
  'xhr-streaming': 'sockjs #34-35',
  'xhr-polling': 'sockjs #18-20',
  eventsource: 'sockjs #41-42',
};
const CLOSE_ITEMS = {
  websocket: 'sockjs #69',
  'xhr-streaming': 'sockjs #38',
  'xhr-polling': 'sockjs #30',
  eventsource: 'sockjs #41, §6.6',
};

const WebSocketMultiplex = loadWebSocketMultiplex();
console.log(`# target ${BASE}`);

/** Wraps a test body: `open(path, transport)` opens clients that are all closed at the end. */
function scenario(fn) {
  return async () => {
    const opened = [];
    const open = async (path, transport) => {
      const client = await Client.open(path, transport);
      opened.push(client);
      assert.equal(client.transport, transport, 'sockjs-client used the forced transport');
      return client;
    };
    try { await fn(open); } finally { for (const c of opened) c.close(); }
  };
}

/**
 * Subscribes `client` to `topic` with a websocket-multiplex channel and waits until the
 * server has processed the `sub`: the member publishes a probe and waits for its own copy
 * (rooms deliver to the sender too). Returns { channel, got: payloads received }.
 */
async function join(client, topic) {
  client.mux ??= new WebSocketMultiplex(client.sock);
  const channel = client.mux.channel(topic);
  const got = [];
  channel.addEventListener('message', (e) => got.push(e.data));
  await new Promise((resolve) => channel.addEventListener('open', resolve));
  const member = { channel, got, topic };
  await sync(member);
  return member;
}

/** Barrier: everything this member sent before is processed once its probe comes back. */
async function sync(member) {
  const probe = `probe-${uid()}`;
  member.channel.send(probe);
  await until(() => member.got.includes(probe), `own probe on ${member.topic}`);
}

/** Payloads received on a channel, probes removed. */
const payloads = (member) => member.got.filter((p) => !p.startsWith('probe-'));

for (const transport of TRANSPORTS) {
  describe(`node sockjs-client [${transport}]`, () => {
    const opts = { timeout: TEST_TIMEOUT };

    // Every ASCII and Unicode message (emoji, U+2028/2029, controls, JSON specials, `%`)
    // comes back unchanged and in order: the server decodes client JSON and re-encodes
    // per sockjs.md §5.2 so that sockjs-client decodes the same string.
    test(`[${transport}] echo ASCII and Unicode messages round-trip in order (${ECHO_ITEMS[transport]}, #77-78)`, opts,
      scenario(async (open) => {
        const c = await open('/echo', transport);
        const all = [...ECHO_MESSAGES.ascii, ...ECHO_MESSAGES.unicode];
        for (const m of all) c.send(m);
        await c.received(all.length);
        assert.deepEqual(c.messages, all);
      }));

    // A 64 KiB message survives the transport intact. On the streaming transports it also
    // crosses the echo service's 4096-byte response_limit, so the client must reconnect
    // its receiver and lose nothing (sockjs #36, #43).
    test(`[${transport}] echo a 64 KiB message intact (sockjs §6.3 response_limit, #36, #43)`, opts,
      scenario(async (open) => {
        const c = await open('/echo', transport);
        const big = bigMessage();
        c.send(big);
        c.send('after-big');
        await c.received(2);
        assert.equal(c.messages[0].length, big.length);
        assert.ok(c.messages[0] === big, '64 KiB message came back byte-identical');
        assert.equal(c.messages[1], 'after-big');
      }));

    // Client-initiated close: the close event is the client's own 1000 "Normal closure",
    // and nothing arrives afterwards.
    test(`[${transport}] client close gives close event 1000 "Normal closure"`, opts,
      scenario(async (open) => {
        const c = await open('/echo', transport);
        c.send('before-close');
        await c.received(1);
        c.sock.close();
        const ev = await c.closed();
        assert.deepEqual([ev.code, ev.reason], [1000, 'Normal closure']);
        await sleep(QUIET_MS);
        assert.deepEqual(c.messages, ['before-close']);
      }));

    // Server-initiated close: /close opens the session then closes it with 3000 "Go away!";
    // sockjs-client sees open, then a close event with that code and reason.
    test(`[${transport}] server close on /close gives close event 3000 "Go away!" (${CLOSE_ITEMS[transport]})`, opts,
      scenario(async (open) => {
        const c = await open('/close', transport);
        const ev = await c.closed();
        assert.deepEqual([ev.code, ev.reason], [3000, 'Go away!']);
        assert.deepEqual(c.messages, []);
      }));

    // Two members of a room: `sub` sends nothing back, a `msg` reaches every member with
    // the sender included, and a payload with commas (also empty fields) arrives verbatim.
    test(`[${transport}] rooms: sub is silent, msg reaches every member incl. sender, commas kept (multiplex #8, #9, #2)`, opts,
      scenario(async (open) => {
        const red = `red-${uid()}`;
        const A = await open('/rooms', transport);
        const B = await open('/rooms', transport);
        const a = await join(A, red);
        // Only A's own probe so far: the sub produced no greeting or join notice.
        assert.deepEqual(A.messages, [`msg,${red},${a.got[0]}`]);
        const b = await join(B, red);
        assert.equal(B.messages.length, 1, 'B saw only its own probe after sub');

        const payload = 'hi,there,,with,commas,';
        a.channel.send(payload);
        await until(() => payloads(a).length && payloads(b).length, 'delivery to A and B');
        assert.deepEqual(payloads(a), [payload]);
        assert.deepEqual(payloads(b), [payload]);
        assert.ok(B.messages.includes(`msg,${red},${payload}`), 'wire form is msg,T,P');
      }));

    // Messages go only to members: a non-member's msg is dropped (nobody gets it), and a
    // member of red never receives traffic of a room it did not subscribe to.
    test(`[${transport}] rooms: non-member msg dropped, unsubscribed room not received (multiplex #4, #10)`, opts,
      scenario(async (open) => {
        const red = `red-${uid()}`, blue = `blue-${uid()}`;
        const A = await open('/rooms', transport);
        const B = await open('/rooms', transport);
        const C = await open('/rooms', transport);
        const aRed = await join(A, red);
        const bRed = await join(B, red);
        const bBlue = await join(B, blue);
        const cBlue = await join(C, blue);

        C.send(`msg,${red},intruder`);      // C never subscribed to red
        await sync(cBlue);                  // ...and the server has processed it
        bBlue.channel.send('blue-only');    // A is not in blue
        await until(() => payloads(cBlue).includes('blue-only'), 'blue delivery');
        await sleep(QUIET_MS);

        for (const [name, c] of [['A', A], ['B', B], ['C', C]]) {
          assert.ok(!c.messages.some((m) => m.includes('intruder')), `${name} got the intruder`);
        }
        assert.ok(!A.messages.some((m) => m.startsWith(`msg,${blue},`)), 'A got blue traffic');
        assert.deepEqual(payloads(bBlue), ['blue-only']);
        assert.deepEqual(payloads(aRed), []);
        assert.deepEqual(payloads(bRed), []);
      }));

    // Closing a channel (uns) stops delivery to that member at once and sends nothing
    // back; subscribing again afterwards is a fresh, working subscription.
    test(`[${transport}] rooms: uns stops delivery, re-sub works (multiplex #11, #14)`, opts,
      scenario(async (open) => {
        const red = `red-${uid()}`;
        const A = await open('/rooms', transport);
        const B = await open('/rooms', transport);
        const a = await join(A, red);
        const b = await join(B, red);
        const bSync = await join(B, `sync-${uid()}`);

        b.channel.close();                  // sends uns,red
        await sync(bSync);                  // uns processed
        const seenByB = B.messages.length;
        a.channel.send('after-uns');
        await until(() => payloads(a).includes('after-uns'), 'A gets its own message');
        await sleep(QUIET_MS);
        assert.equal(B.messages.length, seenByB, 'B received nothing after uns (not even a reply)');

        const b2 = await join(B, red);      // re-subscribe
        a.channel.send('again');
        await until(() => payloads(b2).includes('again') && payloads(a).includes('again'), 'both get "again"');
        assert.deepEqual(payloads(a), ['after-uns', 'again']);
        assert.deepEqual(payloads(b2), ['again']);
        assert.deepEqual(payloads(b), [], 'the closed channel object got nothing');
      }));

    // A connection that closes leaves all its rooms; the others keep receiving.
    test(`[${transport}] rooms: a closed connection leaves its rooms, others still receive (multiplex #15)`, opts,
      scenario(async (open) => {
        const red = `red-${uid()}`;
        const A = await open('/rooms', transport);
        const B = await open('/rooms', transport);
        const C = await open('/rooms', transport);
        await join(A, red);
        const b = await join(B, red);
        const c = await join(C, red);
        A.sock.close();
        await A.closed();
        const seenByA = A.messages.length;
        b.channel.send('5');
        await until(() => payloads(b).includes('5') && payloads(c).includes('5'), 'B and C get "5"');
        assert.equal(A.messages.length, seenByA);
      }));

    // One sender's messages reach every member in send order (sockjs-client batches sends
    // on HTTP transports, so several arrive in one frame), and payloads with JSON-special
    // characters, U+2028 and astral characters arrive byte-identical.
    test(`[${transport}] rooms: per-sender order kept, JSON-special payloads intact (multiplex #16, #17)`, opts,
      scenario(async (open) => {
        const red = `red-${uid()}`;
        const A = await open('/rooms', transport);
        const B = await open('/rooms', transport);
        const a = await join(A, red);
        const b = await join(B, red);
        const sent = [];
        for (let i = 0; i < 20; i++) sent.push(`seq-${i}`);
        sent.push('q"\\\u2028 😀 %25 \u0000 [",]');
        for (const p of sent) a.channel.send(p);
        await until(() => payloads(b).length >= sent.length && payloads(a).length >= sent.length, 'all messages');
        assert.deepEqual(payloads(b), sent);
        assert.deepEqual(payloads(a), sent);
      }));
  });
}

// One room with a member on every Node transport: a publish on any transport reaches
// members on all the others (one room table for every transport, multiplex §4).
test('rooms across transports: members on websocket, xhr-streaming, xhr-polling, eventsource all see every publish (multiplex §4)',
  { timeout: TEST_TIMEOUT }, scenario(async (open) => {
    const room = `mixed-${uid()}`;
    const members = [];
    for (const t of TRANSPORTS) members.push(await join(await open('/rooms', t), room));
    for (const [i, m] of members.entries()) m.channel.send(`from-${TRANSPORTS[i]}`);
    const expected = TRANSPORTS.map((t) => `from-${t}`).sort();
    await until(() => members.every((m) => payloads(m).length >= expected.length), 'every publish everywhere');
    for (const [i, m] of members.entries()) {
      assert.deepEqual([...payloads(m)].sort(), expected, `member on ${TRANSPORTS[i]}`);
    }
  }));

// The other two sockjs-protocol test services, seen from the client: /info's
// "websocket":false makes sockjs-client refuse the websocket transport (it closes with
// 2000 "All transports failed" without trying), while HTTP transports still echo.
test('disabled_websocket_echo: client refuses websocket, xhr-streaming echoes (sockjs #14)',
  { timeout: TEST_TIMEOUT }, scenario(async (open) => {
    await assert.rejects(Client.open('/disabled_websocket_echo', 'websocket'), /2000 All transports failed/);
    const c = await open('/disabled_websocket_echo', 'xhr-streaming');
    c.send('still works');
    await c.received(1);
    assert.deepEqual(c.messages, ['still works']);
  }));

// jsessionid on (cookie_needed: true in /info) changes nothing for these clients: every
// transport still opens and echoes.
test('cookie_needed_echo: every Node transport opens and echoes (sockjs #58-60)',
  { timeout: TEST_TIMEOUT }, scenario(async (open) => {
    for (const t of TRANSPORTS) {
      const c = await open('/cookie_needed_echo', t);
      c.send(`via ${t}`);
      await c.received(1);
      assert.deepEqual(c.messages, [`via ${t}`]);
    }
  }));
