"""PyVRP 0.14: the strongest optimiser of the three for travel, given the same jobs.

Mapping: every job is an optional client whose prize is its value × `prize_unit` (large, so the search serves jobs
first and cuts travel second); a job with several windows becomes one client per window in a mutually exclusive
group. Eligibility (skills and levels, certificates, territory, radius, blocked, pinned) becomes one routing profile
per distinct set of jobs a vehicle may serve, with the arcs to every other job forbidden. Every vehicle is its own
vehicle type (its start and end places and times); two load dimensions hold the daily cap and service seconds.
PyVRP has no breaks: a shift's blocks shorten its maximum duration, and `finalize` re-times the routes exactly.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pyvrp
from pyvrp.stop import MaxIterations, MaxRuntime, StoppingCriterion

from fieldops.engine.model import Plan, Problem
from fieldops.engine.solvers.instance import Instance, compile_problem, evaluate, finalize, routes_from_plan

MAX_VALUE = 1 << 40          # a forbidden arc (below pyvrp.constants.MAX_VALUE = 2**44)
HORIZON = 1 << 30
MEMORY_LIMIT = 3 << 30       # bytes of profile matrices above which PyVRP is not attempted


class PyVRPSolver:
    """PyVRP alone (or warm-started from `initial`). `max_iterations` replaces the time limit, which makes a run
    deterministic for a seed."""

    name = "pyvrp"

    def __init__(self, max_iterations: int | None = None, prize_unit: int = 300):
        self.max_iterations = max_iterations
        self.prize_unit = prize_unit

    def solve(self, problem: Problem, time_limit_s: float, seed: int = 0, initial: Plan | None = None) -> Plan:
        """Plan `problem` with PyVRP's iterated local search under `time_limit_s` (and `max_iterations`)."""
        began = time.perf_counter()
        inst = compile_problem(problem)
        warm = routes_from_plan(inst, initial) if initial is not None else None
        raw = self.solve_instance(inst, time_limit_s - (time.perf_counter() - began), seed, warm)
        return finalize(inst, raw, self.name, time.perf_counter() - began)

    def fits(self, inst: Instance) -> bool:
        """Whether the profile matrices stay within memory."""
        locs = inst.n + 2 * len(inst.vehicles)
        profiles = len({inst.allowed[:, vi].tobytes() for vi in range(len(inst.vehicles))})
        return profiles * locs * locs * 16 <= MEMORY_LIMIT

    def solve_instance(self, inst: Instance, time_limit_s: float, seed: int = 0,
                       initial: Sequence[Sequence[int]] | None = None) -> list[list[int]]:
        """Routes (job indices per vehicle) for a compiled instance; empty routes when there is nothing to do."""
        nv = len(inst.vehicles)
        empty: list[list[int]] = [[] for _ in range(nv)]
        jobs = [j for j in range(inst.n) if inst.eligible[j].any()]
        if not jobs or nv == 0:
            return empty
        built = _build(inst, jobs, self.prize_unit)
        data, client_job, job_clients = built
        init = None
        if initial is not None:
            init = _warm_solution(inst, data, initial, job_clients)
        # an iteration limit replaces the time limit: the run is then the same on any machine
        stop: StoppingCriterion = (MaxIterations(self.max_iterations) if self.max_iterations is not None
                                   else MaxRuntime(max(0.01, time_limit_s)))
        result = pyvrp.solve(data, stop, seed=seed, collect_stats=False, display=False, initial_solution=init)
        best = result.best
        if not best.is_feasible():
            return [list(r) for r in initial] if initial is not None else empty
        routes: list[list[int]] = [[] for _ in range(nv)]
        for route in best.routes():
            vi = route.vehicle_type()
            routes[vi] = [client_job[a.idx] for a in route.schedule() if a.is_client()]
        return routes


def _build(inst: Instance, jobs: list[int],
           prize_unit: int) -> tuple[pyvrp.ProblemData, list[int], dict[int, list[int]]]:
    n = inst.n
    nv = len(inst.vehicles)
    locations = [pyvrp.Location(x=0.0, y=0.0) for _ in range(n + 2 * nv)]
    depots = []
    for v in inst.vehicles:
        depots.append(pyvrp.Depot(location=v.start_loc))
        depots.append(pyvrp.Depot(location=v.end_loc))
    clients: list[pyvrp.Client] = []
    groups: list[pyvrp.ClientGroup] = []
    client_job: list[int] = []
    job_clients: dict[int, list[int]] = {}
    for j in jobs:
        windows = inst.windows[j] or ((0, HORIZON),)
        d = int(inst.dur[j])
        prize = int(inst.value[j]) * prize_unit
        group = None
        if len(windows) > 1:
            group = len(groups)
            groups.append(pyvrp.ClientGroup(required=False))
        for a, b in windows:
            ci = len(clients)
            if group is not None:
                groups[group].add_client(ci)
            clients.append(pyvrp.Client(location=j, delivery=[1, d], service_duration=d, tw_early=a,
                                        tw_late=min(b, HORIZON), prize=prize, required=False, group=group))
            client_job.append(j)
            job_clients.setdefault(j, []).append(ci)

    base = np.minimum(inst.matrix, MAX_VALUE).astype(np.int64)
    profile_of: dict[bytes, int] = {}
    matrices: list[np.ndarray] = []
    vehicle_types = []
    for v in inst.vehicles:
        col = np.ascontiguousarray(inst.allowed[:, v.index])
        key = col.tobytes()
        if key not in profile_of:
            profile_of[key] = len(matrices)
            mat = base.copy()
            banned = np.flatnonzero(~col)
            mat[:, banned] = MAX_VALUE
            mat[banned, :] = MAX_VALUE
            np.fill_diagonal(mat, 0)
            matrices.append(mat)
        span = v.end - v.start - v.block_s
        vehicle_types.append(pyvrp.VehicleType(
            num_available=1, capacity=[int(inst.tech_cap[v.tech]), int(inst.tech_work[v.tech])],
            start_depot=2 * v.index, end_depot=2 * v.index + 1, tw_early=v.start, tw_late=v.end,
            shift_duration=max(0, span), profile=profile_of[key], name=str(v.index)))
    data = pyvrp.ProblemData(locations, clients, depots, vehicle_types, matrices,  # type: ignore[arg-type]
                             matrices, groups=groups)  # type: ignore[arg-type]
    return data, client_job, job_clients


def _warm_solution(inst: Instance, data: pyvrp.ProblemData, initial: Sequence[Sequence[int]],
                   job_clients: dict[int, list[int]]) -> pyvrp.Solution | None:
    routes = []
    for v in inst.vehicles:
        seq = [j for j in (initial[v.index] if v.index < len(initial) else []) if j in job_clients]
        if not seq:
            continue
        tm = evaluate(inst, v, seq)
        visits = []
        for k, j in enumerate(seq):
            options = job_clients[j]
            choice = options[0]
            if len(options) > 1 and tm.fail == -1:
                start = tm.starts[k]
                for ci, (a, b) in zip(options, inst.windows[j], strict=True):
                    if a <= start <= b:
                        choice = ci
                        break
            visits.append(choice)
        routes.append(pyvrp.Route(data, visits, v.index))
    try:
        return pyvrp.Solution(data, routes)
    except (RuntimeError, ValueError):
        return None
