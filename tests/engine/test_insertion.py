"""Insertion into a route: hand-checked cases, and the O(1)-per-position checks against brute force."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fieldops.engine.insertion import LATE_WEIGHT, best_insertion, insert_and_evict
from fieldops.engine.model import PRIORITY_RANK, Job, Technician, Visit, Window
from fieldops.engine.timeline import (
    arrive,
    earliest_start,
    latest_depart,
    latest_start,
    merge_blocks,
    merge_windows,
    overlaps,
)
from fieldops.engine.travel import travel_seconds
from tests.engine.helpers import (
    HOME,
    TRAVEL,
    at,
    blocks_of,
    job,
    north,
    origin_of,
    route_problems,
    secs,
    tech,
    visit,
)

# --- timeline primitives against brute force ---------------------------------------------------------------

blocks_st = st.lists(st.tuples(st.integers(0, 120), st.integers(1, 25)), max_size=3).map(
    lambda xs: merge_blocks((s, s + d) for s, d in xs))
windows_st = st.lists(st.tuples(st.integers(0, 150), st.integers(0, 30)), min_size=1, max_size=3).map(
    lambda xs: merge_windows((s, s + d) for s, d in xs))


def _free(t: int, dur: int, blocks: tuple[tuple[int, int], ...]) -> bool:
    return not overlaps(t, t + dur, blocks)


@settings(max_examples=300, deadline=None)
@given(t=st.integers(-5, 160), dur=st.integers(0, 20), blocks=blocks_st, windows=windows_st)
def test_earliest_and_latest_start_match_brute_force(t: int, dur: int, blocks: tuple[tuple[int, int], ...],
                                                      windows: list[tuple[int, int]]) -> None:
    ok = [s for s in range(-5, 200) if any(a <= s <= b for a, b in windows) and _free(s, dur, blocks)]
    assert earliest_start(t, dur, windows, blocks) == min((s for s in ok if s >= t), default=None)
    assert latest_start(t, dur, windows, blocks) == max((s for s in ok if s <= t), default=None)


@settings(max_examples=300, deadline=None)
@given(d=st.integers(-5, 160), travel=st.integers(0, 30), blocks=blocks_st)
def test_arrive_and_latest_depart_match_brute_force(d: int, travel: int, blocks: tuple[tuple[int, int], ...]) -> None:
    departures = [x for x in range(d, 400) if travel == 0 or _free(x, travel, blocks)]
    assert arrive(d, travel, blocks) == departures[0] + travel
    # latest_depart is the inverse: the latest departure that arrives by d
    ok = [x for x in range(-100, d + 1) if arrive(x, travel, blocks) <= d]
    assert latest_depart(d, travel, blocks) == max(ok)


# --- hand-checked cases -----------------------------------------------------------------------------------


def test_empty_route_starts_at_the_window_and_travel_added_is_the_round_trip() -> None:
    t = tech("A")
    place = north(3)
    ins = best_insertion(t, job("J", place, windows=((at(9), at(11)),)), at(7))
    assert ins is not None
    assert (ins.position, ins.start, ins.travel_added_s) == (0, at(9), 2 * secs(HOME, place))
    assert [v.job_id for v in ins.schedule] == ["J"]


def test_a_break_pushes_the_start_and_travel_waits_for_the_break_to_end() -> None:
    brk = (at(12), at(12, 30))
    # on site, window opens 11:50: 11:50–12:20 would overlap the break → 12:30
    t = tech("A", breaks=[brk], lat=HOME[0], lng=HOME[1])
    ins = best_insertion(t, job("J", HOME, minutes=30, windows=((at(11, 50), at(13)),)), at(11, 50))
    assert ins is not None and ins.start == at(12, 30)
    # 10 minutes away at 11:55: the drive would cross the break → leave at 12:30, arrive 12:30 + travel
    far = north(4.3)
    ins = best_insertion(t, job("K", far, minutes=30, windows=((at(11, 55), at(13)),)), at(11, 55))
    assert ins is not None and ins.start == at(12, 30) + secs(HOME, far)


def test_several_windows_the_service_starts_inside_one() -> None:
    t = tech("A")
    j = job("J", north(2), windows=((at(7), at(7, 30)), (at(13), at(14))))  # the first closes before the shift
    ins = best_insertion(t, j, at(7))
    assert ins is not None and ins.start == at(13)
    # the job's certificate expires at 12:00 → the afternoon window is cut away
    jc = replace(j, certificates=("gas",))
    assert best_insertion(replace(t, certificates=(("gas", at(12)),)), jc, at(7)) is None


def test_later_visits_are_pushed_only_inside_their_windows() -> None:
    a = visit("a", HOME, at(9), windows=((at(9), at(9, 30)),))
    b = visit("b", HOME, at(10, 30), windows=((at(10), at(11)),))
    t = tech("A", route=(a, b))
    # a 60-minute job on site only fits between a and b if b moves to 11:00 at the latest: 10:00 + 60 = 11:00 ok
    ins = best_insertion(t, job("J", HOME, windows=((at(9), at(15)),)), at(7))
    assert ins is not None
    assert [(v.job_id, v.start) for v in ins.schedule][:3] in (
        [("a", at(9)), ("J", at(10)), ("b", at(11))],
        [("a", at(9)), ("b", at(10, 30)), ("J", at(11, 30))],
    )
    # a 90-minute job cannot go between them (b would start 11:30 > 11:00), so it goes after b
    ins = best_insertion(t, job("K", HOME, minutes=90, windows=((at(9), at(12)),)), at(7))
    assert ins is not None and [v.job_id for v in ins.schedule] == ["a", "b", "K"] and ins.start == at(11, 30)


def test_the_shift_end_bounds_the_return_home() -> None:
    far = north(10)
    t = tech("A", end=at(16))
    back = secs(far, HOME)
    latest = at(16) - 3600 - back
    assert best_insertion(t, job("J", far, windows=((latest, latest),)), at(7)) is not None
    assert best_insertion(t, job("K", far, windows=((latest + 1, latest + 1),)), at(7)) is None


def test_visits_before_now_are_fixed_and_travel_starts_from_the_visit_in_progress() -> None:
    place = north(5)
    started = visit("s", place, at(9), minutes=60)
    later = visit("l", HOME, at(13), windows=((at(13), at(14)),))
    t = tech("A", route=(started, later), lat=place[0], lng=place[1])
    ins = best_insertion(t, job("J", HOME, minutes=30, windows=((at(8), at(15)),)), at(9, 30))
    assert ins is not None
    assert ins.schedule[0] == started and ins.position >= 1
    assert ins.start == at(10) + secs(place, HOME)  # after the visit in progress ends, from its place
    # nothing goes before the visit in progress, even where it would be cheaper
    assert all(v.start >= at(10) for v in ins.schedule[1:])


def test_after_a_finished_visit_travel_starts_from_the_live_position() -> None:
    done = visit("d", north(5), at(8), minutes=30)
    t = tech("A", route=(done,), lat=north(1)[0], lng=north(1)[1])
    ins = best_insertion(t, job("J", HOME, minutes=30, windows=((at(8), at(15)),)), at(10))
    assert ins is not None and ins.start == at(10) + secs(north(1), HOME)


def test_a_pinned_visit_never_moves() -> None:
    pinned = visit("p", north(3), at(10), pinned=True, priority="P3")
    t = tech("A", route=(pinned,))
    # fits before it only if it does not push it: 60 min + travel before 10:00
    ins = best_insertion(t, job("J", HOME, windows=((at(8), at(9)),)), at(7))
    assert ins is not None and ins.schedule[1] == pinned
    # would have to push it → goes after it instead
    ins = best_insertion(t, job("K", HOME, windows=((at(9, 30), at(11, 30)),)), at(7))
    assert ins is not None and ins.schedule[0] == pinned and ins.schedule[1].job_id == "K"
    # a P0 that only fits where the pinned P3 is: the pinned visit is never evicted
    u = job("U", north(3), windows=((at(10), at(10)),), priority="P0")
    assert insert_and_evict(t, u, at(7)) is None


def test_insert_and_evict_takes_the_lowest_priority_visit() -> None:
    day = [visit(f"v{i}", HOME, at(8 + i), priority=("P3" if i == 3 else "P2"),
                 windows=((at(8 + i), at(8 + i)),)) for i in range(8)]
    t = tech("A", route=tuple(day))
    u = job("U", HOME, windows=((at(10), at(12)),), priority="P0")
    assert best_insertion(t, u, at(7)) is None
    ins = insert_and_evict(t, u, at(7))
    assert ins is not None and ins.evicted == "v3" and ins.evicted_priority == "P3"
    assert ins.start == at(11) and "v3" not in [v.job_id for v in ins.schedule]
    assert [v.job_id for v in ins.schedule].index("U") == ins.position == 3
    assert insert_and_evict(t, u, at(7), allow_evict=False) is None
    # a P3 job never evicts anything; a P2 job may only evict the P3
    assert insert_and_evict(t, replace(u, priority="P3"), at(7)) is None
    p2 = insert_and_evict(t, replace(u, priority="P2"), at(7))
    assert p2 is not None and p2.evicted == "v3"


def test_second_shift_is_used_when_the_first_is_full() -> None:
    t = tech("A")
    sh2 = replace(t.shifts[0], start=at(24 + 8), end=at(24 + 16))
    full = tuple(visit(f"v{i}", HOME, at(8 + i), windows=((at(8 + i), at(8 + i)),)) for i in range(8))
    t2 = replace(t, shifts=(t.shifts[0], sh2), route=full)
    ins = best_insertion(t2, job("J", HOME, windows=((at(9), at(24 + 12)),)), at(7))
    assert ins is not None and ins.shift_index == 1 and ins.start == at(24 + 8) and ins.position == 8


# --- brute force: every position re-simulated from scratch --------------------------------------------------


def _simulate(t: Technician, order: list[Visit | Job], now: int) -> tuple[bool, int]:
    """Re-simulate a whole shift from the origin: (feasible, job start)."""
    (olat, olng, d), _ = origin_of(t, now)
    sh = t.shifts[0]
    blocks = blocks_of(t)
    lat, lng = olat, olng
    job_start = -1
    for node in order:
        a = arrive(d, travel_seconds(TRAVEL, lat, lng, node.lat, node.lng), blocks)
        if isinstance(node, Job):
            wins = [(max(w.start, now), w.end) for w in node.windows] if node.windows else [(sh.start, sh.end)]
            s = earliest_start(a, node.duration_s, sorted(wins), blocks)
            if s is None:
                return False, -1
            job_start = s
        else:
            x = max(a, node.start)
            if node.pinned:
                if x != node.start:
                    return False, -1
                s = x
            else:
                wins = [(w.start, w.end) for w in node.windows] or [(sh.start, sh.end)]
                found = earliest_start(x, node.duration_s, sorted(wins), blocks)
                if found is None:
                    return False, -1
                s = found
        d = s + node.duration_s
        lat, lng = node.lat, node.lng
    back = arrive(d, travel_seconds(TRAVEL, lat, lng, sh.end_lat, sh.end_lng), blocks)
    return back <= sh.end, job_start


def _leg(a: Visit | Job | tuple[float, float], b: Visit | Job | tuple[float, float]) -> int:
    pa = a if isinstance(a, tuple) else (a.lat, a.lng)
    pb = b if isinstance(b, tuple) else (b.lat, b.lng)
    return travel_seconds(TRAVEL, pa[0], pa[1], pb[0], pb[1])


def _brute(t: Technician, j: Job, now: int, evict: bool) -> list[tuple[int, int, int, int, int]]:
    """All feasible (−evicted rank or −9, cost, start, lateness, travel added) over every position (and every
    evictable visit)."""
    (olat, olng, _), first = origin_of(t, now)
    movable = list(t.route[first:])
    sh = t.shifts[0]
    out = []
    choices: list[int | None] = [None]
    if evict:
        choices = [k for k, v in enumerate(movable) if not v.pinned and PRIORITY_RANK[v.priority] > j.rank]
    for k in choices:
        base = [v for i, v in enumerate(movable) if i != k]
        removed = 0
        if k is not None:
            nodes: list[Visit | tuple[float, float]] = [(olat, olng), *movable, (sh.end_lat, sh.end_lng)]
            removed = _leg(nodes[k], nodes[k + 2]) - _leg(nodes[k], nodes[k + 1]) - _leg(nodes[k + 1], nodes[k + 2])
        for p in range(len(base) + 1):
            ok, s = _simulate(t, [*base[:p], j, *base[p:]], now)
            if not ok:
                continue
            prev = (olat, olng) if p == 0 else base[p - 1]
            nxt = (sh.end_lat, sh.end_lng) if p == len(base) else base[p]
            added = _leg(prev, j) + _leg(j, nxt) - _leg(prev, nxt) + removed
            late = max(0, s + j.duration_s - j.due) if j.due is not None else 0
            rank_k = PRIORITY_RANK[movable[k].priority] if k is not None else 9
            out.append((-rank_k, added + LATE_WEIGHT * late, s, late, added))
    return out


place_st = st.tuples(st.floats(-6, 6), st.floats(-6, 6)).map(lambda d: (HOME[0] + d[0] * 0.009, HOME[1] + d[1] * 0.012))
job_spec = st.tuples(place_st, st.integers(2, 8), st.integers(8 * 4, 15 * 4), st.integers(1, 12),
                     st.sampled_from(["P0", "P1", "P2", "P3"]))


def _job_of(i: int, spec: tuple[tuple[float, float], int, int, int, str]) -> Job:
    place, quarters, start_q, width_q, prio = spec
    return job(f"j{i}", place, minutes=quarters * 15, windows=((at(0, start_q * 15), at(0, (start_q + width_q) * 15)),),
               priority=prio)


@settings(max_examples=150, deadline=None)
@given(specs=st.lists(job_spec, min_size=0, max_size=9), new=job_spec, brk=st.booleans(),
       pins=st.sets(st.integers(0, 8)), now_q=st.integers(0, 24), with_due=st.booleans())
def test_insertion_matches_brute_force(specs: list[tuple[tuple[float, float], int, int, int, str]],
                                       new: tuple[tuple[float, float], int, int, int, str], brk: bool,
                                       pins: set[int], now_q: int, with_due: bool) -> None:
    breaks = [(at(12), at(12, 30))] if brk else []
    t = tech("A", breaks=breaks)
    for i, spec in enumerate(specs):  # a consistent route, built by the engine itself
        ins = best_insertion(t, _job_of(i, spec), at(7))
        if ins is not None:
            t = replace(t, route=ins.schedule)
    route = tuple(replace(v, pinned=True) if i in pins else v for i, v in enumerate(t.route))
    now = at(7) + now_q * 1800
    # the live position: at the visit in progress, else at the next stop (keeps the route consistent)
    nxt = [v for v in route if v.start >= now]
    pos = nxt[0] if nxt else None
    t = replace(t, route=route, lat=pos.lat if pos else HOME[0], lng=pos.lng if pos else HOME[1])
    j = _job_of(99, new)
    if with_due:
        j = replace(j, due=j.windows[0].start + 3600)
    (origin, first) = origin_of(t, now)
    assume(not route_problems(t, list(t.route[first:]), now, origin))
    plain = _brute(t, j, now, evict=False)
    ins = best_insertion(t, j, now)
    assert (ins is None) == (not plain)
    if ins is not None:
        assert ins.evicted is None
        if j.rank == 0:  # P0: least lateness, then the earliest start, then the least travel
            assert min((c[3], c[2], c[4]) for c in plain) == (ins.late_s, ins.start, ins.travel_added_s)
        else:
            assert min((c[1], c[2]) for c in plain) == (ins.travel_added_s + LATE_WEIGHT * ins.late_s, ins.start)
        assert not route_problems(t, list(ins.schedule[first:]), now, origin)
        assert [v for v in ins.schedule if v.pinned] == [v for v in t.route if v.pinned]
        assert ins.schedule[:first] == t.route[:first]
        return
    evicting = _brute(t, j, now, evict=True)
    ins = insert_and_evict(t, j, now)
    assert (ins is None) == (not evicting)
    if ins is not None:
        assert ins.evicted is not None
        rank = -PRIORITY_RANK[ins.evicted_priority or "P2"]
        if j.rank == 0:
            assert min((c[0], c[3], c[2], c[4]) for c in evicting) == (rank, ins.late_s, ins.start, ins.travel_added_s)
        else:
            assert min((c[0], c[1], c[2]) for c in evicting) == (
                rank, ins.travel_added_s + LATE_WEIGHT * ins.late_s, ins.start)
        assert not route_problems(t, list(ins.schedule[first:]), now, origin)
        assert [v for v in ins.schedule if v.pinned] == [v for v in t.route if v.pinned]


def test_new_visit_carries_the_job() -> None:
    j = job("J", north(1), windows=((at(9), at(10)),), priority="P1")
    ins = best_insertion(tech("A"), j, at(7))
    assert ins is not None
    assert ins.schedule[0] == Visit("J", j.lat, j.lng, 3600, at(9), (Window(at(9), at(10)),), "P1")
