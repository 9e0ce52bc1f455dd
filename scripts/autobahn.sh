#!/usr/bin/env bash
# RFC 6455 conformance: the Autobahn TestSuite cases (via the PyPI package `kosoku`)
# against ringcast's echo service, on both I/O backends. Compression cases (12.*, 13.*)
# are excluded: permessage-deflate is not negotiated.
#
# Usage: scripts/autobahn.sh [OUTDIR]      (default OUTDIR: target/autobahn)
# Exits non-zero if any case FAILED; prints the OK / NON-STRICT / INFORMATIONAL /
# UNIMPLEMENTED / FAILED counts per backend.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/autobahn}
# kosoku comes from PyPI into a virtual environment of the project's own (a global pip
# install is refused on Debian 12 and Ubuntu >= 23.04: externally-managed-environment).
venv=target/kosoku-venv
if [ ! -x "$venv/bin/kosoku" ]; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    echo "autobahn: python3 -m venv failed; installing python3-venv" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; } \
      || { echo "autobahn: cannot create a Python venv" >&2; exit 1; }
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check kosoku==0.1.0
fi
kosoku=$venv/bin/kosoku
cargo build --release --quiet
mkdir -p "$out"
status=0
for backend in uring epoll; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  RINGCAST_BACKEND=$backend RUST_LOG=warn ./target/release/ringcast serve \
    --config examples/echo.toml --listen "127.0.0.1:$port" --shards 2 > "$out/server-$backend.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    grep -q 'listening on' "$out/server-$backend.log" 2>/dev/null && break
    sleep 0.1
  done
  start=$(date +%s)
  set +e
  timeout 1200 "$kosoku" -p 2 -x '12.*' -x '13.*' -o "$out/$backend" "ws://127.0.0.1:$port/echo/websocket" \
    > "$out/kosoku-$backend.log" 2>&1
  rc=$?
  set -e
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  python3 - "$out/$backend/index.json" "$backend" "$(( $(date +%s) - start ))" <<'PY'
import collections, json, sys
path, backend, secs = sys.argv[1], sys.argv[2], sys.argv[3]
data = json.load(open(path))
cases = {}
def walk(node):
    if isinstance(node, dict):
        if "behavior" in node and isinstance(node["behavior"], str):
            cases[node.get("id", len(cases))] = node
        else:
            for k, v in node.items():
                if isinstance(v, dict) and "behavior" in v:
                    cases[k] = v
                else:
                    walk(v)
    elif isinstance(node, list):
        for v in node:
            walk(v)
walk(data)
counts = collections.Counter(c["behavior"] for c in cases.values())
print(f"autobahn [{backend}] {len(cases)} cases in {secs}s: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
for cid, c in sorted(cases.items(), key=lambda kv: str(kv[0])):
    if c["behavior"] in ("FAILED", "NON-STRICT"):
        print(f"  {c['behavior']}: {cid} {c.get('behaviorClose', '')}")
PY
  if [ "$rc" -ne 0 ]; then
    echo "autobahn [$backend]: kosoku exited $rc (see $out/kosoku-$backend.log)"
    status=1
  fi
done
exit $status
