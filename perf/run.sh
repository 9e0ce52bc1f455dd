#!/usr/bin/env bash
# ringcast's performance comparison: builds ringcast and the load generator, installs the peer
# servers, then for each scenario and server starts a fresh server pinned to core 0, drives it
# with ringcast-loadgen pinned to core 1, and stops it. Raw JSON lines go to perf/results/raw/,
# the Markdown tables to perf/results/<date>-<commit>.md and perf/results/latest.md.
#
#   bash perf/run.sh                    # whole matrix (about 7 minutes)
#   bash perf/run.sh --quick            # a subset, under a minute
#   options: --no-build (use the existing target/release/ringcast), --servers a,b (only these),
#            --out FILE (Markdown path instead of results/<date>-<commit>.md; latest.md untouched)
#   env: RINGCAST=/path/to/ringcast (another binary; implies nothing about --no-build)
set -euo pipefail

PERF=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$PERF")
QUICK=0
BUILD=1
ONLY=""
OUT=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) QUICK=1 ;;
    --no-build) BUILD=0 ;;
    --servers) ONLY=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

RINGCAST=${RINGCAST:-$ROOT/target/release/ringcast}
LOADGEN=$PERF/loadgen/target/release/ringcast-loadgen
PEERS=$PERF/peers
BUN=$PEERS/node_modules/@oven/bun-linux-x64/bin/bun
SERVER_CORES=0
LOADGEN_CORE=1
PORT=$((20000 + RANDOM % 10000))
LOGDIR=$(mktemp -d /tmp/ringcast-perf.XXXXXX)
SERVER_PID=""

log() { echo "== $*" >&2; }
die() { echo "run.sh: ERROR: $*" >&2; exit 1; }

cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    sleep 0.5
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build() {
  if [[ $BUILD == 1 ]]; then
    log "building ringcast (cargo build --release)"
    (cd "$ROOT" && cargo build --release --quiet)
  fi
  [[ -x $RINGCAST ]] || die "no ringcast binary at $RINGCAST (run without --no-build)"
  # One binary for the whole matrix, even if target/ is rebuilt meanwhile.
  cp "$RINGCAST" "$LOGDIR/ringcast"
  RINGCAST=$LOGDIR/ringcast
  log "building ringcast-loadgen"
  cargo build --release --quiet --manifest-path "$PERF/loadgen/Cargo.toml"
  log "installing peers"
  bash "$PEERS/install.sh" >&2
  ulimit -n "$(ulimit -Hn)"
}

# Servers: NAME -> "dialect|url path|cores|command...". The command runs with PORT set.
declare -A SERVER
define_servers() {
  SERVER[ringcast-uring]="rooms|/rooms/websocket|$SERVER_CORES|env RINGCAST_BACKEND=uring $RINGCAST serve --listen 127.0.0.1:\$PORT --shards 1"
  SERVER[ringcast-epoll]="rooms|/rooms/websocket|$SERVER_CORES|env RINGCAST_BACKEND=epoll $RINGCAST serve --listen 127.0.0.1:\$PORT --shards 1"
  SERVER[ringcast-uring-2shards]="rooms|/rooms/websocket|0,1|env RINGCAST_BACKEND=uring $RINGCAST serve --listen 127.0.0.1:\$PORT --shards 2"
  SERVER[sockjs-node]="rooms|/rooms/websocket|$SERVER_CORES|node $PEERS/sockjs-rooms.js"
  SERVER[sockjs-node-sockjs]="sockjs-rooms|/rooms|$SERVER_CORES|node $PEERS/sockjs-rooms.js"
  SERVER[node-ws]="rooms|/rooms/websocket|$SERVER_CORES|node $PEERS/ws-rooms.js"
  SERVER[bun]="rooms|/rooms/websocket|$SERVER_CORES|$BUN $PEERS/bun-rooms.js"
}

selected() { [[ -z $ONLY || ",$ONLY," == *",$1,"* ]]; }

