#!/usr/bin/env bash
# The example programs (examples/*.rs) against the real sockjs-client and
# websocket-multiplex clients in Node (tests/interop/examples.test.mjs), once on io_uring
# and once on epoll, each example on 2 shards.
#
#   bash scripts/examples.sh
#
# For each backend: start every example on a free port (the address is read from its
# startup line), run the Node tests with EXAMPLE_<NAME>=http://ADDR, stop every example
# with SIGTERM and require exit status 0. Prints "examples [<backend>]: N passed, M failed"
# per backend (an example that does not start or stop cleanly, and a skipped test, count
# as failures); exit status 0 only if nothing failed. Logs: target/examples/.
set -uo pipefail
cd "$(dirname "$0")/.."

EXAMPLES=(sockjs_echo rooms_channels chat ticker)
START_TIMEOUT=10   # seconds to wait for an example's startup line
STOP_TIMEOUT=10    # seconds to wait for an example to exit after SIGTERM
RUN_TIMEOUT=90     # seconds for one Node test run (each test has its own limit)
LOGS=target/examples
declare -A PIDS=() ADDRS=()
unset RINGCAST_BACKEND   # the --backend flag must decide

cleanup() {
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. Build the examples and install the Node packages (exact versions, package-lock.json).
cargo build --release --examples --quiet || { echo "examples: cargo build failed"; exit 1; }
(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error) || { echo "examples: npm ci failed"; exit 1; }
mkdir -p "$LOGS"

# start NAME BACKEND: start the example, wait for its startup line, record PID and address.
start() {
  local name=$1 backend=$2 log="$LOGS/$1-$2.log" want
  "target/release/examples/$name" --listen 127.0.0.1:0 --shards 2 --backend "$backend" >"$log" 2>&1 &
  PIDS[$name]=$!
  for _ in $(seq $((START_TIMEOUT * 10))); do
    grep -q 'listening on' "$log" && break
    kill -0 "${PIDS[$name]}" 2>/dev/null || break
    sleep 0.1
  done
  ADDRS[$name]=$(sed -n 's/.* listening on \([0-9.:]*\) .*/\1/p' "$log" | head -1)
  [ "$backend" = uring ] && want='backend io_uring' || want='backend epoll'
  if [ -z "${ADDRS[$name]}" ] || ! grep -q "$want" "$log"; then
    echo "examples: $name did not start on $backend:"; cat "$log"
    return 1
  fi
  echo "  $name: $(grep 'listening on' "$log")"
}

# stop NAME: SIGTERM, wait up to STOP_TIMEOUT, require exit status 0.
stop() {
  local name=$1 pid=${PIDS[$1]} rc
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq $((STOP_TIMEOUT * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "examples: $name still running ${STOP_TIMEOUT}s after SIGTERM, killed"
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid"; rc=$?
  unset "PIDS[$name]"
  [ "$rc" -eq 0 ] || { echo "examples: $name exited with status $rc"; return 1; }
}

# run_backend BACKEND: start, test, stop; prints the summary line; status 0 if all passed.
run_backend() {
  local backend=$1 broken=0 tap="$LOGS/node-$1.tap" env=() name status
  echo "== examples [$backend]"
  for name in "${EXAMPLES[@]}"; do
    if start "$name" "$backend"; then
      env+=("EXAMPLE_${name^^}=http://${ADDRS[$name]}")
    else
      broken=$((broken + 1))
    fi
  done
  env "${env[@]}" timeout "$RUN_TIMEOUT" node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" \
    tests/interop/examples.test.mjs
  status=$?
  [ "$status" -eq 124 ] && echo "examples: Node tests exceeded ${RUN_TIMEOUT}s and were stopped"
  for name in "${!PIDS[@]}"; do stop "$name" || broken=$((broken + 1)); done
  summarize "$backend" "$tap" "$status" "$broken"
}

# count WORD TAP: the TAP total "# WORD N" (0 if absent).
count() {
  local n
  n=$(grep -a -E "^# $1 [0-9]+$" "$2" 2>/dev/null | tail -1 | awk '{print $3}')
  echo "${n:-0}"
}

# summarize BACKEND TAP STATUS BROKEN: the summary line from the TAP totals.
summarize() {
  local passed failed
  passed=$(count pass "$2")
  failed=$(( $(count fail "$2") + $(count cancelled "$2") + $(count skipped "$2") + $4 ))
  # A crash or timeout that left no failing test behind still counts as one failure.
  if [ "$3" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  echo "examples [$1]: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

result=0
for backend in uring epoll; do
  run_backend "$backend" || result=1
done
exit $result
