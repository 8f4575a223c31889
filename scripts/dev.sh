#!/usr/bin/env bash
# Runs the product locally: the real Worker in workerd (wrangler dev) on 127.0.0.1, with local
# Durable Object, R2 and KV state under .wrangler/state (kept across runs).
#   PORT=8787 (default), S3_PORT=PORT+1 (the local backup bucket)   --no-opt: skip wasm-opt
#   DEV_NO_BUILD=1: start at once with the bundle already built (restarts, cold-start timing)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

if [ "${DEV_NO_BUILD:-}" != 1 ]; then
  "$ROOT/scripts/setup.sh"
  "$ROOT/scripts/build-worker.sh" "$@"
fi

port="${PORT:-8787}"
# The backup bucket: a local S3 server (s3s-fs, SigV4 checked) on a directory beside the
# Worker's state, so exports, /health's signed probe and `second-brain restore` work locally.
s3_port="${S3_PORT:-$((port + 1))}"
s3_dir="$ROOT/.wrangler/state/s3"
mkdir -p "$s3_dir/second-brain-backups-dev"
cargo build --quiet -p second-brain-tools --bin second-brain
"$ROOT/target/debug/second-brain" s3-local --dir "$s3_dir" --port "$s3_port" \
  --access-key local-dev-access-key --secret-key local-dev-secret-key &
s3_pid=$!
trap 'kill "$s3_pid" 2>/dev/null' EXIT

log "serving on http://127.0.0.1:$port (GET /health), backups to http://127.0.0.1:$s3_port; Ctrl-C stops"
# LOCAL_DEV enables the local-only routes and sign-in, for requests from this machine only
# (so bind to 127.0.0.1, never 0.0.0.0); the Worker refuses it in production. DEV_WITHOUT_TOKEN
# serves a request without a token as the dev user (X-Dev-User, else local-dev).
# The S3_BACKUP_* values are the local S3 server's keys; they are credentials nowhere else.
wrangler dev --env dev --ip 127.0.0.1 --port "$port" --persist-to "$ROOT/.wrangler/state" \
  --show-interactive-dev-session=false \
  --var LOCAL_DEV:1 \
  --var DEV_WITHOUT_TOKEN:1 \
  --var S3_BACKUP_ACCESS_KEY:local-dev-access-key \
  --var S3_BACKUP_SECRET_KEY:local-dev-secret-key \
  --var S3_BACKUP_BUCKET:second-brain-backups-dev \
  --var S3_BACKUP_REGION:us-east-1 \
  --var "S3_BACKUP_ENDPOINT:http://127.0.0.1:$s3_port"
