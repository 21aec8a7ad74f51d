"""Cheapest feasible insertion of one job into a technician's route, and insert-and-evict.

A route segment is the part of `tech.route` inside one shift. Visits that started before `now` are
fixed (nothing goes before them); the drive starts from the technician's current position at `now`
(or from the visit in progress when it ends, or from the shift's start place at its start). Pinned
visits keep their time and place. A visit may be pushed later, but only as far as it stays inside one
of its windows, clear of breaks and leave, without pushing its successors out of theirs and with the
technician back at the shift's end place by the shift's end; it is never pulled earlier than its
planned start (planned starts are promises; re-optimising the day compacts routes).

Speed: one forward pass computes the earliest start E[j] of every node, one backward pass the latest
start L[j] that keeps the rest of the segment feasible. Every timing function is monotone, so putting
the job between nodes j and j+1 is feasible iff the job's earliest start exists and the next node is
reached by L[j+1]: O(1) per position (times the number of breaks), O(n) per route. Travel for every
candidate route is computed in a handful of numpy calls (or provider calls) for the whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from operator import attrgetter

import numpy as np

from fieldops.engine.filters import FAR_FUTURE, certificate_deadline, job_windows, leave_blocks, shift_options
from fieldops.engine.model import PRIORITY_RANK, Job, Technician, TravelModel, Visit, Window
from fieldops.engine.timeline import (
    Interval,
    arrive,
    earliest_start,
    latest_depart,
    latest_start,
    merge_blocks,
    merge_windows,
)
from fieldops.engine.travel import HaversineMatrix, MatrixProvider

LATE_WEIGHT = 10  # cost seconds per second of lateness against job.due when choosing a position

_LAT, _LNG, _DUR, _START, _PINNED, _WINDOWS = (attrgetter(a) for a in ("lat", "lng", "duration_s", "start", "pinned",
                                                                        "windows"))


@dataclass(frozen=True)
class Insertion:
    """Where the job goes in one technician's route, and what that does to the route."""

    technician_id: str
    shift_index: int
    position: int                  # index of the job in `schedule` (the technician's new route)
    start: int                     # planned service start of the job
    travel_added_s: int            # change of the route's total travel (net of an evicted visit's legs)
    late_s: int                    # seconds the job would finish after job.due (0 without a due time)
    evicted: str | None = None     # job id of the visit taken out to make room (insert-and-evict)
    evicted_priority: str | None = None
    _seg: _Segment | None = field(default=None, repr=False, compare=False)
    _node: int = field(default=0, repr=False, compare=False)   # the job goes after this node of the segment
    _evict: int = field(default=0, repr=False, compare=False)  # node index of the evicted visit (0: none)

    @property
    def end(self) -> int:
        return self.start + (self._seg.job.duration_s if self._seg is not None else 0)

    @cached_property
    def schedule(self) -> tuple[Visit, ...]:
        """The technician's whole new route (all shifts), the job included and an evicted visit left out."""
        if self._seg is None:
            return ()
        return self._seg.schedule(self._node, self._evict, self.start)


@lru_cache(maxsize=8192)
def _visit_windows(windows: tuple[Window, ...]) -> tuple[Interval, ...]:
    """A visit's windows as sorted, merged (start, end) pairs; shared between calls (they repeat a lot), which
    keeps the number of objects a decision allocates, and so the garbage collector's work, down."""
    return tuple(merge_windows((w.start, w.end) for w in windows))


