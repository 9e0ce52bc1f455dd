// ringcast's demo page in headless Chromium, offline: every request to another origin
// fails, so the page must connect with ringcast's own client (/ringcast-client.js) and
// receive a published message and its own chat line. ringcast only (the reference
// server has no demo page); scripts/interop.sh runs it after run.sh.
// Run: INTEROP_URL=http://127.0.0.1:8080 node --test demo.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { BASE, TEST_TIMEOUT } from './helpers.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30_000,
    args: ['--headless', '--disable-gpu', '--no-first-run', '--no-sandbox', '--disable-dev-shm-usage',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
});

/** A page whose requests to anything but the server fail, as without network access. */
async function offlinePage() {
  const context = await browser.newContext();
  const foreign = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === new URL(BASE).origin) return route.continue();
    foreign.push(url);
    return route.abort('internetdisconnected');
  });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return { context, page, foreign, errors };
}

async function publish(topic, body) {
  const res = await fetch(`${BASE}/publish/${topic}?service=/rooms`, { method: 'POST', body });
  assert.equal(res.status, 204, `publish answered ${res.status}`);
}

test('demo page connects offline and receives a published message and its own line',
  { timeout: TEST_TIMEOUT * 2 }, async () => {
    const { context, page, foreign, errors } = await offlinePage();
    try {
      await page.goto(`${BASE}/`);
      await page.waitForFunction(() => document.getElementById('status').textContent === 'connected over websocket',
        null, { timeout: TEST_TIMEOUT });
      await page.waitForFunction(() => document.getElementById('log').textContent.includes('joined room lobby'),
        null, { timeout: TEST_TIMEOUT });
      // The channel's `sub` is on its way; publish until the member has it.
      const log = () => page.evaluate(() => document.getElementById('log').innerHTML);
      for (let i = 0; i < 50 && !(await log()).includes('hello from publish'); i++) {
        await publish('lobby', `alice: hello from publish ${i}`);
        await page.waitForTimeout(100);
      }
      assert.match(await log(), /<b>alice<\/b> hello from publish \d+/);
      await page.fill('#nick', 'bob');
      await page.fill('#text', 'hi from the page');
      await page.press('#text', 'Enter');
      await page.waitForFunction(() => document.getElementById('log').textContent.includes('bob hi from the page'),
        null, { timeout: TEST_TIMEOUT });
      assert.deepEqual(foreign, [], 'the page asked for something outside the server');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

test('ringcast client reports the server close code and reason', { timeout: TEST_TIMEOUT * 2 }, async () => {
  const { context, page, errors } = await offlinePage();
  try {
    await page.goto(`${BASE}/`);
    // A connection to the /close service ends at once with c[3000,"Go away!"].
    const close = await page.evaluate(() => new Promise((resolve) => {
      const sock = new window.Ringcast.SockJS('/close');
      sock.onclose = (e) => resolve([e.code, e.reason]);
    }));
    assert.deepEqual(close, [3000, 'Go away!']);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'connected over websocket',
      null, { timeout: TEST_TIMEOUT });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('ringcast client channels: onopen, send, and the room echo', { timeout: TEST_TIMEOUT * 2 }, async () => {
  const { context, page, errors } = await offlinePage();
  try {
    await page.goto(`${BASE}/`);
    const got = await page.evaluate(() => new Promise((resolve) => {
      const sock = new window.Ringcast.SockJS('/rooms');
      const red = new window.Ringcast.Multiplex(sock).channel('red');
      red.onopen = () => red.send('hello, red');
      red.onmessage = (e) => { resolve(e.data); sock.close(); };
    }));
    assert.equal(got, 'hello, red');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
