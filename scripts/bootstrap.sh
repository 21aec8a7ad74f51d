#!/usr/bin/env bash
# Install what the project needs on a fresh Debian machine: apt packages when missing, uv, the venv
# from the locked requirements, and (once it exists) the front end. Safe to run again: it skips
# what is already in place.  Usage: scripts/bootstrap.sh [runtime|dev]
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-runtime}"

need_apt=()
if [ "$MODE" = "dev" ]; then
  for pkg in postgresql; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
  done
fi
if [ -d frontend ] && [ "$MODE" = "dev" ]; then
  for pkg in chromium fonts-noto-cjk; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
  done
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if ! command -v uv >/dev/null 2>&1 && [ ! -x .venv/bin/uv ]; then
  echo "==> installing uv"
  "$PY" -m pip install -q uv 2>/dev/null || "$PY" -m pip install -q --user uv
fi
UV="$(command -v uv || true)"
[ -z "$UV" ] && UV="$("$PY" -m site --user-base)/bin/uv"

locks="requirements.lock"
[ "$MODE" = "dev" ] && locks="requirements.lock requirements-dev.lock"
stamp=".venv/.synced-$(cat $locks pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$UV" venv -q -p "$PY" .venv
  echo "==> installing Python dependencies ($MODE)"
  # shellcheck disable=SC2086
  "$UV" pip sync -q --python .venv/bin/python --require-hashes $locks
  "$UV" pip install -q --python .venv/bin/python --no-deps -e .
  rm -f .venv/.synced-*
  touch "$stamp"
fi

if [ -f frontend/package.json ]; then
  fstamp="frontend/node_modules/.installed-$(sha256sum frontend/package-lock.json | cut -c1-16)"
  if [ ! -f "$fstamp" ]; then
    echo "==> installing front-end packages"
    (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
    touch "$fstamp"
  fi
  if [ ! -f src/fieldops/static/index.html ] || [ -n "$(find frontend/src frontend/index.html -newer src/fieldops/static/index.html 2>/dev/null | head -1)" ]; then
    echo "==> building the web app"
    (cd frontend && npm run -s build:only)
  fi
fi
