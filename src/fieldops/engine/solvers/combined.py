"""The product's default: VROOM for a fast, high-coverage start, then PyVRP warm-started from it to cut travel.

PyVRP runs either on the whole instance or — on days of SPLIT_JOBS jobs or more, with `workers` > 1 — in short
rounds on parts of the day, two processes at a time: the technicians are split into groups of about
TECHS_PER_PART by where their routes lie (the split lines turn every round, so every pair of neighbouring routes
meets in some round), and each part gets its technicians' routes plus the nearby unserved jobs. PyVRP converges
much faster on a tenth of the size, and the parts use both cores. After every round the routes are repaired and
the left-over jobs offered a cheapest insertion (at most their prize in added travel). The best plan seen (value
served, then jobs served, then travel) is returned, so the result is never worse than the VROOM start.
Shares, prizes and sizes chosen by measurement (docs/adr/0004).
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor

import numpy as np

from fieldops.engine.model import Plan, Problem
from fieldops.engine.solvers.instance import Instance, compile_problem, finalize, repair, routes_from_plan, score
from fieldops.engine.solvers.pyvrp_solver import PyVRPSolver
from fieldops.engine.solvers.vroom_solver import VroomSolver

SPLIT_JOBS = 150
"""Days with at least this many jobs (and 8 technicians) are improved in parts in parallel (when `workers` > 1)."""
TECHS_PER_PART = 7
LOW_PRIZE_JOBS = 400
LOW_PRIZE = 80
"""PyVRP prize per unit of job value on days of LOW_PRIZE_JOBS jobs or more: low enough to steer the search to
compact routes; the left-over jobs are then inserted where they add at most their prize in travel, and the parts
converge fast enough that coverage still ends above VROOM's (measured on the Boston 1,000-job day)."""
HIGH_PRIZE = 300
"""PyVRP prize per unit of value on smaller days, where PyVRP converges anyway: serve first."""
SHORT_LIMIT_S = 2.5
"""Below this time limit the whole budget goes to VROOM (PyVRP's set-up alone takes ~0.5 s at 1,000 jobs)."""


