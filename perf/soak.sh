#!/usr/bin/env bash
# ringcast's soak test (not in CI): a ringcast server and `ringcast-loadgen --mode soak` in two
# processes, 10 000 connections with churn (subscribers dropped and replaced continuously),
# rooms with one publisher each, per-topic sequence numbers checked by every subscriber, and a
# share of the subscribers as SockJS sessions. Every 10 s the server's RSS and open fds are
# sampled. Verdict: after the warm-up, RSS and fd count stay within ±5% of their mean, and the
# load generator saw nothing lost, duplicated or reordered. The record goes to
# perf/results/<date>-soak.md.
#
#   bash perf/soak.sh                      # 30 minutes, 10 000 connections
#   bash perf/soak.sh --duration 300       # 5 minutes
#   options: --duration SECS (default 1800), --warmup SECS (default 120), --connections N
#            (subscribers, default 10000; plus one publisher per topic), --topics N (100),
#            --publish-per-sec R (200), --churn-per-sec R (50), --sockjs-percent P (20),
#            --shards N (2), --backend auto|uring|epoll (auto), --no-build, --out FILE
set -euo pipefail

PERF=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$PERF")
DURATION=1800
WARMUP=120
CONNECTIONS=10000
TOPICS=100
PUBLISH=200
CHURN=50
SOCKJS=20
SHARDS=2
BACKEND=auto
BUILD=1
OUT=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) DURATION=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --connections) CONNECTIONS=$2; shift ;;
    --topics) TOPICS=$2; shift ;;
    --publish-per-sec) PUBLISH=$2; shift ;;
    --churn-per-sec) CHURN=$2; shift ;;
    --sockjs-percent) SOCKJS=$2; shift ;;
    --shards) SHARDS=$2; shift ;;
    --backend) BACKEND=$2; shift ;;
    --no-build) BUILD=0 ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
for v in DURATION WARMUP CONNECTIONS TOPICS SHARDS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "soak.sh: --${v,,} needs a whole number" >&2; exit 2; }
done
(( WARMUP < DURATION )) || { echo "soak.sh: --warmup must be shorter than --duration" >&2; exit 2; }

RINGCAST=$ROOT/target/release/ringcast
LOADGEN=$PERF/loadgen/target/release/ringcast-loadgen
PORT=$((30000 + RANDOM % 10000))
SAMPLE_SECS=10
WORK=$(mktemp -d /tmp/ringcast-soak.XXXXXX)
SERVER_PID=""
LOADGEN_PID=""
OUT=${OUT:-$PERF/results/$(date -u +%Y-%m-%d)-soak.md}

log() { echo "== $*" >&2; }
die() { echo "soak.sh: ERROR: $*" >&2; exit 1; }

cleanup() {
  for pid in $LOADGEN_PID $SERVER_PID; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ $BUILD == 1 ]]; then
  log "building ringcast and ringcast-loadgen (release)"
  (cd "$ROOT" && cargo build --release --quiet)
  cargo build --release --quiet --manifest-path "$PERF/loadgen/Cargo.toml"
fi
[[ -x $RINGCAST && -x $LOADGEN ]] || die "missing binaries (run without --no-build)"
# Each process needs about CONNECTIONS fds; the hard limit here is 20000 per process.
ulimit -n "$(ulimit -Hn)"
(( CONNECTIONS + TOPICS + 1000 <= $(ulimit -n) )) || die "fd limit $(ulimit -n) too low for $CONNECTIONS connections"

COMMIT=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)

log "server on 127.0.0.1:$PORT ($SHARDS shards, backend $BACKEND)"
RINGCAST_BACKEND=$BACKEND "$RINGCAST" serve --listen 127.0.0.1:$PORT --shards "$SHARDS" \
  >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do
  grep -q listening "$WORK/server.out" 2>/dev/null && break
  sleep 0.1
done
grep -q listening "$WORK/server.out" || die "the server did not start: $(cat "$WORK/server.err")"

LOADGEN_CMD=("$LOADGEN" --mode soak --url "ws://127.0.0.1:$PORT" --subscribers "$CONNECTIONS"
  --topics "$TOPICS" --publish-per-sec "$PUBLISH" --churn-per-sec "$CHURN"
  --sockjs-percent "$SOCKJS" --secs "$DURATION" --drain-secs 30 --connect-batch 500)
log "load: ${LOADGEN_CMD[*]}"
"${LOADGEN_CMD[@]}" >"$WORK/loadgen.json" 2>"$WORK/loadgen.err" &
LOADGEN_PID=$!

