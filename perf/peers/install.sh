#!/usr/bin/env bash
# Installs the peer servers' packages from the npm registry into perf/peers/node_modules,
# at the exact versions of package-lock.json (npm ci), or resolves them with npm install when
# there is no lockfile yet. Skips the install when node_modules is newer than both manifests.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.ringcast-install-stamp
if [[ -f $stamp && $stamp -nt package.json && ( ! -f package-lock.json || $stamp -nt package-lock.json ) ]]; then
  echo "peers: node_modules up to date"
else
  if [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
  touch "$stamp"
fi
bun=node_modules/@oven/bun-linux-x64/bin/bun
echo "peers: node $(node --version), bun $("$bun" --version)"
