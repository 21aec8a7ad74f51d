#!/usr/bin/env bash
# Regenerate the web app's API types (frontend/src/api/schema.d.ts) from the FastAPI app's OpenAPI
# document. Needs the venv (.venv) and the front-end packages (frontend/node_modules).
# Usage: scripts/gen_api_types.sh [OUTPUT]   (default: frontend/src/api/schema.d.ts)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-frontend/src/api/schema.d.ts}"
GEN=frontend/node_modules/.bin/openapi-typescript
if [ ! -x "$GEN" ]; then
  echo "openapi-typescript is missing: run (cd frontend && npm ci) first" >&2
  exit 2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A throw-away data dir and database so building the app touches nothing in ./var.
FIELDOPS_DATA_DIR="$work" FIELDOPS_DATABASE_URL="sqlite:///$work/spec.db" FIELDOPS_SECRET_KEY=spec-only \
  .venv/bin/python -c "import json;from fieldops.main import create_app;print(json.dumps(create_app().openapi()))" \
  > "$work/openapi.json"
"$GEN" "$work/openapi.json" -o "$OUT" >/dev/null