# start_server NAME: starts it on a fresh port, waits for its "listening" line, sets SERVER_PID.
start_server() {
  local name=$1 spec cores cmd
  spec=${SERVER[$name]}
  cores=$(cut -d'|' -f3 <<<"$spec")
  cmd=$(cut -d'|' -f4- <<<"$spec")
  PORT=$((PORT + 1))
  local logf=$LOGDIR/$name-$PORT.log
  PORT=$PORT taskset -c "$cores" bash -c "exec $cmd" >"$logf" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    grep -qi "listening" "$logf" 2>/dev/null && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "--- $logf" >&2; tail -n 20 "$logf" >&2 || true
  die "server $name did not start on port $PORT (command: $cmd)"
}

stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# run_case SCENARIO SERVER LOADGEN-ARGS...: one fresh server, one loadgen run, one JSON line.
run_case() {
  local scenario=$1 name=$2
  shift 2
  selected "$name" || return 0
  local spec dialect path
  spec=${SERVER[$name]}
  dialect=$(cut -d'|' -f1 <<<"$spec")
  path=$(cut -d'|' -f2 <<<"$spec")
  start_server "$name"
  local line rc=0
  line=$(taskset -c $LOADGEN_CORE "$LOADGEN" --url "ws://127.0.0.1:$PORT$path" --dialect "$dialect" \
    --server-pid "$SERVER_PID" --json --label "$scenario|$name" "$@") || rc=$?
  stop_server
  if [[ $line != "{"* ]]; then
    line="{\"label\":\"$scenario|$name\",\"ok\":false,\"error\":\"loadgen exited with status $rc before reporting\"}"
  fi
  echo "$line" >>"$RAW"
}

matrix() {
  local warm=2 secs=5 all_servers="ringcast-uring ringcast-epoll ringcast-uring-2shards sockjs-node sockjs-node-sockjs node-ws bun"
  if [[ $QUICK == 1 ]]; then
    warm=1; secs=2
    for s in ringcast-uring ringcast-epoll sockjs-node node-ws bun; do
      run_case "N=1000 W=16 64B" "$s" --subscribers 1000 --window 16 --warmup-secs $warm --secs $secs
    done
    for s in ringcast-uring node-ws bun; do
      run_case "idle N=10000" "$s" --mode idle --subscribers 10000
    done
    return
  fi
  for w in 1 4 16 64; do
    for s in $all_servers; do
      run_case "N=1000 W=$w 64B" "$s" --subscribers 1000 --window "$w" --warmup-secs $warm --secs $secs
    done
  done
  for s in $all_servers; do
    run_case "N=10000 W=16 64B" "$s" --subscribers 10000 --window 16 --warmup-secs $warm --secs $secs
  done
  for s in $all_servers; do
    run_case "N=1000 W=16 4096B" "$s" --subscribers 1000 --window 16 --payload-bytes 4096 --warmup-secs $warm --secs $secs
  done
  for s in ringcast-uring ringcast-epoll sockjs-node sockjs-node-sockjs node-ws bun; do
    run_case "idle N=10000" "$s" --mode idle --subscribers 10000
  done
}

main() {
  build
  define_servers
  local name
  for name in ${ONLY//,/ }; do
    [[ -n ${SERVER[$name]:-} ]] || die "unknown server $name (known: ${!SERVER[*]})"
  done
  local commit date stamp md
  commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo nocommit)
  date=$(date +%Y-%m-%d)
  stamp=$(date +%Y%m%d-%H%M%S)
  mkdir -p "$PERF/results/raw"
  RAW=$PERF/results/raw/$stamp-$commit.jsonl
  : >"$RAW"
  local started=$SECONDS
  matrix
  md=${OUT:-$PERF/results/$date-$commit.md}
  python3 "$PERF/report.py" --raw "$RAW" --commit "$commit" --ringcast "$RINGCAST" --bun "$BUN" \
    --quick "$QUICK" --elapsed $((SECONDS - started)) >"$md"
  [[ -n $OUT ]] || cp "$md" "$PERF/results/latest.md"
  rm -rf "$LOGDIR"
  log "raw results: $RAW"
  log "report: $md ($((SECONDS - started)) s)"
  cat "$md"
}

main
