#!/usr/bin/env bash
# Fail when frontend/src/api/schema.d.ts no longer matches the API (run scripts/gen_api_types.sh to fix).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
scripts/gen_api_types.sh "$tmp/schema.d.ts"
if ! diff -u frontend/src/api/schema.d.ts "$tmp/schema.d.ts" > "$tmp/diff"; then
  head -40 "$tmp/diff" >&2
  echo "frontend/src/api/schema.d.ts is out of date with the API: run scripts/gen_api_types.sh" >&2
  exit 1
fi
echo "API types are up to date"
