"""Small builders and a brute-force route checker shared by the engine tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from fieldops.engine.model import Job, Shift, Technician, TravelModel, Visit, Window
from fieldops.engine.timeline import Interval, arrive, merge_blocks, overlaps
from fieldops.engine.travel import travel_seconds

DAY = int(datetime(2026, 11, 23, tzinfo=UTC).timestamp())
TRAVEL = TravelModel()
HOME = (42.3601, -71.0589)   # Boston
KM_LAT = 1 / 111.2           # degrees of latitude per km


def at(h: int, m: int = 0) -> int:
    return DAY + h * 3600 + m * 60


def north(km: float, base: tuple[float, float] = HOME) -> tuple[float, float]:
    return base[0] + km * KM_LAT, base[1]


def secs(a: tuple[float, float], b: tuple[float, float]) -> int:
    return travel_seconds(TRAVEL, a[0], a[1], b[0], b[1])


def tech(tid: str, place: tuple[float, float] = HOME, *, start: int = at(8), end: int = at(16),
         breaks: Sequence[tuple[int, int]] = (), skills: Sequence[tuple[str, int]] = (("hvac", 2),),
         **kw: object) -> Technician:
    shift = Shift(start, end, place[0], place[1], place[0], place[1],
                  breaks=tuple(Window(s, e) for s, e in breaks))
    base: dict[str, object] = {"id": tid, "name": tid, "lat": place[0], "lng": place[1], "shifts": (shift,),
                               "skills": tuple(skills), "home_lat": place[0], "home_lng": place[1],
                               "max_jobs_per_day": 20}
    base.update(kw)
    return Technician(**base)  # type: ignore[arg-type]


def job(jid: str, place: tuple[float, float] = HOME, *, minutes: int = 60,
        windows: Sequence[tuple[int, int]] = ((at(8), at(15)),), skills: Sequence[tuple[str, int]] = (("hvac", 1),),
        **kw: object) -> Job:
    base: dict[str, object] = {"id": jid, "lat": place[0], "lng": place[1], "duration_s": minutes * 60,
                               "windows": tuple(Window(s, e) for s, e in windows), "skills": tuple(skills)}
    base.update(kw)
    return Job(**base)  # type: ignore[arg-type]


def visit(jid: str, place: tuple[float, float], start: int, *, minutes: int = 60,
          windows: Sequence[tuple[int, int]] = (), priority: str = "P2", pinned: bool = False) -> Visit:
    return Visit(jid, place[0], place[1], minutes * 60, start, tuple(Window(s, e) for s, e in windows), priority,
                 pinned)


def blocks_of(t: Technician, shift_index: int = 0) -> tuple[Interval, ...]:
    sh = t.shifts[shift_index]
    return merge_blocks([(b.start, b.end) for b in sh.breaks]
                        + [(w.start, w.end) for w in t.leave if w.end > sh.start and w.start < sh.end])


def route_problems(t: Technician, route: Sequence[Visit], now: int, origin: tuple[float, float, int],
                   model: TravelModel = TRAVEL, shift_index: int = 0) -> list[str]:
    """Everything wrong with `route` (the visits of one shift from `now` on, in order) for technician `t`:
    travel between stops, windows, breaks/leave, double booking, the return by the shift's end."""
    sh = t.shifts[shift_index]
    blocks = blocks_of(t, shift_index)
    out: list[str] = []
    lat, lng, d = origin
    for v in route:
        a = arrive(d, travel_seconds(model, lat, lng, v.lat, v.lng), blocks)
        if v.start < a:
            out.append(f"{v.job_id} starts {v.start} before it can arrive {a}")
        if v.start < d:
            out.append(f"{v.job_id} overlaps the previous service")
        if not v.pinned:
            if v.windows and not any(w.start <= v.start <= w.end for w in v.windows):
                out.append(f"{v.job_id} starts {v.start} outside its windows")
            if overlaps(v.start, v.start + v.duration_s, blocks):
                out.append(f"{v.job_id} overlaps a break or leave")
            if v.start < sh.start:
                out.append(f"{v.job_id} before the shift")
        lat, lng, d = v.lat, v.lng, v.start + v.duration_s
    back = arrive(d, travel_seconds(model, lat, lng, sh.end_lat, sh.end_lng), blocks)
    if back > sh.end:
        out.append(f"back at {back}, after the shift end {sh.end}")
    return out


def origin_of(t: Technician, now: int, shift_index: int = 0) -> tuple[tuple[float, float, int], int]:
    """(origin lat, lng, time) and the index of the first movable visit, as the engine defines them."""
    sh = t.shifts[shift_index]
    r = t.route
    lo = 0
    while lo < len(r) and r[lo].start < sh.start:
        lo += 1
    first = lo
    while first < len(r) and r[first].start < now and r[first].start < sh.end:
        first += 1
    if now < sh.start:
        return (sh.start_lat, sh.start_lng, sh.start), first
    if first > lo and r[first - 1].start + r[first - 1].duration_s > now:
        v = r[first - 1]
        return (v.lat, v.lng, v.start + v.duration_s), first
    return (t.lat, t.lng, now), first


def job_visit(j: Job, start: int) -> Visit:
    return Visit(j.id, j.lat, j.lng, j.duration_s, start, j.windows, j.priority)
