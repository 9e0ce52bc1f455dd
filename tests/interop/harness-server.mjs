// The harness's own static HTTP server: the browser test page and the client scripts it
// loads, served from a different origin (another port) than the server under test.
// It also serves the sockjs-client build that the server's iframe.html must embed as
// `sockjs_url` for the iframe transports: http://127.0.0.1:<HARNESS_PORT>/sockjs.min.js
//
// Standalone (to keep it up while trying the page by hand):
//   HARNESS_PORT=8089 node harness-server.mjs
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));

export const DEFAULT_HARNESS_PORT = 8089;

const FILES = {
  '/': [path.join(here, 'page', 'index.html'), 'text/html; charset=UTF-8'],
  '/page.js': [path.join(here, 'page', 'page.js'), 'application/javascript; charset=UTF-8'],
  '/sockjs.min.js': [require.resolve('sockjs-client/dist/sockjs.min.js'), 'application/javascript; charset=UTF-8'],
  '/multiplex_client.js': [require.resolve('websocket-multiplex/multiplex_client.js'), 'application/javascript; charset=UTF-8'],
};

/** Starts the harness server on 127.0.0.1:`port`; resolves to its URLs and a close(). */
export function startHarness(port = DEFAULT_HARNESS_PORT) {
  const server = http.createServer(async (req, res) => {
    const entry = FILES[new URL(req.url, 'http://x').pathname];
    if (!entry || req.method !== 'GET') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    const body = await readFile(entry[0]);
    res.writeHead(200, { 'Content-Type': entry[1], 'Content-Length': body.length, 'Cache-Control': 'no-store' });
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const origin = `http://127.0.0.1:${server.address().port}`;
      resolve({
        origin,
        pageUrl: `${origin}/`,
        sockjsUrl: `${origin}/sockjs.min.js`,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
      });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const h = await startHarness(Number(process.env.HARNESS_PORT ?? DEFAULT_HARNESS_PORT));
  console.log(`harness page ${h.pageUrl} | sockjs_url for the server under test: ${h.sockjsUrl}`);
}
