#!/usr/bin/env bash
# Builds the Worker: Rust -> wasm32 -> wasm-bindgen -> wasm-opt -> worker/build/.
#   --no-opt   skip wasm-opt (faster edit-build-run loops; the bundle is larger)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

opt=1
for arg in "$@"; do
  case "$arg" in
    --no-opt) opt=0 ;;
    *) die "unknown option $arg (known: --no-opt)" ;;
  esac
done

started=$(date +%s%N)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit-dirty"

log "cargo build (wasm32, release)"
SECOND_BRAIN_COMMIT="$commit" wasm_cargo build --release --quiet -p second-brain-worker

out="$WORKER_BUILD_DIR"
wasm="$WASM_TARGET_DIR/wasm32-unknown-unknown/release/second_brain_worker.wasm"
# The bundle is a function of cargo's wasm, the shim and the options: skip the slow steps
# (wasm-bindgen, wasm-opt) when none of them changed.
stamp="$(cat "$wasm" worker/js/shim.mjs | sha256sum | cut -c1-16)-opt$opt-$(wasm_bindgen_version)"
if [ -f "$out/index.wasm" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$commit" > "$out/.commit"
  log "bundle is up to date ($commit)"
  exit 0
fi
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
wasm-bindgen --target bundler --out-dir "$out.tmp" --out-name index --no-typescript "$wasm"
rm -f "$out.tmp/index.js"   # the bundler entry; the shim replaces it
if [ "$opt" = 1 ]; then
  wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$out.tmp/index_bg.wasm" -o "$out.tmp/index.wasm"
  rm "$out.tmp/index_bg.wasm"
else
  mv "$out.tmp/index_bg.wasm" "$out.tmp/index.wasm"
fi
cp worker/js/shim.mjs "$out.tmp/shim.mjs"
echo "$stamp" > "$out.tmp/.stamp"
# The commit the bundle reports in /health (second-brain deploy tags the version with it).
echo "$commit" > "$out.tmp/.commit"
rm -rf "$out" && mv "$out.tmp" "$out"

size=$(stat -c %s "$out/index.wasm")
gz=$(gzip -9 -c "$out/index.wasm" | wc -c)
log "built $commit in $(( ($(date +%s%N) - started) / 1000000 )) ms: index.wasm $size bytes, $gz gzipped"
