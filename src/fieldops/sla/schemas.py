"""Bodies of the SLA endpoints: calendars, policies, preview, holidays and the clocks of work orders."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from fieldops.core.schemas import InModel, Name, OutModel

HHMM = Annotated[str, StringConstraints(min_length=1, max_length=5)]
Interval = Annotated[list[HHMM], Field(min_length=2, max_length=2)]
DayHours = Annotated[list[Interval], Field(max_length=12)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
TargetName = Literal["response", "arrival", "resolution"]
Priority = Literal["P0", "P1", "P2", "P3"]
Tier = Literal["standard", "vip", "key"]
HoldReason = Literal["waiting_customer", "waiting_parts", "other"]
ChannelName = Literal["in_app", "email", "sms", "wecom", "dingtalk", "webhook"]
ActionName = Literal["reassign", "pool", "raise_priority"]
RoleName = Literal["admin", "supervisor", "dispatcher", "agent", "finance", "technician"]
Zone = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Country = Annotated[str, StringConstraints(min_length=2, max_length=8)]
Subdiv = Annotated[str, StringConstraints(min_length=1, max_length=16)]


def _no_nulls(data: Any, fields: tuple[str, ...]) -> Any:
    if isinstance(data, dict):
        for name in fields:
            if name in data and data[name] is None:
                raise ValueError(f"{name} cannot be null")
    return data


class CustomDay(InModel):
    date: Annotated[str, StringConstraints(min_length=1, max_length=10)] = Field(description="YYYY-MM-DD")
    hours: DayHours = Field(default_factory=list, description="Empty: closed that day; else special hours")
    note: Annotated[str, StringConstraints(max_length=200)] | None = None


class CalendarFields(InModel):
    timezone: Zone | None = Field(None, description="IANA zone; empty: the site's zone")
    always_open: bool = Field(False, description="24/7 (emergencies): every minute counts")
    hours: dict[Weekday, DayHours] = Field(
        default_factory=dict, description='Working intervals per weekday, e.g. {"mon": [["08:00","12:00"]]}')
    holiday_country: Country | None = Field(None, description="Holidays of this country, e.g. CN, US")
    holiday_subdiv: Subdiv | None = Field(None, description="Subdivision, e.g. MA for Massachusetts")
    makeup_hours: DayHours | None = Field(None, description="Hours on make-up working days (调休); default Monday's")
    custom_days: Annotated[list[CustomDay], Field(max_length=1000)] = Field(default_factory=list)


class CalendarCreate(CalendarFields):
    name: Name


class CalendarUpdate(InModel):
    name: Name | None = None
    timezone: Zone | None = None
    always_open: bool | None = None
    hours: dict[Weekday, DayHours] | None = None
    holiday_country: Country | None = None
    holiday_subdiv: Subdiv | None = None
    makeup_hours: DayHours | None = None
    custom_days: Annotated[list[CustomDay], Field(max_length=1000)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _required(cls, data: Any) -> Any:
        return _no_nulls(data, ("name", "always_open", "hours", "custom_days"))


class CalendarRead(OutModel):
    id: uuid.UUID
    name: str
    timezone: str | None
    always_open: bool
    hours: dict[str, Any]
    holiday_country: str | None
    holiday_subdiv: str | None
    makeup_hours: list[Any] | None
    custom_days: list[Any]
    version: int
    created_at: datetime
    updated_at: datetime


class TargetIn(InModel):
    """Exactly one of minutes / hours / business_days. Business days may name the time of day (`at`) and the
    same-day cutoff after which the count starts on the next business day."""

    minutes: float | None = Field(None, gt=0, le=525_600, allow_inf_nan=False)
    hours: float | None = Field(None, gt=0, le=8760, allow_inf_nan=False)
    business_days: int | None = Field(None, ge=0, le=365)
    at: HHMM | None = None
    cutoff: HHMM | None = None


class TargetsIn(InModel):
    response: TargetIn | None = None
    arrival: TargetIn | None = None
    resolution: TargetIn | None = None


class RecipientsIn(InModel):
    assignee: bool = Field(False, description="The assigned technician")
    dispatchers: bool = Field(False, description="Every dispatcher of the organisation")
    supervisors: bool = Field(False, description="The supervisors of the order's territory")
    roles: Annotated[list[RoleName], Field(max_length=6)] = Field(default_factory=list)
    user_ids: Annotated[list[uuid.UUID], Field(max_length=50)] = Field(default_factory=list)


class LevelIn(InModel):
    """One rung: either `offset_minutes` relative to the deadline (negative = before; wall-clock minutes) or
    `percent` of the target's business time (100 = the breach)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    color: Annotated[str, StringConstraints(max_length=20)] | None = None
    targets: Annotated[list[TargetName], Field(max_length=3)] = Field(
        default_factory=list, description="Targets it applies to; empty: all")
    offset_minutes: float | None = Field(None, ge=-525_600, le=525_600, allow_inf_nan=False)
    percent: float | None = Field(None, gt=0, le=1000, allow_inf_nan=False)
    recipients: RecipientsIn = Field(default_factory=RecipientsIn)
    channels: Annotated[list[ChannelName], Field(max_length=6)] | None = Field(
        None, description="Channels; empty/null: each recipient's preferences")
    action: ActionName | None = None


