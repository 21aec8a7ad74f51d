"""Pure rules about technicians: shifts and leave, skills, certificate validity.

No I/O. The functions take model rows or the plain snapshot dataclasses alike (same attribute names).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Protocol
from zoneinfo import ZoneInfo

DUTY_STATUSES = ("on_duty", "off_duty", "on_break", "on_leave")
LEAVE_KINDS = ("vacation", "sick", "training", "other")


class ShiftLike(Protocol):
    @property
    def weekday(self) -> int: ...
    @property
    def start_time(self) -> time: ...
    @property
    def end_time(self) -> time: ...
    @property
    def break_start(self) -> time | None: ...
    @property
    def break_end(self) -> time | None: ...


class LeaveLike(Protocol):
    @property
    def start_at(self) -> datetime: ...
    @property
    def end_at(self) -> datetime: ...


class SkillLike(Protocol):
    @property
    def skill_code(self) -> str: ...
    @property
    def level(self) -> int: ...


class CertificateLike(Protocol):
    @property
    def type_code(self) -> str: ...
    @property
    def issued_on(self) -> date | None: ...
    @property
    def expires_on(self) -> date | None: ...


# ---- shifts and leave ---------------------------------------------------------------------------

def shift_problem(start: time, end: time, break_start: time | None, break_end: time | None) -> str | None:
    """Why a shift is malformed (English), or None. Shifts never cross midnight."""
    if start >= end:
        return "the shift must start before it ends (overnight shifts are not supported)"
    if (break_start is None) != (break_end is None):
        return "give both the start and the end of the break, or neither"
    if break_start is not None and break_end is not None:
        if break_start >= break_end:
            return "the break must start before it ends"
        if break_start < start or break_end > end:
            return "the break must lie inside the shift"
    return None


def shifts_overlap(a: ShiftLike, b: ShiftLike) -> bool:
    return a.weekday == b.weekday and a.start_time < b.end_time and b.start_time < a.end_time


def on_leave(leaves: Iterable[LeaveLike], at: datetime) -> bool:
    """Whether `at` falls in any leave, each taken as [start_at, end_at)."""
    return any(leave.start_at <= at < leave.end_at for leave in leaves)


def is_on_shift(shifts: Iterable[ShiftLike], leaves: Iterable[LeaveLike], at: datetime, tz: str) -> bool:
    """Whether the technician works at `at`: inside a weekly shift, outside its break, not on leave.

    Shift times are wall-clock times in `tz` (the organisation's zone); `at` must be aware. A shift is
    [start, end) and its break [break_start, break_end).
    """
    if at.tzinfo is None:
        raise ValueError("is_on_shift needs an aware datetime")
    local = at.astimezone(ZoneInfo(tz))
    weekday, clock = local.weekday(), local.time().replace(tzinfo=None)
    working = False
    for shift in shifts:
        if shift.weekday != weekday or not (shift.start_time <= clock < shift.end_time):
            continue
        if shift.break_start is not None and shift.break_end is not None \
                and shift.break_start <= clock < shift.break_end:
            continue
        working = True
        break
    return working and not on_leave(leaves, at)


# ---- skills -------------------------------------------------------------------------------------

def _levels(tech_skills: Mapping[str, int] | Iterable[SkillLike]) -> dict[str, int]:
    if isinstance(tech_skills, Mapping):
        return dict(tech_skills)
    levels: dict[str, int] = {}
    for s in tech_skills:
        levels[s.skill_code] = max(levels.get(s.skill_code, 0), s.level)
    return levels


def has_skills(tech_skills: Mapping[str, int] | Iterable[SkillLike],
               required: Iterable[Mapping[str, Any]]) -> list[str]:
    """The required skill codes the technician lacks or holds below `min_level` (empty: qualified).

    `tech_skills` is {code: level} or rows with `skill_code` and `level`; `required` is a service
    type's list of {"skill": code, "min_level": n} (min_level defaults to 1).
    """
    levels = _levels(tech_skills)
    missing: list[str] = []
    for req in required:
        code = str(req["skill"])
        if levels.get(code, 0) < int(req.get("min_level", 1) or 1) and code not in missing:
            missing.append(code)
    return missing


# ---- certificates -------------------------------------------------------------------------------

def certificate_valid_on(issued_on: date | None, expires_on: date | None, on: date) -> bool:
    """Valid from the issue date through the expiry date, both inclusive; open ends are unbounded."""
    if issued_on is not None and on < issued_on:
        return False
    return expires_on is None or on <= expires_on


def valid_certificates(certs: Iterable[CertificateLike], required_codes: Iterable[str],
                       on_date: date) -> list[str]:
    """The required certificate-type codes with no certificate valid on `on_date` (missing or expired)."""
    valid = {c.type_code for c in certs if certificate_valid_on(c.issued_on, c.expires_on, on_date)}
    missing: list[str] = []
    for code in required_codes:
        if code not in valid and code not in missing:
            missing.append(code)
    return missing


# ---- plain values for the dispatch engine -------------------------------------------------------

@dataclass(frozen=True)
class SkillLevel:
    skill_code: str
    level: int


@dataclass(frozen=True)
class CertificateInfo:
    type_code: str
    number: str | None
    issued_on: date | None
    expires_on: date | None

    def valid_on(self, on: date) -> bool:
        return certificate_valid_on(self.issued_on, self.expires_on, on)


@dataclass(frozen=True)
class ShiftSlot:
    weekday: int
    start_time: time
    end_time: time
    break_start: time | None = None
    break_end: time | None = None


@dataclass(frozen=True)
class LeaveSpan:
    start_at: datetime
    end_at: datetime
    kind: str = "vacation"


@dataclass(frozen=True)
class TechnicianSnapshot:
    """Everything dispatch needs about one technician, detached from the database."""

    id: uuid.UUID
    code: str
    name: str
    user_id: uuid.UUID | None
    level: int
    duty_status: str
    active: bool
    timezone: str  # the zone the shift times are in
    home_lat: float | None
    home_lng: float | None
    territory_ids: frozenset[uuid.UUID]
    max_travel_km: float
    max_jobs_per_day: int
    max_work_minutes: int
    hourly_cost: float | None
    last_lat: float | None
    last_lng: float | None
    last_seen_at: datetime | None
    skills: tuple[SkillLevel, ...]
    certificates: tuple[CertificateInfo, ...]
    shifts: tuple[ShiftSlot, ...]
    leave: tuple[LeaveSpan, ...]

    def is_on_shift(self, at: datetime) -> bool:
        return is_on_shift(self.shifts, self.leave, at, self.timezone)

    def missing_skills(self, required: Iterable[Mapping[str, Any]]) -> list[str]:
        return has_skills(self.skills, required)

    def missing_certificates(self, required_codes: Iterable[str], on_date: date) -> list[str]:
        return valid_certificates(self.certificates, required_codes, on_date)
