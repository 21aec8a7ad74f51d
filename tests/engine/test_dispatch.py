"""Golden dispatch problems, checked by hand."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from numpy.typing import ArrayLike, NDArray

from fieldops.engine.dispatch import apply_decision, dispatch_many, dispatch_one, explain, order_jobs
from fieldops.engine.model import Decision, Job, Policy, Problem, Reason, TravelModel, Weights
from fieldops.engine.travel import HaversineMatrix
from tests.engine.helpers import HOME, at, job, north, secs, tech, visit

NOW = at(7)


def problem(*techs: object, policy: Policy | None = None, now: int = NOW) -> Problem:
    return Problem(jobs=[], technicians=list(techs), now=now, policy=policy or Policy())  # type: ignore[arg-type]


def rejected_reasons(d: Decision) -> dict[str, tuple[Reason, ...]]:
    return {c.technician_id: c.reasons for c in d.rejected}


def four_technicians() -> Problem:
    """The job is at HOME. A is next door but lacks the skill level; B is 2 km away and qualified;
    C is 5 km away and qualified; D is 1 km away with an expired certificate."""
    return problem(
        tech("A", north(0.2), skills=(("hvac", 1),)),
        tech("B", north(2)),
        tech("C", north(5)),
        tech("D", north(1), certificates=(("gas", at(0)),)),
    )


def test_the_nearest_qualified_technician_wins() -> None:
    j = job("J", HOME, skills=(("hvac", 2),), windows=((at(9), at(12)),))
    p = four_technicians()
    for mode in ("nearest", "best_score", "optimized", "least_loaded"):
        d = dispatch_one(replace(p, policy=Policy(mode=mode)), j)
        assert d.technician_id == "D" if mode != "least_loaded" else d.technician_id in ("B", "C", "D")
    d = dispatch_one(p, j)
    assert d.chosen is not None and d.chosen.start == at(9) and d.position == 0
    assert d.chosen.travel_added_s == 2 * secs(north(1), HOME)
    assert rejected_reasons(d) == {"A": (Reason.SKILL,)}
    assert "hvac level 1 < 2" in d.rejected[0].detail
    assert [a.technician_id for a in d.alternatives] == ["B", "C"]
    assert d.chosen.score is not None and all(a.score is not None and a.score >= d.chosen.score
                                              for a in d.alternatives)
    names = [n for n, _ in d.chosen.breakdown]
    assert names[:7] == ["travel", "load", "sla_slack", "priority", "quality", "speed", "preference"]
    assert d.chosen.score == pytest.approx(sum(v for _, v in d.chosen.breakdown), abs=1e-5)


def test_an_expired_certificate_is_rejected() -> None:
    j = job("J", HOME, skills=(("hvac", 2),), certificates=("gas",), windows=((at(9), at(12)),))
    p = four_technicians()
    p.technicians[1] = replace(p.technicians[1], certificates=(("gas", at(23)),))  # B: valid all day
    d = dispatch_one(p, j)
    assert d.technician_id == "B"
    r = rejected_reasons(d)
    assert r["D"] == (Reason.CERTIFICATE,)
    assert r["C"] == (Reason.CERTIFICATE,)  # C holds no gas certificate
    assert set(r["A"]) == {Reason.SKILL, Reason.CERTIFICATE}
    assert "expired" in next(c.detail for c in d.rejected if c.technician_id == "D")


def test_a_break_pushes_the_start() -> None:
    p = problem(tech("A", HOME, breaks=[(at(12), at(13))]), now=at(11, 45))
    d = dispatch_one(p, job("J", HOME, minutes=30, windows=((at(11, 45), at(14)),)))
    assert d.start == at(13)


def test_windows_are_respected() -> None:
    p = problem(tech("A", HOME), tech("B", north(3)))
    d = dispatch_one(p, job("J", north(1), windows=((at(14), at(14, 30)),)))
    assert d.start == at(14) and d.technician_id == "A"
    d = dispatch_one(p, job("K", north(1), windows=((at(6), at(7, 30)), (at(13), at(13, 10)))))
    assert d.start == at(13)
    d = dispatch_one(p, job("L", north(1), windows=((at(16), at(17)),)))
    assert d.technician_id is None and d.reason == "all 2 are off shift"


def full_day(tid: str, place: tuple[float, float], low: int) -> list:  # type: ignore[type-arg]
    return [visit(f"{tid}{i}", place, at(8 + i), priority=("P3" if i == low else "P2"),
                  windows=((at(8 + i), at(8 + i)),)) for i in range(8)]


def test_a_p0_evicts_a_p3_on_a_full_day() -> None:
    a = tech("A", HOME, route=tuple(full_day("a", HOME, low=2)))
    b = tech("B", north(2), route=tuple(full_day("b", north(2), low=5)))
    u = job("U", HOME, priority="P0", windows=((at(9), at(12)),))
    d = dispatch_one(problem(a, b), u)
    assert d.technician_id == "A" and d.evicted == ("a2",) and d.start == at(10)
    assert d.chosen is not None and d.chosen.evicts == ("a2",) and "evicts a2 (P3)" in d.chosen.detail
    assert [v.job_id for v in d.chosen.schedule] == ["a0", "a1", "U", "a3", "a4", "a5", "a6", "a7"]
    assert [n for n, _ in d.chosen.breakdown][-1] == "evict"
    # B is at the daily work cap, and its P3 at 13:00 is outside the window: swapping it out does not help
    assert rejected_reasons(d) == {"B": (Reason.DAILY_CAP,)}
    assert "whose removal makes room" in d.rejected[0].detail
    d = dispatch_one(problem(a, replace(b, max_work_s=10 * 3600)), u)
    assert rejected_reasons(d) == {"B": (Reason.UNREACHABLE,)} and "not even by evicting" in d.rejected[0].detail
    # no eviction allowed: nobody
    d = dispatch_one(problem(a, b, policy=Policy(allow_evict=False)), u)
    assert d.technician_id is None and d.reason == "all 2 have reached their daily cap"
    # a P2 job may evict only the P3; a P3 job evicts nothing
    assert dispatch_one(problem(a, b), replace(u, priority="P2")).evicted == ("a2",)
    assert dispatch_one(problem(a, b), replace(u, priority="P3")).technician_id is None


def test_no_eviction_when_someone_has_room() -> None:
    a = tech("A", HOME, route=tuple(full_day("a", HOME, low=2)), max_work_s=10 * 3600)
    c = tech("C", north(8))
    u = job("U", HOME, priority="P0", windows=((at(9), at(12)),))
    d = dispatch_one(problem(a, c), u)
    assert d.technician_id == "C" and d.evicted == ()
    assert d.rejected[0].reasons == (Reason.UNREACHABLE,) and "without evicting" in d.rejected[0].detail
    # at the daily work cap (8 h of visits): rejected for the cap while someone else has room ...
    d = dispatch_one(problem(replace(a, max_work_s=8 * 3600), c), u)
    assert d.rejected[0].reasons == (Reason.DAILY_CAP,)
    # ... but on a full day the cap allows a swap (a 60-minute P3 out, the 60-minute P0 in)
    d = dispatch_one(problem(replace(a, max_work_s=8 * 3600)), u)
    assert d.technician_id == "A" and d.evicted == ("a2",)
    d = dispatch_one(problem(replace(a, max_work_s=8 * 3600)), replace(u, duration_s=90 * 60))
    assert d.technician_id is None and "no lower-priority visit of at least 90 min" in d.rejected[0].detail
    assert d.reason == "1 has reached their daily cap"


def test_a_pinned_visit_is_never_moved_or_evicted() -> None:
    pinned = visit("p", HOME, at(10), pinned=True, priority="P3", windows=((at(10), at(12)),))
    a = tech("A", HOME, route=(pinned,))
    d = dispatch_one(problem(a), job("J", HOME, minutes=90, windows=((at(9), at(11)),)))
    assert d.chosen is not None and pinned in d.chosen.schedule
    assert d.start is not None and (d.start + 5400 <= at(10) or d.start >= at(11))
    # a P0 that could only go where the pinned P3 is
    d = dispatch_one(problem(a), job("U", HOME, priority="P0", windows=((at(10), at(10)),)))
    assert d.technician_id is None and d.evicted == ()


def test_reason_when_nobody_is_eligible() -> None:
    techs = [tech(f"T{i}", skills=(("hvac", 2),)) for i in range(3)]
    techs += [tech(f"S{i}", skills=(("hvac", 3),), on_duty=False) for i in range(4)]
    d = dispatch_one(problem(*techs), job("J", skills=(("hvac", 3),)))
    assert d.technician_id is None and d.chosen is None
    assert d.reason == "3 lack skill hvac level ≥ 3; 4 are off shift"
    d = dispatch_one(problem(*techs[:3]), job("J", skills=(("hvac", 3),)))
    assert d.reason == "no technician has skill hvac level ≥ 3"
    assert dispatch_one(problem(), job("J")).reason == "no technicians to choose from"
    assert all(c.reasons and c.detail for c in d.rejected)


def test_explain_why_not_technician_x() -> None:
    p = four_technicians()
    j = job("J", HOME, skills=(("hvac", 2),), windows=((at(9), at(12)),))
    d = dispatch_one(p, j)
    assert explain(p, j, "A") == d.rejected[0]
    assert explain(p, j, "D") == d.chosen
    c = explain(p, j, "C")
    assert c.feasible and c.score is not None and c == d.alternatives[1]
    with pytest.raises(KeyError):
        explain(p, j, "nobody")


def test_ties_are_broken_by_technician_id_and_decisions_are_deterministic() -> None:
    p = problem(tech("T2", north(1)), tech("T1", north(1)), tech("T3", north(1)))
    j = job("J", HOME)
    d1 = dispatch_one(p, j)
    assert d1.technician_id == "T1"
    p2 = problem(*reversed(p.technicians))
    assert dispatch_one(p2, j) == d1 == dispatch_one(p, j, seed=7)


def test_round_robin_takes_the_one_assigned_longest_ago() -> None:
    p = problem(tech("A", HOME), tech("B", north(1)), tech("C", north(9)), policy=Policy(mode="round_robin"))
    j = job("J", HOME)
    assert dispatch_one(p, j, rr_state={}).technician_id == "A"  # never assigned: nearest first
    assert dispatch_one(p, j, rr_state={"A": 3, "B": 1}).technician_id == "C"
    assert dispatch_one(p, j, rr_state={"A": 3, "B": 1, "C": 2}).technician_id == "B"
    decisions, _, rr = dispatch_many(p, [job(f"J{i}", HOME, minutes=30) for i in range(3)])
    assert [d.technician_id for d in decisions] == ["A", "B", "C"] and rr == {"A": 1, "B": 2, "C": 3}


def test_least_loaded_and_preference_and_quality() -> None:
    busy = tech("A", HOME, route=(visit("x", HOME, at(14)),))
    idle = tech("B", north(3))
    j = job("J", HOME, windows=((at(9), at(10)),))
    assert dispatch_one(problem(busy, idle, policy=Policy(mode="least_loaded")), j).technician_id == "B"
    assert dispatch_one(problem(busy, idle), j).technician_id == "A"
    # a strong customer preference flips best_score
    w = Weights(preference=5.0)
    assert dispatch_one(problem(busy, idle, policy=Policy(weights=w)), replace(j, preferred_technicians=("B",))
                        ).technician_id == "B"
    good = replace(idle, quality=(("boiler", 1.0),), speed=(("boiler", 0.5),))
    d = dispatch_one(problem(busy, good, policy=Policy(weights=Weights(quality=5, speed=5))),
                     replace(j, service_type="boiler"))
    assert d.technician_id == "B" and dict(d.chosen.breakdown)["quality"] < 0  # type: ignore[union-attr]


def test_urgent_prefers_the_earliest_start_and_lateness_is_penalised() -> None:
    # A is near but busy until 12:00; B is farther and free now
    a = tech("A", HOME, route=(visit("x", HOME, at(8), minutes=240, windows=((at(8), at(8)),)),))
    b = tech("B", north(6))
    u = job("U", HOME, priority="P0", windows=((at(8), at(15)),), due=at(10))
    d = dispatch_one(problem(a, b), u)
    assert d.technician_id == "B"
    late = dict(d.alternatives[0].breakdown)["sla_slack"]
    assert late > 2.5  # A would finish at 13:00, three hours late
    assert dispatch_one(problem(a, b, policy=Policy(mode="nearest")), u).technician_id == "A"


def test_order_jobs_urgent_then_vip_then_due_then_created() -> None:
    jobs = [
        Job("normal-early-due", 0, 0, 60, due=at(9), created=5),
        Job("vip", 0, 0, 60, vip=True, created=9),
        Job("urgent-late", 0, 0, 60, priority="P0", created=8),
        Job("urgent-early", 0, 0, 60, priority="P0", created=1),
        Job("normal-no-due", 0, 0, 60, created=0),
        Job("normal-late-due", 0, 0, 60, due=at(12), created=1),
        Job("high", 0, 0, 60, priority="P1", created=7),
    ]
    assert [j.id for j in order_jobs(jobs, Policy())] == [
        "urgent-early", "urgent-late", "vip", "high", "normal-early-due", "normal-late-due", "normal-no-due"]
    flat = [j.id for j in order_jobs(jobs, Policy(urgent_first=False, vip_first=False))]
    assert flat[0] == "urgent-early" and flat.index("vip") > flat.index("high")


def test_dispatch_many_fills_routes_without_double_booking() -> None:
    p = problem(tech("A", HOME), tech("B", north(4)))
    jobs = [job(f"J{i}", north(i % 5), minutes=45, windows=((at(8), at(15)),)) for i in range(14)]
    decisions, final, _ = dispatch_many(p, jobs)
    placed = [d for d in decisions if d.technician_id]
    assert len(placed) == sum(len(t.route) for t in final.technicians) >= 10
    for t in final.technicians:
        for x, y in zip(t.route, t.route[1:], strict=False):
            assert x.start + x.duration_s + secs((x.lat, x.lng), (y.lat, y.lng)) <= y.start
    assert apply_decision(p, decisions[0]).technicians != p.technicians


def test_pinned_job_only_goes_to_its_technician() -> None:
    p = problem(tech("A", HOME), tech("B", north(5)))
    d = dispatch_one(p, job("J", HOME, pinned_technician="B"))
    assert d.technician_id == "B" and d.rejected == ()


class ConstantMatrix:
    """A stand-in road-network provider: every drive takes 20 minutes."""

    metric = False

    def matrix(self, src_lat: ArrayLike, src_lng: ArrayLike, dst_lat: ArrayLike, dst_lng: ArrayLike
               ) -> NDArray[np.int64]:
        return np.full((int(np.size(src_lat)), int(np.size(dst_lat))), 1200, dtype=np.int64)

    def pairs(self, src_lat: ArrayLike, src_lng: ArrayLike, dst_lat: ArrayLike, dst_lng: ArrayLike
              ) -> NDArray[np.int64]:
        return np.full(int(np.size(src_lat)), 1200, dtype=np.int64)


def test_a_matrix_provider_can_be_plugged_in() -> None:
    p = problem(tech("A", HOME))
    d = dispatch_one(p, job("J", HOME, windows=((at(8), at(9)),)), provider=ConstantMatrix())
    assert d.start == at(8, 20) and d.chosen is not None and d.chosen.travel_added_s == 1200 * 2 - 1200
    slow = HaversineMatrix(TravelModel(speed_kmh=15))
    far = job("K", north(6), windows=((at(8), at(9)),))
    assert dispatch_one(p, far, provider=slow).start == at(8) + 2 * secs(HOME, north(6))


def test_unreachable_by_distance_is_caught_by_the_prefilter() -> None:
    # 100 km away: cannot arrive before the window closes
    p = problem(tech("A", north(100)), tech("B", HOME), now=at(9))
    d = dispatch_one(p, job("J", HOME, windows=((at(9), at(10)),)))
    assert d.technician_id == "B"
    assert rejected_reasons(d) == {"A": (Reason.UNREACHABLE,)} and "min away" in d.rejected[0].detail
