"""Day planning and in-day re-planning: assign and sequence all open jobs into technicians' routes.

`plan_day` plans a day (or one territory's day) with a solver strategy; large problems are split by k-means on
coordinates into parts solved side by side in a process pool. `replan` absorbs an event (an urgent job, a technician
who went off sick, a job that overran) into the current plan: started visits stay pinned, other assignments stay put
unless moving them saves at least `policy.stability_gain_s` of travel per moved job.

Pure: standard library and numpy here; the routing libraries only inside `engine/solvers`.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from fieldops.engine.model import Job, Plan, Problem, Route, Technician, Visit
from fieldops.engine.solvers import CombinedSolver, NearestAvailableSolver, Solver, get_solver
from fieldops.engine.solvers.instance import Instance, build_plan, compile_problem, repair, routes_from_plan, score

PART_JOBS = 1500
"""Problems with more jobs than this are split into parts of about this size (see docs/adr/0004)."""


# ---------------------------------------------------------------------------------------------------------------
# Day planning


def plan_day(problem: Problem, time_limit_s: float, seed: int = 0, strategy: str | Solver = "default", *,
             territory: str | None = None, workers: int = 2, part_jobs: int = PART_JOBS) -> Plan:
    """Assign and sequence every open job of `problem` into routes that respect windows, shifts, breaks, leave,
    skills and levels, certificates, territories, radius, blocked technicians, caps and working time.

    When there is more work than time, the least valuable jobs (lowest priority first) are left out, each with a
    reason in `Plan.unassigned`: "no qualified technician", "window unreachable" or "no capacity".
    `territory` plans one territory's day (its jobs, and the technicians who may work there). Problems larger than
    `part_jobs` are decomposed and solved on `workers` processes within the same time limit.
    """
    began = time.perf_counter()
    if territory is not None:
        problem = _territory_problem(problem, territory)
    solver = get_solver(strategy)
    if len(problem.jobs) <= part_jobs or len(problem.technicians) < 2:
        return solver.solve(problem, time_limit_s, seed, None)
    parts = decompose(problem, part_jobs, seed)
    total = sum(len(p.jobs) for p in parts) or 1
    usable = max(0.5, 0.85 * time_limit_s - 2.0)  # process start-up and merging
    n_workers = max(1, min(workers, len(parts)))
    budgets = [usable * n_workers * len(p.jobs) / total for p in parts]
    budgets = [min(b, usable) for b in budgets]
    order = sorted(range(len(parts)), key=lambda i: -len(parts[i].jobs))  # longest first
    args = [(parts[i], budgets[i], seed + i, strategy) for i in order]
    results: dict[int, Plan] = {}
    if n_workers == 1:
        for i, a in zip(order, args, strict=True):
            results[i] = _solve_part(a)
    else:
        # fork: no re-import and no `if __name__ == "__main__"` needed in the caller; the children only compute
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=multiprocessing.get_context(method)) as pool:
            for i, plan in zip(order, pool.map(_solve_part, args), strict=True):
                results[i] = plan
    plans = [results[i] for i in range(len(parts))]
    return merge_plans(plans, f"{plans[0].solver if plans else solver.name}×{len(parts)}",
                       time.perf_counter() - began)


def _solve_part(args: tuple[Problem, float, int, str | Solver]) -> Plan:
    problem, budget, seed, strategy = args
    solver = get_solver(strategy)
    if isinstance(solver, CombinedSolver):
        solver.workers = 1  # the parts already run side by side: no second level of processes
    return solver.solve(problem, budget, seed, None)


def _territory_problem(problem: Problem, territory: str) -> Problem:
    jobs = [j for j in problem.jobs if j.territory_id == territory]
    techs = [t for t in problem.technicians if not t.territory_ids or territory in t.territory_ids]
    return replace(problem, jobs=jobs, technicians=techs)


def merge_plans(plans: Sequence[Plan], solver: str, elapsed_s: float) -> Plan:
    """One plan from the plans of disjoint parts."""
    value = sum(dict(p.stats).get("value", 0.0) for p in plans)
    return Plan(routes=tuple(r for p in plans for r in p.routes),
                unassigned=tuple(u for p in plans for u in p.unassigned),
                travel_s=sum(p.travel_s for p in plans), served=sum(p.served for p in plans),
                served_high=sum(p.served_high for p in plans), late_jobs=sum(p.late_jobs for p in plans),
                solver=solver, elapsed_s=round(elapsed_s, 3),
                stats=(("value", value), ("parts", float(len(plans)))))


def kmeans(points: np.ndarray, k: int, seed: int, iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic k-means (k-means++ start, Lloyd steps): (centres, label per point)."""
    rng = np.random.default_rng(seed)
    n = points.shape[0]
    k = max(1, min(k, n))
    centres = np.empty((k, points.shape[1]))
    centres[0] = points[int(rng.integers(n))]
    d2 = ((points - centres[0]) ** 2).sum(axis=1)
    for c in range(1, k):
        total = float(d2.sum())
        idx = int(rng.choice(n, p=d2 / total)) if total > 0 else int(rng.integers(n))
        centres[c] = points[idx]
        d2 = np.minimum(d2, ((points - centres[c]) ** 2).sum(axis=1))
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(iterations):
        dist = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        new = dist.argmin(axis=1)
        if _ and np.array_equal(new, labels):
            break
        labels = new
        for c in range(k):
            members = points[labels == c]
            if len(members):
                centres[c] = members.mean(axis=0)
    return centres, labels