class _Segment:
    """One technician's route inside one shift, with travel and earliest / latest starts per node.

    Nodes: 0 = origin, 1..n = the movable visits in order, n+1 = the shift's end place.
    """

    __slots__ = (
        "E",
        "L",
        "blocks",
        "dep",
        "dur",
        "first",
        "from_job",
        "hi",
        "job",
        "job_wins",
        "lat",
        "legs",
        "lng",
        "n",
        "pinned",
        "planned",
        "shift_index",
        "skip",
        "tech",
        "to_job",
        "visits",
        "wins",
    )

    def __init__(self, tech: Technician, shift_index: int, job: Job, now: int, job_wins: list[Interval]) -> None:
        sh = tech.shifts[shift_index]
        route = tech.route
        lo = 0
        while lo < len(route) and route[lo].start < sh.start:
            lo += 1
        hi = lo
        while hi < len(route) and route[hi].start < sh.end:
            hi += 1
        first = lo
        while first < hi and route[first].start < now:
            first += 1
        if now < sh.start:
            olat, olng, ot = sh.start_lat, sh.start_lng, sh.start
        elif first > lo and route[first - 1].start + route[first - 1].duration_s > now:
            cur = route[first - 1]
            olat, olng, ot = cur.lat, cur.lng, cur.start + cur.duration_s
        else:
            olat, olng, ot = tech.lat, tech.lng, now
        self.tech = tech
        self.job = job
        self.shift_index = shift_index
        self.first = first
        self.hi = hi
        self.visits = route[first:hi]
        self.n = len(self.visits)
        leave = [b for b in leave_blocks(tech) if b[1] > sh.start and b[0] < sh.end] if tech.leave else []
        self.blocks = merge_blocks([(b.start, b.end) for b in sh.breaks] + leave) if sh.breaks or leave else ()
        default_win = ((sh.start, sh.end),)
        visits = self.visits
        lat = [olat, *map(_LAT, visits), sh.end_lat]
        lng = [olng, *map(_LNG, visits), sh.end_lng]
        dur = [0, *map(_DUR, visits), 0]
        planned = [ot, *map(_START, visits), -FAR_FUTURE]
        pinned = [True, *map(_PINNED, visits), False]
        wins: list[Sequence[Interval]] = [default_win]
        for vw in map(_WINDOWS, visits):
            wins.append(_visit_windows(vw) or default_win if vw else default_win)
        wins.append(default_win)
        self.lat, self.lng, self.dur, self.planned, self.pinned, self.wins = lat, lng, dur, planned, pinned, wins
        self.job_wins = job_wins
        self.E: list[int] = []
        self.dep: list[int] = []
        self.L: list[int] = []
        self.legs: list[int] = []
        self.to_job: list[int] = []
        self.from_job: list[int] = []
        self.skip: list[int] = []

    # -- timing of existing nodes ---------------------------------------------------------------------------

    def start_at(self, j: int, arrival: int) -> int:
        """Service start of node j when arriving at `arrival` (never before its planned start)."""
        if j == self.n + 1:
            return arrival
        p = self.planned[j]
        x = arrival if arrival > p else p
        if self.pinned[j]:
            return x
        s = earliest_start(x, self.dur[j], self.wins[j], self.blocks)
        return x if s is None else s  # already late: it stays where it is, see latest()

    def latest(self, j: int, next_latest: int, leg: int) -> int:
        """Latest start of node j such that the next node is reached by `next_latest` (never below E[j])."""
        if self.pinned[j]:
            return self.E[j]
        x = latest_depart(next_latest, leg, self.blocks) - self.dur[j]
        s = latest_start(x, self.dur[j], self.wins[j], self.blocks)
        e = self.E[j]
        return e if s is None or s < e else s

    def prepare(self) -> None:
        """Earliest starts E (forward) and latest starts L (backward) of every node."""
        n, legs, blocks = self.n, self.legs, self.blocks
        if blocks:
            E = [self.planned[0]]
            dep = [self.planned[0]]
            for j in range(1, n + 1):
                s = self.start_at(j, arrive(dep[j - 1], legs[j - 1], blocks))
                E.append(s)
                dep.append(s + self.dur[j])
            end_arrival = arrive(dep[n], legs[n], blocks)
        else:
            # the same computation without blocked periods, inlined: this is the hot path
            planned, pinned, wins, durs = self.planned, self.pinned, self.wins, self.dur
            d = planned[0]
            E = [d]
            dep = [d]
            for j in range(1, n + 1):
                a = d + legs[j - 1]
                p = planned[j]
                x = a if a > p else p
                s = x
                if not pinned[j]:
                    for ws, we in wins[j]:
                        if we >= x:
                            s = x if x > ws else ws
                            break
                E.append(s)
                d = s + durs[j]
                dep.append(d)
            end_arrival = d + legs[n]
        E.append(end_arrival)
        dep.append(end_arrival)
        self.E, self.dep = E, dep
        L = [0] * (n + 2)
        sh_end = self.tech.shifts[self.shift_index].end
        nxt = end_arrival if end_arrival > sh_end else sh_end
        L[n + 1] = nxt
        if blocks:
            for j in range(n, 0, -1):
                nxt = L[j] = self.latest(j, nxt, legs[j])
        else:
            pinned, wins, durs = self.pinned, self.wins, self.dur
            for j in range(n, 0, -1):
                e = E[j]
                if pinned[j]:
                    nxt = e
                else:
                    x = nxt - legs[j] - durs[j]
                    s = e
                    for ws, we in reversed(wins[j]):
                        if ws <= x:
                            s = x if x < we else we
                            break
                    nxt = s if s > e else e
                L[j] = nxt
        self.L = L

    # -- the job between two nodes ---------------------------------------------------------------------------

    def try_gap(self, depart: int, t_in: int, t_out: int, next_latest: int) -> int | None:
        """Job start when it goes after a node left at `depart`, before a node that must start by `next_latest`."""
        blocks = self.blocks
        dur = self.job.duration_s
        if blocks:
            s = earliest_start(arrive(depart, t_in, blocks), dur, self.job_wins, blocks)
            if s is None or arrive(s + dur, t_out, blocks) > next_latest:
                return None
            return s
        a = depart + t_in
        for ws, we in self.job_wins:
            if we < a:
                continue
            s = a if a > ws else ws
            return s if s + dur + t_out <= next_latest else None
        return None

    def best_plain(self, urgent: bool) -> tuple[tuple[int, ...], int, int, int] | None:
        """(key, node, start, travel added) of the cheapest feasible position, or None."""
        job = self.job
        due = job.due
        dur = job.duration_s
        last = self.job_wins[-1][1]
        dep, L, to_job, from_job, legs = self.dep, self.L, self.to_job, self.from_job, self.legs
        best: tuple[tuple[int, ...], int, int, int] | None = None
        for j in range(self.n + 1):
            d = dep[j]
            if d > last:
                break
            s = self.try_gap(d, to_job[j], from_job[j + 1], L[j + 1])
            if s is None:
                continue
            added = to_job[j] + from_job[j + 1] - legs[j]
            late = s + dur - due if due is not None and s + dur > due else 0
            key = (late, s, added, j) if urgent else (added + LATE_WEIGHT * late, s, j)
            if best is None or key < best[0]:
                best = (key, j, s, added)
        return best

    def best_evicting(self, job_rank: int, urgent: bool, min_duration: int = 0
                      ) -> tuple[tuple[int, ...], int, int, int, int] | None:
        """(key, node, start, net travel, evicted node) of the cheapest insertion after removing ONE movable,
        non-pinned visit of strictly lower priority (lasting at least `min_duration`, to stay under a daily
        work cap); lowest priority evicted first, then the cheapest."""
        job = self.job
        due = job.due
        dur = job.duration_s
        n = self.n
        E, dep, L, to_job, from_job, legs, skip = self.E, self.dep, self.L, self.to_job, self.from_job, self.legs, \
            self.skip
        best: tuple[tuple[int, ...], int, int, int, int] | None = None

        def consider(k: int, rank_k: int, node: int, depart: int, t_in: int, t_out: int, leg: int,
                     next_latest: int, removed: int) -> None:
            nonlocal best
            s = self.try_gap(depart, t_in, t_out, next_latest)
            if s is None:
                return
            added = t_in + t_out - leg + removed
            late = s + dur - due if due is not None and s + dur > due else 0
            key = (-rank_k, late, s, added, node, k) if urgent else (-rank_k, added + LATE_WEIGHT * late, s, node, k)
            if best is None or key < best[0]:
                best = (key, node, s, added, k)

        for k in range(1, n + 1):
            v = self.visits[k - 1]
            rank_k = PRIORITY_RANK.get(v.priority, 2)
            if v.pinned or rank_k <= job_rank or v.duration_s < min_duration:
                continue
            sk = skip[k]
            removed = sk - legs[k - 1] - legs[k]
            # the gap the visit leaves
            consider(k, rank_k, k - 1, dep[k - 1], to_job[k - 1], from_job[k + 1], sk, L[k + 1], removed)
            # earlier gaps gain slack: latest starts before k grow until they meet the old ones
            nxt, leg = L[k + 1], sk
            for j in range(k - 1, 0, -1):
                lj = self.latest(j, nxt, leg)
                if lj == L[j]:
                    break
                consider(k, rank_k, j - 1, dep[j - 1], to_job[j - 1], from_job[j], legs[j - 1], lj, removed)
                nxt, leg = lj, legs[j - 1]
            # later gaps start earlier until the schedule meets the old one
            d, leg = dep[k - 1], sk
            for j in range(k + 1, n + 1):
                s = self.start_at(j, arrive(d, leg, self.blocks))
                if s == E[j]:
                    break
                d = s + self.dur[j]
                consider(k, rank_k, j, d, to_job[j], from_job[j + 1], legs[j], L[j + 1], removed)
                leg = legs[j]
        return best

    # -- the new route -----------------------------------------------------------------------------------------

    def schedule(self, node: int, evict: int, job_start: int) -> tuple[Visit, ...]:
        job = self.job
        blocks = self.blocks
        order = [j for j in range(1, self.n + 1) if j != evict]
        pos = sum(1 for j in order if j <= node)
        d = self.planned[0]
        prev = 0
        out: list[Visit] = []
        for j in [*order[:pos], -1, *order[pos:]]:
            if j == -1:
                s = earliest_start(arrive(d, self.to_job[prev], blocks), job.duration_s, self.job_wins, blocks)
                if s is None or s != job_start:  # pragma: no cover - guarded by the feasibility checks
                    raise AssertionError(f"insertion of {job.id} is not reproducible ({s} != {job_start})")
                out.append(Visit(job_id=job.id, lat=job.lat, lng=job.lng, duration_s=job.duration_s, start=s,
                                 windows=job.windows, priority=job.priority))
                d = s + job.duration_s
            else:
                if prev == -1:
                    leg = self.from_job[j]
                elif j == prev + 1:
                    leg = self.legs[prev]
                else:
                    leg = self.skip[j - 1]
                s = self.start_at(j, arrive(d, leg, blocks))
                v = self.visits[j - 1]
                out.append(v if s == v.start else replace(v, start=s))
                d = s + v.duration_s
            prev = j
        route = self.tech.route
        return route[:self.first] + tuple(out) + route[self.hi:]


