"""Tracking: location ingest through the API and geofence evaluation cost.

Ingest: 1,000 on-duty technicians of one organisation (with 10,000 geofences and two territories), each
posting a batch of one fix every 10 s, simulated as rounds of 1,000 requests (the clock moves 10 s per round).
Requests go through the whole ASGI app in-process (FastAPI TestClient: middleware, auth, validation, the
per-request transaction, commit) on SQLite, one client at a time, so the throughput is what one API process
sustains serially; the load needs 100 requests/s.

Geofences: the pure STRtree index (`tracking.rules.FenceIndex`) of 10,000 fences (half 150 m circles, half
small polygons) over the Boston area: build time, and the cost per point of finding the fences containing it.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from shapely import Point, prepare
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from bench.report import pct, write_section
from fieldops.core.clock import FrozenClock
from fieldops.core.migrate import upgrade
from fieldops.main import create_app
from fieldops.organizations.models import Organization, Territory
from fieldops.settings import Settings
from fieldops.technicians.models import Technician
from fieldops.tracking import rules
from fieldops.tracking.models import FenceGeneration, Geofence
from fieldops.users import service as users
from fieldops.users.models import User

TECHS = 1000
ROUNDS = 2
FENCES = 10_000
START = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
BOX = (42.23, -71.19, 42.42, -70.98)  # lat0, lng0, lat1, lng1


def _fence_rows(rng: random.Random, org_id: uuid.UUID, n: int) -> list[Geofence]:
    out = []
    for i in range(n):
        lat, lng = rng.uniform(BOX[0], BOX[2]), rng.uniform(BOX[1], BOX[3])
        if i % 2:
            out.append(Geofence(org_id=org_id, name=f"C{i}", kind="circle", lat=lat, lng=lng, radius_m=150,
                                properties={}, active=True, created_at=START, updated_at=START))
        else:
            d = 0.002
            ring = [[lng, lat], [lng + d, lat], [lng + d, lat + d], [lng, lat + d], [lng, lat]]
            out.append(Geofence(org_id=org_id, name=f"P{i}", kind="polygon", category="grid",
                                geometry={"type": "Polygon", "coordinates": [ring]}, properties={}, active=True,
                                created_at=START, updated_at=START))
    return out


def prepared(geometry: dict[str, object]) -> BaseGeometry:
    geom = shape(geometry)
    prepare(geom)
    return geom


def bench_fences() -> str:
    rng = random.Random(7)
    shapes = []
    for g in _fence_rows(rng, uuid.uuid4(), FENCES):
        shapes.append(rules.FenceShape(key=f"g:{g.name}", fence_type="geofence", fence_id=uuid.uuid4(), name=g.name,
                                       lat=g.lat, lng=g.lng, radius_m=g.radius_m, geometry=g.geometry))
    t0 = time.perf_counter()
    index = rules.FenceIndex(shapes)
    build_s = time.perf_counter() - t0
    pts = [(rng.uniform(BOX[0], BOX[2]), rng.uniform(BOX[1], BOX[3])) for _ in range(20_000)]
    hits = 0
    lat_us = []
    for lat, lng in pts:
        t = time.perf_counter()
        hits += len(index.containing(lat, lng))
        lat_us.append((time.perf_counter() - t) * 1e6)
    circles = [sh for sh in shapes if sh.geometry is None]
    polys = [prepared(sh.geometry) for sh in shapes if sh.geometry is not None]
    t = time.perf_counter()
    for lat, lng in pts[:50]:
        rules.circle_hits(circles, lat, lng, set(), 0.0)
        point = Point(lng, lat)
        sum(1 for g in polys if g.covers(point))
    brute_us = (time.perf_counter() - t) / 50 * 1e6
    return (f"| 10,000 fences (5,000 circles of 150 m + 5,000 polygons) | build {build_s * 1000:.0f} ms | "
            f"per point p50 {pct(lat_us, 50):.1f} µs, p95 {pct(lat_us, 95):.1f} µs, mean "
            f"{sum(lat_us) / len(lat_us):.1f} µs | {hits / len(pts):.2f} fences hit per point | "
            f"no index (every fence tested) {brute_us / 1000:.1f} ms per point |")


def bench_ingest(per_batch: int = 1, rounds: int = ROUNDS) -> tuple[str, dict[str, float]]:
    tmp = Path(tempfile.mkdtemp(prefix="fieldops-bench-tracking-"))
    try:
        url = f"sqlite:///{tmp / 'bench.db'}"
        upgrade(url)
        settings = Settings(database_url=url, data_dir=tmp, secret_key="bench-secret-0123456789abcdef0123",
                            password_hash_profile="fast", seed_demo=False, access_token_minutes=600,
                            _env_file=None)  # type: ignore[call-arg]
        clock = FrozenClock(START)
        app = create_app(settings, clock)
        rng = random.Random(11)
        tokens: list[dict[str, str]] = []
        starts: list[tuple[float, float]] = []
        with app.state.database.session() as s:
            org = Organization(name="Bench", slug=f"bench-{uuid.uuid4().hex[:6]}", timezone="America/New_York",
                               settings={})
            s.add(org)
            s.flush()
            box = {"type": "Polygon", "coordinates": [[[BOX[1], BOX[0]], [BOX[3], BOX[0]], [BOX[3], BOX[2]],
                                                       [BOX[1], BOX[2]], [BOX[1], BOX[0]]]]}
            s.add(Territory(org_id=org.id, code="T1", name="All", polygon=box))
            s.add_all(_fence_rows(rng, org.id, FENCES))
            s.add(FenceGeneration(org_id=org.id, generation=1))
            for i in range(TECHS):
                tech = Technician(org_id=org.id, code=f"T{i:04d}", name=f"Tech {i}", duty_status="on_duty")
                s.add(tech)
                s.flush()
                user = User(org_id=org.id, email=f"t{i}@bench.test", name=tech.name, role="technician",
                            password_hash="x", locale="en", technician_id=tech.id)
                s.add(user)
                s.flush()
                tech.user_id = user.id
                pair = users.open_session(s, settings, user, "127.0.0.1", "bench", START)
                tokens.append({"Authorization": f"Bearer {pair.access_token}"})
                starts.append((rng.uniform(BOX[0], BOX[2]), rng.uniform(BOX[1], BOX[3])))
            s.commit()
        lat_ms: list[float] = []
        statuses: dict[int, int] = {}
        with TestClient(app) as client:
            t_all = time.perf_counter()
            for rnd in range(rounds):
                clock.set(START + timedelta(seconds=10 * per_batch * (rnd + 1)))
                for i in range(TECHS):
                    lat, lng = starts[i]
                    body = {"device_id": f"phone-{i}", "points": [
                        {"lat": lat + (rnd * per_batch + k) * 0.0001, "lng": lng, "accuracy_m": 8, "speed_mps": 1.2,
                         "heading": 0, "recorded_at": (clock.now() - timedelta(seconds=10 * (per_batch - 1 - k))
                                                       ).isoformat()} for k in range(per_batch)]}
                    t = time.perf_counter()
                    r = client.post("/api/v1/tracking/points", json=body, headers=tokens[i])
                    lat_ms.append((time.perf_counter() - t) * 1000)
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            wall = time.perf_counter() - t_all
            floor_ms: list[float] = []
            for i in range(500):  # the floor: an authenticated GET of one's own user through the same stack
                t = time.perf_counter()
                client.get("/api/v1/auth/me", headers=tokens[i])
                floor_ms.append((time.perf_counter() - t) * 1000)
        app.state.database.dispose()
        n = len(lat_ms)
        stats = {"rps": n / wall, "p50": pct(lat_ms, 50), "p95": pct(lat_ms, 95), "p99": pct(lat_ms, 99)}
        fixes = stats["rps"] * per_batch
        row = (f"| {TECHS:,} technicians × {rounds} rounds = {n:,} batches of {per_batch} fix(es) every "
               f"{10 * per_batch} s | {stats['rps']:.0f} req/s = {fixes:.0f} fixes/s ({fixes / (TECHS / 10):.1f}× "
               f"the 100 fixes/s the load needs) | "
               f"p50 {stats['p50']:.1f} ms, p95 {stats['p95']:.1f} ms, p99 {stats['p99']:.1f} ms | "
               f"status {dict(sorted(statuses.items()))}; floor (GET /auth/me, same stack) p50 "
               f"{pct(floor_ms, 50):.1f} ms |")
        return row, stats
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    fences = bench_fences()
    ingest = bench_ingest(1, ROUNDS)[0] + "\n" + bench_ingest(3, 1)[0]
    body = f"""## tracking

{__doc__.strip() if __doc__ else ""}

| ingest (in-process ASGI, SQLite, serial) | throughput | latency per batch | |
|---|---|---|---|
{ingest}

| geofence index | build | lookup | hits | baseline |
|---|---|---|---|---|
{fences}
"""
    write_section("tracking", body)
    print(ingest)
    print(fences)


if __name__ == "__main__":
    main()
