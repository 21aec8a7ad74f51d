"""Fault-injection harness shared by tests/faults (small sizes) and bench/faults.py (full sizes).

Real processes only: a PostgreSQL server of our own (fieldops.cluster.LocalPostgres, restartable), `fieldops
serve --workers N` on a free 127.0.0.1 port, and worker processes (tests.faults.worker_main, which adds the
counting receiver of tests.faults.receiver to the worker's task modules).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from fieldops.cluster import LocalPostgres, pg_bin
from fieldops.core.db import Database
from fieldops.core.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1"
SECRET = "fault-test-secret-key-0123456789abcdef"


def pg_available() -> bool:
    try:
        pg_bin()
    except RuntimeError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Pg:
    """A throw-away PostgreSQL server with a migrated template database; new_database() copies it."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fieldops-faults-pg-", dir="/tmp"))
        # fsync off only speeds up the disk; commits stay synchronous, so a crash-restart keeps acknowledged writes.
        self.server = LocalPostgres(self.dir, free_port(), options="-c fsync=off -c full_page_writes=off")
        self.server.init()
        self.server.start()
        self.base = f"postgresql+psycopg://postgres@127.0.0.1:{self.server.port}"
        self._admin("CREATE DATABASE faults_template")
        upgrade(f"{self.base}/faults_template")

    def _admin(self, sql: str) -> None:
        engine = create_engine(f"{self.base}/postgres", isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(sql))
        finally:
            engine.dispose()

    def new_database(self) -> str:
        name = "f_" + uuid.uuid4().hex[:12]
        self._admin(f"CREATE DATABASE {name} TEMPLATE faults_template")
        return f"{self.base}/{name}"

    def copy_database(self, source: str) -> str:
        name = "f_" + uuid.uuid4().hex[:12]
        self._admin(f"CREATE DATABASE {name} TEMPLATE {source}")
        return f"{self.base}/{name}"

    def restart(self, mode: str = "immediate") -> None:
        """Stop (immediate = like a crash: no checkpoint, clients cut off) and start again."""
        self.server.restart(mode)

    def close(self) -> None:
        try:
            self.server.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def env_for(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"FIELDOPS_DATABASE_URL": url, "FIELDOPS_DATA_DIR": str(data_dir), "FIELDOPS_SECRET_KEY": SECRET,
                "FIELDOPS_PASSWORD_HASH_PROFILE": "fast", "FIELDOPS_SEED_DEMO": "false",
                "FIELDOPS_LOG_LEVEL": "warning", "FIELDOPS_WORKER_POLL_SECONDS": "0.05",
                # one client sends everything here: the per-user write limit (429) would hide what is measured
                "FIELDOPS_RATE_LIMIT_PER_MINUTE": "0",
                "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")})
    env.update(extra)
    return env


