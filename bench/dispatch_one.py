"""One dispatch decision for a new job, engine alone: p50/p95 latency of `engine.dispatch_one`.

Sizes: the real Boston 311 days in shared/data/boston-dispatch (200 jobs / 20 technicians, 1,000 / 60)
and 10,000 / 1,000 generated from the 1,000-job day (job places, types, skills and windows sampled with
~300 m of jitter; technicians' homes sampled from request places like the instances', skills and shifts
from the instance's technicians). Each day is first filled greedily with `dispatch_one` (order_jobs order,
mode "optimized", no eviction; the days are over-full, so some jobs are left out); then the instance's
`urgent_insert` and 50 more urgent jobs like it (real places of other jobs of the day, P0, 2-hour windows)
are dispatched one after another with the default policy (best_score, insert-and-evict allowed), each
decision applied before the next. Times are 2015-03-18 in America/New_York; `now` is 07:00.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from bench.report import pct, write_section
from fieldops.engine import ENGINE_VERSION
from fieldops.engine.dispatch import apply_decision, dispatch_one, order_jobs
from fieldops.engine.model import Job, Policy, Problem, Shift, Technician, Window
from fieldops.engine.travel import haversine_many_m

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "boston-dispatch"
DAY = "2015-03-18"
TZ = ZoneInfo("America/New_York")
PRIORITY = {"urgent": "P0", "high": "P1", "normal": "P2"}
NEW_JOBS = 50
FILL_NEAREST = 60


def at(hhmm: str) -> int:
    """POSIX seconds of hh:mm on the benchmark day in Boston."""
    h, m = (int(x) for x in hhmm.split(":"))
    d = datetime.fromisoformat(DAY)
    return int(datetime(d.year, d.month, d.day, h, m, tzinfo=TZ).timestamp())


def job_from(raw: dict[str, Any], priority: str | None = None, jid: str | None = None) -> Job:
    return Job(id=jid or str(raw["id"]), lat=float(raw["lat"]), lng=float(raw["lon"]),
               duration_s=int(raw["service_min"]) * 60, windows=(Window(at(raw["window"][0]), at(raw["window"][1])),),
               skills=((raw["skill"], 1),), priority=priority or PRIORITY[raw["priority"]], service_type=raw["type"])


def tech_from(raw: dict[str, Any], tid: str | None = None, lat: float | None = None, lng: float | None = None
              ) -> Technician:
    hlat = float(raw["home_lat"]) if lat is None else lat
    hlng = float(raw["home_lon"]) if lng is None else lng
    shift = Shift(at(raw["shift"][0]), at(raw["shift"][1]), hlat, hlng, hlat, hlng)
    return Technician(id=tid or raw["id"], name=tid or raw["id"], lat=hlat, lng=hlng, shifts=(shift,),
                      skills=tuple((s, 1) for s in raw["skills"]), home_lat=hlat, home_lng=hlng,
                      max_jobs_per_day=99, max_work_s=8 * 3600)


def load(name: str) -> tuple[list[Job], list[Technician], dict[str, Any]]:
    raw = json.loads((DATA / name).read_text())
    return [job_from(j) for j in raw["jobs"]], [tech_from(t) for t in raw["technicians"]], raw


def generated(raw: dict[str, Any], n_jobs: int, n_techs: int, seed: int = 11
              ) -> tuple[list[Job], list[Technician]]:
    rng = random.Random(seed)
    jit = 0.003
    jobs = []
    for i in range(n_jobs):
        base = rng.choice(raw["jobs"])
        moved = {**base, "lat": base["lat"] + rng.gauss(0, jit), "lon": base["lon"] + rng.gauss(0, jit)}
        jobs.append(job_from(moved, jid=f"G{i:05d}"))
    techs = []
    for i in range(n_techs):
        base = rng.choice(raw["technicians"])
        place = rng.choice(raw["jobs"])
        techs.append(tech_from(base, f"T{i:04d}", place["lat"] + rng.gauss(0, jit), place["lon"] + rng.gauss(0, jit)))
    return jobs, techs


def new_urgent_jobs(raw: dict[str, Any], count: int, seed: int = 5) -> list[Job]:
    rng = random.Random(seed)
    out = [job_from(raw["urgent_insert"], priority="P0")]
    for i in range(count):
        base = rng.choice(raw["jobs"])
        h = rng.randrange(8, 15)
        moved = {**base, "window": [f"{h:02d}:00", f"{h + 2:02d}:00"]}
        out.append(job_from(moved, priority="P0", jid=f"U{i:03d}"))
    return out


def fill_day(techs: list[Technician], jobs: list[Job], now: int, nearest: int | None = None
             ) -> tuple[list[Technician], int, float]:
    """Dispatch every job in `order_jobs` order into the routes the previous ones left (mode optimized, no
    eviction). With `nearest`, each job is offered to its `nearest` closest qualified technicians only (the
    snapshot the dispatch service would build), which keeps the 10,000-job fill to about a minute."""
    policy = Policy(mode="optimized", allow_evict=False)
    techs = list(techs)
    index = {t.id: i for i, t in enumerate(techs)}
    hlat = np.array([t.home_lat or t.lat for t in techs])
    hlng = np.array([t.home_lng or t.lng for t in techs])
    placed = 0
    t0 = time.perf_counter()
    for job in order_jobs(jobs, policy):
        if nearest is None:
            pool = techs
        else:
            order = np.argsort(haversine_many_m(hlat, hlng, job.lat, job.lng), kind="stable").tolist()
            needs = {code for code, _ in job.skills}
            pool = [techs[i] for i in order if needs <= {code for code, _ in techs[i].skills}][:nearest]
        d = dispatch_one(Problem(jobs=[], technicians=pool, now=now, policy=policy), job)
        if d.technician_id is not None and d.chosen is not None:
            placed += 1
            i = index[d.technician_id]
            techs[i] = replace(techs[i], route=d.chosen.schedule)
    return techs, placed, time.perf_counter() - t0


def measure(label: str, jobs: list[Job], techs: list[Technician], raw: dict[str, Any],
            nearest: int | None = None) -> dict[str, Any]:
    now = at("07:00")
    techs, placed, build_s = fill_day(techs, jobs, now, nearest)
    problem = Problem(jobs=[], technicians=techs, now=now, policy=Policy())
    new = new_urgent_jobs(raw, NEW_JOBS)
    wall: list[float] = []
    cpu: list[float] = []
    ok = evicted = 0
    for job in new:
        c0, t0 = time.process_time(), time.perf_counter()
        d = dispatch_one(problem, job)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if d.technician_id is not None:
            ok += 1
            evicted += bool(d.evicted)
            problem = apply_decision(problem, d)
    routes = [len(t.route) for t in problem.technicians]
    row = {"label": label, "jobs": len(jobs), "techs": len(techs), "build_placed": placed, "build_s": build_s,
           "nearest": nearest, "new": len(new), "placed": ok, "evicted": evicted,
           "p50": pct(wall, 50) * 1000, "p95": pct(wall, 95) * 1000, "max": max(wall) * 1000,
           "cpu50": pct(cpu, 50) * 1000, "cpu95": pct(cpu, 95) * 1000,
           "mean_route": float(np.mean(routes)), "max_route": max(routes)}
    print(f"  {label}: filled {placed}/{len(jobs)} in {build_s:.1f} s; new {ok}/{len(new)} placed, {evicted} by "
          f"evicting; p50 {row['p50']:.1f} ms, p95 {row['p95']:.1f} ms (CPU {row['cpu50']:.1f} / "
          f"{row['cpu95']:.1f} ms)", flush=True)
    return row


def main() -> None:
    rows = []
    for name, label in (("boston_200j_20t.json", "200 / 20"), ("boston_1000j_60t.json", "1,000 / 60")):
        jobs, techs, raw = load(name)
        rows.append(measure(label, jobs, techs, raw))
    _, _, raw = load("boston_1000j_60t.json")
    jobs, techs = generated(raw, 10_000, 1_000)
    rows.append(measure("10,000 / 1,000", jobs, techs, raw, nearest=FILL_NEAREST))
    lines = [
        "## One dispatch decision (engine alone)",
        "",
        f"`engine.dispatch_one` (engine {ENGINE_VERSION}): one new urgent job into a day already filled; Boston 311 "
        "data, 2015-03-18, now 07:00; every decision sees all the technicians. Goals (issue 4): p95 ≤ 50 ms at "
        "1,000 / 60 and ≤ 200 ms at 10,000 / 1,000.",
        "",
        "| open jobs / technicians | day filled: placed / jobs (time) | route length mean / max "
        "| new urgent jobs placed | of them by evicting | p50 ms | p95 ms | max ms | CPU p50 / p95 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fill = f"{r['build_placed']:,} / {r['jobs']:,} ({r['build_s']:.0f} s)"
        lines.append(f"| {r['label']} | {fill} | {r['mean_route']:.1f} / {r['max_route']} | {r['placed']} / {r['new']} "
                     f"| {r['evicted']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['max']:.1f} "
                     f"| {r['cpu50']:.1f} / {r['cpu95']:.1f} |")
    lines += [
        "",
        f"New jobs: the instance's `urgent_insert` plus {NEW_JOBS} more at real places of the day's other jobs "
        "(their type, skill and duration), P0, 2-hour windows between 08:00 and 16:00, dispatched one after "
        "another (each decision applied) with the default policy (`best_score`, insert-and-evict). The day is "
        "filled first by `dispatch_one` itself in `order_jobs` order (mode `optimized`, no eviction; the days are "
        "over-full, so some jobs stay out). 10,000 / 1,000 is generated from the 1,000-job day (seed 11: job "
        "places, types and windows, and technicians' homes at request places, with ~300 m of jitter; skills and "
        f"shifts from the instance's technicians); its fill offers each job to its {FILL_NEAREST} nearest qualified "
        "technicians (the snapshot the service would send), the timed decisions see all 1,000. Wall-clock times "
        "share the machine with whatever else runs; CPU is the process time of the decision.",
    ]
    write_section("dispatch_one", "\n".join(lines))


if __name__ == "__main__":
    main()