def _coords(segments: Sequence[_Segment]) -> tuple[np.ndarray, np.ndarray]:
    lat = np.fromiter((x for s in segments for x in s.lat), dtype=np.float64)
    lng = np.fromiter((x for s in segments for x in s.lng), dtype=np.float64)
    return lat, lng


def _attach_travel(segments: Sequence[_Segment], job: Job, provider: MatrixProvider) -> None:
    """Fill legs and travel to and from the job for all segments with three batched provider calls."""
    if not segments:
        return
    lat, lng = _coords(segments)
    jl, jg = np.array([job.lat]), np.array([job.lng])
    to_job = provider.matrix(lat, lng, jl, jg)[:, 0].tolist()
    from_job = provider.matrix(jl, jg, lat, lng)[0].tolist()
    legs = provider.pairs(lat[:-1], lng[:-1], lat[1:], lng[1:]).tolist()
    off = 0
    for s in segments:
        m = s.n + 2
        s.to_job = to_job[off:off + m - 1]
        s.from_job = [0, *from_job[off + 1:off + m]]
        s.legs = legs[off:off + m - 1]
        off += m


def _attach_skips(segments: Sequence[_Segment], provider: MatrixProvider) -> None:
    """skip[k] = travel from node k-1 to node k+1 (bypassing visit k), k = 1..n, for all segments at once."""
    if not segments:
        return
    lat, lng = _coords(segments)
    skips = provider.pairs(lat[:-2], lng[:-2], lat[2:], lng[2:]).tolist() if len(lat) > 2 else []
    off = 0
    for s in segments:
        s.skip = [0, *skips[off:off + s.n]]
        off += s.n + 2


