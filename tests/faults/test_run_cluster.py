"""`fieldops run-cluster` (what `make run-cluster` runs) starts a local PostgreSQL under the data dir, migrates,
starts N API processes on one port and M workers, and stops all of them and the server on Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from fieldops.cluster import LocalPostgres
from tests.faults.harness import SECRET, free_port, pg_available


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_run_cluster_starts_and_stops_everything(tmp_path: Path) -> None:
    if not pg_available():
        pytest.fail("PostgreSQL 15 server binaries are missing: `make test` installs Debian's postgresql")
    port, pg_port = free_port(), free_port()
    var = Path(tempfile.mkdtemp(prefix="fieldops-cluster-", dir="/tmp"))  # reachable by the postgres user
    var.chmod(0o755)
    env = dict(os.environ, FIELDOPS_DATA_DIR=str(var), FIELDOPS_PORT=str(port),
               FIELDOPS_CLUSTER_PG_PORT=str(pg_port), FIELDOPS_SEED_DEMO="false", FIELDOPS_SECRET_KEY=SECRET,
               FIELDOPS_API_PROCESSES="2", FIELDOPS_WORKER_PROCESSES="2", FIELDOPS_LOG_LEVEL="warning")
    env.pop("FIELDOPS_DATABASE_URL", None)
    log = (tmp_path / "cluster.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "fieldops.cli", "run-cluster"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    server = LocalPostgres(var / "pg", pg_port)
    try:
        deadline = time.monotonic() + 120
        up = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                up = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                up = False
            if up:
                break
            time.sleep(0.5)
        assert up, (tmp_path / "cluster.log").read_text()[-3000:]
        assert server.running()
        kids = _children(proc.pid)
        workers = [k for k in kids if "\x00worker\x00" in _cmd(k)]
        assert len(workers) == 2, kids
        api = [k for k in kids if k not in workers]
        assert len(api) == 1 and len(_children(api[0])) >= 2  # uvicorn's supervisor and its 2 processes
        # a dead worker is replaced
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            now = [k for k in _children(proc.pid) if "\x00worker\x00" in _cmd(k)]
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.3)
        else:
            raise AssertionError("the killed worker was not replaced")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        assert not server.running()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.stop("immediate")
        shutil.rmtree(var, ignore_errors=True)
