// The example programs (examples/*.rs) driven by the real sockjs-client 1.6.1 and the real
// websocket-multiplex 0.1.0 client, once per transport sockjs-client has in Node.
// Each example runs on its own; its base URL comes from an environment variable:
//
//   EXAMPLE_SOCKJS_ECHO=http://127.0.0.1:P1 EXAMPLE_ROOMS_CHANNELS=http://127.0.0.1:P2 \
//   EXAMPLE_CHAT=http://127.0.0.1:P3 EXAMPLE_TICKER=http://127.0.0.1:P4 \
//     node --test examples.test.mjs
//
// scripts/examples.sh starts the four examples (2 shards, io_uring then epoll) and runs
// this file. Tests of an example whose variable is unset are skipped.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SockJS, Client, TEST_TIMEOUT, QUIET_MS, ECHO_MESSAGES, loadWebSocketMultiplex, sleep, uid, until,
} from './helpers.mjs';

const TRANSPORTS = ['websocket', 'xhr-streaming', 'xhr-polling', 'eventsource'];
const WebSocketMultiplex = loadWebSocketMultiplex();

/** Base URL of each example, without a trailing slash (undefined when not set). */
const URLS = {
  sockjs_echo: process.env.EXAMPLE_SOCKJS_ECHO,
  rooms_channels: process.env.EXAMPLE_ROOMS_CHANNELS,
  chat: process.env.EXAMPLE_CHAT,
  ticker: process.env.EXAMPLE_TICKER,
};
for (const k of Object.keys(URLS)) URLS[k] = URLS[k]?.replace(/\/+$/, '');

/** Test options: the per-test limit, and a skip reason when the example's URL is unset. */
const opts = (example, timeout = TEST_TIMEOUT) => ({
  timeout,
  skip: URLS[example] ? false : `EXAMPLE_${example.toUpperCase()} not set`,
});

/** A sockjs-client connection to `url`, forced onto `transport` (helpers' Client). */
function openAt(url, transport) {
  return new Promise((resolve, reject) => {
    const sock = new SockJS(url, null, { transports: [transport], timeout: 5000 });
    const client = new Client(sock);
    sock.onopen = () => { client.transport = sock.transport; resolve(client); };
    sock.addEventListener('close', (e) => {
      if (!client.transport) reject(new Error(`${transport} to ${url} closed before open: ${e.code} ${e.reason}`));
    });
  });
}

/** Wraps a test body: `open(path, transport)` opens clients on `example`, all closed at the end. */
function scenario(example, fn) {
  return async () => {
    const opened = [];
    const open = async (path, transport) => {
      const client = await openAt(URLS[example] + path, transport);
      opened.push(client);
      assert.equal(client.transport, transport, 'sockjs-client used the forced transport');
      return client;
    };
    try { await fn(open); } finally { for (const c of opened) c.close(); }
  };
}

/** Resolves once `client` has received `line`. */
const receivedLine = (client, line, ms) => until(() => client.messages.includes(line), `"${line}"`, ms);

// ---------------------------------------------------------------------------------------
// sockjs_echo: every message comes back to its sender, unchanged and in order.

for (const transport of TRANSPORTS) {
  test(`sockjs_echo [${transport}]: ASCII, Unicode and 50 numbered messages echo back in order`,
    opts('sockjs_echo'), scenario('sockjs_echo', async (open) => {
      const c = await open('/echo', transport);
      const sent = [...ECHO_MESSAGES.ascii, ...ECHO_MESSAGES.unicode];
      for (let i = 0; i < 50; i++) sent.push(`n-${i}`);
      for (const m of sent) c.send(m);
      await c.received(sent.length);
      assert.deepEqual(c.messages, sent);
    }));
}

// ---------------------------------------------------------------------------------------
// rooms_channels: websocket-multiplex channels red (greets), bob, carl, latency (echo).

/** Opens channel `name` on `client` and collects its payloads. */
function channel(client, name) {
  client.mux ??= new WebSocketMultiplex(client.sock);
  const ch = client.mux.channel(name);
  const got = [];
  ch.addEventListener('message', (e) => got.push(e.data));
  return { ch, got, opened: new Promise((r) => ch.addEventListener('open', r)) };
}

