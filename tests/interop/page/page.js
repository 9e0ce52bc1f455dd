// Browser side of browser.test.mjs. Runs in the harness page with the real SockJS
// (sockjs-client 1.6.1) and WebSocketMultiplex (websocket-multiplex 0.1.0) globals.
// Each scenario forces one transport, records what the page observes and returns it as
// plain data; the Node side makes the assertions. Every connection is closed at the end.
(function () {
  'use strict';

  var QUIET_MS = 300;
  var sleep = function (ms) { return new Promise(function (r) { setTimeout(r, ms); }); };

  async function until(cond, what, ms) {
    var end = Date.now() + (ms || 5000);
    while (!cond()) {
      if (Date.now() > end) throw new Error('timed out waiting for ' + what);
      await sleep(5);
    }
  }

  function uid() { return Math.random().toString(16).slice(2, 10); }

  // A SockJS connection forced onto `transport`; records messages and the close event.
  function openSockJS(url, transport) {
    return new Promise(function (resolve, reject) {
      var sock = new SockJS(url, null, { transports: [transport], timeout: 5000 });
      var c = { sock: sock, transport: null, messages: [], closeEvent: null };
      sock.onmessage = function (e) { c.messages.push(e.data); };
      sock.onopen = function () { c.transport = sock.transport; resolve(c); };
      sock.onclose = function (e) {
        c.closeEvent = { code: e.code, reason: e.reason };
        if (!c.transport) reject(new Error(transport + ' to ' + url + ' closed before open: ' + e.code + ' ' + e.reason));
      };
    });
  }

  // A plain browser WebSocket to the raw endpoint (no SockJS framing).
  function openRaw(url) {
    return new Promise(function (resolve, reject) {
      var ws = new WebSocket(url);
      var c = { sock: ws, messages: [] };
      ws.onmessage = function (e) { c.messages.push(e.data); };
      ws.onopen = function () { resolve(c); };
      ws.onerror = function () { reject(new Error('raw WebSocket ' + url + ' failed')); };
    });
  }

  // Opens connections and closes all of them when the scenario ends, whatever happens.
  async function withConnections(fn) {
    var opened = [];
    var track = function (p) { return p.then(function (c) { opened.push(c); return c; }); };
    try {
      return await fn(track);
    } finally {
      opened.forEach(function (c) { if (c.sock.readyState <= 1) c.sock.close(); });
    }
  }

  // Subscribes a websocket-multiplex channel and waits until the server has processed the
  // `sub` (its probe comes back: rooms deliver to the sender too).
  async function join(c, topic) {
    c.mux = c.mux || new WebSocketMultiplex(c.sock);
    var channel = c.mux.channel(topic);
    var m = { channel: channel, got: [], topic: topic };
    channel.addEventListener('message', function (e) { m.got.push(e.data); });
    await new Promise(function (r) { channel.addEventListener('open', r); });
    await sync(m);
    return m;
  }

  async function sync(m) {
    var probe = 'probe-' + uid();
    m.channel.send(probe);
    await until(function () { return m.got.indexOf(probe) >= 0; }, 'own probe on ' + m.topic);
  }

  var payloads = function (m) { return m.got.filter(function (p) { return p.indexOf('probe-') !== 0; }); };

  // Echo: every message comes back in order, then the client closes.
  async function echo(base, transport, messages) {
    return withConnections(async function (track) {
      var c = await track(openSockJS(base + '/echo', transport));
      messages.forEach(function (m) { c.sock.send(m); });
      await until(function () { return c.messages.length >= messages.length; },
        messages.length + ' echoes (have ' + c.messages.length + ')', 8000);
      c.sock.close();
      await until(function () { return c.closeEvent; }, 'close event');
      return { transport: c.transport, received: c.messages, close: c.closeEvent };
    });
  }

  // Server close: /close opens then closes the session with 3000 "Go away!".
  async function serverClose(base, transport) {
    return withConnections(async function (track) {
      var c = await track(openSockJS(base + '/close', transport));
      await until(function () { return c.closeEvent; }, 'close event');
      return { transport: c.transport, received: c.messages, close: c.closeEvent };
    });
  }

  // Rooms: A and B use SockJS on `transport`, W is a raw WebSocket member of the same room.
  async function rooms(base, transport) {
    return withConnections(async function (track) {
      var red = 'red-' + uid(), blue = 'blue-' + uid();
      var A = await track(openSockJS(base + '/rooms', transport));
      var B = await track(openSockJS(base + '/rooms', transport));
      var a = await join(A, red);
      var b = await join(B, red);
      var W = await track(openRaw(base.replace(/^http/, 'ws') + '/rooms/websocket'));
      W.sock.send('sub,' + red);
      W.sock.send('msg,' + red + ',probe-w');
      await until(function () { return W.messages.indexOf('msg,' + red + ',probe-w') >= 0; }, 'raw member probe');

      // 1. A publishes a payload with commas: A (sender), B and W receive it.
      a.channel.send('hi,there,,x');
      await until(function () {
        return payloads(a).length >= 1 && payloads(b).length >= 1 && W.messages.length >= 2;
      }, 'first publish everywhere');
      // 2. The raw member publishes: the SockJS members receive it too.
      W.sock.send('msg,' + red + ',from-raw');
      await until(function () { return payloads(a).length >= 2 && payloads(b).length >= 2; }, 'raw publish');
      // 3. B publishes on blue, where A is not a member; A sends on blue without joining.
      var bBlue = await join(B, blue);
      bBlue.channel.send('blue-only');
      A.sock.send('msg,' + blue + ',intruder');
      await sync(a);
      await until(function () { return payloads(bBlue).length >= 1; }, 'blue publish');
      // 4. B unsubscribes from red (uns); A publishes: B must not receive it.
      b.channel.close();
      await sync(bBlue);
      var bRawBefore = B.messages.length;
      a.channel.send('after-uns');
      await until(function () {
        return payloads(a).length >= 3 && W.messages.indexOf('msg,' + red + ',after-uns') >= 0;
      }, 'A and W get after-uns');
      await sleep(QUIET_MS);

      return {
        transports: [A.transport, B.transport],
        red: red, blue: blue,
        a: payloads(a), b: payloads(b), bBlue: payloads(bBlue),
        w: W.messages.filter(function (m) { return m.indexOf(',probe-') < 0; }),
        rawA: A.messages, rawB: B.messages, bRawAfterUns: B.messages.slice(bRawBefore),
      };
    });
  }

  window.interop = { echo: echo, serverClose: serverClose, rooms: rooms };
})();
