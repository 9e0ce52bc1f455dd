#!/usr/bin/env bash
# The whole test suite: unit + black-box tests on both backends (`cargo test`), the
# benches compiled and run once as tests, the AddressSanitizer run (Rust nightly), the
# Autobahn RFC 6455 conformance run, the examples run, the SockJS client interop run
# (Node + headless Chromium) and the official sockjs-protocol suite (fetched from its
# repository when reachable; SOCKJS_PROTOCOL_DIR names a checkout), each on io_uring and
# epoll.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== cargo test (unit, integration on io_uring and epoll, CLI, doc examples)"
cargo test --release --all-targets
cargo test --release --doc
echo "== AddressSanitizer (shutdown with writes in flight, send queue, io_uring backend)"
scripts/asan.sh
echo "== Autobahn TestSuite (kosoku) on io_uring and epoll"
scripts/autobahn.sh target/autobahn
echo "== examples (sockjs_echo, rooms_channels, chat, ticker) with sockjs-client, both backends, 2 shards"
scripts/examples.sh
echo "== SockJS client interop (sockjs-client, websocket-multiplex; Node and Chromium)"
scripts/interop.sh
echo "== official sockjs-protocol suite (converted to Python 3 at run time), both backends"
scripts/sockjs-protocol.sh