for (const transport of TRANSPORTS) {
  describe(`rooms_channels [${transport}]`, () => {
    test(`rooms_channels [${transport}]: red greets "Red is connected", then echoes to the sender only`,
      opts('rooms_channels'), scenario('rooms_channels', async (open) => {
        const A = await open('/multiplex', transport);
        const B = await open('/multiplex', transport);
        const a = channel(A, 'red');
        const b = channel(B, 'red');
        await until(() => a.got.length && b.got.length, 'both greetings');
        a.ch.send('hello, red, with commas');
        await until(() => a.got.length >= 2, 'echo on red');
        await sleep(QUIET_MS);
        assert.deepEqual(a.got, ['Red is connected', 'hello, red, with commas']);
        assert.deepEqual(b.got, ['Red is connected'], 'an echo reaches no other member');
        assert.deepEqual(A.messages, ['msg,red,Red is connected', 'msg,red,hello, red, with commas']);
      }));

    test(`rooms_channels [${transport}]: bob, carl and latency echo without a greeting, each on its own channel`,
      opts('rooms_channels'), scenario('rooms_channels', async (open) => {
        const c = await open('/multiplex', transport);
        const names = ['bob', 'carl', 'latency'];
        const chans = names.map((n) => channel(c, n));
        await Promise.all(chans.map((x) => x.opened));
        const stamp = String(Date.now());
        chans.forEach((x, i) => x.ch.send(i === 2 ? stamp : `to ${names[i]}`));
        await until(() => chans.every((x) => x.got.length >= 1), 'three echoes');
        await sleep(QUIET_MS);
        assert.deepEqual(chans.map((x) => x.got), [['to bob'], ['to carl'], [stamp]]);
      }));
  });
}

