#!/usr/bin/env bash
# The whole test suite: unit + black-box tests on both backends (`cargo test`), the
# benches compiled and run once as tests, the Autobahn RFC 6455 conformance run, and the
# SockJS client interop run (Node + headless Chromium), each on io_uring and epoll.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== cargo test (unit, integration on io_uring and epoll, CLI)"
cargo test --release --all-targets
echo "== Autobahn TestSuite (kosoku) on io_uring and epoll"
scripts/autobahn.sh target/autobahn
echo "== SockJS client interop (sockjs-client, websocket-multiplex; Node and Chromium)"
scripts/interop.sh
