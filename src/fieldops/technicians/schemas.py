"""Bodies of the technician endpoints."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, EmailStr, Field, StringConstraints, field_validator, model_validator

from fieldops.core.schemas import Code, InModel, Latitude, Longitude, Name, OutModel, ShortText
from fieldops.technicians.rules import shift_problem, shifts_overlap
from fieldops.users.rules import normalize_phone

DutyStatus = Literal["on_duty", "off_duty", "on_break", "on_leave"]
LeaveKind = Literal["vacation", "sick", "training", "other"]
Level = Annotated[int, Field(ge=1, le=5)]
Phone = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Money = Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=2)]
MAX_LEAVE = timedelta(days=366)


def _phone(value: str | None) -> str | None:
    if value is None:
        return None
    normalized = normalize_phone(value)
    if normalized is None:
        raise ValueError("not a valid phone number (use +<country code> for numbers outside the US)")
    return normalized


def _reject_nulls(data: Any, fields: tuple[str, ...]) -> Any:
    if isinstance(data, dict):
        for name in fields:
            if name in data and data[name] is None:
                raise ValueError(f"{name} cannot be null")
    return data


def _duplicates(values: list[str]) -> list[str]:
    seen: set[str] = set()
    dup: list[str] = []
    for v in values:
        if v in seen and v not in dup:
            dup.append(v)
        seen.add(v)
    return dup


# ---- parts --------------------------------------------------------------------------------------

class LoginCreate(InModel):
    """A sign-in for the technician's app; without e-mail and phone, the technician's phone is used."""

    email: EmailStr | None = None
    phone: Phone | None = None
    password: Password
    locale: Literal["en", "zh-CN"] = "en"

    _norm_phone = field_validator("phone")(classmethod(lambda cls, v: _phone(v)))


class TechnicianSkillIn(InModel):
    skill: Code = Field(description="A skill code of the organisation's catalogue")
    level: Level = 1


class CertificateCreate(InModel):
    type_code: Code = Field(description="A certificate-type code of the organisation")
    number: Annotated[str, StringConstraints(max_length=100)] | None = None
    issued_on: date | None = None
    expires_on: date | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> CertificateCreate:
        if self.issued_on and self.expires_on and self.expires_on < self.issued_on:
            raise ValueError("expires_on is before issued_on")
        return self


class ShiftIn(InModel):
    """A weekly slot in the organisation's local time; 0 is Monday. Breaks lie inside the shift."""

    weekday: int = Field(ge=0, le=6)
    start_time: time
    end_time: time
    break_start: time | None = None
    break_end: time | None = None

    @model_validator(mode="after")
    def _well_formed(self) -> ShiftIn:
        for t in (self.start_time, self.end_time, self.break_start, self.break_end):
            if t is not None and t.tzinfo is not None:
                raise ValueError("shift times are local wall-clock times; leave out the offset")
        problem = shift_problem(self.start_time, self.end_time, self.break_start, self.break_end)
        if problem:
            raise ValueError(problem)
        return self


def _check_shifts(shifts: list[ShiftIn]) -> None:
    for i, a in enumerate(shifts):
        for b in shifts[i + 1:]:
            if shifts_overlap(a, b):
                raise ValueError(f"two shifts overlap on weekday {a.weekday}")


def _check_skills(skills: list[TechnicianSkillIn]) -> None:
    if dup := _duplicates([s.skill for s in skills]):
        raise ValueError(f"skills repeat {', '.join(dup)}")


