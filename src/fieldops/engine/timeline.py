"""Time arithmetic around blocked periods (breaks, leave) and service windows, in integer POSIX seconds.

Rules: neither service nor travel may overlap a blocked period (a zero-length activity may sit on a block's
edge, not strictly inside it); an activity that would overlap one
waits until it ends (travel is not split around a break). A window bounds the service START (inclusive
at both ends). Every "earliest" function here is monotone non-decreasing in its time argument, which is
what lets insertion check a position in O(1) against precomputed latest starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Interval = tuple[int, int]


def merge_blocks(blocks: Iterable[Interval]) -> tuple[Interval, ...]:
    """Sort blocked periods and merge the overlapping or touching ones; empty periods are dropped."""
    out: list[list[int]] = []
    for s, e in sorted(b for b in blocks if b[1] > b[0]):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1][1] = e
        else:
            out.append([s, e])
    return tuple((s, e) for s, e in out)


def merge_windows(windows: Iterable[Interval]) -> list[Interval]:
    """Sort service-start windows (inclusive [start, end]) and merge the overlapping ones; empty ones are dropped."""
    out: list[list[int]] = []
    for s, e in sorted(w for w in windows if w[1] >= w[0]):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1][1] = e
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def skip_blocks(t: int, duration: int, blocks: Sequence[Interval]) -> int:
    """Earliest time ≥ t at which an activity of `duration` overlaps no block."""
    for bs, be in blocks:
        if be <= t:
            continue
        if t + duration <= bs:
            break
        t = be
    return t


def back_blocks(t: int, duration: int, blocks: Sequence[Interval]) -> int:
    """Latest time ≤ t at which an activity of `duration` overlaps no block."""
    for bs, be in reversed(blocks):
        if bs >= t + duration:
            continue
        if be <= t:
            break
        t = bs - duration
    return t


def arrive(depart: int, travel: int, blocks: Sequence[Interval]) -> int:
    """Arrival when leaving at `depart` (or later, if the drive would cross a block) for `travel` seconds."""
    if travel > 0 and blocks:
        return skip_blocks(depart, travel, blocks) + travel
    return depart + travel


def latest_depart(arrival: int, travel: int, blocks: Sequence[Interval]) -> int:
    """Latest departure that still arrives by `arrival` (the inverse of `arrive`)."""
    if travel > 0 and blocks:
        return back_blocks(arrival - travel, travel, blocks)
    return arrival - travel


def earliest_start(t: int, duration: int, windows: Sequence[Interval], blocks: Sequence[Interval]) -> int | None:
    """Earliest service start ≥ t inside one of `windows` (sorted, disjoint) whose service overlaps no block."""
    for ws, we in windows:
        if we < t:
            continue
        s = t if t > ws else ws
        if blocks:
            s = skip_blocks(s, duration, blocks)
        if s <= we:
            return s
    return None


def latest_start(t: int, duration: int, windows: Sequence[Interval], blocks: Sequence[Interval]) -> int | None:
    """Latest service start ≤ t inside one of `windows` (sorted, disjoint) whose service overlaps no block."""
    for ws, we in reversed(windows):
        if ws > t:
            continue
        s = t if t < we else we
        if blocks:
            s = back_blocks(s, duration, blocks)
        if s >= ws:
            return s
    return None


def overlaps(a_start: int, a_end: int, blocks: Sequence[Interval]) -> bool:
    """True when [a_start, a_end) overlaps any block (an instant overlaps a block it lies strictly inside)."""
    return any(a_start < be and max(a_end, a_start + 1) > bs and (a_end > a_start or a_start > bs)
               for bs, be in blocks)