class CombinedSolver:
    """VROOM then PyVRP. `vroom_share` of the time limit goes to VROOM (its exploration level chosen to fit), the
    rest to PyVRP; `max_iterations` bounds each PyVRP run and `use_timeout=False` VROOM, for deterministic runs."""

    name = "default"

    def __init__(self, vroom_share: float = 0.1, max_iterations: int | None = None, exploration: int | None = None,
                 use_timeout: bool = True, threads: int = 1, prize_unit: int | None = None, workers: int = 2,
                 round_s: float = 4.0, insert_factor: float | None = 1.0, parts: int = 8,
                 split_jobs: int = SPLIT_JOBS):
        self.vroom_share = vroom_share
        self.vroom = VroomSolver(exploration=exploration, threads=threads, use_timeout=use_timeout)
        self.prize_unit = prize_unit
        self.split_jobs = split_jobs
        self.pyvrp = PyVRPSolver(max_iterations=max_iterations, prize_unit=prize_unit or HIGH_PRIZE)
        self.workers = workers
        self.round_s = round_s
        self.parts = parts
        # after PyVRP, a left-over job is inserted only when it adds at most insert_factor × its prize in travel
        # (None: whatever it costs); the same trade-off PyVRP itself makes
        self.insert_factor = insert_factor
        self.last_winner = ""

    def solve(self, problem: Problem, time_limit_s: float, seed: int = 0, initial: Plan | None = None) -> Plan:
        """Plan `problem`: VROOM (warm-started from `initial` when given), then PyVRP from VROOM's routes."""
        began = time.perf_counter()
        inst = compile_problem(problem)
        warm = routes_from_plan(inst, initial) if initial is not None else None
        raw = self.solve_instance(inst, time_limit_s - (time.perf_counter() - began), seed, warm)
        return finalize(inst, raw, f"default:{self.last_winner}", time.perf_counter() - began, improve=False)

    def solve_instance(self, inst: Instance, time_limit_s: float, seed: int = 0,
                       initial: Sequence[Sequence[int]] | None = None) -> list[list[int]]:
        """Feasible routes (job indices per vehicle): the best of VROOM's and PyVRP's, all repaired."""
        began = time.perf_counter()
        # keep some of the limit for repair, the final plan and (split) process start and stop
        time_limit_s = time_limit_s * 0.95 - min(0.5, 0.05 * time_limit_s)
        deterministic = self.pyvrp.max_iterations is not None
        # under SHORT_LIMIT_S there is no time for PyVRP to pay off: VROOM gets (nearly) everything
        short = time_limit_s < SHORT_LIMIT_S and not deterministic
        vroom_s = time_limit_s if short else max(time_limit_s * self.vroom_share, 1.0)
        raw = self.vroom.solve_instance(inst, max(0.05, vroom_s), seed, initial)
        best, _ = repair(inst, raw)
        best_score = score(inst, best)
        self.last_winner = "vroom"

        def left() -> float:
            return time_limit_s - (time.perf_counter() - began)

        if short or (left() <= 0.1 and not deterministic) or not self.pyvrp.fits(inst):
            return best
        n_techs = sum(1 for vis in inst.tech_vehicles if vis)
        split = inst.n >= self.split_jobs and n_techs >= 2 * TECHS_PER_PART
        self.pyvrp.prize_unit = self.prize_unit or (LOW_PRIZE if inst.n >= LOW_PRIZE_JOBS else HIGH_PRIZE)
        self.cap = None if self.insert_factor is None else self.insert_factor * self.pyvrp.prize_unit
        if not split:
            raw2 = self.pyvrp.solve_instance(inst, max(0.05, left()), seed, best)
            second, _ = repair(inst, raw2, travel_per_value=self.cap)
            if score(inst, second) >= best_score:
                self.last_winner = "vroom+pyvrp"
                return second
            return best
        pool: ProcessPoolExecutor | None = None
        if self.workers > 1:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context(method))
        try:
            rounds = max(1, round(left() / self.round_s)) if not deterministic else 2
            for r in range(rounds):
                budget = left() / (rounds - r) - 0.3  # repair and process overhead
                if budget <= 0.2 and not deterministic:
                    break
                current = self._round(pool, inst, best, r, rounds, max(0.1, budget), seed + r)
                current_score = score(inst, current)
                if current_score >= best_score:
                    best, best_score = current, current_score
                    self.last_winner = f"vroom+pyvrp/parts×{self.workers}"
        finally:
            if pool is not None:
                pool.shutdown()
        return best

    def _round(self, pool: Executor | None, inst: Instance, routes: list[list[int]], r: int, rounds: int, budget: float,
               seed: int) -> list[list[int]]:
        """One round: split the technicians into parts by where their routes lie, improve the parts side by side."""
        n_techs = sum(1 for vis in inst.tech_vehicles if vis)
        parts = max(2, min(self.parts, n_techs // TECHS_PER_PART))
        groups = split_vehicles(inst, routes, math.pi * r / rounds + 0.3 * r, parts)
        assigned = {j for seq in routes for j in seq}
        free = [j for j in range(inst.n) if j not in assigned and inst.eligible[j].any()]
        side = np.zeros(len(inst.vehicles), dtype=np.int64)
        for g, vs in enumerate(groups):
            side[vs] = g
        centre = _centroids(inst, routes)
        lat = np.array([job.lat for job in inst.jobs])
        lng = np.array([job.lng for job in inst.jobs])
        scale = math.cos(math.radians(float(lat.mean()))) if inst.n else 1.0
        free_by_side: list[list[int]] = [[] for _ in groups]
        for j in free:
            cands = np.flatnonzero(inst.eligible[j])
            d2 = (centre[cands, 0] - lat[j]) ** 2 + ((centre[cands, 1] - lng[j]) * scale) ** 2
            free_by_side[int(side[cands[int(np.argmin(d2))]])].append(j)
        per_part = budget * min(self.workers, len(groups)) / len(groups)
        tasks: list[tuple[list[int], list[int], list[list[int]] | Future[list[list[int]]]]] = []
        for g, vs in enumerate(groups):
            js = [j for vi in vs for j in routes[vi]] + free_by_side[g]
            sub = inst.subset(js, vs)
            local = {j: k for k, j in enumerate(js)}
            warm = [[local[j] for j in routes[vi]] for vi in vs]
            if pool is None:
                tasks.append((js, vs, _improve(self.pyvrp, sub, per_part, seed, warm)))
            else:
                tasks.append((js, vs, pool.submit(_improve, self.pyvrp, sub, per_part, seed, warm)))
        new = [list(seq) for seq in routes]
        for js, vs, fut in tasks:
            out = fut if isinstance(fut, list) else fut.result()
            for k, vi in enumerate(vs):
                new[vi] = [js[x] for x in out[k]]
        repaired, _ = repair(inst, new, travel_per_value=self.cap)
        return repaired


def _improve(solver: PyVRPSolver, sub: Instance, budget: float, seed: int,
             warm: list[list[int]]) -> list[list[int]]:
    return solver.solve_instance(sub, budget, seed, warm)


def _centroids(inst: Instance, routes: Sequence[Sequence[int]]) -> np.ndarray:
    """Mean position of each vehicle's stops (its start place when the route is empty)."""
    out = np.zeros((len(inst.vehicles), 2))
    for v in inst.vehicles:
        seq = routes[v.index]
        if seq:
            out[v.index] = (np.mean([inst.jobs[j].lat for j in seq]), np.mean([inst.jobs[j].lng for j in seq]))
        else:
            home = inst.problem.technicians[v.tech]
            out[v.index] = (home.lat, home.lng)
    return out


def split_vehicles(inst: Instance, routes: Sequence[Sequence[int]], angle: float,
                   parts: int = 2) -> list[list[int]]:
    """`parts` groups of vehicles (a technician's vehicles stay together) by recursive halving of the route
    centroids along lines at `angle` and at right angles to it."""
    centre = _centroids(inst, routes)
    scale = math.cos(math.radians(float(centre[:, 0].mean()))) if len(centre) else 1.0
    techs = [vis for vis in inst.tech_vehicles if vis]
    pos = np.array([centre[vis].mean(axis=0) for vis in techs]).reshape(-1, 2)

    def halve(members: list[int], depth: int, a: float) -> list[list[int]]:
        if depth == 0 or len(members) < 2:
            return [members]
        proj = {i: float(pos[i, 0] * math.cos(a) + pos[i, 1] * scale * math.sin(a)) for i in members}
        order = sorted(members, key=lambda i: (proj[i], i))
        half = len(order) // 2
        return halve(order[:half], depth - 1, a + math.pi / 2) + halve(order[half:], depth - 1, a + math.pi / 2)

    depth = max(1, round(math.log2(max(2, parts))))
    groups = halve(list(range(len(techs))), depth, angle)
    return [sorted(vi for i in g for vi in techs[i]) for g in groups if g]
