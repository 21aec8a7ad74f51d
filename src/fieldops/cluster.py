"""Cluster mode: a local PostgreSQL server, N API processes on one port and M workers (`fieldops run-cluster`).

PostgreSQL is the only shared state: workers claim outbox events, notifications, SLA clocks and plan runs with
`SELECT … FOR UPDATE SKIP LOCKED` (each exactly once), and every API process's live broadcaster is woken by
LISTEN/NOTIFY when a live event is stored. The SQLite single-process mode (`fieldops run`) is unchanged.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from fieldops.settings import Settings

log = logging.getLogger("fieldops.cluster")
DB_NAME = "fieldops"


def pg_bin() -> Path:
    """The newest installed PostgreSQL server binaries (Debian layout), or the directory of pg_ctl on PATH."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name)
                      if p.parent.parent.name.isdigit() else 0)
    if versions:
        return versions[-1].parent
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL server binaries not found; install the postgresql package")


@dataclass
class LocalPostgres:
    """A PostgreSQL server in a data directory of our own (initdb refuses root: then it runs as `postgres`)."""

    data_dir: Path
    port: int
    options: str = ""
    bin: Path = field(default_factory=pg_bin)

    @property
    def data(self) -> Path:
        return self.data_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{DB_NAME}"

    def _as_postgres(self) -> bool:
        return os.geteuid() == 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        cmd = list(args)
        if self._as_postgres():
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if check and done.returncode != 0:
            hint = " (as root the server runs as `postgres`, which must be able to reach that directory)" \
                if self._as_postgres() else ""
            raise RuntimeError(f"{Path(args[0]).name} failed for {self.data_dir}{hint}: "
                               f"{done.stderr.decode(errors='replace').strip()[-800:]}")
        return done

    def init(self) -> bool:
        """initdb once (trust on 127.0.0.1 and the private socket only). Returns whether it created the cluster."""
        if (self.data / "PG_VERSION").exists():
            return False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self._as_postgres():
            for p in (self.data_dir, self.socket_dir):
                shutil.chown(p, "postgres", "postgres")
            self.data_dir.chmod(0o755)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--locale=C.UTF-8")
        return True

    def running(self) -> bool:
        return self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "status", check=False).returncode == 0

    def start(self) -> None:
        if self.running():
            return
        opts = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c max_connections=300 "
                f"{self.options}")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.data_dir / "postgres.log"), "-w",
                  "-t", "60", "-o", opts, "start")

    def stop(self, mode: str = "fast") -> None:
        if self.running():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def create_database(self, name: str = DB_NAME) -> None:
        from sqlalchemy import create_engine, text

        admin = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres",
                              isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}) is None:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()


def local_postgres(settings: Settings) -> LocalPostgres:
    return LocalPostgres(data_dir=(settings.cluster_pg_dir or settings.data_dir / "pg").resolve(),
                         port=settings.cluster_pg_port)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "fieldops.cli", *args]


class Cluster:
    """The processes of one cluster. Workers that die are restarted (the outbox makes that safe); if the API
    exits, everything stops."""

    def __init__(self, settings: Settings, env: dict[str, str]) -> None:
        self.settings, self.env = settings, env
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.stopping = False

    def start(self) -> None:
        self.api = subprocess.Popen(_cli("serve", "--workers", str(max(1, self.settings.api_processes))),
                                    env=self.env)
        self.workers = [self._worker() for _ in range(max(1, self.settings.worker_processes))]

    def _worker(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(_cli("worker"), env=self.env)

    def supervise_once(self) -> bool:
        """Restart dead workers; False once the API has exited."""
        if self.api is None or self.api.poll() is not None:
            return False
        for i, w in enumerate(self.workers):
            if w.poll() is not None and not self.stopping:
                log.warning("worker %s exited with %s; restarting", w.pid, w.returncode)
                self.workers[i] = self._worker()
        return True

    def stop(self, timeout: float = 15) -> None:
        self.stopping = True
        procs = [p for p in [self.api, *self.workers] if p is not None]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def prepare(settings: Settings, use_local_pg: bool) -> tuple[str, LocalPostgres | None]:
    """Start (and on first use create) the local PostgreSQL server unless an external one is configured, then
    migrate. Returns the database URL and the server we started (to stop at the end)."""
    from fieldops.core.migrate import upgrade

    server = None
    url = settings.database_url
    if use_local_pg:
        server = local_postgres(settings)
        server.init()
        server.start()
        server.create_database()
        url = server.url
    upgrade(url)
    return url, server