test('rooms_channels: / serves the page with the sockjs-client and websocket-multiplex scripts',
  opts('rooms_channels'), async () => {
    const res = await fetch(`${URLS.rooms_channels}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/html/);
    const body = await res.text();
    for (const src of ['https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js',
      'https://cdn.jsdelivr.net/npm/websocket-multiplex@0.1.0/multiplex_client.js']) {
      assert.ok(body.includes(`<script src="${src}"></script>`), `script tag for ${src}`);
    }
    assert.ok(body.includes("'/multiplex'"), 'the page connects to /multiplex');
  });

// ---------------------------------------------------------------------------------------
// chat: nickname first, then /join <room>; notices, broadcast lines, history replay.

/** Connects, names the client `nick` and moves it to `room`; returns the client. */
async function enter(open, transport, nick, room) {
  const c = await open('/chat', transport);
  await receivedLine(c, '* send your nickname');
  c.send(nick);
  await receivedLine(c, '* you joined lobby');
  c.send(`/join ${room}`);
  await receivedLine(c, `* you joined ${room}`);
  return c;
}

/** What `client` received after `* you joined lobby` and before `* you joined <room>`. */
function replayed(client, room) {
  const from = client.messages.indexOf('* you joined lobby');
  const to = client.messages.indexOf(`* you joined ${room}`);
  return client.messages.slice(from + 1, to);
}

for (const transport of TRANSPORTS) {
  test(`chat [${transport}]: join notice, "alice: hi" to all, history replay to a third joiner, leave notice`,
    opts('chat'), scenario('chat', async (open) => {
      const id = uid(), room = `room-${id}`;
      const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((n) => `${n}_${id}`);
      const A = await enter(open, transport, alice, room);
      assert.deepEqual(replayed(A, room), [], 'a new room has no history');
      const B = await enter(open, transport, bob, room);
      await receivedLine(A, `* ${bob} joined`);

      A.send('hi');
      await receivedLine(B, `${alice}: hi`);
      await receivedLine(A, `${alice}: hi`);
      B.send('hello, alice');
      await receivedLine(A, `${bob}: hello, alice`);

      const C = await enter(open, transport, carol, room);
      assert.deepEqual(replayed(C, room), [`${alice}: hi`, `${bob}: hello, alice`]);
      await receivedLine(A, `* ${carol} joined`);
      await receivedLine(B, `* ${carol} joined`);

      C.close();
      await receivedLine(A, `* ${carol} left`);
      await receivedLine(B, `* ${carol} left`);
      assert.ok(!B.messages.includes(`* ${bob} joined`), 'no notice of its own join');
      assert.deepEqual(B.messages.filter((m) => m.startsWith(`${alice}:`)), [`${alice}: hi`]);
    }));
}

test('chat [websocket + xhr-polling]: /join moves a member: leave notice in the old room, join notice and history in the new',
  opts('chat'), scenario('chat', async (open) => {
    const id = uid(), one = `one-${id}`, two = `two-${id}`;
    const [ann, ben, dot] = ['ann', 'ben', 'dot'].map((n) => `${n}_${id}`);
    const A = await enter(open, 'websocket', ann, one);
    const D = await enter(open, 'websocket', dot, two);
    D.send('in two');
    await receivedLine(D, `${dot}: in two`);
    const B = await enter(open, 'xhr-polling', ben, one);
    await receivedLine(A, `* ${ben} joined`);

    B.send(`/join ${two}`);
    await receivedLine(B, `* you joined ${two}`);
    await receivedLine(A, `* ${ben} left`);
    await receivedLine(D, `* ${ben} joined`);
    const afterJoin = B.messages.slice(B.messages.indexOf(`* you joined ${one}`) + 1);
    assert.deepEqual(afterJoin, [`${dot}: in two`, `* you joined ${two}`], 'history of the new room only');

    A.send('only in one');
    await receivedLine(A, `${ann}: only in one`);
    B.send('now in two');
    await receivedLine(D, `${ben}: now in two`);
    await sleep(QUIET_MS);
    for (const c of [B, D]) assert.ok(!c.messages.includes(`${ann}: only in one`), 'room one stays in room one');
    assert.ok(!A.messages.includes(`${ben}: now in two`), 'room two stays in room two');
  }));

test('chat [websocket]: a bad nickname is refused, unknown commands answered, history keeps the last 50',
  opts('chat'), scenario('chat', async (open) => {
    const id = uid(), room = `room-${id}`;
    const A = await open('/chat', 'websocket');
    A.send('not a nick!');
    await until(() => A.messages.some((m) => m.startsWith('* a nickname is')), 'nickname refused');
    const B = await enter(open, 'websocket', `bea_${id}`, room);
    B.send('/frobnicate');
    await receivedLine(B, '* commands: /join <room>');
    const lines = [];
    for (let i = 0; i < 55; i++) lines.push(`line ${i}`);
    for (const l of lines) B.send(l);
    await receivedLine(B, `bea_${id}: line 54`);
    const C = await enter(open, 'websocket', `cy_${id}`, room);
    assert.deepEqual(replayed(C, room), lines.slice(5).map((l) => `bea_${id}: ${l}`));
  }));

// ---------------------------------------------------------------------------------------
// ticker: 1000 prices a second on topic "prices"; "<seq> <SYMBOL> <price>".

const SYMBOLS = ['ACME', 'GLOBEX', 'INITECH'];

for (const transport of TRANSPORTS) {
  test(`ticker [${transport}]: at least 200 prices within 5 s, sequence numbers consecutive and increasing`,
    opts('ticker'), scenario('ticker', async (open) => {
      const c = await open('/ticker', transport);
      await c.received(200, 5000);
      const seqs = [];
      for (const m of c.messages) {
        const f = /^(\d+) ([A-Z]+) (\d+\.\d\d)$/.exec(m);
        assert.ok(f, `price line format: ${JSON.stringify(m)}`);
        const seq = Number(f[1]);
        assert.equal(f[2], SYMBOLS[(seq - 1) % SYMBOLS.length], `symbol of seq ${seq}`);
        seqs.push(seq);
      }
      for (let i = 1; i < seqs.length; i++) {
        assert.ok(seqs[i] > seqs[i - 1], `strictly increasing at ${i}: ${seqs[i - 1]} then ${seqs[i]}`);
        assert.equal(seqs[i], seqs[i - 1] + 1, `no price missing at ${i}`);
      }
    }));
}
