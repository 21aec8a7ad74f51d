"""Day planning and re-planning: small problems checked by hand, and invariants on random small problems.

Solvers run at iteration limits (VROOM without a timeout, PyVRP with `max_iterations`) so results are
deterministic; no test asserts on time.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldops.engine.filters import hard_filters
from fieldops.engine.model import Plan, Policy, Problem, Visit, Window
from fieldops.engine.planning import (
    JobOverran,
    TechnicianUnavailable,
    UrgentJob,
    decompose,
    kmeans,
    plan_day,
    replan,
)
from fieldops.engine.solvers import (
    CombinedSolver,
    NearestAvailableSolver,
    PyVRPSolver,
    Solver,
    VroomSolver,
    get_solver,
)
from fieldops.engine.solvers.instance import NO_CAPACITY, NO_TECHNICIAN, WINDOW_UNREACHABLE
from tests.engine.helpers import HOME, at, job, north, route_problems, secs, tech, visit


def solvers() -> list[Solver]:
    """Every strategy at a deterministic limit."""
    return [NearestAvailableSolver(), VroomSolver(exploration=0, use_timeout=False),
            PyVRPSolver(max_iterations=200), CombinedSolver(max_iterations=100, exploration=0, use_timeout=False)]


def ids(plan: Plan, tech_id: str) -> list[str]:
    return [s.job_id for r in plan.routes if r.technician_id == tech_id for s in r.stops]


def where(plan: Plan) -> dict[str, str]:
    return {s.job_id: r.technician_id for r in plan.routes for s in r.stops}


def east(km: float, base: tuple[float, float] = HOME) -> tuple[float, float]:
    return base[0], base[1] + km / 82.0


ALL = pytest.mark.parametrize("solver", solvers(), ids=lambda s: s.name)


# ---------------------------------------------------------------------------------------------------------------
# small problems checked by hand


@ALL
def test_skills_and_levels_respected(solver: Solver) -> None:
    a = tech("A", HOME, skills=(("electric", 2),))
    b = tech("B", north(8), skills=(("plumbing", 3),))
    jobs = [job("e1", north(8), skills=(("electric", 1),)), job("e2", north(7.5), skills=(("electric", 2),)),
            job("p1", HOME, skills=(("plumbing", 3),)), job("p2", north(0.5), skills=(("plumbing", 1),)),
            job("e3", HOME, skills=(("electric", 3),))]   # nobody has electric level 3
    plan = solver.solve(Problem(jobs, [a, b], now=at(7)), 5, 0, None)
    assert sorted(ids(plan, "A")) == ["e1", "e2"]
    assert sorted(ids(plan, "B")) == ["p1", "p2"]
    assert dict(plan.unassigned) == {"e3": NO_TECHNICIAN}


@ALL
def test_windows_respected_and_unreachable_window_explained(solver: Solver) -> None:
    a = tech("A", HOME, start=at(8), end=at(17))
    jobs = [job("late", north(1), windows=((at(14), at(14, 30)),)),
            job("early", north(2), windows=((at(8), at(9)),)),
            job("two", north(1.5), windows=((at(6), at(6, 30)), (at(11), at(11, 15)))),
            job("gone", north(1), windows=((at(5), at(7)),))]   # before the shift: nobody can
    plan = solver.solve(Problem(jobs, [a], now=at(7)), 5, 0, None)
    starts = {s.job_id: s.start for r in plan.routes for s in r.stops}
    assert at(14) <= starts["late"] <= at(14, 30)
    assert at(8) <= starts["early"] <= at(9)
    assert at(11) <= starts["two"] <= at(11, 15)
    assert dict(plan.unassigned) == {"gone": WINDOW_UNREACHABLE}
    assert ids(plan, "A") == ["early", "two", "late"]


@ALL
def test_break_respected(solver: Solver) -> None:
    a = tech("A", HOME, start=at(8), end=at(17), breaks=((at(12), at(13)),))
    jobs = [job("noon", north(1), windows=((at(11, 30), at(12)),), minutes=60),   # would run into the break
            job("after", north(1), windows=((at(12), at(13, 30)),), minutes=60),
            job("morning", north(2), windows=((at(9), at(10)),), minutes=60)]
    plan = solver.solve(Problem(jobs, [a], now=at(7)), 5, 0, None)
    starts = {s.job_id: (s.start, s.end) for r in plan.routes for s in r.stops}
    for s, e in starts.values():
        assert e <= at(12) or s >= at(13)
    assert starts["after"][0] >= at(13)
    assert dict(plan.unassigned) == {"noon": WINDOW_UNREACHABLE}


@ALL
def test_pinned_job_stays_with_its_technician(solver: Solver) -> None:
    a = tech("A", HOME)
    b = tech("B", north(10))
    jobs = [job("locked", HOME, pinned_technician="B", skills=(("crane", 1),)), job("free", north(0.5))]
    plan = solver.solve(Problem(jobs, [a, b], now=at(7)), 5, 0, None)
    # A is next door (and B lacks the skill): the lock still wins; nobody else may take it
    assert where(plan)["locked"] == "B" and "free" in where(plan)


@ALL
def test_overload_drops_the_lowest_priority_first_with_a_reason(solver: Solver) -> None:
    a = tech("A", HOME, start=at(8), end=at(12))
    jobs = [job(f"{p}", north(0.2 * i), minutes=90, windows=((at(8), at(11)),), priority=p)
            for i, p in enumerate(["P3", "P1", "P2"])]
    plan = solver.solve(Problem(jobs, [a], now=at(7)), 5, 0, None)
    assert sorted(ids(plan, "A")) == ["P1", "P2"]
    assert plan.unassigned == (("P3", NO_CAPACITY),)


@ALL
def test_daily_cap_certificates_territory_radius_and_blocked(solver: Solver) -> None:
    a = tech("A", HOME, max_jobs_per_day=3, jobs_today=1, certificates=(("gas", at(23)), ("old", at(6))),
             territory_ids=("north",), max_radius_km=5.0)
    jobs = [job("c-ok", HOME, certificates=("gas",)), job("c-expired", HOME, certificates=("old",)),
            job("wrong-territory", HOME, territory_id="south"), job("far", north(6)),
            job("blocked", HOME, blocked_technicians=("A",)), job("rejected", HOME, rejected_by=("A",)),
            job("x1", north(1), territory_id="north"), job("x2", north(2), priority="P3")]
    plan = solver.solve(Problem(jobs, [a], now=at(7)), 5, 0, None)
    assert sorted(ids(plan, "A")) == ["c-ok", "x1"]   # cap 3 - 1 done = 2: the P3 job goes
    reasons = dict(plan.unassigned)
    assert reasons["x2"] == NO_CAPACITY
    for j in ("c-expired", "wrong-territory", "far", "blocked", "rejected"):
        assert reasons[j] == NO_TECHNICIAN


def test_leave_removes_a_shift_and_inactive_technicians_are_not_used() -> None:
    a = tech("A", HOME, leave=(Window(at(0), at(23)),))
    b = tech("B", HOME, active=False)
    c = tech("C", north(3))
    plan = plan_day(Problem([job("j", HOME)], [a, b, c], now=at(7)), 5, strategy="nearest")
    assert where(plan) == {"j": "C"}


def test_started_visit_is_pinned_and_the_day_continues_after_it() -> None:
    started = visit("s", north(3), at(9), minutes=120, pinned=True)
    a = tech("A", HOME, route=(started,), lat=north(3)[0], lng=north(3)[1])
    plan = plan_day(Problem([job("next", north(3))], [a], now=at(10)), 5,
                    strategy=VroomSolver(exploration=0, use_timeout=False))
    stops = plan.routes[0].stops
    assert [s.job_id for s in stops] == ["s", "next"]
    assert stops[1].start >= at(11)
    assert plan.served == 1   # the started visit is shown, not counted as planned


def test_unknown_strategy_is_an_error() -> None:
    with pytest.raises(ValueError):
        get_solver("fastest")


# ---------------------------------------------------------------------------------------------------------------
# re-planning


def _three_technicians() -> tuple[Problem, Plan]:
    """Three technicians with three jobs each near home, and the plan that gives each their own three."""
    techs = [tech("A", HOME), tech("B", north(5)), tech("C", north(10))]
    jobs = [job(f"{t}{i}", north(km + 0.3 * i)) for t, km in (("a", 0), ("b", 5), ("c", 10)) for i in range(3)]
    problem = Problem(jobs, techs, now=at(7), policy=Policy(stability_gain_s=10_000))
    locked = [replace(j, pinned_technician=j.id[0].upper()) for j in jobs]
    return problem, plan_day(replace(problem, jobs=locked), 5, strategy="nearest")


@pytest.mark.parametrize("strategy", ["nearest", "vroom-exact", "combined-exact"])
def test_replan_after_sickness_moves_only_that_technicians_jobs(strategy: str) -> None:
    choices: dict[str, Solver] = {
        "nearest": NearestAvailableSolver(), "vroom-exact": VroomSolver(exploration=0, use_timeout=False),
        "combined-exact": CombinedSolver(max_iterations=100, exploration=0, use_timeout=False)}
    solver = choices[strategy]
    problem, plan = _three_technicians()
    before = where(plan)
    assert before == {j.id: j.id[0].upper() for j in problem.jobs}
    after = replan(problem, plan, TechnicianUnavailable("B"), 5, strategy=solver)
    now = where(after)
    assert "B" not in now.values()
    assert len(now) == 9
    moved = {j for j in before if before[j] != now[j]}
    assert moved == {"b0", "b1", "b2"}
    stats = dict(after.stats)
    assert stats["moved"] == 3 and stats["moved_forced"] == 3 and stats["dropped"] == 0


def test_replan_moves_other_jobs_only_for_enough_travel_gain() -> None:
    # A holds a job right next to C's home; moving it to C saves far more than a 60 s threshold
    techs = [tech("A", HOME), tech("C", north(20))]
    jobs = [job("near-A", north(0.5)), job("near-C", north(20.5))]
    problem = Problem(jobs, techs, now=at(7), policy=Policy(stability_gain_s=60))
    solver = VroomSolver(exploration=0, use_timeout=False)
    current = plan_day(problem, 5, strategy=solver)
    skewed = replan(problem, _swap(current), UrgentJob(job("u", north(10), priority="P0")), 5, strategy=solver)
    assert where(skewed)["near-C"] == "C" and where(skewed)["near-A"] == "A"
    assert dict(skewed.stats)["moved_for_gain"] == 2
    strict = replace(problem, policy=Policy(stability_gain_s=10**7))
    kept = replan(strict, _swap(current), UrgentJob(job("u", north(10), priority="P0")), 5, strategy=solver)
    assert where(kept)["near-C"] == "A" and where(kept)["near-A"] == "C"
    assert dict(kept.stats)["moved"] == 0


def _swap(plan: Plan) -> Plan:
    """The same plan with the two technicians' routes swapped (a deliberately bad current plan)."""
    a, c = plan.routes
    return replace(plan, routes=(replace(a, technician_id=c.technician_id), replace(c, technician_id=a.technician_id)))


