"""Foundation numbers: create + read a work order, and the filtered list, on SQLite with one API process,
with 10k and 100k work orders already in the database.

A real server (uvicorn, one process) runs on 127.0.0.1; the load comes from threads in this process
using one keep-alive HTTP client each. Both share the machine's 2 cores, so the load generator's CPU
time is reported beside the numbers.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from fieldops.demo.seed import seed_demo
from sqlalchemy import insert, select

from bench.report import pct, write_section
from fieldops.core.db import Database
from fieldops.core.migrate import upgrade
from fieldops.customers.models import Site
from fieldops.demo.accounts import DEMO_PASSWORD
from fieldops.service_types.models import ServiceType
from fieldops.settings import Settings
from fieldops.work_orders.models import WorkOrder

STATUSES = ["new", "assigned", "accepted", "en_route", "on_site", "in_progress", "awaiting_acceptance",
            "completed", "closed", "closed", "closed", "closed", "cancelled", "on_hold"]
WORDS = ["leak", "no heat", "street light out", "pothole", "AC not cooling", "sign missing", "breaker trips",
         "空调不制冷", "水管漏水", "路灯不亮", "门锁坏了"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bulk_work_orders(db_url: str, count: int) -> None:
    """Insert `count` historical work orders quickly (Core executemany), spread over the past year."""
    database = Database(db_url)
    rng = random.Random(7)
    with database.session() as s:
        sites = list(s.execute(select(Site.id, Site.customer_id, Site.org_id, Site.territory_id, Site.lat, Site.lng,
                                      Site.address)))
        types = list(s.scalars(select(ServiceType.id)))
        now = datetime.now(UTC)
        batch: list[dict[str, object]] = []
        for i in range(count):
            site = rng.choice(sites)
            created = now - timedelta(minutes=rng.randint(60, 365 * 24 * 60))
            batch.append({
                "id": uuid.uuid4(), "org_id": site.org_id, "number": f"WO-H{i:07d}", "channel": "import",
                "status": rng.choice(STATUSES), "priority": rng.choice(["P0", "P1", "P2", "P2", "P3"]),
                "title": rng.choice(WORDS), "description": f"{rng.choice(WORDS)} at {site.address}",
                "customer_id": site.customer_id, "site_id": site.id, "service_type_id": rng.choice(types),
                "territory_id": site.territory_id, "customer_name": "Customer", "site_address": site.address,
                "site_lat": site.lat, "site_lng": site.lng, "duration_min": 60, "required_tools": [],
                "required_parts": [], "custom_fields": {}, "checklist_results": {}, "parts_used": [],
                "rejected_technician_ids": [], "rework_count": 0, "reopen_count": 0, "total_hold_seconds": 0,
                "currency": "USD", "created_at": created, "updated_at": created, "due_at": created + timedelta(days=3),
                "version": 1,
            })
            if len(batch) == 5000:
                s.execute(insert(WorkOrder), batch)
                batch.clear()
        if batch:
            s.execute(insert(WorkOrder), batch)
        s.commit()
    database.dispose()


class Server:
    def __init__(self, env: dict[str, str], port: int) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "fieldops.cli", "serve"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def run_load(url: str, token: str, body: dict[str, object], seconds: float, threads: int) -> dict[str, object]:
    create_lat: list[float] = []
    read_lat: list[float] = []
    errors = [0]
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                r = c.post("/api/v1/work-orders", json=body)
                t1 = time.perf_counter()
                if r.status_code != 201:
                    with lock:
                        errors[0] += 1
                    continue
                g = c.get(f"/api/v1/work-orders/{r.json()['id']}")
                t2 = time.perf_counter()
                with lock:
                    create_lat.append(t1 - t0)
                    if g.status_code == 200:
                        read_lat.append(t2 - t1)
                    else:
                        errors[0] += 1

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    gen_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    requests = len(create_lat) + len(read_lat)
    return {"create": create_lat, "read": read_lat, "errors": errors[0], "rps": requests / wall,
            "pairs_per_s": len(create_lat) / wall, "gen_cpu_share": gen_cpu / wall / (os.cpu_count() or 1)}


def list_latency(url: str, token: str, params_list: list[dict[str, str]], n: int) -> list[float]:
    out = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        for i in range(n):
            t0 = time.perf_counter()
            r = c.get("/api/v1/work-orders", params=params_list[i % len(params_list)])
            out.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
    return out


def measure(existing: int, seconds: float) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="fieldops-bench-"))
    try:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        settings = Settings(database_url=url, data_dir=tmp, secret_key="bench-secret-0123456789abcdef0123",
                            _env_file=None)  # type: ignore[call-arg]
        seed_demo(settings)
        t0 = time.perf_counter()
        bulk_work_orders(url, existing)
        load_s = time.perf_counter() - t0
        port = _free_port()
        env = {**os.environ, "FIELDOPS_DATABASE_URL": url, "FIELDOPS_PORT": str(port), "FIELDOPS_DATA_DIR": str(tmp),
               "FIELDOPS_SECRET_KEY": settings.secret_key, "FIELDOPS_LOG_LEVEL": "warning"}
        server = Server(env, port)
        try:
            token = httpx.post(server.url + "/api/v1/auth/login",
                               json={"username": "dispatcher@demo.fieldops.local", "password": DEMO_PASSWORD}
                               ).json()["access_token"]
            h = {"Authorization": f"Bearer {token}"}
            any_wo = httpx.get(server.url + "/api/v1/work-orders?limit=1", headers=h).json()["items"][0]
            body = {"customer_id": any_wo["customer_id"], "site_id": any_wo["site_id"],
                    "service_type_id": any_wo["service_type_id"], "description": "bench: AC not cooling",
                    "priority": "P2"}
            run_load(server.url, token, body, 2, 2)  # warm-up
            load = run_load(server.url, token, body, seconds, 4)
            territory = any_wo["territory_id"]
            params = [{"status": "new,assigned", "priority": "P1"}, {"q": "leak", "limit": "50"},
                      {"territory_id": territory, "status": "closed", "sort": "-created_at"},
                      {"created_from": "2026-06-01T00:00:00Z", "created_to": "2026-07-01T00:00:00Z"},
                      {"priority": "P0", "sort": "due_at"}]
            lists = list_latency(server.url, token, params, 200)
        finally:
            server.stop()
        return {"existing": existing, "bulk_load_s": load_s, **load, "list": lists}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    seconds = float(os.environ.get("BENCH_SECONDS", "15"))
    rows = []
    for existing in (10_000, 100_000):
        print(f"  {existing:,} existing work orders …", flush=True)
        r = measure(existing, seconds)
        ms = lambda v: f"{v * 1000:.1f}"  # noqa: E731
        rows.append(
            f"| {existing:,} | {ms(pct(r['create'], 50))} / {ms(pct(r['create'], 95))} | "  # type: ignore[arg-type]
            f"{ms(pct(r['read'], 50))} / {ms(pct(r['read'], 95))} | {r['pairs_per_s']:.0f} | {r['rps']:.0f} | "  # type: ignore[arg-type]
            f"{ms(pct(r['list'], 50))} / {ms(pct(r['list'], 95))} | {r['errors']} | {r['gen_cpu_share']:.0%} |")  # type: ignore[arg-type]
        print("  " + rows[-1], flush=True)
    body = f"""## Foundation: create + read a work order (SQLite, one API process)

Load: 4 client threads, each creating a work order (POST) and reading it back (GET) in a loop for
{seconds:.0f} s after a warm-up, against `fieldops serve` (uvicorn, 1 process) on 127.0.0.1 with the demo
organisation plus N historical work orders. Filtered list: 200 sequential GETs cycling through five filter
sets (status+priority, free text, territory+status+sort, created range, priority+sort by due).

| existing work orders | create p50 / p95 ms | read p50 / p95 ms | create+read pairs/s | requests/s \
| filtered list p50 / p95 ms | errors | load generator CPU share |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}
"""
    write_section("foundation", body)


if __name__ == "__main__":
    main()