@dataclass
class Api:
    """`fieldops serve --workers N` on 127.0.0.1."""

    env: dict[str, str]
    processes: int = 2
    port: int = field(default_factory=free_port)
    log: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Api:
        env = dict(self.env, FIELDOPS_PORT=str(self.port), FIELDOPS_HOST="127.0.0.1")
        out = self.log.open("wb") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen([sys.executable, "-m", "fieldops.cli", "serve", "--workers", str(self.processes)],
                                     env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"API exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}{API}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("API did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class Workers:
    """M worker processes that can be SIGKILLed and restarted."""

    def __init__(self, env: dict[str, str], count: int, log_dir: Path | None = None) -> None:
        self.env, self.count, self.log_dir = env, count, log_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started = 0

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.started += 1
        out: Any = subprocess.DEVNULL
        if self.log_dir is not None:
            out = (self.log_dir / f"worker-{self.started}.log").open("wb")
        return subprocess.Popen([sys.executable, "-m", "tests.faults.worker_main"], env=self.env, stdout=out,
                                stderr=subprocess.STDOUT)

    def start(self) -> Workers:
        self.procs = [self._spawn() for _ in range(self.count)]
        return self

    def kill_one(self, rng: random.Random) -> int:
        """SIGKILL a random worker and start a replacement. Returns the killed pid."""
        i = rng.randrange(len(self.procs))
        victim = self.procs[i]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        self.procs[i] = self._spawn()
        return victim.pid

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


# ---- scenario: SIGKILL workers while events flow ----------------------------------------------------------

@dataclass
class KillResult:
    events: int
    kills: int
    received: int
    distinct: int
    lost: int
    duplicates: int
    dead_lettered: int
    drain_seconds: float
    total_seconds: float


def kill_workers_while_events_flow(pg: Pg, work_dir: Path, events: int, kills: int, workers: int = 2,
                                   batch: int = 50, seed: int = 7, drain_timeout: float = 120) -> KillResult:
    """Insert `events` outbox events (type fault.ping) in batches while SIGKILLing a random worker `kills` times
    (each replaced at once); then wait for the backlog to drain and count the receiver's side effects."""
    from tests.faults import receiver

    url = pg.new_database()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(receiver.CREATE_TABLE))
    rng = random.Random(seed)
    crew = Workers(env_for(url, work_dir), workers, log_dir=work_dir).start()
    t0 = time.monotonic()
    done = threading.Event()

    def produce() -> None:
        now = datetime.now(UTC)
        sent = 0
        while sent < events:
            n = min(batch, events - sent)
            rows = [{"id": uuid.uuid4(), "agg": uuid.uuid4(), "p": f'{{"n": {sent + i}}}'} for i in range(n)]
            with engine.begin() as conn:
                conn.execute(text(
                    "INSERT INTO outbox_events (id, type, aggregate_type, aggregate_id, payload, occurred_at, "
                    "available_at, attempts) "
                    "VALUES (:id, 'fault.ping', 'fault', :agg, CAST(:p AS JSON), :now, :now, 0)"),
                    [{**r, "now": now} for r in rows])
            sent += n
            time.sleep(0.005)
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        # spread the kills over the time the events flow (and a little after)
        for _ in range(kills):
            time.sleep(rng.uniform(0.2, 0.8))
            crew.kill_one(rng)
        producer.join()
        t_drain = time.monotonic()
        deadline = t_drain + drain_timeout
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                pending = conn.scalar(text("SELECT count(*) FROM outbox_events WHERE processed_at IS NULL"))
            if pending == 0:
                break
            time.sleep(0.2)
        drain = time.monotonic() - t_drain
    finally:
        crew.stop()
    with engine.connect() as conn:
        ids = [str(r[0]) for r in conn.execute(text("SELECT event_id FROM fault_receipts"))]
        dead = int(conn.scalar(text("SELECT count(*) FROM outbox_events WHERE last_error IS NOT NULL")) or 0)
        expected = {str(r[0]) for r in conn.execute(text("SELECT id FROM outbox_events WHERE type = 'fault.ping'"))}
    engine.dispose()
    counts = Counter(ids)
    return KillResult(events=events, kills=kills, received=len(ids), distinct=len(counts),
                      lost=len(expected - set(counts)), duplicates=sum(c - 1 for c in counts.values()),
                      dead_lettered=dead, drain_seconds=drain, total_seconds=time.monotonic() - t0)


# ---- a world for the HTTP scenarios -----------------------------------------------------------------------

def make_world_at(url: str) -> Any:
    from tests.factories.world import make_world

    database = Database(url)
    try:
        with database.session() as db:
            world = make_world(db)
            db.expunge_all()
            return world
    finally:
        database.dispose()


def login(client: httpx.Client, email: str) -> dict[str, str]:
    from tests.conftest import PASSWORD

    r = client.post(f"{API}/auth/login", json={"username": email, "password": PASSWORD})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def order_body(t: Any, description: str) -> dict[str, Any]:
    return {"customer_id": str(t.customer.id), "site_id": str(t.site.id), "service_type_id": str(t.service_type.id),
            "description": description}


# ---- scenario: restart PostgreSQL under write load --------------------------------------------------------

@dataclass
class RestartResult:
    requests: int
    acknowledged: int
    missing: int
    statuses: dict[int, int]
    server_errors: int
    tracebacks: int
    non_problem_errors: int
    recovered_seconds: list[float]


