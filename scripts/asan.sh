#!/usr/bin/env bash
# AddressSanitizer run (Rust nightly): the shutdown-with-writes-in-flight test and the
# send-queue and io_uring unit tests, built with -Zsanitizer=address, on both backends.
# Any use-after-free, double free or overflow in them aborts the run with a report.
#
#   bash scripts/asan.sh          # needs `cargo +nightly` (rustup toolchain install nightly)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "asan: no nightly toolchain (rustup toolchain install nightly); skipped" >&2
  exit 0
fi
target=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Zsanitizer=address"
export RUSTDOCFLAGS="-Zsanitizer=address"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export CARGO_TARGET_DIR=target/asan
started=$(date +%s)
cargo +nightly test --release --quiet --target "$target" --test shutdown
cargo +nightly test --release --quiet --target "$target" --lib -- send::queue io::uring
echo "asan: clean in $(( $(date +%s) - started ))s"
