#!/usr/bin/env bash
# Fuzz smoke for CI: for every cargo-fuzz target, replay its committed corpus
# (fuzz/corpus/<target>/), then fuzz it afresh for FUZZ_SMOKE_SECONDS (default 20).
# New inputs go to a temporary directory, never into the committed corpus. Installs
# Rust nightly and cargo-fuzz when missing. Exits non-zero on the first crash, leak,
# timeout or failed assertion (libFuzzer leaves the input in fuzz/artifacts/<target>/).
# The long runs and their numbers are in docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SMOKE_SECONDS:-20}

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# The fuzzed code is safe Rust: without AddressSanitizer it runs several times faster,
# and a panic or failed assertion is what the targets look for.
fuzz=(cargo +nightly fuzz run --sanitizer none)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# Run libFuzzer quietly: the final stats on success, the whole report on failure.
run() {
    local log=$scratch/fuzz.log
    if "${fuzz[@]}" "$@" >"$log" 2>&1; then
        grep -E '^(#[0-9]+|Done)' "$log" | tail -n 2
    else
        tail -n 100 "$log" >&2
        return 1
    fi
}

echo "== fuzz targets: build"
cargo +nightly fuzz build --sanitizer none
for target in $(cargo +nightly fuzz list); do
    corpus=fuzz/corpus/$target
    if [ ! -d "$corpus" ]; then
        echo "fuzz target $target has no corpus in $corpus" >&2
        exit 1
    fi
    echo "== fuzz $target: replay $(ls "$corpus" | wc -l) corpus inputs"
    run "$target" "$corpus" -- -runs=0
    echo "== fuzz $target: ${seconds}s of fresh inputs"
    mkdir -p "$scratch/$target"
    run "$target" "$scratch/$target" "$corpus" -- -max_total_time="$seconds" -timeout=10
done
echo "== fuzz smoke passed"