def restart_pg_under_load(pg: Pg, work_dir: Path, seconds: float, restarts: int, clients: int = 8,
                          api_processes: int = 2) -> RestartResult:
    """`clients` threads create work orders as fast as they can through `api_processes` API processes for
    `seconds`; PostgreSQL is restarted `restarts` times (immediate mode, like a crash) spread over the run.
    Afterwards every acknowledged (201) order must be in the database."""
    url = pg.new_database()
    world = make_world_at(url)
    t = world.a
    api = Api(env_for(url, work_dir), processes=api_processes, log=work_dir / "api.log").start()
    acked: list[str] = []
    statuses: Counter[int] = Counter()
    bad_bodies: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    recovered: list[float] = []
    last_ok = [time.monotonic()]
    try:
        with httpx.Client(base_url=api.url, timeout=30) as c:
            headers = login(c, t.email("dispatcher"))

        def client_loop(k: int) -> None:
            with httpx.Client(base_url=api.url, timeout=30) as c:
                n = 0
                while not stop.is_set():
                    n += 1
                    key = f"restart-{k}-{n}"
                    try:
                        r = c.post(f"{API}/work-orders", json=order_body(t, key),
                                   headers={**headers, "Idempotency-Key": key})
                    except httpx.HTTPError:
                        with lock:
                            statuses[0] += 1
                        time.sleep(0.05)
                        continue
                    with lock:
                        statuses[r.status_code] += 1
                        if r.status_code == 201:
                            acked.append(r.json()["id"])
                            last_ok[0] = time.monotonic()
                        elif r.status_code >= 500:
                            ctype = r.headers.get("content-type", "")
                            if "problem+json" not in ctype or "Traceback" in r.text:
                                bad_bodies.append(r.text[:500])
                    if r.status_code >= 500:
                        time.sleep(0.05)

        threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(clients)]
        for th in threads:
            th.start()
        gap = seconds / (restarts + 1)
        for _ in range(restarts):
            time.sleep(gap)
            t_restart = time.monotonic()
            pg.restart("immediate")
            # time until the application answers a write again (no restart of the application)
            while time.monotonic() - t_restart < 60 and last_ok[0] < t_restart:
                time.sleep(0.05)
            recovered.append(last_ok[0] - t_restart)
        time.sleep(gap)
        stop.set()
        for th in threads:
            th.join()
    finally:
        api.stop()
    engine = create_engine(url)
    with engine.connect() as conn:
        present = {str(r[0]) for r in conn.execute(text("SELECT id FROM work_orders"))}
    engine.dispose()
    tracebacks = sum(1 for b in bad_bodies if "Traceback" in b)
    log_text = (work_dir / "api.log").read_text(errors="replace") if (work_dir / "api.log").exists() else ""
    del log_text  # the server log may hold tracebacks of logged 503s; responses never do
    return RestartResult(requests=sum(statuses.values()), acknowledged=len(acked),
                         missing=len(set(acked) - present), statuses=dict(statuses),
                         server_errors=sum(v for k, v in statuses.items() if k >= 500 and k != 503) + statuses[0],
                         tracebacks=tracebacks, non_problem_errors=len(bad_bodies), recovered_seconds=recovered)


# ---- scenario: races through several API processes --------------------------------------------------------

@dataclass
class RaceResult:
    name: str
    attempts: int
    winners: int
    statuses: dict[int, int]
    extra: dict[str, Any] = field(default_factory=dict)