class LeaveCreate(InModel):
    start_at: AwareDatetime
    end_at: AwareDatetime
    kind: LeaveKind = "vacation"
    reason: ShortText | None = None

    @field_validator("start_at", "end_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _span(self) -> LeaveCreate:
        if self.end_at <= self.start_at:
            raise ValueError("end_at must be after start_at")
        if self.end_at - self.start_at > MAX_LEAVE:
            raise ValueError("a leave lasts at most 366 days; split longer absences")
        return self


# ---- technicians --------------------------------------------------------------------------------

class _TechnicianFields(InModel):
    @model_validator(mode="after")
    def _home_pair(self) -> Any:
        lat, lng = getattr(self, "home_lat", None), getattr(self, "home_lng", None)
        fields_set = self.model_fields_set
        if ("home_lat" in fields_set or "home_lng" in fields_set) and (lat is None) != (lng is None):
            raise ValueError("give both home_lat and home_lng, or neither")
        return self


class TechnicianCreate(_TechnicianFields):
    code: Code
    name: Name
    phone: Phone | None = None
    level: Level = 1
    home_lat: Latitude | None = None
    home_lng: Longitude | None = None
    home_address: ShortText | None = None
    territory_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    max_travel_km: float = Field(default=30, gt=0, le=1000, allow_inf_nan=False)
    max_jobs_per_day: int = Field(default=8, ge=1, le=100)
    max_work_minutes: int = Field(default=480, ge=1, le=1440)
    duty_status: DutyStatus = "off_duty"
    hourly_cost: Money | None = None
    active: bool = True
    login: LoginCreate | None = Field(default=None, description="Creates a user of role technician")
    skills: list[TechnicianSkillIn] = Field(default_factory=list, max_length=100)
    certificates: list[CertificateCreate] = Field(default_factory=list, max_length=100)
    shifts: list[ShiftIn] = Field(default_factory=list, max_length=28)

    _norm_phone = field_validator("phone")(classmethod(lambda cls, v: _phone(v)))

    @model_validator(mode="after")
    def _lists(self) -> TechnicianCreate:
        _check_skills(self.skills)
        _check_shifts(self.shifts)
        return self


class TechnicianUpdate(_TechnicianFields):
    """Fields left out are unchanged. Skills, certificates, shifts and leave have their own endpoints."""

    code: Code | None = None
    name: Name | None = None
    phone: Phone | None = None
    level: Level | None = None
    home_lat: Latitude | None = None
    home_lng: Longitude | None = None
    home_address: ShortText | None = None
    territory_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    max_travel_km: float | None = Field(default=None, gt=0, le=1000, allow_inf_nan=False)
    max_jobs_per_day: int | None = Field(default=None, ge=1, le=100)
    max_work_minutes: int | None = Field(default=None, ge=1, le=1440)
    duty_status: DutyStatus | None = None
    hourly_cost: Money | None = None
    active: bool | None = None

    _norm_phone = field_validator("phone")(classmethod(lambda cls, v: _phone(v)))

    @model_validator(mode="before")
    @classmethod
    def _required_not_null(cls, data: Any) -> Any:
        return _reject_nulls(data, ("code", "name", "level", "territory_ids", "max_travel_km",
                                    "max_jobs_per_day", "max_work_minutes", "duty_status", "active"))


class SkillsReplace(InModel):
    skills: list[TechnicianSkillIn] = Field(max_length=100)

    @model_validator(mode="after")
    def _unique(self) -> SkillsReplace:
        _check_skills(self.skills)
        return self


class ShiftsReplace(InModel):
    shifts: list[ShiftIn] = Field(max_length=28)

    @model_validator(mode="after")
    def _no_overlap(self) -> ShiftsReplace:
        _check_shifts(self.shifts)
        return self


class DutyStatusUpdate(InModel):
    duty_status: DutyStatus


# ---- responses ----------------------------------------------------------------------------------

class TechnicianSkillRead(OutModel):
    skill: str
    level: int


class CertificateRead(OutModel):
    id: uuid.UUID
    type_code: str
    number: str | None
    issued_on: date | None
    expires_on: date | None
    expired: bool = Field(description="Not valid today (in the organisation's time zone)")
    created_at: datetime


class ShiftRead(OutModel):
    id: uuid.UUID
    weekday: int
    start_time: time
    end_time: time
    break_start: time | None
    break_end: time | None


class LeaveRead(OutModel):
    id: uuid.UUID
    start_at: datetime
    end_at: datetime
    kind: str
    reason: str | None


class TechnicianRead(OutModel):
    id: uuid.UUID
    user_id: uuid.UUID | None
    code: str
    name: str
    phone: str | None
    level: int
    home_lat: float | None
    home_lng: float | None
    home_address: str | None
    territory_ids: list[uuid.UUID]
    max_travel_km: float
    max_jobs_per_day: int
    max_work_minutes: int
    duty_status: str
    hourly_cost: Decimal | None = Field(description="Only shown to admins, supervisors and finance")
    active: bool
    last_lat: float | None
    last_lng: float | None
    last_seen_at: datetime | None
    skills: list[TechnicianSkillRead]
    version: int
    created_at: datetime
    updated_at: datetime


class TechnicianDetail(TechnicianRead):
    certificates: list[CertificateRead]
    shifts: list[ShiftRead]
    upcoming_leave: list[LeaveRead]
