"""The nearest-available rule, the baseline the market uses: each job in turn goes to the nearest qualified
technician (from where their route ends so far) who can still fit it at the end of their route."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from fieldops.engine.model import Plan, Problem
from fieldops.engine.solvers.instance import Instance, compile_problem, finalize, service_start, travel_through


class NearestAvailableSolver:
    """Greedy and deterministic; ignores the time limit, the seed and `initial`."""

    name = "nearest"

    def __init__(self, improve: bool = False):
        self.improve = improve  # False: the pure rule (no re-insertion or eviction afterwards), as a baseline

    def solve(self, problem: Problem, time_limit_s: float, seed: int = 0, initial: Plan | None = None) -> Plan:
        """Plan `problem` with the nearest-available rule."""
        began = time.perf_counter()
        inst = compile_problem(problem)
        raw = self.solve_instance(inst, time_limit_s, seed, None)
        return finalize(inst, raw, self.name, time.perf_counter() - began, improve=self.improve)

    def solve_instance(self, inst: Instance, time_limit_s: float = 0.0, seed: int = 0,
                       initial: Sequence[Sequence[int]] | None = None) -> list[list[int]]:
        """Jobs in order of their earliest window start (urgent first at equal times), each appended to the route of
        the nearest technician who can still fit it."""
        nv = len(inst.vehicles)
        routes: list[list[int]] = [[] for _ in range(nv)]
        t_free = [v.start for v in inst.vehicles]
        pos = [v.start_loc for v in inst.vehicles]
        count = np.zeros(len(inst.problem.technicians), dtype=np.int64)
        work = np.zeros(len(inst.problem.technicians), dtype=np.int64)
        m = inst.matrix
        order = sorted(range(inst.n), key=lambda j: (inst.windows[j][0][0] if inst.windows[j] else 0,
                                                     int(inst.rank[j]), j))
        for j in order:
            cands = np.flatnonzero(inst.eligible[j])
            if cands.size == 0:
                continue
            here = np.array([pos[vi] for vi in cands.tolist()])
            dist = m[here, j]
            d = int(inst.dur[j])
            for k in np.lexsort((cands, dist)).tolist():
                vi = int(cands[k])
                v = inst.vehicles[vi]
                if count[v.tech] + 1 > inst.tech_cap[v.tech]:
                    continue
                leg = int(dist[k])
                s = service_start(travel_through(t_free[vi], leg, v.blocks), d, inst.windows[j], v.blocks)
                if s is None or s + d > v.end:
                    continue
                back = int(m.item(j, v.end_loc))
                if travel_through(s + d, back, v.blocks) > v.end:
                    continue
                old_back = int(m.item(pos[vi], v.end_loc)) if routes[vi] else 0
                if work[v.tech] + leg + d + back - old_back > inst.tech_work[v.tech]:
                    continue
                routes[vi].append(j)
                t_free[vi] = s + d
                pos[vi] = j
                count[v.tech] += 1
                work[v.tech] += leg + d + back - old_back
                break
        return routes
