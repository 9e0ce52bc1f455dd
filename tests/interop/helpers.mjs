// Shared pieces of the Node-side tests: the target URL, the real sockjs-client 1.6.1,
// the real websocket-multiplex browser client loaded into Node, and small waiting helpers.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import vm from 'node:vm';

const require = createRequire(import.meta.url);

/** Base URL of the server under test, without a trailing slash. */
export const BASE = (process.env.INTEROP_URL || 'http://127.0.0.1:8081').replace(/\/+$/, '');
/** Per-test time limit (ms). */
export const TEST_TIMEOUT = 10_000;
/** How long to watch for a message that must NOT arrive (ms). */
export const QUIET_MS = 300;

export const SockJS = require('sockjs-client');

/**
 * `WebSocketMultiplex` from websocket-multiplex 0.1.0's browser file `multiplex_client.js`,
 * run unmodified in a vm context. It only needs `setTimeout` and the global `escape`
 * (which every context has); the SockJS object it is given comes from this realm.
 */
export function loadWebSocketMultiplex() {
  const file = require.resolve('websocket-multiplex/multiplex_client.js');
  const context = vm.createContext({ setTimeout, clearTimeout });
  vm.runInContext(readFileSync(file, 'utf8'), context, { filename: file });
  return context.WebSocketMultiplex;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `cond()` is truthy; rejects after `ms` naming `what`. */
export async function until(cond, what, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A short random tag, so concurrent or repeated runs never share a room. */
export const uid = () => randomBytes(4).toString('hex');

/**
 * A sockjs-client connection forced onto one transport. Records every message (`messages`)
 * and the close event (`closeEvent`); `transport` is what sockjs-client reports at open.
 */
export class Client {
  static open(path, transport) {
    return new Promise((resolve, reject) => {
      const sock = new SockJS(BASE + path, null, { transports: [transport], timeout: 5000 });
      const client = new Client(sock);
      sock.onopen = () => { client.transport = sock.transport; resolve(client); };
      sock.addEventListener('close', (e) => {
        if (!client.transport) reject(new Error(`${transport} to ${path} closed before open: ${e.code} ${e.reason}`));
      });
    });
  }

  constructor(sock) {
    this.sock = sock;
    this.transport = null;
    this.messages = [];
    this.closeEvent = null;
    sock.addEventListener('message', (e) => this.messages.push(e.data));
    sock.addEventListener('close', (e) => {
      this.closeEvent = { code: e.code, reason: e.reason, wasClean: e.wasClean };
    });
  }

  send(data) { this.sock.send(data); }

  /** Waits until `n` messages have arrived in total. */
  received(n, ms) {
    return until(() => this.messages.length >= n, `${n} messages (have ${this.messages.length})`, ms);
  }

  /** Waits for the close event and returns it. */
  async closed(ms) {
    await until(() => this.closeEvent, 'close event', ms);
    return this.closeEvent;
  }

  close() {
    if (this.sock.readyState <= 1) this.sock.close();
  }
}

/** Every test message of the echo tests (index in the name for failure messages). */
export const ECHO_MESSAGES = {
  ascii: ['hello', 'a b c 0123456789 ~!@#$%^&*()_+-=[]{};:\'",.<>/?|`', '[1,2]', '"quoted"', 'x'],
  unicode: [
    'żółć Ελληνικά русский 日本語 한국어 עברית العربية',
    'emoji 😀🚀👍🏽 and a lone astral 𝄞',
    'line separators \u2028 and \u2029 in the middle',
    'zero-width \u200b\u200c\u200d\u2060 bom \ufeff specials \ufff0\uffff',
    'controls \u0000\u0001\u001f tab\t newline\n cr\r backslash \\ percent %25 %',
    'escape-like \\u0041 \\" <b>&amp;</b>',
  ],
};

/** A 64 KiB ASCII message whose every 16-byte block names its offset (detects loss/reorder). */
export function bigMessage(bytes = 64 * 1024) {
  let s = '';
  for (let i = 0; s.length < bytes; i += 16) s += i.toString(16).padStart(15, '0') + '|';
  return s.slice(0, bytes);
}