def decompose(problem: Problem, part_jobs: int, seed: int = 0) -> list[Problem]:
    """Split a large problem into parts by k-means on job coordinates; technicians go to the nearest part that still
    needs people, in proportion to each part's hours of work; a pinned job follows its technician."""
    jobs, techs = problem.jobs, problem.technicians
    k = max(1, min(math.ceil(len(jobs) / part_jobs), len(techs)))
    lat0 = math.radians(float(np.mean([j.lat for j in jobs]))) if jobs else 0.0
    pts = np.array([[j.lat, j.lng * math.cos(lat0)] for j in jobs], dtype=np.float64).reshape(-1, 2)
    centres, labels = kmeans(pts, k, seed)
    k = centres.shape[0]
    work = np.bincount(labels, weights=[j.duration_s for j in jobs], minlength=k) + 1.0
    quota = np.floor(len(techs) * work / work.sum()).astype(np.int64)
    quota = np.maximum(quota, 1 if len(techs) >= k else 0)
    for c in np.argsort(-(len(techs) * work / work.sum() - quota), kind="stable"):  # largest remainders
        if quota.sum() >= len(techs):
            break
        quota[c] += 1
    tpts = np.array([[_home(t)[0], _home(t)[1] * math.cos(lat0)] for t in techs], dtype=np.float64)
    dist = ((tpts[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    owner = np.full(len(techs), -1, dtype=np.int64)
    for flat in np.argsort(dist, axis=None, kind="stable").tolist():
        ti, c = divmod(flat, k)
        if owner[ti] < 0 and quota[c] > 0:
            owner[ti] = c
            quota[c] -= 1
    owner[owner < 0] = dist[owner < 0].argmin(axis=1) if (owner < 0).any() else owner[owner < 0]
    tech_part = {t.id: int(owner[i]) for i, t in enumerate(techs)}
    part_jobs_: list[list[Job]] = [[] for _ in range(k)]
    for j, job in enumerate(jobs):
        c = tech_part.get(job.pinned_technician, int(labels[j])) if job.pinned_technician else int(labels[j])
        part_jobs_[c].append(job)
    part_techs: list[list[Technician]] = [[] for _ in range(k)]
    for i, t in enumerate(techs):
        part_techs[int(owner[i])].append(t)
    return [replace(problem, jobs=part_jobs_[c], technicians=part_techs[c]) for c in range(k)
            if part_jobs_[c] or part_techs[c]]


def _home(t: Technician) -> tuple[float, float]:
    if t.home_lat is not None and t.home_lng is not None:
        return t.home_lat, t.home_lng
    if t.shifts:
        return t.shifts[0].start_lat, t.shifts[0].start_lng
    return t.lat, t.lng


# ---------------------------------------------------------------------------------------------------------------
# In-day re-planning


@dataclass(frozen=True)
class UrgentJob:
    """A new job to fit into today's plan."""

    job: Job


@dataclass(frozen=True)
class TechnicianUnavailable:
    """A technician went off sick (or otherwise left): their started visits stay theirs, the rest must move."""

    technician_id: str
    reason: str = "sick"


@dataclass(frozen=True)
class JobOverran:
    """A started job will end at `ends_at` (POSIX s) instead of when planned; the technician's later stops shift or
    move."""

    job_id: str
    technician_id: str
    ends_at: int


Event = UrgentJob | TechnicianUnavailable | JobOverran


def apply_event(problem: Problem, current: Plan, event: Event) -> Problem:
    """The problem as it stands after `event` (pure: returns a new Problem)."""
    if isinstance(event, UrgentJob):
        jobs = [j for j in problem.jobs if j.id != event.job.id] + [event.job]
        return replace(problem, jobs=jobs)
    if isinstance(event, TechnicianUnavailable):
        techs = [replace(t, on_duty=False) if t.id == event.technician_id else t for t in problem.technicians]
        return replace(problem, technicians=techs)
    # JobOverran: the job is (or now counts as) a started visit with a longer duration
    job = next((j for j in problem.jobs if j.id == event.job_id), None)
    stop = next((s for r in current.routes if r.technician_id == event.technician_id for s in r.stops
                 if s.job_id == event.job_id), None)
    techs = []
    for t in problem.technicians:
        if t.id != event.technician_id:
            techs.append(t)
            continue
        route = list(t.route)
        k = next((i for i, v in enumerate(route) if v.job_id == event.job_id), None)
        if k is not None:
            v = route[k]
            route[k] = replace(v, duration_s=max(v.duration_s, event.ends_at - v.start), pinned=True)
        elif stop is not None or job is not None:
            start = stop.start if stop is not None else problem.now
            lat, lng = (job.lat, job.lng) if job is not None else (t.lat, t.lng)
            route.append(Visit(job_id=event.job_id, lat=lat, lng=lng, duration_s=max(0, event.ends_at - start),
                               start=start, priority=job.priority if job is not None else "P2", pinned=True))
        pinned = sorted((v for v in route if v.pinned), key=lambda v: v.start)
        techs.append(replace(t, route=tuple(pinned + [v for v in route if not v.pinned])))
    return replace(problem, jobs=[j for j in problem.jobs if j.id != event.job_id], technicians=techs)


def replan(problem: Problem, current: Plan, event: Event, time_limit_s: float, seed: int = 0,
           strategy: str | Solver = "default") -> Plan:
    """Re-plan the day after `event`, keeping the current plan as far as the stability rule allows.

    Started and completed visits are pinned. Every other job keeps its technician unless it has to move (its
    technician left, or it no longer fits and would otherwise be dropped) or a re-optimisation that moves jobs saves
    at least `policy.stability_gain_s` of travel per job moved. `Plan.stats` reports "moved" (jobs now with another
    technician), of which "moved_forced" (their technician left or they no longer fit their route),
    "moved_to_fit" (moved to make room, e.g. evicted for an urgent job and placed elsewhere) and "moved_for_gain"
    (moved because it saves enough travel), and "dropped" (jobs of the current plan no longer served, lowest
    priority first).
    """
    began = time.perf_counter()
    new_problem = apply_event(problem, current, event)
    started = {v.job_id for t in new_problem.technicians for v in t.route if v.pinned}
    job_ids = {j.id for j in new_problem.jobs}
    available = {t.id for t in new_problem.technicians if t.active and t.on_duty}
    before = {s.job_id: r.technician_id for r in current.routes for s in r.stops
              if s.job_id not in started and s.job_id in job_ids}
    stick = {jid: tid for jid, tid in before.items() if tid in available}
    inst = compile_problem(new_problem, stick=stick)
    solver = get_solver(strategy)

    # 1. the current routes re-timed, what no longer fits taken out, free jobs inserted (evicting lower priorities)
    kept, _ = repair(inst, routes_from_plan(inst, current), improve=False)
    still = {inst.jobs[j].id for r in kept for j in r}
    forced = {jid for jid in before if jid not in still}  # technician gone, or no longer fits on their route
    stable, _ = repair(inst, kept)
    best, label = stable, "stable"
    before_free = stable
    if not isinstance(solver, NearestAvailableSolver) and time_limit_s > 0:
        # 2. the solver, with every assigned job held to its technician
        left = time_limit_s - (time.perf_counter() - began)
        raw = solver.solve_instance(inst, max(0.05, left / 2), seed, stable)
        held, _ = repair(inst, raw)
        if score(inst, held) >= score(inst, best):
            best, label = held, "held"
        before_free = best
        # 3. the solver free to move anything: kept only when it serves as much and every extra job it moves
        # saves at least stability_gain_s of travel
        left = time_limit_s - (time.perf_counter() - began)
        free_inst = inst.unstuck()
        raw = solver.solve_instance(free_inst, max(0.05, left), seed, best)
        free, _ = repair(free_inst, raw)
        s_free, s_best = score(inst, free), score(inst, best)
        extra = len(_changed(inst, free, before)) - len(_changed(inst, best, before))
        saved = s_free[2] - s_best[2]  # score holds -travel
        if s_free[:2] >= s_best[:2] and saved > 0 and saved >= max(0, extra) * new_problem.policy.stability_gain_s:
            best, label = free, "free"
    served = {inst.jobs[j].id for r in best for j in r}
    changed = _changed(inst, best, before)
    moved = {jid for jid in changed if jid in served}
    for_gain = (moved - _changed(inst, before_free, before)) if label == "free" else set()
    to_fit = moved - forced - for_gain
    return build_plan(inst, best, f"replan:{label}:{solver.name}", time.perf_counter() - began,
                      (("moved", float(len(moved))), ("moved_forced", float(len(moved & forced))),
                       ("moved_to_fit", float(len(to_fit))), ("moved_for_gain", float(len(for_gain))),
                       ("dropped", float(len(changed - moved)))))


def _changed(inst: Instance, routes: Sequence[Sequence[int]], before: dict[str, str]) -> set[str]:
    """Jobs of the current plan whose technician changed, or that are no longer served."""
    now: dict[str, str] = {}
    for v in inst.vehicles:
        for j in routes[v.index]:
            now[inst.jobs[j].id] = v.tech_id
    return {jid for jid, tid in before.items() if now.get(jid) != tid}


def routes_by_technician(plan: Plan) -> dict[str, Route]:
    """The plan's routes keyed by technician id (the first route when a technician has several shifts)."""
    out: dict[str, Route] = {}
    for r in plan.routes:
        out.setdefault(r.technician_id, r)
    return out


__all__ = ["PART_JOBS", "Event", "JobOverran", "TechnicianUnavailable", "UrgentJob", "apply_event", "decompose",
           "kmeans", "merge_plans", "plan_day", "replan", "routes_by_technician"]