def test_replan_inserts_an_urgent_job_evicting_a_lower_priority_one() -> None:
    a = tech("A", HOME, start=at(8), end=at(12))
    jobs = [job("n1", north(0.2), minutes=110, windows=((at(8), at(10)),), priority="P2"),
            job("n2", north(0.3), minutes=110, windows=((at(8), at(10)),), priority="P3")]
    problem = Problem(jobs, [a], now=at(7))
    plan = plan_day(problem, 5, strategy="nearest")
    assert plan.served == 2
    urgent = job("u", north(0.1), minutes=60, windows=((at(9), at(10)),), priority="P0")
    after = replan(problem, plan, UrgentJob(urgent), 5, strategy="nearest")
    assert "u" in where(after)
    assert dict(after.unassigned) == {"n2": NO_CAPACITY}
    assert dict(after.stats)["dropped"] == 1


def test_replan_absorbs_an_overrun() -> None:
    a = tech("A", HOME, start=at(8), end=at(17))
    b = tech("B", north(1), start=at(8), end=at(17))
    jobs = [job("j1", HOME, windows=((at(8), at(9)),), minutes=60),
            job("j2", HOME, windows=((at(9), at(10)),), minutes=60),
            job("j3", HOME, windows=((at(10), at(10, 30)),), minutes=60)]
    problem = Problem(jobs, [a, b], now=at(7, 30))
    solver = VroomSolver(exploration=0, use_timeout=False)
    plan = plan_day(problem, 5, strategy=solver)
    tid = where(plan)["j1"]
    # j1 started at 08:00 and will run until 10:15: whatever followed it on that route shifts or moves
    started = replace(problem, now=at(8, 30), technicians=[
        replace(t, route=(visit("j1", HOME, at(8), pinned=True),), jobs_today=0) if t.id == tid else t
        for t in problem.technicians])
    after = replan(started, plan, JobOverran("j1", tid, at(10, 15)), 5, strategy=solver)
    route = next(r for r in after.routes if r.technician_id == tid)
    assert route.stops[0].job_id == "j1" and route.stops[0].end == at(10, 15)
    assert all(s.start >= at(10, 15) for s in route.stops[1:])
    assert after.served == 2   # j2 and j3 still served (by the other technician if need be)
    assert set(where(after)) == {"j1", "j2", "j3"}