def _windows_for(tech: Technician, job: Job, wins: list[Interval]) -> list[Interval]:
    deadline = certificate_deadline(tech, job)
    if deadline is not None:
        wins = [(ws, min(we, deadline)) for ws, we in wins if ws <= deadline]
    return wins


def _materialise(seg: _Segment, node: int, start: int, added: int, evict: int = 0) -> Insertion:
    job = seg.job
    late = start + job.duration_s - job.due if job.due is not None and start + job.duration_s > job.due else 0
    ev = seg.visits[evict - 1] if evict else None
    position = seg.first + node - (1 if evict and evict <= node else 0)
    return Insertion(technician_id=seg.tech.id, shift_index=seg.shift_index, position=position, start=start,
                     travel_added_s=added, late_s=late, evicted=ev.job_id if ev else None,
                     evicted_priority=ev.priority if ev else None, _seg=seg, _node=node, _evict=evict)


class InsertionBatch:
    """Insertion of one job into many technicians' routes at once (the travel is computed in one batch).

    `candidates`: (technician, shift indices to try, in order). The first shift with a feasible
    insertion wins for each technician.
    """

    def __init__(self, job: Job, now: int, candidates: Sequence[tuple[Technician, Sequence[int]]],
                 provider: MatrixProvider) -> None:
        self.job = job
        self.now = now
        self.provider = provider
        self.urgent = job.rank == 0
        self.segments: list[list[_Segment]] = []
        flat: list[_Segment] = []
        base = job_windows(job, now)
        for tech, shifts in candidates:
            wins = _windows_for(tech, job, base) if job.certificates else base
            segs = [_Segment(tech, i, job, now, wins) for i in shifts] if wins else []
            self.segments.append(segs)
            flat.extend(segs)
        _attach_travel(flat, job, provider)
        for seg in flat:
            seg.prepare()

    def best(self) -> list[Insertion | None]:
        """The cheapest feasible plain insertion per candidate (None: no feasible position)."""
        out: list[Insertion | None] = []
        for segs in self.segments:
            found: Insertion | None = None
            for seg in segs:
                r = seg.best_plain(self.urgent)
                if r is not None:
                    found = _materialise(seg, r[1], r[2], r[3])
                    break
            out.append(found)
        return out

    def best_evicting(self, which: Sequence[int] | None = None,
                      min_durations: Sequence[int] | None = None) -> list[Insertion | None]:
        """Insert-and-evict for the candidates at indices `which` (all when None), in that order;
        `min_durations` (aligned with `which`): the shortest visit that may be evicted for each."""
        idx = list(range(len(self.segments)) if which is None else which)
        chosen = [self.segments[i] for i in idx]
        mins = list(min_durations) if min_durations is not None else [0] * len(idx)
        rank = self.job.rank
        need = [seg for segs, m in zip(chosen, mins, strict=True) for seg in segs
                if any(not v.pinned and PRIORITY_RANK.get(v.priority, 2) > rank and v.duration_s >= m
                       for v in seg.visits)]
        _attach_skips(need, self.provider)
        needed = {id(s) for s in need}
        out: list[Insertion | None] = []
        for segs, m in zip(chosen, mins, strict=True):
            found: Insertion | None = None
            for seg in segs:
                if id(seg) not in needed:
                    continue
                r = seg.best_evicting(rank, self.urgent, m)
                if r is not None:
                    found = _materialise(seg, r[1], r[2], r[3], r[4])
                    break
            out.append(found)
        return out