# Samples: seconds since start, RSS KiB, open fds, server CPU seconds, 1-minute load average.
TICKS=$(getconf CLK_TCK)
T0=$(date +%s)
echo "secs rss_kib fds cpu_secs load1" >"$WORK/samples"
while kill -0 "$LOADGEN_PID" 2>/dev/null; do
  kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited during the soak: $(tail -5 "$WORK/server.err")"
  rss=$(awk '/^VmRSS:/ {print $2}' /proc/$SERVER_PID/status)
  fds=$(ls /proc/$SERVER_PID/fd | wc -l)
  cpu=$(awk -v t="$TICKS" '{printf "%.1f", ($14 + $15) / t}' /proc/$SERVER_PID/stat)
  load1=$(cut -d' ' -f1 /proc/loadavg)
  echo "$(( $(date +%s) - T0 )) $rss $fds $cpu $load1" | tee -a "$WORK/samples" >&2
  sleep "$SAMPLE_SECS"
done
LOADGEN_RC=0
wait "$LOADGEN_PID" || LOADGEN_RC=$?
LOADGEN_PID=""
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Flatness over the samples taken after the warm-up and before the load stopped.
flat() { # column name -> "mean min max spread_pct ok"
  awk -v col="$1" -v from="$WARMUP" -v to="$DURATION" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
    $1 >= from && $1 <= to { n++; s += $c; if (n == 1 || $c < lo) lo = $c; if (n == 1 || $c > hi) hi = $c }
    END {
      if (n == 0) { print "0 0 0 0 no"; exit }
      m = s / n; d = (hi - m > m - lo) ? hi - m : m - lo
      printf "%.0f %d %d %.2f %s\n", m, lo, hi, 100 * d / m, (d <= 0.05 * m ? "yes" : "no")
    }' "$WORK/samples"
}
read -r RSS_MEAN RSS_MIN RSS_MAX RSS_SPREAD RSS_OK < <(flat rss_kib)
read -r FD_MEAN FD_MIN FD_MAX FD_SPREAD FD_OK < <(flat fds)
RESULT=$(cat "$WORK/loadgen.json")
DELIVERY_OK=no
[[ $LOADGEN_RC == 0 && $RESULT == *'"ok":true'* ]] && DELIVERY_OK=yes
VERDICT=FAIL
[[ $RSS_OK == yes && $FD_OK == yes && $DELIVERY_OK == yes ]] && VERDICT=PASS
SAMPLES_AFTER=$(awk -v from="$WARMUP" -v to="$DURATION" 'NR > 1 && $1 >= from && $1 <= to' "$WORK/samples" | wc -l)

LABEL="$((DURATION / 60))-minute run"
(( DURATION % 60 == 0 )) || LABEL="${DURATION}-second run"
{
  echo "# Soak: $LABEL, $CONNECTIONS connections with churn"
  echo
  echo "Verdict: **$VERDICT** (RSS flat: $RSS_OK, fds flat: $FD_OK, nothing lost or duplicated: $DELIVERY_OK)."
  echo
  echo "- Started $STARTED, commit $COMMIT, $(nproc) cores shared with other work;"
  echo "  load average (1/5/15 min) before: $LOAD_BEFORE, after: $LOAD_AFTER."
  echo "- Server: \`RINGCAST_BACKEND=$BACKEND ringcast serve --listen 127.0.0.1:PORT --shards $SHARDS\`"
  echo "  ($(grep -o 'backend [^|]*' "$WORK/server.out" | head -1))."
  echo "- Load: \`ringcast-loadgen ${LOADGEN_CMD[*]:1}\`: $CONNECTIONS subscribers over $TOPICS rooms"
  echo "  ($SOCKJS% SockJS sessions on the websocket transport, the rest raw WebSocket), one"
  echo "  publisher per room, $PUBLISH publishes/s in all, $CHURN subscribers/s dropped (abortive"
  echo "  close) and replaced; each subscriber checks its room's sequence numbers."
  echo "- Command: \`bash perf/soak.sh --duration $DURATION --warmup $WARMUP --connections $CONNECTIONS\`"
  echo
  echo "## Flatness after the ${WARMUP} s warm-up ($SAMPLES_AFTER samples, ±5% of the mean allowed)"
  echo
  echo "| | mean | min | max | largest deviation | flat |"
  echo "|---|---|---|---|---|---|"
  echo "| RSS (KiB) | $RSS_MEAN | $RSS_MIN | $RSS_MAX | $RSS_SPREAD% | $RSS_OK |"
  echo "| open fds | $FD_MEAN | $FD_MIN | $FD_MAX | $FD_SPREAD% | $FD_OK |"
  echo
  echo "## Delivery (load generator, exit status $LOADGEN_RC)"
  echo
  echo '```json'
  echo "$RESULT"
  echo '```'
  echo
  echo "## Samples (every ${SAMPLE_SECS} s; secs since the server started)"
  echo
  echo '```'
  cat "$WORK/samples"
  echo '```'
} >"$OUT"
log "record: $OUT ($VERDICT)"
[[ $VERDICT == PASS ]]
