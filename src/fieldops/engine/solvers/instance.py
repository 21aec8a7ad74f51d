"""The compiled form of a `Problem` that every solver works on, the exact route evaluator, and the Plan builder.

Every solver answers with an ordered list of job indices per vehicle. `finalize` re-times each route with the exact
evaluator (windows, shift, breaks and leave, daily cap, working time), removes what does not fit, re-inserts what it
can (cheapest feasible insertion, then insert-and-evict of a lower priority job), and says why each job left over
is unassigned. So a Plan respects the hard constraints whatever a routing library did with its approximation of them.

Conventions inside this module: times are integer seconds relative to `Instance.t0` (= `problem.now`); job `j` sits
at location `j`; vehicle `v` starts at location `n + 2v` and ends at `n + 2v + 1`. A vehicle is one shift of one
technician. Only the standard library and numpy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from fieldops.engine.model import Job, Plan, Problem, Route, RouteStop, Technician, TravelModel, Visit
from fieldops.engine.travel import travel_seconds_many

EARTH_RADIUS_KM = 6371.0
INF = 1 << 60

PRIORITY_VALUE = (100, 30, 10, 3)
"""What serving a job is worth by priority rank (P0..P3): the objective every solver maximises first."""
PINNED_VALUE = 1000
"""A job locked to its technician is worth more than any mix of others: it is never the one dropped."""

NO_TECHNICIAN = "no qualified technician"
WINDOW_UNREACHABLE = "window unreachable"
NO_CAPACITY = "no capacity"


def travel_matrix(lat: np.ndarray, lng: np.ndarray, model: TravelModel) -> np.ndarray:
    """Travel seconds between every pair of points (engine/travel.py's model and rounding), int64."""
    lat = np.asarray(lat, dtype=np.float64)
    lng = np.asarray(lng, dtype=np.float64)
    n = lat.shape[0]
    out = np.empty((n, n), dtype=np.int64)
    step = 2048  # rows per chunk: bounds the float64 temporaries on large matrices
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        out[lo:hi] = travel_seconds_many(model, lat[lo:hi, None], lng[lo:hi, None], lat[None, :], lng[None, :])
    return out


def distance_km(lat1: np.ndarray, lng1: np.ndarray, lat2: np.ndarray, lng2: np.ndarray) -> np.ndarray:
    """Great-circle kilometres, broadcasting."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((np.radians(lng2) - np.radians(lng1)) / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


@dataclass(frozen=True)
class Vehicle:
    """One shift of one technician, as the solvers see it."""

    index: int
    tech: int                                  # index into problem.technicians
    tech_id: str
    shift: int
    start_loc: int
    end_loc: int
    start: int                                 # available from (relative s): shift start, now, end of started work
    end: int                                   # back at the end location by (relative s)
    blocks: tuple[tuple[int, int], ...] = ()   # breaks and leave inside (start, end): no travel, no service
    fixed: tuple[Visit, ...] = ()              # started visits before `start` (shown on the route, never moved)

    @property
    def block_s(self) -> int:
        return sum(b - a for a, b in self.blocks)


@dataclass
class Instance:
    """A problem compiled to arrays. `eligible` is what solvers may use; `eligible_all` what repair may use."""

    problem: Problem
    t0: int
    jobs: list[Job]
    index: dict[str, int]
    dur: np.ndarray
    value: np.ndarray
    rank: np.ndarray
    windows: list[tuple[tuple[int, int], ...]]  # () = any time inside the shift
    dead: np.ndarray                            # every window already over
    vehicles: list[Vehicle]
    tech_cap: np.ndarray                        # jobs each technician may still take in this plan
    tech_work: np.ndarray                       # seconds of service each may still work (as filters.py)
    qualified: np.ndarray                       # (n, V) hard filters pass (skill, certificate, territory, …)
    allowed: np.ndarray                         # (n, V) qualified, has capacity left (what solver profiles use)
    eligible: np.ndarray                        # (n, V) allowed, and the job alone fits the shift in time
    allowed_all: np.ndarray                     # the same two without re-planning's stickiness
    eligible_all: np.ndarray
    matrix: np.ndarray
    tech_vehicles: list[list[int]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.jobs)

    def subset(self, jobs: Sequence[int], vehicles: Sequence[int]) -> Instance:
        """The instance restricted to some jobs and vehicles (renumbered in the given order). All vehicles of a
        technician must be included together (caps and working time are per technician)."""
        jobs = list(jobs)
        vehicles = list(vehicles)
        nj = len(jobs)
        locs = list(jobs)
        new_vehicles = []
        for k, vi in enumerate(vehicles):
            v = self.vehicles[vi]
            locs += [v.start_loc, v.end_loc]
            new_vehicles.append(replace(v, index=k, start_loc=nj + 2 * k, end_loc=nj + 2 * k + 1))
        tech_vehicles: list[list[int]] = [[] for _ in self.tech_vehicles]
        for v in new_vehicles:
            tech_vehicles[v.tech].append(v.index)
        ji = np.array(jobs, dtype=np.int64)
        vi_ = np.array(vehicles, dtype=np.int64)
        li = np.array(locs, dtype=np.int64)

        def cut(a: np.ndarray) -> np.ndarray:
            return a[np.ix_(ji, vi_)] if nj and len(vehicles) else np.zeros((nj, len(vehicles)), dtype=bool)

        return Instance(problem=self.problem, t0=self.t0, jobs=[self.jobs[j] for j in jobs],
                        index={self.jobs[j].id: k for k, j in enumerate(jobs)}, dur=self.dur[ji], value=self.value[ji],
                        rank=self.rank[ji], windows=[self.windows[j] for j in jobs], dead=self.dead[ji],
                        vehicles=new_vehicles, tech_cap=self.tech_cap, tech_work=self.tech_work,
                        qualified=cut(self.qualified), allowed=cut(self.allowed), eligible=cut(self.eligible),
                        allowed_all=cut(self.allowed_all), eligible_all=cut(self.eligible_all),
                        matrix=self.matrix[np.ix_(li, li)], tech_vehicles=tech_vehicles)

    def unstuck(self) -> Instance:
        """The same instance without re-planning's stickiness: every job may go to any eligible vehicle."""
        return replace(self, allowed=self.allowed_all, eligible=self.eligible_all)

    def travel(self, a: int, b: int) -> int:
        return int(self.matrix.item(a, b))


# ---------------------------------------------------------------------------------------------------------------
# Compilation


def _merge(blocks: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(blocks):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _merge_windows(windows: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping service-start windows merged (inclusive ends)."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(windows):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _route_commitments(tech: Technician, planned: set[str]) -> tuple[list[Visit], list[Visit]]:
    """Split today's route into started visits (pinned) and committed visits that are not in the problem's jobs."""
    pinned = [v for v in tech.route if v.pinned]
    committed = [v for v in tech.route if not v.pinned and v.job_id not in planned]
    return pinned, committed


def compile_problem(problem: Problem, stick: dict[str, str] | None = None) -> Instance:
    """Compile `problem` for the solvers.

    `stick` maps job id → technician id: the solvers may give that job only to that technician (re-planning keeps
    assignments put this way); repair may still move it when the alternative is dropping it.

    Semantics (shared with filters.py and timeline.py): a started visit (`Visit.pinned`) on a technician's route is
    fixed; the technician starts from the end of the one in progress, else from where they are now (shift under
    way) or from the shift's start place. A not-started visit whose job is not in `problem.jobs` is kept as a
    commitment (a job pinned to that technician). The daily cap counts `jobs_today` (finished) plus the started
    visits; working time is service time (`max_work_s`). Breaks and partial leave are blocks inside the shift
    (no service and no drive across them); leave covering the whole shift removes it.
    """
    now = problem.now
    t0 = now
    planned_ids = {j.id for j in problem.jobs}
    jobs: list[Job] = []
    index: dict[str, int] = {}
    for job in problem.jobs:
        if job.id not in index:
            index[job.id] = len(jobs)
            jobs.append(job)
    techs = problem.technicians
    fixed_by_tech: list[list[Visit]] = []
    for tech in techs:
        pinned, committed = _route_commitments(tech, planned_ids)
        fixed_by_tech.append(pinned)
        for v in committed:
            if v.job_id in index:
                continue
            index[v.job_id] = len(jobs)
            jobs.append(Job(id=v.job_id, lat=v.lat, lng=v.lng, duration_s=v.duration_s, windows=v.windows,
                            priority=v.priority, pinned_technician=tech.id))
    n = len(jobs)

    # vehicles: one per usable shift
    vehicles: list[Vehicle] = []
    starts: list[tuple[float, float]] = []
    ends: list[tuple[float, float]] = []
    tech_cap = np.zeros(len(techs), dtype=np.int64)
    tech_work = np.zeros(len(techs), dtype=np.int64)
    tech_vehicles: list[list[int]] = [[] for _ in techs]
    for ti, tech in enumerate(techs):
        pinned = fixed_by_tech[ti]
        # as filters.py counts them: jobs_today (finished) + visits on the route; the not-started visits are
        # re-planned here, so only the started ones use up the cap and the working time
        tech_cap[ti] = max(0, tech.max_jobs_per_day - tech.jobs_today - len(pinned))
        tech_work[ti] = max(0, tech.max_work_s - sum(v.duration_s for v in pinned))
        if not tech.active or not tech.on_duty:
            continue
        first = True
        for si, sh in enumerate(tech.shifts):
            if sh.end <= now:
                continue
            # where and when the technician can start: the shift's start place, or (shift under way) the end of
            # the started visit in progress, else where they are now
            begin = (sh.start_lat, sh.start_lng)
            start = max(sh.start, now)
            fixed: tuple[Visit, ...] = ()
            if first:
                fixed = tuple(pinned)
                if pinned and pinned[-1].start + pinned[-1].duration_s > start:
                    last = pinned[-1]
                    start, begin = last.start + last.duration_s, (last.lat, last.lng)
                elif now > sh.start:
                    begin = (tech.lat, tech.lng)
            first = False
            end = sh.end
            blocks = _merge([(b.start, b.end) for b in sh.breaks] + [(lv.start, lv.end) for lv in tech.leave])
            moved = True
            while moved:  # a block at either edge just shortens the shift
                moved = False
                for a, b in blocks:
                    if a <= start < b:
                        start, moved = b, True
                    if a < end <= b:
                        end, moved = a, True
            inner = tuple((a - t0, b - t0) for a, b in blocks if a < end and b > start)
            if end - start <= 0:
                continue
            vi = len(vehicles)
            vehicles.append(Vehicle(index=vi, tech=ti, tech_id=tech.id, shift=si, start_loc=n + 2 * vi,
                                    end_loc=n + 2 * vi + 1, start=start - t0, end=end - t0, blocks=inner, fixed=fixed))
            tech_vehicles[ti].append(vi)
            starts.append(begin)
            ends.append((sh.end_lat, sh.end_lng))
    nv = len(vehicles)

    lat = np.empty(n + 2 * nv)
    lng = np.empty(n + 2 * nv)
    for j, job in enumerate(jobs):
        lat[j], lng[j] = job.lat, job.lng
    for vi in range(nv):
        lat[n + 2 * vi], lng[n + 2 * vi] = starts[vi]
        lat[n + 2 * vi + 1], lng[n + 2 * vi + 1] = ends[vi]
    matrix = travel_matrix(lat, lng, problem.travel)

    dur = np.array([max(0, j.duration_s) for j in jobs], dtype=np.int64)
    rank = np.array([j.rank for j in jobs], dtype=np.int64)
    value = np.array([PRIORITY_VALUE[min(3, max(0, r))] for r in rank], dtype=np.int64)
    windows: list[tuple[tuple[int, int], ...]] = []
    dead = np.zeros(n, dtype=bool)
    for j, job in enumerate(jobs):
        if job.pinned_technician is not None:
            value[j] = PINNED_VALUE
        ws = _merge_windows((max(w.start - t0, 0), w.end - t0) for w in job.windows if w.end >= t0 and w.end >= w.start)
        if job.windows and not ws:
            dead[j] = True
        windows.append(tuple(ws))

    qualified = _qualified(problem, jobs, vehicles, lat[:n], lng[:n], t0, windows)
    allowed = qualified & ~dead[:, None]
    if nv:
        cap_ok = (tech_cap > 0) & (tech_work > 0)
        allowed &= cap_ok[np.array([v.tech for v in vehicles], dtype=np.int64)][None, :]
    # time: a job alone must fit the vehicle (start → job → end) inside its windows; blocks are ignored here
    # (a relaxation: the exact evaluator decides), so this only prunes pairs that can never work.
    fits = np.ones((n, nv), dtype=bool)
    if nv and n:
        v_start = np.array([v.start for v in vehicles], dtype=np.int64)
        v_end = np.array([v.end for v in vehicles], dtype=np.int64)
        s_locs = np.array([v.start_loc for v in vehicles])
        e_locs = np.array([v.end_loc for v in vehicles])
        arrive = v_start[None, :] + matrix[s_locs][:, :n].T
        back = matrix[:n][:, e_locs]
        fits[:] = False
        kmax = max((len(w) for w in windows), default=0)
        for k in range(max(kmax, 1)):
            ws_ = np.array([w[k][0] if len(w) > k else (0 if not w else INF) for w in windows], dtype=np.int64)
            we_ = np.array([w[k][1] if len(w) > k else (INF if not w else -INF) for w in windows], dtype=np.int64)
            s = np.maximum(arrive, ws_[:, None])
            fits |= (s <= we_[:, None]) & (s + dur[:, None] + back <= v_end[None, :])
    eligible_all = allowed & fits
    eligible = eligible_all
    allowed_all = allowed
    if stick:
        by_tech: dict[str, list[int]] = {}
        for veh in vehicles:
            by_tech.setdefault(veh.tech_id, []).append(veh.index)
        allowed = allowed.copy()
        for job_id, tech_id in stick.items():
            held = index.get(job_id)
            if held is None or jobs[held].pinned_technician is not None:
                continue
            keep = np.zeros(nv, dtype=bool)
            keep[by_tech.get(tech_id, [])] = True
            allowed[held] &= keep
        eligible = allowed & fits
    return Instance(problem=problem, t0=t0, jobs=jobs, index=index, dur=dur, value=value, rank=rank,
                    windows=windows, dead=dead, vehicles=vehicles, tech_cap=tech_cap, tech_work=tech_work,
                    qualified=qualified, allowed=allowed, eligible=eligible, allowed_all=allowed_all,
                    eligible_all=eligible_all, matrix=matrix,
                    tech_vehicles=tech_vehicles)


def _qualified(problem: Problem, jobs: list[Job], vehicles: list[Vehicle], jlat: np.ndarray, jlng: np.ndarray,
               t0: int, windows: list[tuple[tuple[int, int], ...]]) -> np.ndarray:
    """(jobs × vehicles) hard filters that do not depend on the route: skill and level, certificate valid on the job's
    day, territory, radius, customer-blocked, already rejected. A job pinned to a technician bypasses them (the lock
    is a person's decision) but may go to no one else."""
    techs = problem.technicians
    n, nt = len(jobs), len(techs)
    ok = np.ones((n, nt), dtype=bool)
    if n == 0 or nt == 0:
        return np.zeros((n, len(vehicles)), dtype=bool)
    tech_pos = {t.id: i for i, t in enumerate(techs)}

    skill_codes = sorted({c for j in jobs for c, _ in j.skills})
    if skill_codes:
        sidx = {c: i for i, c in enumerate(skill_codes)}
        level = np.full((nt, len(skill_codes)), -1, dtype=np.int64)
        for ti, t in enumerate(techs):
            for c, lv in t.skills:
                if c in sidx:
                    level[ti, sidx[c]] = max(level[ti, sidx[c]], lv)
        need = np.full((n, len(skill_codes)), -2, dtype=np.int64)  # -2: not required
        for j, job in enumerate(jobs):
            for c, lv in job.skills:
                need[j, sidx[c]] = max(need[j, sidx[c]], lv)
        for s in range(len(skill_codes)):
            req = need[:, s] > -2
            if req.any():
                ok &= ~req[:, None] | ((level[None, :, s] >= 0) & (level[None, :, s] >= need[:, s, None]))

    cert_codes = sorted({c for j in jobs for c in j.certificates})
    if cert_codes:
        cidx = {c: i for i, c in enumerate(cert_codes)}
        expires = np.full((nt, len(cert_codes)), -INF, dtype=np.int64)
        for ti, t in enumerate(techs):
            for c, exp in t.certificates:
                if c in cidx:
                    expires[ti, cidx[c]] = max(expires[ti, cidx[c]], INF if exp is None else exp)
        # valid on the job's day: still valid at the latest moment the job could finish
        horizon = max((v.end for v in vehicles), default=0) + t0
        latest = np.array([(max(w[1] for w in ws) + t0 + job.duration_s) if ws else horizon
                           for job, ws in zip(jobs, windows, strict=True)], dtype=np.int64)
        for j, job in enumerate(jobs):
            for c in job.certificates:
                ok[j] &= expires[:, cidx[c]] >= latest[j]

    terr_codes = sorted({t for tech in techs for t in tech.territory_ids})
    if terr_codes:
        tidx = {c: i for i, c in enumerate(terr_codes)}
        member = np.zeros((nt, len(terr_codes) + 1), dtype=bool)
        anywhere = np.array([not t.territory_ids for t in techs])
        for ti, t in enumerate(techs):
            for c in t.territory_ids:
                member[ti, tidx[c]] = True
        jt = np.array([tidx.get(j.territory_id, len(terr_codes)) if j.territory_id is not None else -1 for j in jobs])
        has = jt >= 0
        ok &= ~has[:, None] | anywhere[None, :] | member[:, np.where(has, jt, 0)].T

    radius = np.array([t.max_radius_km if t.max_radius_km is not None else np.inf for t in techs])
    if np.isfinite(radius).any():
        hlat = np.array([_home(t)[0] for t in techs])
        hlng = np.array([_home(t)[1] for t in techs])
        km = distance_km(jlat[:, None], jlng[:, None], hlat[None, :], hlng[None, :])
        ok &= km <= radius[None, :]

    for j, job in enumerate(jobs):
        for tid in (*job.blocked_technicians, *job.rejected_by):
            if tid in tech_pos:
                ok[j, tech_pos[tid]] = False
        if job.pinned_technician is not None:
            ok[j] = False
            if job.pinned_technician in tech_pos:
                ok[j, tech_pos[job.pinned_technician]] = True
    if not vehicles:
        return np.zeros((n, 0), dtype=bool)
    return ok[:, np.array([v.tech for v in vehicles], dtype=np.int64)]


def _home(t: Technician) -> tuple[float, float]:
    if t.home_lat is not None and t.home_lng is not None:
        return t.home_lat, t.home_lng
    if t.shifts:
        return t.shifts[0].start_lat, t.shifts[0].start_lng
    return t.lat, t.lng


# ---------------------------------------------------------------------------------------------------------------
# The exact evaluator


def travel_through(t: int, leg: int, blocks: Sequence[tuple[int, int]]) -> int:
    """Arrival when leaving at `t` for `leg` seconds. A drive is not split around a block: when it would overlap
    one it starts after it (engine/timeline.py's rule)."""
    if leg > 0:
        for a, b in blocks:
            if b <= t:
                continue
            if t + leg <= a:
                break
            t = b
    return t + leg


def service_start(arrive: int, dur: int, windows: Sequence[tuple[int, int]],
                  blocks: Sequence[tuple[int, int]]) -> int | None:
    """Earliest service start at or after `arrive` inside one of `windows` that does not overlap a block."""
    for ws, we in windows or ((arrive, INF),):
        s = max(arrive, ws)
        for a, b in blocks:
            if s < b and s + dur > a:
                s = b
        if s <= we:
            return s
    return None


@dataclass
class Timing:
    """A route timed by the evaluator. `fail` is -1 when feasible, k when stop k cannot be served in time, and
    len(seq) when the technician cannot be back at the end location by the end of the shift."""

    fail: int
    starts: list[int]
    legs: list[int]
    back: int = 0
    finish: int = 0

    @property
    def travel(self) -> int:
        return sum(self.legs) + self.back


def evaluate(inst: Instance, v: Vehicle, seq: Sequence[int]) -> Timing:
    """Time `seq` on vehicle `v` (earliest start everywhere, which is optimal for a fixed order)."""
    m = inst.matrix
    t, pos = v.start, v.start_loc
    starts: list[int] = []
    legs: list[int] = []
    for k, j in enumerate(seq):
        leg = int(m.item(pos, j))
        d = int(inst.dur.item(j))
        s = service_start(travel_through(t, leg, v.blocks), d, inst.windows[j], v.blocks)
        if s is None or s + d > v.end:
            return Timing(k, starts, legs)
        starts.append(s)
        legs.append(leg)
        t, pos = s + d, j
    back = int(m.item(pos, v.end_loc))
    finish = travel_through(t, back, v.blocks)
    if finish > v.end:
        return Timing(len(seq), starts, legs, back, finish)
    return Timing(-1, starts, legs, back, finish)


# ---------------------------------------------------------------------------------------------------------------
# Insertion with O(1) checks per position (vehicles without blocks), exact evaluation otherwise


class RouteState:
    """One vehicle's route with its timing and the latest start of each stop that keeps the rest feasible."""

    def __init__(self, inst: Instance, v: Vehicle, seq: list[int]):
        self.inst, self.v, self.seq = inst, v, seq
        self.refresh()

    def refresh(self) -> None:
        tm = evaluate(self.inst, self.v, self.seq)
        if tm.fail != -1:
            raise ValueError("route is not feasible")
        self.timing = tm
        self.ends = [s + int(self.inst.dur.item(j)) for s, j in zip(tm.starts, self.seq, strict=True)]
        self.service = int(sum(int(self.inst.dur.item(j)) for j in self.seq))
        # latest start of stop k inside its current window such that every later stop and the return still fit
        m, inst = self.inst.matrix, self.inst
        latest = [0] * (len(self.seq) + 1)
        latest[-1] = self.v.end  # arrival at the end location
        nxt = self.v.end_loc
        for k in range(len(self.seq) - 1, -1, -1):
            j = self.seq[k]
            d = int(inst.dur.item(j))
            we = INF
            for ws_, we_ in inst.windows[j]:
                if ws_ <= tm.starts[k] <= we_:
                    we = we_
                    break
            latest[k] = min(we, latest[k + 1] - int(m.item(j, nxt)) - d)
            nxt = j
        self.latest = latest

    @property
    def travel(self) -> int:
        return self.timing.travel

    def best_insertion(self, j: int) -> tuple[int, int] | None:
        """(added travel, position) of the cheapest feasible insertion of job j, or None."""
        inst, v, seq = self.inst, self.v, self.seq
        m = inst.matrix
        d = int(inst.dur.item(j))
        best: tuple[int, int] | None = None
        for p in range(len(seq) + 1):
            prev = v.start_loc if p == 0 else seq[p - 1]
            nxt = v.end_loc if p == len(seq) else seq[p]
            delta = int(m.item(prev, j)) + int(m.item(j, nxt)) - int(m.item(prev, nxt))
            if best is not None and delta >= best[0]:
                continue
            if v.blocks:
                if evaluate(inst, v, [*seq[:p], j, *seq[p:]]).fail == -1:
                    best = (delta, p)
                continue
            dep = v.start if p == 0 else self.ends[p - 1]
            s = service_start(dep + int(m.item(prev, j)), d, inst.windows[j], ())
            if s is None:
                continue
            if s + d + int(m.item(j, nxt)) > self.latest[p]:
                continue
            best = (delta, p)
        return best


def insertion_pass(inst: Instance, routes: list[list[int]], candidates: Sequence[int], eligible: np.ndarray,
                   budget: int = 2_000_000, travel_per_value: float | None = None) -> int:
    """Insert each candidate (in the given order) at its cheapest feasible place; returns how many were placed.
    `budget` bounds the work (positions examined) so the pass stays fast and deterministic; with
    `travel_per_value`, a job is inserted only when it adds at most value × that many seconds of travel."""
    states: dict[int, RouteState] = {}
    count = _tech_counts(inst, routes)
    work = _tech_work(inst, routes)
    placed = 0
    spent = 0
    for j in candidates:
        if spent > budget:
            break
        best: tuple[int, int, int] | None = None
        d = int(inst.dur.item(j))
        for vi in np.flatnonzero(eligible[j]).tolist():
            v = inst.vehicles[vi]
            if count[v.tech] + 1 > inst.tech_cap[v.tech]:
                continue
            st = states.get(vi)
            if st is None:
                st = states[vi] = RouteState(inst, v, routes[vi])
            spent += len(routes[vi]) + 1
            got = st.best_insertion(j)
            if got is None or work[v.tech] + d > inst.tech_work[v.tech]:
                continue
            if best is None or got[0] < best[0]:
                best = (got[0], vi, got[1])
        if best is None or (travel_per_value is not None and best[0] > int(inst.value[j]) * travel_per_value):
            continue
        _, vi, p = best
        routes[vi].insert(p, j)
        states[vi].refresh()
        count[inst.vehicles[vi].tech] += 1
        work[inst.vehicles[vi].tech] += d
        placed += 1
    return placed


def _tech_counts(inst: Instance, routes: Sequence[Sequence[int]]) -> np.ndarray:
    count = np.zeros(len(inst.problem.technicians), dtype=np.int64)
    for v in inst.vehicles:
        count[v.tech] += len(routes[v.index])
    return count


def _tech_work(inst: Instance, routes: Sequence[Sequence[int]]) -> np.ndarray:
    work = np.zeros(len(inst.problem.technicians), dtype=np.int64)
    for v in inst.vehicles:
        if routes[v.index]:
            work[v.tech] += int(inst.dur[list(routes[v.index])].sum())
    return work


# ---------------------------------------------------------------------------------------------------------------
# Repair and the Plan


def _repair_route(inst: Instance, v: Vehicle, seq: list[int]) -> tuple[list[int], list[int]]:
    """Drop stops until the route is feasible. A stop that cannot be reached in time goes, unless dropping a cheaper
    earlier stop saves it; when the return is late, the least valuable stop goes."""
    removed: list[int] = []
    while True:
        tm = evaluate(inst, v, seq)
        if tm.fail == -1:
            return seq, removed
        k = tm.fail
        if k < len(seq):
            victim = k
            cheaper = sorted((i for i in range(k) if inst.value[seq[i]] < inst.value[seq[k]]),
                             key=lambda i: (int(inst.value[seq[i]]), -i))
            for i in cheaper[:3]:
                fail = evaluate(inst, v, seq[:i] + seq[i + 1:]).fail
                if fail == -1 or fail >= k:  # the stop that failed (now at k - 1) is served
                    victim = i
                    break
        else:
            victim = min(range(len(seq)), key=lambda i: (int(inst.value[seq[i]]), -i))
        removed.append(seq.pop(victim))


def routes_from_plan(inst: Instance, plan: Plan) -> list[list[int]]:
    """A plan's routes as job indices per vehicle of `inst` (unknown jobs and technicians are skipped)."""
    routes: list[list[int]] = [[] for _ in inst.vehicles]
    by_tech: dict[str, list[Vehicle]] = {}
    for v in inst.vehicles:
        by_tech.setdefault(v.tech_id, []).append(v)
    for r in plan.routes:
        vs = by_tech.get(r.technician_id)
        if not vs:
            continue
        for stop in r.stops:
            j = inst.index.get(stop.job_id)
            if j is None:
                continue
            rel = stop.start - inst.t0
            target = next((v for v in vs if v.start <= rel <= v.end), vs[0])
            routes[target.index].append(j)
    return routes


def plan_key(plan: Plan) -> tuple[float, ...]:
    """Larger is better: value served, jobs served, then less travel."""
    stats = dict(plan.stats)
    return (stats.get("value", 0.0), float(plan.served), -float(plan.travel_s))


def repair(inst: Instance, raw: Sequence[Sequence[int]], improve: bool = True,
           travel_per_value: float | None = None) -> tuple[list[list[int]], list[int]]:
    """A solver's routes made feasible: ineligible and duplicate stops removed, each route re-timed exactly and cut
    until it fits, the per-technician cap and working time enforced; then (when `improve`) every job left over is
    offered a cheapest feasible insertion and an insert-and-evict of a less valuable job. Returns the routes and the
    counts [repaired, reinserted, evicted]. `travel_per_value` caps what an insertion may add (see
    `insertion_pass`)."""
    nv = len(inst.vehicles)
    routes: list[list[int]] = [[] for _ in range(nv)]
    seen: set[int] = set()
    for vi in range(min(nv, len(raw))):
        for j in raw[vi]:
            j = int(j)
            if 0 <= j < inst.n and j not in seen and inst.eligible_all[j, vi]:
                seen.add(j)
                routes[vi].append(j)
    dropped = 0
    for v in inst.vehicles:
        routes[v.index], gone = _repair_route(inst, v, routes[v.index])
        dropped += len(gone)
    dropped += _enforce_tech_limits(inst, routes)
    placed = evicted = 0
    if improve:
        assigned = {j for r in routes for j in r}
        todo = _order([j for j in range(inst.n) if j not in assigned and inst.eligible_all[j].any()], inst)
        placed = insertion_pass(inst, routes, todo, inst.eligible_all, travel_per_value=travel_per_value)
        evicted = _evict_pass(inst, routes)
    return routes, [dropped, placed, evicted]


def score(inst: Instance, routes: Sequence[Sequence[int]]) -> tuple[int, int, int]:
    """Larger is better: value served, jobs served, then less travel (routes must be feasible)."""
    value = served = travel = 0
    for v in inst.vehicles:
        seq = routes[v.index]
        if seq:
            value += int(inst.value[list(seq)].sum())
            served += len(seq)
            travel += evaluate(inst, v, seq).travel
    return value, served, -travel


def finalize(inst: Instance, raw: Sequence[Sequence[int]], solver: str, elapsed_s: float, *,
             improve: bool = True, extra_stats: Sequence[tuple[str, float]] = ()) -> Plan:
    """Turn a solver's routes into a feasible Plan: repair, re-insert, evict lower priorities, explain the rest."""
    routes, (dropped, placed, evicted) = repair(inst, raw, improve)
    stats = [("repaired", float(dropped)), ("reinserted", float(placed)), ("evicted", float(evicted)),
             *extra_stats]
    return build_plan(inst, routes, solver, elapsed_s, stats)


def _order(jobs: Iterable[int], inst: Instance) -> list[int]:
    """Most valuable first, then the earliest window, then the input order."""
    return sorted(jobs, key=lambda j: (-int(inst.value[j]), inst.windows[j][0][0] if inst.windows[j] else 0, j))


def _enforce_tech_limits(inst: Instance, routes: list[list[int]]) -> int:
    """Daily cap and working time are per technician (over all their shifts): drop the least valuable stops."""
    removed = 0
    for ti, vis in enumerate(inst.tech_vehicles):
        while True:
            count = sum(len(routes[vi]) for vi in vis)
            work = sum(int(inst.dur[routes[vi]].sum()) for vi in vis if routes[vi])
            if count <= inst.tech_cap[ti] and work <= inst.tech_work[ti]:
                break
            vi, k = min(((vi, k) for vi in vis for k in range(len(routes[vi]))),
                        key=lambda p: (int(inst.value[routes[p[0]][p[1]]]), -p[1]))
            routes[vi].pop(k)
            routes[vi], gone = _repair_route(inst, inst.vehicles[vi], routes[vi])
            removed += 1 + len(gone)
    return removed


def _evict_pass(inst: Instance, routes: list[list[int]], budget: int = 400_000) -> int:
    """Insert-and-evict: an unassigned job takes the place of a strictly less valuable one when it fits there; the
    evicted job then gets a chance elsewhere. So when the day is overloaded, the lowest priorities go first."""
    assigned = {j for r in routes for j in r}
    todo = _order([j for j in range(inst.n) if j not in assigned and inst.eligible_all[j].any()], inst)
    if not todo:
        return 0
    min_value = min((int(inst.value[j]) for j in assigned), default=INF)
    work = _tech_work(inst, routes)
    spent = 0
    swaps = 0
    for u in todo:
        if int(inst.value[u]) <= min_value or spent > budget:
            continue
        best: tuple[int, int, int, int, list[int], int] | None = None  # (victim value, delta, vi, k, new seq, dwork)
        du = int(inst.dur.item(u))
        for vi in np.flatnonzero(inst.eligible_all[u]).tolist():
            v = inst.vehicles[vi]
            seq = routes[vi]
            base = evaluate(inst, v, seq).travel
            for k, x in enumerate(seq):
                if inst.value[x] >= inst.value[u]:
                    continue
                if best is not None and int(inst.value[x]) > best[0]:
                    continue
                for p in (k, k + 1) if k + 1 <= len(seq) - 1 else (k,):
                    trial = seq[:k] + seq[k + 1:]
                    trial.insert(min(p, len(trial)), u)
                    spent += len(trial)
                    tm = evaluate(inst, v, trial)
                    if tm.fail != -1:
                        continue
                    dwork = du - int(inst.dur.item(x))
                    if work[v.tech] + dwork > inst.tech_work[v.tech]:
                        continue
                    cand = (int(inst.value[x]), tm.travel - base, vi, k, trial, dwork)
                    if best is None or cand[:2] < best[:2]:
                        best = cand
        if best is None:
            continue
        _, _, vi, k, trial, dwork = best
        victim = routes[vi][k]
        routes[vi] = trial
        work[inst.vehicles[vi].tech] += dwork
        swaps += 1
        # the evicted job may still fit somewhere else
        if insertion_pass(inst, routes, [victim], inst.eligible_all, budget=50_000):
            work = _tech_work(inst, routes)
    return swaps


def unassigned_reason(inst: Instance, j: int) -> str:
    """Why job j is not in the plan: nobody passes the hard filters, nobody could reach it inside its windows even
    with an empty day, or everyone who could is full."""
    if inst.dead[j]:
        return WINDOW_UNREACHABLE
    quals = np.flatnonzero(inst.qualified[j]).tolist()
    if not quals:
        return NO_TECHNICIAN
    for vi in quals:
        v = inst.vehicles[vi]
        if evaluate(inst, v, [j]).fail == -1:
            return NO_CAPACITY
    return WINDOW_UNREACHABLE


def build_plan(inst: Instance, routes: Sequence[Sequence[int]], solver: str, elapsed_s: float,
               stats: Sequence[tuple[str, float]] = ()) -> Plan:
    """Routes of job indices (already feasible) → Plan with absolute times, totals and reasons."""
    t0 = inst.t0
    out: list[Route] = []
    served = served_high = late_jobs = 0
    total_travel = 0
    value = 0
    assigned: set[int] = set()
    for v in inst.vehicles:
        seq = list(routes[v.index])
        if not seq and not v.fixed:
            continue
        tm = evaluate(inst, v, seq)
        if tm.fail != -1:
            raise ValueError(f"infeasible route for {v.tech_id}")
        stops = [RouteStop(job_id=x.job_id, start=x.start, end=x.start + x.duration_s, travel_s=0) for x in v.fixed]
        late_s = 0
        for j, s, leg in zip(seq, tm.starts, tm.legs, strict=True):
            job = inst.jobs[j]
            start = s + t0
            end = start + int(inst.dur[j])
            stops.append(RouteStop(job_id=job.id, start=start, end=end, travel_s=leg))
            if job.due is not None and end > job.due:
                late_s += end - job.due
                late_jobs += 1
            served += 1
            served_high += int(inst.rank[j] <= 1)
            value += int(inst.value[j])
            assigned.add(j)
        travel = tm.travel if seq else 0
        total_travel += travel
        out.append(Route(technician_id=v.tech_id, stops=tuple(stops), travel_s=travel, late_s=late_s))
    unassigned = tuple((inst.jobs[j].id, unassigned_reason(inst, j)) for j in range(inst.n) if j not in assigned)
    return Plan(routes=tuple(out), unassigned=unassigned, travel_s=total_travel, served=served,
                served_high=served_high, late_jobs=late_jobs, solver=solver, elapsed_s=round(elapsed_s, 3),
                stats=(("value", float(value)), *stats))


def with_solver(plan: Plan, solver: str, elapsed_s: float, extra: Sequence[tuple[str, float]] = ()) -> Plan:
    """The same plan relabelled (the combined strategy reports which part won)."""
    return replace(plan, solver=solver, elapsed_s=round(elapsed_s, 3), stats=(*plan.stats, *extra))
