#!/usr/bin/env bash
# ringcast's performance comparison: builds ringcast and the load generator, installs the peer
# servers, then for each scenario and server starts a fresh server pinned to core 0, drives it
# with ringcast-loadgen pinned to core 1, and stops it. Raw JSON lines go to perf/results/raw/,
# the Markdown tables to perf/results/<date>-<commit>.md and perf/results/latest.md.
#
#   bash perf/run.sh                    # whole matrix (about 7.5 minutes; --repeat 2: 14)
#   bash perf/run.sh --quick            # a subset, under a minute
#   options: --no-build (use the existing target/release/ringcast), --servers a,b (only these),
#            --scenarios 'GLOB,GLOB' (only scenarios whose name matches one, e.g. 'SockJS*,xhr*'),
#            --repeat K (each load scenario K times, servers interleaved; the report shows medians
#            and min-max), --out FILE (Markdown path instead of results/<date>-<commit>.md;
#            latest.md untouched), --baseline BIN (also run BIN, e.g. a build of an earlier
#            commit, as ringcast-base-uring/-epoll beside ringcast-uring/-epoll in every
#            scenario, interleaved, for before/after comparisons)
#   env: RINGCAST=/path/to/ringcast (another binary; implies nothing about --no-build)
set -euo pipefail

PERF=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$PERF")
QUICK=0
BUILD=1
ONLY=""
SCENARIOS=""
REPEAT=1
OUT=""
BASELINE=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) QUICK=1 ;;
    --no-build) BUILD=0 ;;
    --servers) ONLY=$2; shift ;;
    --scenarios) SCENARIOS=$2; shift ;;
    --repeat) REPEAT=$2; shift ;;
    --out) OUT=$2; shift ;;
    --baseline) BASELINE=$2; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --repeat needs a positive integer" >&2; exit 2; }

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
  if [[ -n $BASELINE ]]; then
    [[ -x $BASELINE ]] || die "no baseline binary at $BASELINE"
    cp "$BASELINE" "$LOGDIR/ringcast-base"
    BASELINE=$LOGDIR/ringcast-base
  fi
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
  if [[ -n $BASELINE ]]; then
    SERVER[ringcast-base-uring]="rooms|/rooms/websocket|$SERVER_CORES|env RINGCAST_BACKEND=uring $BASELINE serve --listen 127.0.0.1:\$PORT --shards 1"
    SERVER[ringcast-base-epoll]="rooms|/rooms/websocket|$SERVER_CORES|env RINGCAST_BACKEND=epoll $BASELINE serve --listen 127.0.0.1:\$PORT --shards 1"
  fi
}

# with_baseline SERVERS: SERVERS, each ringcast-uring/-epoll followed by its baseline twin.
with_baseline() {
  local s out=""
  for s in $1; do
    out+=" $s"
    if [[ -n $BASELINE && ( $s == ringcast-uring || $s == ringcast-epoll ) ]]; then
      out+=" ringcast-base-${s#ringcast-}"
    fi
  done
  echo "$out"
}

selected() { [[ -z $ONLY || ",$ONLY," == *",$1,"* ]]; }

# scenario_selected NAME: NAME matches one of the --scenarios globs (or there are none).
scenario_selected() {
  [[ -z $SCENARIOS ]] && return 0
  local pat pats
  IFS=, read -ra pats <<<"$SCENARIOS"
  for pat in "${pats[@]}"; do
    # shellcheck disable=SC2053  # $pat is a glob on purpose
    [[ $1 == $pat ]] && return 0
  done
  return 1
}

# The URL path a dialect's clients start from (the SockJS dialects take the service prefix).
dialect_path() {
  case $1 in
    rooms) echo /rooms/websocket ;;
    sockjs-rooms|xhr-streaming) echo /rooms ;;
    broadcast) echo / ;;
    *) die "unknown dialect $1" ;;
  esac
}

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

