"""Load: dispatchers browsing and assigning, technicians posting positions and updating jobs, customers creating
orders — against 1, 2 and 4 API processes (`fieldops serve --workers N`) on PostgreSQL 15, with one worker.

Everything runs on this machine on 127.0.0.1: a PostgreSQL server of the benchmark's own (fsync off), the API
processes, one worker process and the load generator (asyncio + httpx, one process). Each configuration starts
from a copy of the same demo-seeded database. Two runs per configuration, each bounded in time:

- saturation: VUSERS virtual users in a closed loop (no think time) for SATURATION_S → the throughput;
- fixed rate: an open loop at each of RATES requests/s for RATE_S (requests are sent on schedule whether or not earlier
  ones have answered) → latency percentiles at that rate.

Errors are 5xx, transport errors and unexpected 4xx; 409/412 (a lost race for the same order) are counted as
conflicts. The generator's own CPU share (its CPU seconds / wall seconds, 100 % = one core) is reported.
"""

from __future__ import annotations

import asyncio
import os
import random
import resource
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from tests.faults.harness import API, Api, Pg, Workers, env_for

from bench.report import pct, write_section
from fieldops.demo.accounts import DEMO_PASSWORD, DOMAIN

PROCESS_COUNTS = [int(x) for x in os.environ.get("BENCH_LOAD_PROCESSES", "1,2,4").split(",")]
SATURATION_S = float(os.environ.get("BENCH_LOAD_SECONDS", "20"))
RATES = [float(x) for x in os.environ.get("BENCH_LOAD_RATES", "200,40").split(",")]  # the goal's, and a sustainable one
RATE_S = float(os.environ.get("BENCH_LOAD_RATE_SECONDS", "15"))
VUSERS = int(os.environ.get("BENCH_LOAD_VUSERS", "32"))
EXTRA_ENV = {"FIELDOPS_TRACKING_RATE_PER_MINUTE": "100000", "FIELDOPS_TRACKING_RATE_BURST": "100000",
             "FIELDOPS_LOG_LEVEL": "warning"}
# the mix: (weight, scenario)
MIX = [(30, "browse_list"), (15, "browse_order"), (5, "assign"), (25, "position"), (10, "tech_update"),
       (10, "customer_create"), (5, "customer_list")]


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    by_kind: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    conflicts: int = 0
    kind_latencies: dict[str, list[float]] = field(default_factory=dict)

    def record(self, kind: str, started: float, r: httpx.Response | None, exc: Exception | None = None) -> None:
        self.latencies.append(time.perf_counter() - started)
        self.kind_latencies.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
        self.by_kind[kind] += 1
        if r is None:
            self.errors[f"{kind}: {type(exc).__name__}"] += 1
            return
        self.statuses[r.status_code] += 1
        if r.status_code in (409, 412):
            self.conflicts += 1
        elif r.status_code >= 400:
            self.errors[f"{kind}: {r.status_code}"] += 1


class Users:
    """Signed-in demo users and what the scenarios need to know."""

    def __init__(self) -> None:
        self.dispatchers: list[dict[str, str]] = []
        self.techs: list[tuple[dict[str, str], str]] = []  # headers, technician id
        self.customers: list[tuple[dict[str, str], dict[str, Any]]] = []  # headers, a body to create with
        self.tech_ids: list[str] = []
        self.order_ids: list[str] = []


async def _login(c: httpx.AsyncClient, who: str) -> dict[str, str]:
    r = await c.post(f"{API}/auth/login", json={"username": f"{who}@{DOMAIN}", "password": DEMO_PASSWORD})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def sign_in(c: httpx.AsyncClient) -> Users:
    u = Users()
    u.dispatchers = [await _login(c, "dispatcher"), await _login(c, "admin")]
    for n in range(1, 13):
        h = await _login(c, f"tech{n}")
        me = (await c.get(f"{API}/technicians/me", headers=h)).json()
        u.techs.append((h, me["id"]))
        u.tech_ids.append(me["id"])
    for n in range(1, 21):
        h = await _login(c, f"customer{n}")
        sites = (await c.get(f"{API}/sites", headers=h, params={"limit": 1})).json()
        types = (await c.get(f"{API}/service-types", headers=h, params={"limit": 5})).json()
        if not sites.get("items") or not types.get("items"):
            continue
        body = {"site_id": sites["items"][0]["id"], "service_type_id": types["items"][0]["id"]}
        u.customers.append((h, body))
    page = (await c.get(f"{API}/work-orders", headers=u.dispatchers[0], params={"limit": 100})).json()
    u.order_ids = [o["id"] for o in page["items"]]
    return u


