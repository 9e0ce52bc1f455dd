#!/usr/bin/env bash
# The official SockJS protocol test suite (github.com/sockjs/sockjs-protocol,
# `sockjs-protocol.py`) against `ringcast serve --config examples/sockjs-protocol.toml`,
# once on io_uring and once on epoll.
#
# The suite is not part of this repository: it is taken from $SOCKJS_PROTOCOL_DIR (a
# checkout) or cloned into target/sockjs-protocol/checkout, then converted to Python 3
# at run time by scripts/sockjs-protocol-py3.py. Its clients (ws4py 0.5.1,
# websocket-client 1.x) go into a venv in target/sockjs-protocol/venv.
#
# When the suite or its clients cannot be fetched (no network), it prints one
# "skipped: ..." line and exits 0, or fails if SOCKJS_PROTOCOL_REQUIRED=1.
# Prints `sockjs-protocol: P/N passed on io_uring, P/N on epoll`; exits 1 on any failure.
# The verbose reports are in target/sockjs-protocol/result-<backend>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/sockjs-protocol
mkdir -p "$work"

skip() {
  if [ "${SOCKJS_PROTOCOL_REQUIRED:-0}" = 1 ]; then
    echo "sockjs-protocol: failed: $1" >&2
    exit 1
  fi
  echo "sockjs-protocol: skipped: $1"
  exit 0
}

src=${SOCKJS_PROTOCOL_DIR:-}
if [ -z "$src" ]; then
  src=$work/checkout
  if [ ! -f "$src/sockjs-protocol.py" ]; then
    rm -rf "$src"
    GIT_TERMINAL_PROMPT=0 timeout 120 git clone --quiet --depth 1 \
      https://github.com/sockjs/sockjs-protocol "$src" >/dev/null 2>&1 ||
      skip "cannot clone https://github.com/sockjs/sockjs-protocol (set SOCKJS_PROTOCOL_DIR to a checkout)"
  fi
fi
[ -f "$src/sockjs-protocol.py" ] || skip "no sockjs-protocol.py in $src"
python3 scripts/sockjs-protocol-py3.py "$src" "$work/py3"

venv=$work/venv
if ! "$venv/bin/python" -c 'import ws4py, websocket' 2>/dev/null; then
  { python3 -m venv "$venv" &&
    "$venv/bin/pip" install --quiet ws4py==0.5.1 'websocket-client>=1,<2'; } >"$work/pip.log" 2>&1 ||
    skip "cannot install ws4py and websocket-client into $venv (see $work/pip.log)"
fi

cargo build --release --quiet

summary=()
status=0
for backend in uring epoll; do
  label=$([ "$backend" = uring ] && echo io_uring || echo epoll)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  log=$work/server-$backend.log
  RINGCAST_BACKEND=$backend RUST_LOG=warn ./target/release/ringcast serve \
    --config examples/sockjs-protocol.toml --listen "127.0.0.1:$port" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q 'listening on' "$log" 2>/dev/null && break; sleep 0.1; done
  report=$work/result-$backend.txt
  set +e
  (cd "$work/py3" && SOCKJS_URL="http://127.0.0.1:$port" timeout 900 ../venv/bin/python -W ignore::ResourceWarning sockjs-protocol.py -v) \
    >"$report" 2>&1
  set -e
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  ran=$(sed -n 's/^Ran \([0-9]*\) tests\? .*/\1/p' "$report")
  failures=$(sed -n 's/^FAILED .*failures=\([0-9]*\).*/\1/p' "$report")
  errors=$(sed -n 's/^FAILED .*errors=\([0-9]*\).*/\1/p' "$report")
  passed=$((${ran:-0} - ${failures:-0} - ${errors:-0}))
  if [ -z "$ran" ] || ! grep -q '^OK' "$report"; then
    status=1
    grep -E ' \.\.\. (FAIL|ERROR)$' "$report" | sed "s/^/  [$label] /" || true
  fi
  summary+=("${passed}/${ran:-?} passed on $label")
done
line=$(IFS=,; echo "${summary[*]}" | sed 's/,/, /g')
echo "sockjs-protocol: $line"
exit $status
