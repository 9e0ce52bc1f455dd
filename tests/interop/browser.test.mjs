// Browser interop: headless Chromium loads the harness page (its own origin, served by
// harness-server.mjs) and runs the real sockjs-client 1.6.1 and websocket-multiplex 0.1.0
// against the server at INTEROP_URL, once per browser transport.
// Run: INTEROP_URL=http://127.0.0.1:8080 HARNESS_PORT=8089 node --test browser.test.mjs
// The server's iframe.html must embed sockjs_url = http://127.0.0.1:<HARNESS_PORT>/sockjs.min.js
//
// Test names cite the spec checklists: "sockjs #N" = sockjs.md §15 item N,
// "multiplex #N" = multiplex.md §6 item N.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { BASE, TEST_TIMEOUT, ECHO_MESSAGES, bigMessage } from './helpers.mjs';
import { startHarness, DEFAULT_HARNESS_PORT } from './harness-server.mjs';

// Every transport sockjs-client 1.6.1 can use from a cross-origin page in Chromium.
// (`htmlfile` without iframe needs a same-origin page; xdr-* are Internet Explorer only.)
const TRANSPORTS = [
  'websocket', 'xhr-streaming', 'eventsource', 'iframe-eventsource', 'iframe-htmlfile',
  'xhr-polling', 'iframe-xhr-polling', 'jsonp-polling',
];
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const HARNESS_PORT = Number(process.env.HARNESS_PORT ?? DEFAULT_HARNESS_PORT);

let harness, browser;
const results = {}; // transport -> { echo, close, rooms } -> 'pass' | 'FAIL'

before(async () => {
  harness = await startHarness(HARNESS_PORT);
  console.log(`# target ${BASE} | harness page ${harness.pageUrl} | ` +
    `iframe sockjs_url expected: ${harness.sockjsUrl}`);
  // launch() always starts from a fresh temporary profile (Playwright refuses --user-data-dir).
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30_000,
    args: [
      '--headless', '--disable-gpu', '--no-first-run', '--no-sandbox', '--disable-dev-shm-usage',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // Chromium >= 138 blocks a page from another origin from reaching 127.0.0.1.
      '--disable-features=LocalNetworkAccessChecks,LocalNetworkAccessChecksWebSockets,' +
        'PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults,' +
        'BlockInsecurePrivateNetworkRequests',
    ],
  });
});

after(async () => {
  await browser?.close();
  await harness?.close();
  const rows = Object.entries(results).map(([t, r]) =>
    `#   ${t.padEnd(20)} echo ${r.echo ?? '-'}  close ${r.close ?? '-'}  rooms ${r.rooms ?? '-'}`);
  console.log(['# browser transports (Chromium):', ...rows].join('\n'));
});

/**
 * Runs `window.interop[fn](...args)` in a fresh harness page; records pass/FAIL for the
 * per-transport report. A failure carries the page's console errors.
 */
async function inPage(transport, kind, fn, ...args) {
  results[transport] ??= {};
  results[transport][kind] = 'FAIL';
  const page = await browser.newPage();
  const log = [];
  page.on('console', (m) => { if (m.type() === 'error') log.push(m.text()); });
  page.on('pageerror', (e) => log.push(String(e)));
  try {
    await page.goto(harness.pageUrl);
    return await page.evaluate(({ fn, args }) => window.interop[fn](...args), { fn, args });
  } catch (e) {
    e.message += log.length ? `\npage console:\n  ${log.join('\n  ')}` : '';
    throw e;
  } finally {
    await page.close();
  }
}
const passed = (transport, kind) => { results[transport][kind] = 'pass'; };

// The iframe-* transports load <prefix>/iframe.html from the server, which loads sockjs from
// the sockjs_url it embeds: that URL must be the harness's copy of sockjs-client 1.6.1
// (the iframe refuses to talk to a parent page running another version).
test('server iframe.html embeds the harness sockjs_url (sockjs §3.2, needed by iframe-* transports)',
  { timeout: TEST_TIMEOUT }, async () => {
    const res = await fetch(`${BASE}/echo/iframe.html`);
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.ok(body.includes(`<script src="${harness.sockjsUrl}"></script>`),
      `iframe.html must load ${harness.sockjsUrl}; configure the server's sockjs_url ` +
      `(or HARNESS_PORT) to match. Got:\n${body}`);
  });

for (const transport of TRANSPORTS) {
  describe(`chromium sockjs-client [${transport}]`, () => {
    const opts = { timeout: TEST_TIMEOUT };

    // ASCII, Unicode (emoji, U+2028/2029, controls, JSON specials, `%`) and a 64 KiB message
    // round-trip unchanged and in order; then the client's close gives 1000 "Normal closure".
    test(`[${transport}] echo ASCII, Unicode and 64 KiB messages, then client close (sockjs #67, #35, #42, #46, #52, #77-78)`, opts, async () => {
      const messages = [...ECHO_MESSAGES.ascii, ...ECHO_MESSAGES.unicode, bigMessage(), 'after-big'];
      const r = await inPage(transport, 'echo', 'echo', BASE, transport, messages);
      assert.equal(r.transport, transport, 'sockjs-client used the forced transport');
      assert.equal(r.received.length, messages.length);
      for (const [i, m] of messages.entries()) assert.ok(r.received[i] === m, `message ${i} differs`);
      assert.deepEqual([r.close.code, r.close.reason], [1000, 'Normal closure']);
      passed(transport, 'echo');
    });

    // /close opens the session, then closes it: close event 3000 "Go away!".
    test(`[${transport}] server close on /close gives close event 3000 "Go away!" (sockjs #30, #38, #57, #69)`, opts, async () => {
      const r = await inPage(transport, 'close', 'serverClose', BASE, transport);
      assert.equal(r.transport, transport, 'sockjs-client used the forced transport');
      assert.deepEqual(r.received, []);
      assert.deepEqual([r.close.code, r.close.reason], [3000, 'Go away!']);
      passed(transport, 'close');
    });

    // Rooms through websocket-multiplex channels, with a raw-WebSocket member in the same
    // room: delivery to all members incl. the sender, commas kept, raw <-> SockJS interop,
    // no delivery of a room not joined, non-member messages dropped, uns stops delivery.
    test(`[${transport}] rooms with a raw WebSocket member (multiplex #2, #4, #8-13)`, opts, async () => {
      const r = await inPage(transport, 'rooms', 'rooms', BASE, transport);
      assert.deepEqual(r.transports, [transport, transport], 'sockjs-client used the forced transport');
      assert.deepEqual(r.a, ['hi,there,,x', 'from-raw', 'after-uns'], 'A (sender) payloads');
      assert.deepEqual(r.b, ['hi,there,,x', 'from-raw'], 'B payloads before its uns');
      assert.deepEqual(r.w, [`msg,${r.red},hi,there,,x`, `msg,${r.red},from-raw`, `msg,${r.red},after-uns`],
        'raw member receives bare msg,T,P texts');
      assert.deepEqual(r.bBlue, ['blue-only']);
      assert.ok(!r.rawA.some((m) => m.startsWith(`msg,${r.blue},`)), 'A got traffic of a room it did not join');
      assert.ok(![...r.rawA, ...r.rawB, ...r.w].some((m) => m.includes('intruder')), 'a non-member msg was delivered');
      assert.deepEqual(r.bRawAfterUns, [], 'B got something after uns');
      passed(transport, 'rooms');
    });
  });
}