async def one_request(c: httpx.AsyncClient, u: Users, rng: random.Random, stats: Stats) -> None:
    kind = rng.choices([k for _, k in MIX], weights=[w for w, _ in MIX])[0]
    t0 = time.perf_counter()
    r: httpx.Response | None = None
    try:
        if kind == "browse_list":
            params: dict[str, Any] = {"limit": 20, "offset": rng.choice([0, 0, 20, 40])}
            if rng.random() < 0.5:
                params["status"] = rng.choice(["new", "assigned", "in_progress", "new,assigned"])
            r = await c.get(f"{API}/work-orders", headers=rng.choice(u.dispatchers), params=params)
        elif kind == "browse_order":
            r = await c.get(f"{API}/work-orders/{rng.choice(u.order_ids)}", headers=rng.choice(u.dispatchers))
        elif kind == "assign":
            h = rng.choice(u.dispatchers)
            page = await c.get(f"{API}/work-orders", headers=h, params={"status": "new", "limit": 10})
            items = page.json().get("items", []) if page.status_code == 200 else []
            if not items:
                stats.record("assign(list)", t0, page)
                return
            wo = rng.choice(items)
            r = await c.post(f"{API}/work-orders/{wo['id']}/assign",
                             json={"technician_id": rng.choice(u.tech_ids), "force": True, "reason": "load test"},
                             headers={**h, "If-Match": f'"{wo["version"]}"'})
        elif kind == "position":
            h, _tid = rng.choice(u.techs)
            now = datetime.now(UTC)
            r = await c.post(f"{API}/tracking/points", headers=h, json={
                "device_id": f"bench-{_tid[:8]}", "points": [{
                    "lat": 42.35 + rng.uniform(-0.05, 0.05), "lng": -71.06 + rng.uniform(-0.05, 0.05),
                    "accuracy_m": 8, "recorded_at": now.isoformat(), "client_id": uuid.uuid4().hex}]})
        elif kind == "tech_update":
            h, _tid = rng.choice(u.techs)
            page = await c.get(f"{API}/work-orders", headers=h, params={"status": "assigned,accepted", "limit": 5})
            items = page.json().get("items", []) if page.status_code == 200 else []
            if not items:
                stats.record("tech_update(list)", t0, page)
                return
            wo = items[0]
            action = "accept" if wo["status"] == "assigned" else "depart"
            r = await c.post(f"{API}/work-orders/{wo['id']}/{action}", headers={**h, "If-Match": f'"{wo["version"]}"'})
        elif kind == "customer_create":
            h, body = rng.choice(u.customers)
            r = await c.post(f"{API}/work-orders", headers={**h, "Idempotency-Key": uuid.uuid4().hex},
                             json={**body, "description": "load test: no hot water"})
        else:
            h, _body = rng.choice(u.customers)
            r = await c.get(f"{API}/work-orders", headers=h, params={"limit": 10})
    except httpx.HTTPError as exc:
        stats.record(kind, t0, None, exc)
        return
    stats.record(kind, t0, r)


async def closed_loop(c: httpx.AsyncClient, u: Users, seconds: float, vusers: int) -> tuple[Stats, float]:
    stats = Stats()
    end = time.perf_counter() + seconds

    async def vuser(k: int) -> None:
        rng = random.Random(k)
        while time.perf_counter() < end:
            await one_request(c, u, rng, stats)

    t0 = time.perf_counter()
    await asyncio.gather(*(vuser(k) for k in range(vusers)))
    return stats, time.perf_counter() - t0


async def open_loop(c: httpx.AsyncClient, u: Users, seconds: float, rate: float) -> tuple[Stats, float]:
    stats = Stats()
    rng = random.Random(99)
    tasks: list[asyncio.Task[None]] = []
    t0 = time.perf_counter()
    n = int(seconds * rate)
    for i in range(n):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one_request(c, u, random.Random(rng.random()), stats)))
    # bounded in time: what has not answered 10 s after the last send counts as an error (overload)
    _done, pending = await asyncio.wait(tasks, timeout=10)
    for task in pending:
        task.cancel()
    if pending:
        stats.errors["unanswered after the run (overload)"] += len(pending)
    return stats, time.perf_counter() - t0


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


@dataclass
class Row:
    processes: int
    mode: str
    requests: int
    seconds: float
    p50: float
    p95: float
    p99: float
    errors: int
    conflicts: int
    gen_cpu: float
    error_kinds: dict[str, int]
    kinds: dict[str, tuple[int, float, float]]


def _row(processes: int, mode: str, stats: Stats, seconds: float, cpu: float) -> Row:
    lat = [x * 1000 for x in stats.latencies]
    kinds = {k: (len(v), pct(v, 50), pct(v, 95)) for k, v in sorted(stats.kind_latencies.items())}
    return Row(processes, mode, len(lat), seconds, pct(lat, 50), pct(lat, 95), pct(lat, 99),
               sum(stats.errors.values()), stats.conflicts, cpu / seconds, dict(stats.errors.most_common(5)), kinds)


async def _measure(base_url: str, processes: int) -> list[Row]:
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as c:
        u = await sign_in(c)
        await closed_loop(c, u, 2, 8)  # warm-up
        rows = []
        cpu0 = _cpu()
        stats, secs = await closed_loop(c, u, SATURATION_S, VUSERS)
        rows.append(_row(processes, f"saturation ({VUSERS} users)", stats, secs, _cpu() - cpu0))
        for rate in RATES:
            cpu0 = _cpu()
            stats, secs = await open_loop(c, u, RATE_S, rate)
            rows.append(_row(processes, f"{rate:.0f} req/s", stats, secs, _cpu() - cpu0))
        return rows


