"""VROOM (pyvroom 1.15): field-service constraints natively, fast and high-coverage.

Mapping: every job gets one VROOM skill, the id of its set of eligible vehicles (which already folds skill levels,
certificates, territory, radius, blocked and pinned in); a vehicle holds the ids of the sets it belongs to. Windows,
shift start/end places and times, fixed breaks (and partial leave) as VROOM breaks, `max_tasks` for the daily cap,
a service-time capacity for working time (travel is checked exactly afterwards), priority 0..100 for value.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import vroom

from fieldops.engine.model import Plan, Problem
from fieldops.engine.solvers.instance import Instance, compile_problem, evaluate, finalize, routes_from_plan

MAX_U32 = (1 << 32) - 1


def exploration_for(n_jobs: int, time_limit_s: float) -> int:
    """Measured on Boston 1,000 jobs / 60 technicians: level 0 needs 8 s on an idle core and up to 20 s on a busy
    machine; each level roughly doubles it. A level that cannot finish is worse than a lower one that can."""
    per_level0 = max(0.05, 15.0 * (n_jobs / 1000.0) ** 1.5)
    level = 0
    while level < 5 and per_level0 * (2 ** (level + 1)) < time_limit_s:
        level += 1
    return level


class VroomSolver:
    """VROOM alone. `exploration=None` picks the level from the size and the time limit; `use_timeout=False` makes
    it run to completion at that level (deterministic)."""

    name = "vroom"

    def __init__(self, exploration: int | None = None, threads: int = 1, use_timeout: bool = True):
        self.exploration = exploration
        self.threads = threads
        self.use_timeout = use_timeout

    def solve(self, problem: Problem, time_limit_s: float, seed: int = 0, initial: Plan | None = None) -> Plan:
        """Plan `problem` with VROOM; the seed is unused (VROOM is deterministic without a timeout)."""
        began = time.perf_counter()
        inst = compile_problem(problem)
        warm = routes_from_plan(inst, initial) if initial is not None else None
        raw = self.solve_instance(inst, time_limit_s, seed, warm)
        return finalize(inst, raw, self.name, time.perf_counter() - began)

    def solve_instance(self, inst: Instance, time_limit_s: float, seed: int = 0,
                       initial: Sequence[Sequence[int]] | None = None) -> list[list[int]]:
        """Routes (job indices per vehicle) for a compiled instance."""
        nv = len(inst.vehicles)
        if inst.n == 0 or nv == 0:
            return [[] for _ in range(nv)]
        problem = vroom.Input()
        problem.set_durations_matrix("car", np.minimum(inst.matrix, MAX_U32).astype(np.uint32))

        # one VROOM skill per distinct set of eligible vehicles
        rows = np.ascontiguousarray(inst.eligible)
        signature: dict[bytes, int] = {}
        job_skill = np.zeros(inst.n, dtype=np.int64)
        for j in range(inst.n):
            job_skill[j] = signature.setdefault(rows[j].tobytes(), len(signature) + 1)
        vehicle_skills: list[set[int]] = [set() for _ in range(nv)]
        for key, sid in signature.items():
            for vi in np.flatnonzero(np.frombuffer(key, dtype=bool)).tolist():
                vehicle_skills[vi].add(sid)

        warm = initial if initial is not None else [[] for _ in range(nv)]
        break_id = 0
        for v in inst.vehicles:
            breaks = []
            for a, b in v.blocks:
                break_id += 1
                breaks.append(vroom.Break(break_id, time_windows=[vroom.TimeWindow(a, a)], service=b - a))
            steps: list[vroom.VehicleStep] = []
            seq = [int(j) for j in (warm[v.index] if v.index < len(warm) else []) if inst.eligible[int(j), v.index]]
            if seq and not v.blocks and evaluate(inst, v, seq).fail == -1:
                steps = [vroom.VehicleStepStart(), *(vroom.VehicleStepSingle(int(j) + 1) for j in seq),
                         vroom.VehicleStepEnd()]
            problem.add_vehicle(vroom.Vehicle(
                v.index + 1, start=v.start_loc, end=v.end_loc, time_window=vroom.TimeWindow(v.start, v.end),
                breaks=breaks, skills=vehicle_skills[v.index],
                capacity=[int(inst.tech_cap[v.tech]), int(inst.tech_work[v.tech])],
                max_tasks=int(inst.tech_cap[v.tech]), steps=steps))
        jobs = []
        for j in range(inst.n):
            if not inst.eligible[j].any():
                continue
            tws = [vroom.TimeWindow(a, b) for a, b in inst.windows[j]]
            jobs.append(vroom.Job(j + 1, location=j, default_service=int(inst.dur[j]),
                                  delivery=[1, int(inst.dur[j])], skills={int(job_skill[j])},
                                  priority=int(min(100, inst.value[j])), time_windows=tws))
        if not jobs:
            return [[] for _ in range(nv)]
        problem.add_job(jobs)
        level = self.exploration if self.exploration is not None else exploration_for(inst.n, time_limit_s)
        timeout = timedelta(seconds=max(0.05, time_limit_s)) if self.use_timeout else None
        solution = problem.solve(exploration_level=level, nb_threads=self.threads, timeout=timeout)
        arr = solution._routes_numpy()
        routes: list[list[int]] = [[] for _ in range(nv)]
        for vid, kind, job_id in zip(arr["vehicle_id"].tolist(), arr["type"].tolist(), arr["id"].tolist(),
                                     strict=True):
            if kind == b"job":
                routes[int(vid) - 1].append(int(job_id) - 1)
        return routes
