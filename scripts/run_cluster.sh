#!/usr/bin/env bash
# `make run-cluster`: PostgreSQL cluster mode without Docker. Installs what it needs (the venv, Debian's
# postgresql server binaries when missing), then `fieldops run-cluster`: a local PostgreSQL server under
# ./var/pg (port FIELDOPS_CLUSTER_PG_PORT), migrations, the demo seed on first run, FIELDOPS_API_PROCESSES API
# processes on one port and FIELDOPS_WORKER_PROCESSES workers. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null 2>&1; then
  echo "==> apt-get install postgresql"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
scripts/bootstrap.sh runtime
exec .venv/bin/fieldops run-cluster "$@"
