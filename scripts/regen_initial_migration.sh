#!/usr/bin/env bash
# Rebuild migrations/versions/0001_initial.py from the models (only while no database outside
# development exists; after the first release, add new revisions with `alembic revision --autogenerate`).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f migrations/versions/0001_initial.py
FIELDOPS_DATABASE_URL="sqlite:///$tmp/empty.db" .venv/bin/alembic revision --autogenerate \
  --rev-id 0001 -m initial >/dev/null
rm -rf "$tmp"
.venv/bin/ruff format -q migrations/versions/0001_initial.py || true
echo "regenerated migrations/versions/0001_initial.py"
