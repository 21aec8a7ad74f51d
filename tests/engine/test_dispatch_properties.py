"""Hypothesis invariants of dispatch_one on random small problems.

Every chosen technician passes every hard filter; the new route never double-books and respects travel,
windows, shifts, breaks and leave; pinned and started visits stay as they were; only a lower-priority
visit is ever evicted; decisions are deterministic (and independent of the technicians' order); every
rejected candidate carries at least one reason.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fieldops.engine.dispatch import dispatch_many, dispatch_one, explain
from fieldops.engine.filters import hard_filters
from fieldops.engine.model import PRIORITY_RANK, Job, Policy, Problem, Reason, Technician, Window
from fieldops.engine.timeline import overlaps
from tests.engine.helpers import HOME, at, blocks_of, origin_of, route_problems, tech

place = st.tuples(st.floats(-5, 5), st.floats(-5, 5)).map(lambda d: (HOME[0] + d[0] * 0.009, HOME[1] + d[1] * 0.012))
SKILLS = ("a", "b")


T = TypeVar("T")


def mostly(common: T, *rare: T) -> st.SearchStrategy[T]:
    """`common` nine times in ten, else one of `rare` (keeps most random technicians eligible)."""
    return st.sampled_from([common] * (9 * len(rare)) + list(rare)) if rare else st.just(common)


@st.composite
def technicians(draw: st.DrawFn, tid: str) -> Technician:
    start_h = draw(st.integers(7, 9))
    brk = draw(st.sampled_from([None, (at(12), at(12, 30)), (at(10), at(10, 20))]))
    leave = draw(mostly((), (Window(at(0), at(23)),), (Window(at(13), at(24)),)))
    skills = tuple((s, draw(st.integers(1, 3))) for s in SKILLS)
    certs = draw(mostly((("gas", None),), (("gas", at(-24)),), (("gas", at(11)),), ()))
    return tech(tid, draw(place), start=at(start_h), end=at(start_h + 8), breaks=[brk] if brk else [],
                skills=skills, certificates=certs, leave=leave,
                territory_ids=draw(mostly((), ("s",), ("n", "s"))),
                max_radius_km=draw(mostly(None, 6.0)),
                max_jobs_per_day=draw(st.integers(3, 12)), max_work_s=draw(st.sampled_from([8 * 3600, 5 * 3600])),
                jobs_today=draw(st.integers(0, 1)), active=draw(mostly(True, False)),
                on_duty=draw(mostly(True, False)),
                quality=(("fix", draw(st.floats(0, 1))),), speed=(("fix", draw(st.floats(0.5, 1.5))),))


@st.composite
def jobs(draw: st.DrawFn, jid: str, tech_ids: list[str]) -> Job:
    n_windows = draw(st.integers(0, 2))
    windows = []
    for _ in range(n_windows):
        s = at(7) + draw(st.integers(0, 16)) * 1800
        windows.append(Window(s, s + draw(st.integers(0, 8)) * 1800))
    skills = draw(st.lists(st.tuples(st.sampled_from(SKILLS), st.integers(1, 2)), max_size=1))
    some = st.lists(st.sampled_from(tech_ids), max_size=1, unique=True) if tech_ids else st.just([])
    p = draw(place)
    return Job(id=jid, lat=p[0], lng=p[1], duration_s=draw(st.integers(1, 8)) * 900, windows=tuple(windows),
               skills=tuple(skills), certificates=draw(mostly((), ("gas",))),
               priority=draw(st.sampled_from(["P0", "P1", "P2", "P3"])),
               due=draw(st.none() | st.integers(at(9), at(18))), service_type="fix",
               territory_id=draw(mostly(None, "n", "s")), vip=draw(st.booleans()),
               preferred_technicians=tuple(draw(some)), blocked_technicians=draw(mostly((), *[(x,) for x in tech_ids])),
               rejected_by=draw(mostly((), *[(x,) for x in tech_ids])), created=draw(st.integers(0, 100)))


@st.composite
def scenarios(draw: st.DrawFn, busy: bool = False) -> tuple[Problem, Job, dict[str, int]]:
    """A random problem whose routes were filled by the engine itself; `busy`: one or two technicians with
    full days, and an urgent new job (exercises insert-and-evict)."""
    n = draw(st.integers(1, 2 if busy else 4))
    techs = [draw(technicians(f"T{i}")) for i in range(n)]
    if busy:
        techs = [replace(t, max_jobs_per_day=30, max_work_s=10 * 3600, active=True, on_duty=True, leave=())
                 for t in techs]
    ids = [t.id for t in techs]
    policy = Policy(mode=draw(st.sampled_from(["nearest", "least_loaded", "round_robin", "best_score", "optimized"])),
                    allow_evict=busy or draw(st.booleans()), top_alternatives=draw(st.integers(0, 3)))
    existing = [draw(jobs(f"E{i}", ids)) for i in range(draw(st.integers(8, 16) if busy else st.integers(0, 10)))]
    existing = [replace(j, blocked_technicians=(), rejected_by=(), skills=(), certificates=(), territory_id=None)
                if busy else replace(j, blocked_technicians=(), rejected_by=()) for j in existing]
    problem = Problem(jobs=[], technicians=techs, now=at(6), policy=policy)
    _, problem, rr = dispatch_many(problem, existing)
    # pin some visits; move the clock; keep every technician's position consistent with their route
    pins = draw(st.sets(st.integers(0, 8), max_size=3))
    now = at(6) + draw(mostly(0, *range(1, 13))) * 1800
    moved = []
    for t in problem.technicians:
        route = tuple(replace(v, pinned=True) if i in pins else v for i, v in enumerate(t.route))
        nxt = [v for v in route if v.start >= now]
        where = (nxt[0].lat, nxt[0].lng) if nxt else (t.home_lat or HOME[0], t.home_lng or HOME[1])
        moved.append(replace(t, route=route, lat=where[0], lng=where[1]))
    problem = replace(problem, technicians=moved, now=now)
    new = draw(jobs("NEW", ids))
    if busy:
        new = replace(new, priority=draw(st.sampled_from(["P0", "P1"])), skills=(), certificates=(), territory_id=None,
                      blocked_technicians=(), rejected_by=())
    return problem, new, rr


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios())
def test_dispatch_invariants(scenario: tuple[Problem, Job, dict[str, int]]) -> None:
    check_decision(*scenario)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios(busy=True))
def test_dispatch_invariants_on_full_days(scenario: tuple[Problem, Job, dict[str, int]]) -> None:
    check_decision(*scenario)


def check_decision(problem: Problem, job: Job, rr: dict[str, int]) -> None:
    now = problem.now
    d = dispatch_one(problem, job, seed=1, rr_state=rr)

    # deterministic, and independent of the order of the technicians
    assert dispatch_one(problem, job, seed=1, rr_state=rr) == d
    assert dispatch_one(replace(problem, technicians=problem.technicians[::-1]), job, seed=1, rr_state=rr) == d

    # every rejected candidate says why; nobody is both chosen and rejected
    rejected_ids = [c.technician_id for c in d.rejected]
    assert len(set(rejected_ids)) == len(rejected_ids)
    for c in d.rejected:
        assert not c.feasible and c.reasons and c.detail
    listed = [c.technician_id for c in (d.chosen, *d.alternatives) if c is not None]
    assert not set(listed) & set(rejected_ids) and len(set(listed)) == len(listed)
    assert len(d.alternatives) <= problem.policy.top_alternatives

    event("evicted" if d.evicted else "placed" if d.technician_id else "nobody")
    if d.technician_id is None:
        assert d.chosen is None and d.reason
        assert len(rejected_ids) == len(problem.technicians)
        return
    assert d.chosen is not None
    t = next(x for x in problem.technicians if x.id == d.technician_id)
    new = d.chosen.schedule
    assert d.start is not None and d.position is not None

    # hard filters: all pass (the daily cap is checked on the route after an eviction)
    failures = [r for r, _ in hard_filters(t, job, now)]
    if d.evicted:
        assert set(failures) <= {Reason.DAILY_CAP}
        assert t.jobs_today + len(new) <= t.max_jobs_per_day
        assert sum(v.duration_s for v in new) <= t.max_work_s
    else:
        assert failures == []

    # the job is where the decision says, inside a window, after now, clear of breaks and leave
    mine = new[d.position]
    assert mine.job_id == job.id and mine.start == d.start and d.start >= now
    assert not job.windows or any(w.start <= d.start <= w.end for w in job.windows)
    assert not overlaps(d.start, d.start + job.duration_s, blocks_of(t))
    for code, expiry in t.certificates:
        if code in job.certificates and expiry is not None:
            assert d.start <= expiry

    # started visits and pinned visits unchanged; only the evicted visit is missing
    origin, first = origin_of(t, now)
    assert new[:first] == t.route[:first]
    assert [v for v in new if v.pinned] == [v for v in t.route if v.pinned]
    before = {v.job_id for v in t.route}
    after = {v.job_id for v in new}
    assert after == before - set(d.evicted) | {job.id}
    for ev in d.evicted:
        gone = next(v for v in t.route if v.job_id == ev)
        assert not gone.pinned and gone.start >= now and PRIORITY_RANK[gone.priority] > job.rank
    # pushed visits only move later
    for v in new:
        old = next((o for o in t.route if o.job_id == v.job_id), None)
        assert old is None or v.start >= old.start

    event(f"route of {min(len(t.route), 3)}+ visits, {'with' if any(v.pinned for v in t.route) else 'no'} pins, "
          f"{'started' if first else 'not started'}")
    # no double booking, travel, windows, breaks and the shift end respected
    assert route_problems(t, list(new[first:]), now, origin) == []

    # "why not X" agrees with the decision
    assert explain(problem, job, d.technician_id, rr) == d.chosen
    for c in d.rejected[:2]:
        assert explain(problem, job, c.technician_id, rr) == c