# ---------------------------------------------------------------------------------------------------------------
# decomposition


def test_kmeans_is_deterministic_and_decompose_keeps_every_job_and_technician() -> None:
    rng = np.random.default_rng(3)
    pts = rng.normal(size=(200, 2))
    c1, l1 = kmeans(pts, 4, seed=1)
    c2, l2 = kmeans(pts, 4, seed=1)
    assert np.array_equal(l1, l2) and np.allclose(c1, c2)
    techs = [tech(f"T{i}", north(i)) for i in range(6)]
    jobs = [job(f"j{i}", north(float(i % 6) + 0.1)) for i in range(30)] + [job("p", HOME, pinned_technician="T5")]
    parts = decompose(Problem(jobs, techs, now=at(7)), part_jobs=10, seed=0)
    assert sorted(j.id for p in parts for j in p.jobs) == sorted(j.id for j in jobs)
    assert sorted(t.id for p in parts for t in p.technicians) == sorted(t.id for t in techs)
    part_of_t5 = next(p for p in parts if any(t.id == "T5" for t in p.technicians))
    assert any(j.id == "p" for j in part_of_t5.jobs)


def test_plan_day_decomposes_large_problems_in_a_process_pool() -> None:
    techs = [tech(f"T{i}", east(3 * i), skills=(("hvac", 2),)) for i in range(4)]
    jobs = [job(f"j{i}", east(0.7 * i), minutes=30, windows=((at(8), at(16)),)) for i in range(24)]
    problem = Problem(jobs, techs, now=at(7))
    plan = plan_day(problem, 20, strategy=VroomSolver(exploration=0, use_timeout=False), part_jobs=8)
    assert plan.solver.endswith("×3")
    assert plan.served + len(plan.unassigned) == 24
    _check_invariants(problem, plan)


