#!/usr/bin/env bash
# Runs the product locally: the real Worker in workerd (wrangler dev) on 127.0.0.1, with local
# Durable Object, R2 and KV state under .wrangler/state (kept across runs).
#   PORT=8787 (default)   --no-opt: skip wasm-opt for a faster build
#   DEV_NO_BUILD=1: start at once with the bundle already built (restarts, cold-start timing)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

if [ "${DEV_NO_BUILD:-}" != 1 ]; then
  "$ROOT/scripts/setup.sh"
  "$ROOT/scripts/build-worker.sh" "$@"
fi

port="${PORT:-8787}"
log "serving on http://127.0.0.1:$port (GET /health); Ctrl-C stops"
# LOCAL_DEV enables the local-only routes and sign-in; the Worker refuses it in production.
# The S3_BACKUP_* values are local placeholders so every binding reports healthy; they reach
# no real S3.
exec wrangler dev --env dev --ip 127.0.0.1 --port "$port" --persist-to "$ROOT/.wrangler/state" \
  --show-interactive-dev-session=false \
  --var LOCAL_DEV:1 \
  --var S3_BACKUP_ACCESS_KEY:local-dev-access-key \
  --var S3_BACKUP_SECRET_KEY:local-dev-secret-key \
  --var S3_BACKUP_BUCKET:second-brain-backups-dev \
  --var S3_BACKUP_REGION:us-east-1