def _provider(travel: TravelModel | None, provider: MatrixProvider | None) -> MatrixProvider:
    return provider if provider is not None else HaversineMatrix(travel or TravelModel())


def _shifts(tech: Technician, job: Job, now: int, shifts: Sequence[int] | None) -> list[int]:
    if shifts is not None:
        return list(shifts)
    return sorted({i for i, _, _ in shift_options(tech, job, now)})


def best_insertion(tech: Technician, job: Job, now: int, travel: TravelModel | None = None, *,
                   provider: MatrixProvider | None = None, shifts: Sequence[int] | None = None) -> Insertion | None:
    """The cheapest feasible insertion of `job` into `tech`'s route at `now`, or None.

    Cheapest = least travel added (plus lateness against job.due × LATE_WEIGHT), then the earliest start;
    a P0 job takes the earliest start first. Hard filters are not checked here (see filters.hard_filters),
    except that the job's windows are cut at the expiry of the certificates it needs.
    """
    batch = InsertionBatch(job, now, [(tech, _shifts(tech, job, now, shifts))], _provider(travel, provider))
    return batch.best()[0]


def insert_and_evict(tech: Technician, job: Job, now: int, travel: TravelModel | None = None, *,
                     provider: MatrixProvider | None = None, shifts: Sequence[int] | None = None,
                     allow_evict: bool = True, min_evict_duration_s: int = 0,
                     try_plain: bool = True) -> Insertion | None:
    """`best_insertion` (unless `try_plain` is False), and when nothing fits (and `allow_evict`), the cheapest
    insertion after taking out ONE non-pinned, not yet started visit of strictly lower priority lasting at
    least `min_evict_duration_s` (its id in `Insertion.evicted`). The lowest priority is evicted first."""
    batch = InsertionBatch(job, now, [(tech, _shifts(tech, job, now, shifts))], _provider(travel, provider))
    found = batch.best()[0] if try_plain else None
    if found is None and allow_evict:
        found = batch.best_evicting(None, [min_evict_duration_s])[0]
    return found