# ---------------------------------------------------------------------------------------------------------------
# invariants on random small problems


SKILLS = ("hvac", "electric", "plumbing")


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    n_tech = draw(st.integers(1, 3))
    n_jobs = draw(st.integers(1, 9))
    techs = []
    for i in range(n_tech):
        place = (HOME[0] + draw(st.floats(-0.05, 0.05)), HOME[1] + draw(st.floats(-0.05, 0.05)))
        start = at(draw(st.integers(7, 9)))
        end = start + 3600 * draw(st.integers(3, 9))
        brk = draw(st.booleans())
        breaks = ((at(12), at(12, 30)),) if brk and start < at(12) and end > at(13) else ()
        skills = tuple((s, draw(st.integers(1, 3))) for s in SKILLS if draw(st.booleans()))
        techs.append(tech(
            f"T{i}", place, start=start, end=end, breaks=breaks, skills=skills,
            max_jobs_per_day=draw(st.integers(1, 6)), jobs_today=draw(st.integers(0, 1)),
            max_work_s=3600 * draw(st.integers(2, 8)),
            certificates=(("gas", at(draw(st.sampled_from([6, 20])))),) if draw(st.booleans()) else (),
            territory_ids=("t1",) if draw(st.booleans()) else (),
            max_radius_km=draw(st.sampled_from([None, 3.0, 8.0])),
            leave=(Window(at(14), at(15)),) if draw(st.integers(0, 4)) == 0 else ()))
    jobs = []
    for k in range(n_jobs):
        place = (HOME[0] + draw(st.floats(-0.05, 0.05)), HOME[1] + draw(st.floats(-0.05, 0.05)))
        n_win = draw(st.integers(0, 2))
        windows = []
        for _ in range(n_win):
            s = at(draw(st.integers(7, 16)), draw(st.sampled_from([0, 30])))
            windows.append((s, s + 60 * draw(st.sampled_from([0, 30, 120, 240]))))
        jobs.append(job(
            f"j{k}", place, minutes=draw(st.sampled_from([20, 45, 90])), windows=windows,
            skills=tuple((s, draw(st.integers(1, 3))) for s in SKILLS[:1] if draw(st.booleans())),
            certificates=("gas",) if draw(st.integers(0, 3)) == 0 else (),
            priority=draw(st.sampled_from(["P0", "P1", "P2", "P3"])),
            territory_id=draw(st.sampled_from([None, "t1", "t2"])),
            blocked_technicians=("T0",) if draw(st.integers(0, 4)) == 0 else ()))
    return Problem(jobs, techs, now=at(7))


