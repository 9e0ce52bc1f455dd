#!/usr/bin/env bash
# Client interop: the real sockjs-client and websocket-multiplex clients, in Node and in
# headless Chromium, against ringcast (tests/interop/ringcast.toml: 2 shards), once on
# io_uring and once on epoll; then the demo page offline in Chromium (demo.test.mjs). Installs Node deps and Chromium itself (tests/interop/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
status=0
for backend in uring epoll; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  log=target/interop-server-$backend.log
  RINGCAST_BACKEND=$backend RUST_LOG=warn ./target/release/ringcast serve \
    --config tests/interop/ringcast.toml --listen "127.0.0.1:$port" > "$log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q 'listening on' "$log" 2>/dev/null && break; sleep 0.1; done
  echo "== interop [$backend] against $(head -1 "$log")"
  set +e
  bash tests/interop/run.sh "http://127.0.0.1:$port"
  rc=$?
  # ringcast only: the demo page in Chromium, offline, on ringcast's own client.
  (cd tests/interop && INTEROP_URL="http://127.0.0.1:$port" timeout 60 node --test demo.test.mjs) || rc=1
  set -e
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ "$rc" -eq 0 ] || { echo "interop [$backend] failed"; status=1; }
done
exit $status