# run_case SCENARIO SERVER DIALECT REP LOADGEN-ARGS...: one fresh server, one loadgen run, one
# JSON line labelled SCENARIO|SERVER|REP. DIALECT "-" is the server's own (SERVER table).
run_case() {
  local scenario=$1 name=$2 dialect=$3 rep=$4
  shift 4
  local spec path
  spec=${SERVER[$name]}
  if [[ $dialect == - ]]; then
    dialect=$(cut -d'|' -f1 <<<"$spec")
    path=$(cut -d'|' -f2 <<<"$spec")
  else
    path=$(dialect_path "$dialect")
  fi
  log "$scenario | $name ($dialect) | run $rep of $REPEAT"
  start_server "$name"
  local line rc=0 label="$scenario|$name|$rep"
  line=$(taskset -c $LOADGEN_CORE "$LOADGEN" --url "ws://127.0.0.1:$PORT$path" --dialect "$dialect" \
    --server-pid "$SERVER_PID" --json --label "$label" "$@") || rc=$?
  stop_server
  if [[ $line != "{"* ]]; then
    line="{\"label\":\"$label\",\"ok\":false,\"error\":\"loadgen exited with status $rc before reporting\"}"
  fi
  echo "$line" >>"$RAW"
}

# scenario NAME "SERVERS" DIALECT LOADGEN-ARGS...: REPEAT rounds, each running every selected
# server once (interleaved, so a noisy period hits all servers of a round alike).
scenario() {
  local name=$1 servers=$2 dialect=$3 rep s
  shift 3
  scenario_selected "$name" || return 0
  for rep in $(seq "$REPEAT"); do
    for s in $(with_baseline "$servers"); do
      if selected "$s"; then run_case "$name" "$s" "$dialect" "$rep" "$@"; fi
    done
  done
}

# idle NAME "SERVERS" LOADGEN-ARGS...: memory scenarios run once whatever --repeat says (RSS per
# connection barely varies between runs, and 10 000 connections per run are slow to set up).
idle() {
  local name=$1 servers=$2 s
  shift 2
  scenario_selected "$name" || return 0
  for s in $(with_baseline "$servers"); do
    if selected "$s"; then run_case "$name" "$s" - 1 --mode idle "$@"; fi
  done
}

matrix() {
  local warm=2 secs=5 w all="ringcast-uring ringcast-epoll ringcast-uring-2shards sockjs-node sockjs-node-sockjs node-ws bun"
  if [[ $QUICK == 1 ]]; then
    warm=1; secs=2
    scenario "N=1000 W=16 64B" "ringcast-uring ringcast-epoll sockjs-node node-ws bun" - \
      --subscribers 1000 --window 16 --warmup-secs $warm --secs $secs
    idle "idle N=10000" "ringcast-uring node-ws bun" --subscribers 10000
    return
  fi
  local t="--warmup-secs $warm --secs $secs"
  for w in 1 4 16 64; do
    scenario "N=1000 W=$w 64B" "$all" - --subscribers 1000 --window "$w" $t
  done
  scenario "N=10000 W=16 64B" "$all" - --subscribers 10000 --window 16 $t
  scenario "N=1000 W=16 4096B" "$all" - --subscribers 1000 --window 16 --payload-bytes 4096 $t
  # SockJS on both sides: subscribers and publisher on the SockJS websocket transport.
  scenario "SockJS-websocket N=1000 W=16 64B" "ringcast-uring sockjs-node" sockjs-rooms \
    --subscribers 1000 --window 16 $t
  # Subscribers on xhr_streaming (+ xhr_send for sub); the publisher on the raw WebSocket.
  scenario "xhr-streaming N=1000 W=16 64B" "ringcast-uring sockjs-node" xhr-streaming \
    --subscribers 1000 --window 16 $t
  idle "idle N=10000" "ringcast-uring ringcast-epoll sockjs-node sockjs-node-sockjs node-ws bun" --subscribers 10000
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
  [[ -s $RAW ]] || { rm -f "$RAW"; die "no scenario ran (check --scenarios and --servers)"; }
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