def _parallel(n: int, fn: Any) -> list[Any]:
    barrier = threading.Barrier(n)
    out: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        out[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return out


def races(pg: Pg, work_dir: Path, parallel: int = 50, creates: int = 100, api_processes: int = 2) -> list[RaceResult]:
    """Same-moment conflicting requests through several API processes on PostgreSQL."""
    url = pg.new_database()
    world = make_world_at(url)
    t = world.a
    api = Api(env_for(url, work_dir), processes=api_processes, log=work_dir / "api.log").start()
    results: list[RaceResult] = []
    limits = httpx.Limits(max_connections=parallel * 3, max_keepalive_connections=parallel * 3,
                          keepalive_expiry=2)  # below uvicorn's 5 s keep-alive timeout
    try:
        with httpx.Client(base_url=api.url, timeout=60, limits=limits) as c:
            disp = login(c, t.email("dispatcher"))
            tech = login(c, t.email("tech"))
            tech2 = login(c, t.email("tech2"))

            def new_order(desc: str) -> dict[str, Any]:
                r = c.post(f"{API}/work-orders", json=order_body(t, desc), headers=disp)
                r.raise_for_status()
                return dict(r.json())

            def tally(name: str, codes: list[int], ok: int = 200, **extra: Any) -> RaceResult:
                res = RaceResult(name, len(codes), codes.count(ok), dict(Counter(codes)), extra)
                results.append(res)
                return res

            # 1. parallel assigns of one new order (same version, alternating technicians)
            wo = new_order("race-assign")
            techs = [str(t.tech.id), str(t.tech2.id)]
            codes = _parallel(parallel, lambda i: c.post(
                f"{API}/work-orders/{wo['id']}/assign", json={"technician_id": techs[i % 2], "force": True,
                                                              "reason": "race"},
                headers={**disp, "If-Match": f'"{wo["version"]}"'}).status_code)
            got = c.get(f"{API}/work-orders/{wo['id']}", headers=disp).json()
            timeline = c.get(f"{API}/work-orders/{wo['id']}/timeline", headers=disp).json()
            tally("assign", codes, assigns=sum(1 for a in timeline if a["action"] == "assign"),
                  status=got["status"])

            # 2. parallel accepts of the assigned order by its technician (same version)
            who = tech if got["technician_id"] == str(t.tech.id) else tech2
            codes = _parallel(parallel, lambda i: c.post(
                f"{API}/work-orders/{wo['id']}/accept", headers={**who, "If-Match": f'"{got["version"]}"'}).status_code)
            timeline = c.get(f"{API}/work-orders/{wo['id']}/timeline", headers=disp).json()
            tally("accept", codes, accepts=sum(1 for a in timeline if a["action"] == "accept"))

            # 3. parallel updates with the same version
            wo3 = new_order("race-update")
            codes = _parallel(parallel, lambda i: c.patch(
                f"{API}/work-orders/{wo3['id']}", json={"description": f"update {i}"},
                headers={**disp, "If-Match": f'"{wo3["version"]}"'}).status_code)
            got3 = c.get(f"{API}/work-orders/{wo3['id']}", headers=disp).json()
            tally("update-same-version", codes, final_version=got3["version"])

            # 4. parallel grabs of one pool offer (both technicians, alternating)
            grab = _grab_race(c, pg, url, t, disp, tech, tech2, parallel, new_order)
            if grab is not None:
                results.append(grab)

            # 5. creates, each sent three times at once with the same Idempotency-Key
            before = _count_orders(url)
            run_id = uuid.uuid4().hex[:8]

            def create(i: int) -> int:
                key = f"idem-{run_id}-{i // 3}"
                for _ in range(3):  # a reset keep-alive connection is retried: the key makes that safe
                    try:
                        r = c.post(f"{API}/work-orders", json=order_body(t, key),
                                   headers={**disp, "Idempotency-Key": key})
                        return r.status_code
                    except httpx.TransportError:
                        time.sleep(0.1)
                return 0

            codes = []
            for start in range(0, creates * 3, parallel * 3):
                n = min(parallel * 3, creates * 3 - start)
                codes += _parallel(n, lambda i, s=start: create(s + i))
            made = _count_orders(url) - before
            tally("idempotent-create", codes, ok=201, created=made, expected=creates)
    finally:
        api.stop()
    return results


def _count_orders(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        n = int(conn.scalar(text("SELECT count(*) FROM work_orders")) or 0)
    engine.dispose()
    return n


def _grab_race(c: httpx.Client, pg: Pg, url: str, t: Any, disp: dict[str, str], tech: dict[str, str],
               tech2: dict[str, str], parallel: int, new_order: Any) -> RaceResult | None:
    from fieldops.core.clock import Clock
    from fieldops.settings import Settings
    from fieldops.worker.runner import run_once

    admin = login(c, t.email("admin"))
    r = c.put(f"{API}/dispatch/policy", json={"mode": "best_score", "use_pool": True, "pool_timeout_min": 10},
              headers=admin)
    r.raise_for_status()
    wo = new_order("race-grab")
    settings = Settings(database_url=url, secret_key=SECRET, seed_demo=False, _env_file=None)  # type: ignore[call-arg]
    database = Database(url)
    try:
        run_once(database, Clock(), settings)  # the dispatcher worker puts the order in the pool
    finally:
        database.dispose()
    offers = c.get(f"{API}/dispatch/pool", headers=tech).json()
    mine = [o for o in offers.get("items", []) if o.get("work_order_number") == wo["number"]]
    if not mine:
        return None
    offer_id = mine[0]["id"]
    codes = _parallel(parallel, lambda i: c.post(f"{API}/dispatch/pool/{offer_id}/grab",
                                                  headers=tech if i % 2 else tech2).status_code)
    got = c.get(f"{API}/work-orders/{wo['id']}", headers=disp).json()
    timeline = c.get(f"{API}/work-orders/{wo['id']}/timeline", headers=disp).json()
    return RaceResult("grab", len(codes), codes.count(200), dict(Counter(codes)),
                      {"status": got["status"], "assigns": sum(1 for a in timeline if a["action"] == "assign")})
