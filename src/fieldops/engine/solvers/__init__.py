"""Day-planning solvers behind one interface. The routing libraries (pyvrp, vroom) are imported only here.

Every solver compiles the `Problem` into an `Instance` (arrays, eligibility, travel matrix), produces routes, and
hands them to `instance.finalize`, which re-times them exactly, repairs them and explains every unassigned job.

- `NearestAvailableSolver` ("nearest"): the market's rule, a baseline.
- `VroomSolver` ("vroom"): VROOM alone.
- `PyVRPSolver` ("pyvrp"): PyVRP alone.
- `CombinedSolver` ("default"): VROOM, then PyVRP warm-started from it; the product's default (docs/adr/0004).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from fieldops.engine.model import Plan, Problem
from fieldops.engine.solvers.combined import CombinedSolver
from fieldops.engine.solvers.greedy import NearestAvailableSolver
from fieldops.engine.solvers.instance import Instance
from fieldops.engine.solvers.pyvrp_solver import PyVRPSolver
from fieldops.engine.solvers.vroom_solver import VroomSolver


@runtime_checkable
class Solver(Protocol):
    """Plans a whole problem. The same problem, seed and iteration limits give the same plan; a wall-clock limit
    that actually cuts the search in can make two runs differ."""

    name: str

    def solve(self, problem: Problem, time_limit_s: float, seed: int, initial: Plan | None) -> Plan:
        """A feasible plan for `problem` within about `time_limit_s`, optionally warm-started from `initial`."""
        ...

    def solve_instance(self, inst: Instance, time_limit_s: float, seed: int,
                       initial: Sequence[Sequence[int]] | None) -> list[list[int]]:
        """Routes (job indices per vehicle of `inst`), not necessarily repaired."""
        ...


SOLVERS: dict[str, type] = {
    "default": CombinedSolver,
    "nearest": NearestAvailableSolver,
    "vroom": VroomSolver,
    "pyvrp": PyVRPSolver,
}


def get_solver(strategy: str | Solver) -> Solver:
    """A solver by name ("default", "nearest", "vroom", "pyvrp") or the given instance."""
    if isinstance(strategy, str):
        try:
            solver: Solver = SOLVERS[strategy]()
        except KeyError:
            raise ValueError(f"unknown planning strategy {strategy!r}; expected one of {sorted(SOLVERS)}") from None
        return solver
    return strategy


__all__ = ["SOLVERS", "CombinedSolver", "NearestAvailableSolver", "PyVRPSolver", "Solver", "VroomSolver",
           "get_solver"]
