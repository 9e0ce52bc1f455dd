#!/usr/bin/env bash
# The whole test suite: unit + black-box tests on both backends (`cargo test`), the
# benches compiled and run once as tests, then the Autobahn RFC 6455 conformance run.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== cargo test (unit, integration on io_uring and epoll, CLI)"
cargo test --release --all-targets
echo "== Autobahn TestSuite (kosoku) on io_uring and epoll"
scripts/autobahn.sh target/autobahn