class PolicyFields(InModel):
    active: bool = True
    rank: int = Field(0, ge=-1000, le=1000, description="Higher wins before specificity")
    service_type_ids: Annotated[list[uuid.UUID], Field(max_length=200)] = Field(default_factory=list)
    priorities: Annotated[list[Priority], Field(max_length=4)] = Field(default_factory=list)
    customer_tiers: Annotated[list[Tier], Field(max_length=3)] = Field(default_factory=list)
    targets: TargetsIn
    pause_on_hold: bool = True
    pause_reason_codes: Annotated[list[HoldReason], Field(max_length=3)] = Field(
        default_factory=list, description="Hold reasons that pause the clock; empty: every reason")
    ladder: Annotated[list[LevelIn], Field(max_length=20)]


class PolicyCreate(PolicyFields):
    name: Name
    calendar_id: uuid.UUID


class PolicyUpdate(InModel):
    name: Name | None = None
    calendar_id: uuid.UUID | None = None
    active: bool | None = None
    rank: int | None = Field(None, ge=-1000, le=1000)
    service_type_ids: Annotated[list[uuid.UUID], Field(max_length=200)] | None = None
    priorities: Annotated[list[Priority], Field(max_length=4)] | None = None
    customer_tiers: Annotated[list[Tier], Field(max_length=3)] | None = None
    targets: TargetsIn | None = None
    pause_on_hold: bool | None = None
    pause_reason_codes: Annotated[list[HoldReason], Field(max_length=3)] | None = None
    ladder: Annotated[list[LevelIn], Field(max_length=20)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _required(cls, data: Any) -> Any:
        return _no_nulls(data, ("name", "calendar_id", "active", "rank", "service_type_ids", "priorities",
                                "customer_tiers", "targets", "pause_on_hold", "pause_reason_codes", "ladder"))


class SlaPolicyRead(OutModel):
    id: uuid.UUID
    name: str
    calendar_id: uuid.UUID
    active: bool
    rank: int
    service_type_ids: list[Any]
    priorities: list[Any]
    customer_tiers: list[Any]
    targets: dict[str, Any]
    pause_on_hold: bool
    pause_reason_codes: list[Any]
    ladder: list[Any]
    version: int
    created_at: datetime
    updated_at: datetime


class PreviewIn(InModel):
    """A saved policy, or an inline calendar (or saved calendar_id) with targets and a ladder."""

    start: AwareDatetime
    policy_id: uuid.UUID | None = None
    calendar_id: uuid.UUID | None = None
    calendar: CalendarFields | None = None
    targets: TargetsIn | None = None
    ladder: Annotated[list[LevelIn], Field(max_length=20)] = Field(default_factory=list)
    site_timezone: Zone | None = Field(None, description="Zone to use when the calendar has none")


class LevelTime(OutModel):
    index: int
    name: str
    color: str | None
    kind: str
    fire_at: datetime
    fire_local: str


class TargetPreview(OutModel):
    target: str
    deadline_at: datetime
    deadline_local: str
    business_minutes: float
    levels: list[LevelTime]


class PreviewRead(OutModel):
    timezone: str
    start_local: str
    targets: list[TargetPreview]


class HolidayItem(OutModel):
    date: date
    name: str
    kind: Literal["holiday", "workday"]


class HolidaysRead(OutModel):
    country: str
    subdiv: str | None
    year: int
    items: list[HolidayItem]


class EscalationRead(OutModel):
    level: int
    name: str
    color: str | None
    kind: str
    due_at: datetime
    fired_at: datetime
    action: str | None
    result: dict[str, Any]


class ClockRead(OutModel):
    id: uuid.UUID
    work_order_id: uuid.UUID
    number: str | None = None
    target: str
    cycle: int
    status: str
    breached: bool
    started_at: datetime
    deadline_at: datetime
    met_at: datetime | None
    on_time: bool | None
    paused: bool = False
    pause_reason: str | None = None
    paused_seconds: float | None = None
    percent_elapsed: float | None = None
    at_risk: bool = False
    next_fire_at: datetime | None = None
    policy_id: uuid.UUID | None = None
    replaced: bool = False
    escalations: list[EscalationRead] = Field(default_factory=list)


class WorkOrderSlaRead(OutModel):
    work_order_id: uuid.UUID
    number: str
    clocks: list[ClockRead]
