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
# Autogenerate does not see triggers: append the ones that make the audit tables append-only
# (fieldops.core.audit.trigger_sql), as literal SQL per dialect, so the migration imports no application code.
.venv/bin/python - <<'PY'
from pathlib import Path

from fieldops.core.audit import trigger_sql

path = Path("migrations/versions/0001_initial.py")
text = path.read_text()
assert "def upgrade() -> None:\n" in text
text = text.replace("def upgrade() -> None:\n", "def _create_tables() -> None:\n", 1)
sql = {dialect: trigger_sql(dialect) for dialect in ("postgresql", "sqlite")}
text += f'''

# Audit rows are append-only in the database too (added by scripts/regen_initial_migration.sh from
# fieldops.core.audit.trigger_sql). SQLite batch migrations that rebuild these tables must re-create them.
APPEND_ONLY_TRIGGERS: dict[str, list[str]] = {sql!r}


def upgrade() -> None:
    _create_tables()
    for statement in APPEND_ONLY_TRIGGERS.get(op.get_bind().dialect.name, []):
        op.execute(statement)
'''
path.write_text(text)
PY
.venv/bin/ruff format -q migrations/versions/0001_initial.py || true
echo "regenerated migrations/versions/0001_initial.py"
