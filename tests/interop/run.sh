#!/usr/bin/env bash
# Client-interop run: real sockjs-client / websocket-multiplex clients, in Node and in
# headless Chromium, against a SockJS server.
#
#   tests/interop/run.sh                          # against the sockjs-node reference server
#   tests/interop/run.sh http://127.0.0.1:8080    # against a running server (e.g. ringcast)
#
# Env: HARNESS_PORT (port of the harness page; the server's iframe.html must embed
# http://127.0.0.1:$HARNESS_PORT/sockjs.min.js; default 8089 with a URL, any free port for
# the reference server), CHROMIUM (default /usr/bin/chromium).
# Ends with the line "N passed, M failed"; exit status 0 only if nothing failed.
set -uo pipefail
cd "$(dirname "$0")"

TARGET="${1:-}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
RUN_TIMEOUT=150   # seconds for both test files together (each test has its own 10 s limit)
TAP="$(mktemp)"
REF_LOG="$(mktemp)"
REF_PID=""

cleanup() {
  [ -n "$REF_PID" ] && kill "$REF_PID" 2>/dev/null
  rm -f "$TAP" "$REF_LOG"
}
trap cleanup EXIT
abort() { echo "run.sh: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

free_port() {
  node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# 1. Dependencies: exact versions from package-lock.json, and Debian's Chromium.
npm ci --no-audit --no-fund --loglevel=error || abort "npm ci failed"
if [ ! -x "$CHROMIUM" ]; then
  echo "run.sh: $CHROMIUM missing, installing Debian's chromium"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || abort "apt-get install chromium failed"
fi

# 2. Target: the given URL, or the reference server on a free port.
if [ -n "$TARGET" ]; then
  HARNESS_PORT="${HARNESS_PORT:-8089}"
else
  HARNESS_PORT="${HARNESS_PORT:-$(free_port)}"
  REF_PORT="$(free_port)"
  PORT="$REF_PORT" SOCKJS_URL="http://127.0.0.1:$HARNESS_PORT/sockjs.min.js" \
    node reference-server.js >"$REF_LOG" 2>&1 &
  REF_PID=$!
  for _ in $(seq 100); do grep -q listening "$REF_LOG" && break; sleep 0.1; done
  grep -q listening "$REF_LOG" || { cat "$REF_LOG"; abort "reference server did not start"; }
  cat "$REF_LOG"
  TARGET="http://127.0.0.1:$REF_PORT"
fi
echo "run.sh: target $TARGET | harness page http://127.0.0.1:$HARNESS_PORT/ |" \
  "the server must embed sockjs_url http://127.0.0.1:$HARNESS_PORT/sockjs.min.js"

# 3. Both test files, one after the other (spec output here, TAP kept for the summary).
INTEROP_URL="$TARGET" HARNESS_PORT="$HARNESS_PORT" CHROMIUM="$CHROMIUM" \
  timeout "$RUN_TIMEOUT" node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$TAP" \
    node.test.mjs browser.test.mjs
status=$?

count() { grep -a -E "^# $1 [0-9]+$" "$TAP" | tail -1 | awk '{print $3}'; }
passed="$(count pass)"; failed="$(count fail)"; cancelled="$(count cancelled)"
failed=$(( ${failed:-0} + ${cancelled:-0} ))
[ "$status" -eq 124 ] && echo "run.sh: test run exceeded ${RUN_TIMEOUT}s and was stopped" >&2
# A crash or timeout that left no failing test behind still counts as one failure.
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "${passed:-0} passed, $failed failed"
[ "$failed" -eq 0 ]