def _check_invariants(problem: Problem, plan: Plan) -> None:
    techs = {t.id: t for t in problem.technicians}
    jobs = {j.id: j for j in problem.jobs}
    # every job exactly once: in a route or unassigned with a known reason
    served = [s.job_id for r in plan.routes for s in r.stops if s.job_id in jobs]
    assert len(served) == len(set(served)) == plan.served
    assert set(served) | {j for j, _ in plan.unassigned} == set(jobs)
    assert not set(served) & {j for j, _ in plan.unassigned}
    assert {r for _, r in plan.unassigned} <= {NO_TECHNICIAN, NO_CAPACITY, WINDOW_UNREACHABLE}
    per_tech: dict[str, list[tuple[int, int]]] = {}
    for r in plan.routes:
        t = techs[r.technician_id]
        assert t.active and t.on_duty
        planned = [s for s in r.stops if s.job_id in jobs]
        for s in planned:
            assert hard_filters(t, jobs[s.job_id], problem.now) == [], (s.job_id, t.id)
        per_tech.setdefault(t.id, []).extend((s.start, s.end) for s in r.stops)
        shift = next(i for i, sh in enumerate(t.shifts) if planned and sh.start <= planned[0].start <= sh.end)
        visits = [Visit(s.job_id, jobs[s.job_id].lat, jobs[s.job_id].lng, jobs[s.job_id].duration_s, s.start,
                        jobs[s.job_id].windows) for s in planned]
        sh = t.shifts[shift]
        origin = (sh.start_lat, sh.start_lng, max(sh.start, problem.now))
        assert route_problems(t, visits, problem.now, origin, shift_index=shift) == []
        for s in planned:
            assert s.end - s.start == jobs[s.job_id].duration_s
        legs = [origin[:2]] + [(jobs[s.job_id].lat, jobs[s.job_id].lng) for s in planned]
        assert [s.travel_s for s in planned] == [secs(a, b) for a, b in itertools.pairwise(legs)]
    for t_id, spans in per_tech.items():
        t = techs[t_id]
        spans.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), "double-booked"
        assert len(spans) <= t.max_jobs_per_day - t.jobs_today
        assert sum(e - s for s, e in spans) <= t.max_work_s
    assert plan.travel_s == sum(r.travel_s for r in plan.routes)


def _strip(plan: Plan) -> Plan:
    return replace(plan, elapsed_s=0.0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_invariants_nearest_available(problem: Problem) -> None:
    plan = NearestAvailableSolver().solve(problem, 1, 0, None)
    _check_invariants(problem, plan)
    assert _strip(plan) == _strip(NearestAvailableSolver().solve(problem, 1, 0, None))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(), st.integers(0, 3))
def test_invariants_pyvrp(problem: Problem, seed: int) -> None:
    plan = PyVRPSolver(max_iterations=50).solve(problem, 60, seed, None)
    _check_invariants(problem, plan)
    assert _strip(plan) == _strip(PyVRPSolver(max_iterations=50).solve(problem, 60, seed, None))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_invariants_vroom(problem: Problem) -> None:
    solver = VroomSolver(exploration=0, use_timeout=False)
    plan = solver.solve(problem, 60, 0, None)
    _check_invariants(problem, plan)
    assert _strip(plan) == _strip(solver.solve(problem, 60, 0, None))