def seeded_template(pg: Pg) -> str:
    """A demo-seeded database to copy per configuration."""
    from fieldops.demo.seed import seed_demo
    from fieldops.settings import Settings

    url = pg.new_database()
    settings = Settings(database_url=url, seed_demo=True, secret_key="bench", data_dir=Path(tempfile.mkdtemp()),
                        _env_file=None)  # type: ignore[call-arg]
    seed_demo(settings)
    return url.rsplit("/", 1)[1]


def main() -> None:
    pg = Pg()
    work = Path(tempfile.mkdtemp(prefix="fieldops-load-"))
    rows: list[Row] = []
    loads: list[str] = []
    try:
        template = seeded_template(pg)
        for n in PROCESS_COUNTS:
            url = pg.copy_database(template)
            env = env_for(url, work, **EXTRA_ENV)
            loads.append(f"{n} process(es): {os.getloadavg()[0]:.1f}")
            workers = Workers(env, 1).start()
            api = Api(env, processes=n, log=work / f"api-{n}.log").start()
            try:
                rows += asyncio.run(_measure(api.url, n))
            finally:
                api.stop()
                workers.stop()
            summary = [(r.mode, round(r.requests / r.seconds), round(r.p95, 1)) for r in rows if r.processes == n]
            print(f"  {n} API processes: {summary}", flush=True)
    finally:
        pg.close()
    write_section("load", render(rows, loads))


def render(rows: list[Row], loads: list[str]) -> str:
    sat = {r.processes: r.requests / r.seconds for r in rows if r.mode.startswith("saturation")}
    lines = [
        "## Load: several API processes on PostgreSQL (`bench/load.py`)",
        "",
        "Dispatchers browse (list 30 %, one order 15 %) and assign (5 %), technicians post positions (25 %) and "
        "accept/depart their jobs (10 %), customers create orders (10 %) and list theirs (5 %). One machine: "
        "PostgreSQL 15 (fsync off), `fieldops serve --workers N`, one worker process and the load generator "
        f"(asyncio + httpx, one process) share {os.cpu_count()} cores. Saturation: {VUSERS} virtual users, closed "
        f"loop, {SATURATION_S:.0f} s; fixed rate: open loop at {' and '.join(f'{r:.0f}' for r in RATES)} req/s for "
        f"{RATE_S:.0f} s each. Errors = 5xx, "
        "transport errors, unexpected 4xx and, at the fixed rate, requests still unanswered 10 s after the last send "
        "(overload; not in the percentiles); conflicts = 409/412 of a lost race. Generator CPU: its CPU seconds per "
        "wall second (100 % = one core). The per-user write limit (`FIELDOPS_RATE_LIMIT_PER_MINUTE`) is off for the "
        "run: a few demo users send all the load.",
        "",
        "| API processes | run | requests | req/s | p50 ms | p95 ms | p99 ms | errors | conflicts | generator CPU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r.processes} | {r.mode} | {r.requests} | {r.requests / r.seconds:.0f} | {r.p50:.1f} | "
                     f"{r.p95:.1f} | {r.p99:.1f} | {r.errors} | {r.conflicts} | {r.gen_cpu * 100:.0f} % |")
    fixed = [r for r in rows if not r.mode.startswith("saturation")]
    if fixed:
        r0 = fixed[-1]
        lines += ["", f"Per request kind ({r0.processes} process, {r0.mode}): "
                  + "; ".join(f"{k} n={n} p50 {a:.0f} ms p95 {b:.0f} ms" for k, (n, a, b) in r0.kinds.items())]
    errs = [f"{r.processes}×{r.mode}: {r.error_kinds}" for r in rows if r.error_kinds]
    if errs:
        lines += ["", "Errors by kind: " + "; ".join(errs)]
    if 1 in sat and 2 in sat:
        lines += ["", f"Scaling: 2 processes give {sat[2] / sat[1]:.2f}× the saturation throughput of 1"
                  + (f"; 4 give {sat[4] / sat[1]:.2f}×" if 4 in sat else "") + "."]
    lines += ["", "1-minute load average of the machine before each configuration (other work shares it): "
              + "; ".join(loads) + "."]
    lines += ["", f"What limits it here: CPU. All of it runs on the same {os.cpu_count()} cores — PostgreSQL, the "
              "worker, the load generator (its share is in the table) and, on this machine, other work (the load "
              "average above). One API process at saturation already keeps both cores busy, so a second process "
              "can only take the idle gaps (waits on PostgreSQL), and the 4-process figure adds context switches "
              "and connections on top: it measures that contention, not the application's ceiling. The "
              "200 req/s goal is beyond what this machine serves with this mix (the requests left unanswered are "
              "the overload). Scaling on a machine with cores to spare for PostgreSQL and the generator is not "
              "measured here."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
