"""SLA use cases: calendars and policies (admin), the preview, holiday lists, the clocks of work orders (started,
met, paused, resumed, stopped and re-matched from work-order events) and the escalation timer scan."""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fieldops.core.auth import Role, require_role, system_principal
from fieldops.core.errors import FieldOpsError, InvalidInput
from fieldops.core.events import OutboxEvent, record_event
from fieldops.core.web import Ctx, check_if_match
from fieldops.dispatch import service as dispatch
from fieldops.notifications.service import Recipient, notify
from fieldops.service_types import service as service_types
from fieldops.settings import Settings
from fieldops.sla import repository as repo
from fieldops.sla import rules
from fieldops.sla.models import SlaCalendar, SlaClock, SlaEscalation, SlaPolicy
from fieldops.sla.repository import SlaRepository
from fieldops.sla.rules import Calendar, CalendarError, Level
from fieldops.sla.schemas import (
    CalendarCreate,
    CalendarFields,
    CalendarUpdate,
    ClockRead,
    EscalationRead,
    HolidayItem,
    HolidaysRead,
    LevelIn,
    LevelTime,
    PolicyCreate,
    PolicyUpdate,
    PreviewIn,
    PreviewRead,
    TargetPreview,
    TargetsIn,
    WorkOrderSlaRead,
)
from fieldops.work_orders import service as work_orders
from fieldops.work_orders.models import WorkOrder
from fieldops.work_orders.schemas import WorkOrderUpdate

log = logging.getLogger("fieldops.sla")

CONFIG_READ = {Role.admin, Role.supervisor, Role.dispatcher}
CONFIG_WRITE = {Role.admin}
CLOCK_READ = {Role.admin, Role.supervisor, Role.dispatcher, Role.agent, Role.finance, Role.technician}
OPEN = ("running", "paused", "breached")
RAISE = {"P3": "P2", "P2": "P1", "P1": "P0"}
EVENT_OF_KIND = {"warning": "sla.warning", "breach": "sla.breached", "escalation": "sla.escalated"}
# Arrival is met by the check-in, or earlier by entering the site's geofence (tracking evidence).
MET_TARGET = {"work_order.accepted": "response", "work_order.checked_in": "arrival",
              "work_order.site_entered": "arrival", "work_order.work_completed": "resolution"}


def _invalid(exc: CalendarError) -> InvalidInput:
    return InvalidInput(exc.en, exc.zh, field=exc.field)


def _repo(ctx: Ctx) -> SlaRepository:
    return SlaRepository(ctx.db, ctx.principal)


# ---- calendars ------------------------------------------------------------------------------------

_CAL_CACHE: dict[tuple[uuid.UUID, int, str], Calendar] = {}


def _calendar_json(row: SlaCalendar | CalendarFields) -> dict[str, Any]:
    return {"timezone": row.timezone, "always_open": row.always_open, "hours": dict(row.hours or {}),
            "holiday_country": row.holiday_country, "holiday_subdiv": row.holiday_subdiv,
            "makeup_hours": row.makeup_hours,
            "custom_days": [d if isinstance(d, dict) else d.model_dump() for d in (row.custom_days or [])]}


def calendar_of(row: SlaCalendar, site_tz: str) -> Calendar:
    """The engine's calendar for a stored one in a zone (cached per calendar version and zone)."""
    key = (row.id, row.version, row.timezone or site_tz)
    cal = _CAL_CACHE.get(key)
    if cal is None:
        if len(_CAL_CACHE) > 1000:
            _CAL_CACHE.clear()
        cal = rules.calendar_from_json(_calendar_json(row), site_tz)
        _CAL_CACHE[key] = cal
    return cal


def _validate_calendar(data: dict[str, Any]) -> None:
    try:
        rules.calendar_from_json(data, "UTC")
    except CalendarError as exc:
        raise _invalid(exc) from exc


def list_calendars(ctx: Ctx, limit: int, offset: int) -> tuple[list[SlaCalendar], int]:
    require_role(ctx.principal, CONFIG_READ, "read SLA calendars")
    return _repo(ctx).calendars(limit, offset)


def get_calendar(ctx: Ctx, calendar_id: uuid.UUID) -> SlaCalendar:
    row = _repo(ctx).calendar(calendar_id)
    require_role(ctx.principal, CONFIG_READ, "read SLA calendars")
    return row


def create_calendar(ctx: Ctx, body: CalendarCreate) -> SlaCalendar:
    """Add a business calendar (admin); the hours, zone and holiday region are validated first."""
    require_role(ctx.principal, CONFIG_WRITE, "change SLA calendars")
    data = _calendar_json(body)
    _validate_calendar(data)
    row = SlaCalendar(org_id=ctx.principal.org_id, name=body.name, **data, created_at=ctx.now, updated_at=ctx.now)
    ctx.db.add(row)
    ctx.db.flush()
    return row


def update_calendar(ctx: Ctx, calendar_id: uuid.UUID, body: CalendarUpdate, if_match: str | None) -> SlaCalendar:
    """Change a calendar (admin, If-Match). Running clocks keep their deadlines; new levels use the new hours."""
    row = _repo(ctx).calendar(calendar_id)
    require_role(ctx.principal, CONFIG_WRITE, "change SLA calendars")
    check_if_match(if_match, row.version)
    fields = body.model_dump(exclude_unset=True)
    data = _calendar_json(row)
    for key, value in fields.items():
        if key != "name":
            data[key] = value
    _validate_calendar(data)
    if "name" in fields:
        row.name = fields["name"]
    for key in ("timezone", "always_open", "hours", "holiday_country", "holiday_subdiv", "makeup_hours",
                "custom_days"):
        if key in fields:
            setattr(row, key, data[key])
    row.updated_at = ctx.now
    ctx.db.flush()
    return row


def holidays(ctx: Ctx, country: str, subdiv: str | None, year: int) -> HolidaysRead:
    """Holidays and make-up working days (调休) of a country/subdivision and year, for the calendar screen."""
    require_role(ctx.principal, CONFIG_READ, "read SLA calendars")
    try:
        rules.check_holiday_region(country, subdiv)
    except CalendarError as exc:
        raise _invalid(exc) from exc
    days, workdays = rules.holiday_table(country, subdiv, year, ctx.lang)
    items = [HolidayItem(date=d, name=n, kind="holiday") for d, n in days]
    work_name = "调休上班" if ctx.lang == "zh-CN" else "Make-up working day"
    items += [HolidayItem(date=d, name=work_name, kind="workday") for d in workdays]
    items.sort(key=lambda x: x.date)
    return HolidaysRead(country=country, subdiv=subdiv, year=year, items=items)


# ---- policies -------------------------------------------------------------------------------------

def _targets_json(targets: TargetsIn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in rules.TARGETS:
        t = getattr(targets, name)
        if t is not None:
            out[name] = t.model_dump(exclude_none=True)
    return out


def _check_targets(targets: dict[str, Any]) -> dict[str, rules.TargetSpec]:
    if not targets:
        raise InvalidInput("A policy needs at least one target (response, arrival or resolution).",
                           "策略至少需要一个时限（响应、到场或解决）。", field="targets")
    try:
        return {k: rules.TargetSpec.from_json(v, f"targets.{k}") for k, v in targets.items()}
    except CalendarError as exc:
        raise _invalid(exc) from exc


def _check_ladder(ladder: list[LevelIn], targets: dict[str, Any], *, allow_empty: bool = False) -> list[Any]:
    if not ladder and not allow_empty:
        raise InvalidInput("The escalation ladder needs at least one level.", "升级阶梯至少需要一个级别。",
                           field="ladder")
    for i, lv in enumerate(ladder):
        if (lv.offset_minutes is None) == (lv.percent is None):
            raise InvalidInput("Each level needs either offset_minutes or percent.",
                               "每个级别须填写相对截止时间的偏移（分钟）或百分比之一。", field=f"ladder[{i}]")
        for t in lv.targets:
            if t not in targets:
                raise InvalidInput(f"Level {lv.name!r} names target {t!r}, which the policy does not set.",
                                   f"级别“{lv.name}”引用了策略中未设置的时限“{rules.TARGET_ZH[t]}”。",
                                   field=f"ladder[{i}].targets")
    return [jsonable_encoder(lv.model_dump()) for lv in ladder]


def _check_service_types(ctx: Ctx, ids: list[uuid.UUID]) -> list[str]:
    for sid in ids:
        service_types.get_service_type_in_org(ctx.db, ctx.principal.org_id, sid)
    return [str(x) for x in ids]


def list_policies(ctx: Ctx, limit: int, offset: int) -> tuple[list[SlaPolicy], int]:
    require_role(ctx.principal, CONFIG_READ, "read SLA policies")
    return _repo(ctx).policies(limit, offset)


def get_policy(ctx: Ctx, policy_id: uuid.UUID) -> SlaPolicy:
    row = _repo(ctx).policy(policy_id)
    require_role(ctx.principal, CONFIG_READ, "read SLA policies")
    return row


def create_policy(ctx: Ctx, body: PolicyCreate) -> SlaPolicy:
    """Add a policy (admin): what it matches, its targets, pause rules and escalation ladder."""
    _repo(ctx).calendar(body.calendar_id)  # another organisation's calendar is 404 for everyone
    require_role(ctx.principal, CONFIG_WRITE, "change SLA policies")
    targets = _targets_json(body.targets)
    _check_targets(targets)
    ladder = _check_ladder(body.ladder, targets)
    row = SlaPolicy(org_id=ctx.principal.org_id, name=body.name, active=body.active, rank=body.rank,
                    calendar_id=body.calendar_id, service_type_ids=_check_service_types(ctx, body.service_type_ids),
                    priorities=list(body.priorities), customer_tiers=list(body.customer_tiers), targets=targets,
                    pause_on_hold=body.pause_on_hold, pause_reason_codes=list(body.pause_reason_codes),
                    ladder=ladder, created_at=ctx.now, updated_at=ctx.now)
    ctx.db.add(row)
    ctx.db.flush()
    return row


def update_policy(ctx: Ctx, policy_id: uuid.UUID, body: PolicyUpdate, if_match: str | None) -> SlaPolicy:
    """Change a policy (admin, If-Match). Clocks already running keep their deadlines; the ladder is read fresh."""
    row = _repo(ctx).policy(policy_id)
    require_role(ctx.principal, CONFIG_WRITE, "change SLA policies")
    check_if_match(if_match, row.version)
    fields = body.model_dump(exclude_unset=True)
    if "calendar_id" in fields:
        _repo(ctx).calendar(body.calendar_id)  # type: ignore[arg-type]
        row.calendar_id = body.calendar_id  # type: ignore[assignment]
    targets = _targets_json(body.targets) if body.targets is not None else dict(row.targets)
    _check_targets(targets)
    if body.ladder is not None:
        row.ladder = _check_ladder(body.ladder, targets)
    else:
        _check_ladder([LevelIn.model_validate(x) for x in row.ladder], targets)
    row.targets = targets
    if body.service_type_ids is not None:
        row.service_type_ids = _check_service_types(ctx, body.service_type_ids)
    for key in ("name", "active", "rank", "priorities", "customer_tiers", "pause_on_hold", "pause_reason_codes"):
        if key in fields:
            setattr(row, key, fields[key])
    row.updated_at = ctx.now
    ctx.db.flush()
    return row


# ---- preview ----------------------------------------------------------------------------------------

def _local(when: datetime, cal: Calendar) -> str:
    return when.astimezone(cal.zone).isoformat()


def preview(ctx: Ctx, body: PreviewIn) -> PreviewRead:
    """Each target's deadline and each level's fire time for a start time, for a saved policy or an inline
    calendar with targets and a ladder (nothing is stored)."""
    require_role(ctx.principal, CONFIG_READ, "preview SLA policies")
    site_tz = body.site_timezone or "UTC"
    try:
        rules.check_timezone(site_tz, "site_timezone")
        if body.policy_id is not None:
            policy = _repo(ctx).policy(body.policy_id)
            cal = calendar_of(_repo(ctx).calendar(policy.calendar_id), site_tz)
            targets, ladder = dict(policy.targets), list(policy.ladder)
        else:
            if body.calendar is not None:
                cal = rules.calendar_from_json(_calendar_json(body.calendar), site_tz)
            elif body.calendar_id is not None:
                cal = calendar_of(_repo(ctx).calendar(body.calendar_id), site_tz)
            else:
                raise InvalidInput("Give a policy_id, or a calendar (or calendar_id) with targets.",
                                   "请提供 policy_id，或日历（或 calendar_id）及时限。", field="policy_id")
            if body.targets is None:
                raise InvalidInput("targets are required without a policy_id.", "未提供 policy_id 时须填写时限。",
                                   field="targets")
            targets = _targets_json(body.targets)
            ladder = _check_ladder(body.ladder, targets, allow_empty=True)
        specs = _check_targets(targets)
        levels = [rules.level_from_json(x) for x in ladder]
        out = []
        for name, spec in specs.items():
            deadline = rules.deadline_for(body.start, spec, cal)
            total = rules.business_seconds_between(body.start, deadline, cal)
            sched = rules.ladder_schedule(levels, name, body.start, deadline, total, 0.0, cal)
            out.append(TargetPreview(
                target=name, deadline_at=deadline, deadline_local=_local(deadline, cal),
                business_minutes=round(total / 60.0, 2),
                levels=[LevelTime(index=i, name=levels[i].name, color=levels[i].color, kind=levels[i].kind(),
                                  fire_at=t, fire_local=_local(t, cal)) for i, t in sched]))
    except CalendarError as exc:
        raise _invalid(exc) from exc
    return PreviewRead(timezone=cal.tz, start_local=_local(body.start, cal), targets=out)


# ---- clocks: matching and starting ------------------------------------------------------------------

def match_policy(db: Session, wo: WorkOrder, tier: str) -> SlaPolicy | None:
    """The organisation's policy for this order: explicit rank, then the most specific match."""
    policies = repo.active_policies(db, wo.org_id)
    facts = [rules.PolicyFacts(id=p.id, rank=p.rank, service_type_ids=tuple(p.service_type_ids or ()),
                               priorities=tuple(p.priorities or ()), customer_tiers=tuple(p.customer_tiers or ()),
                               created_order=i) for i, p in enumerate(policies)]
    best = rules.best_policy(facts, str(wo.service_type_id), wo.priority, tier)
    return next((p for p in policies if p.id == best), None)


def _clock_calendar(db: Session, clock: SlaClock, policy: SlaPolicy | None) -> Calendar:
    row = repo.get_calendar(db, policy.calendar_id) if policy is not None else None
    if row is None:
        return rules.Calendar(tz=clock.timezone, always_open=True)
    return calendar_of(row, clock.timezone)


def _payload(wo: WorkOrder, **extra: Any) -> dict[str, Any]:
    return jsonable_encoder({
        "work_order_id": str(wo.id), "number": wo.number, "status": wo.status, "priority": wo.priority,
        "technician_id": str(wo.technician_id) if wo.technician_id else None, "customer_id": str(wo.customer_id),
        "territory_id": str(wo.territory_id) if wo.territory_id else None, "audience": "internal", **extra})


def _clock_event(db: Session, wo: WorkOrder, clock: SlaClock, type_: str, now: datetime, **extra: Any) -> None:
    record_event(db, type=type_, aggregate_type="work_order", aggregate_id=wo.id, org_id=wo.org_id,
                 payload=_payload(wo, clock_id=str(clock.id), target=clock.target, deadline=clock.deadline_at,
                                  clock_status=clock.status, **extra), now=now)


def start_clocks(db: Session, wo: WorkOrder, start: datetime, now: datetime, cycle: int | None = None,
                 policy: SlaPolicy | None = None) -> list[SlaClock]:
    """Start the policy's clocks of a work order (no-op when this cycle already has clocks or nothing matches)."""
    cycle = wo.reopen_count if cycle is None else cycle
    if repo.clocks_of(db, wo.id, cycle):
        return []
    tier, site_tz = repo.order_context(db, wo)
    policy = policy or match_policy(db, wo, tier)
    if policy is None:
        return []
    cal_row = repo.get_calendar(db, policy.calendar_id)
    if cal_row is None:
        return []
    return [_new_clock(db, wo, policy, calendar_of(cal_row, site_tz), name, start, now, cycle)
            for name in rules.TARGETS if name in (policy.targets or {})]


def _new_clock(db: Session, wo: WorkOrder, policy: SlaPolicy, cal: Calendar, target: str, start: datetime,
               now: datetime, cycle: int) -> SlaClock:
    spec = rules.TargetSpec.from_json(policy.targets[target])
    deadline = rules.deadline_for(start, spec, cal)
    clock = SlaClock(id=uuid.uuid4(), org_id=wo.org_id, work_order_id=wo.id, policy_id=policy.id, target=target,
                     cycle=cycle, status="running", breached=False, timezone=cal.tz, started_at=start,
                     deadline_at=deadline, target_seconds=rules.business_seconds_between(start, deadline, cal),
                     paused_seconds=0.0, paused_business_seconds=0.0, replaced=False, created_at=now, updated_at=now)
    db.add(clock)
    _schedule(db, clock, policy, cal, fired=set())
    return clock


def _levels(policy: SlaPolicy | None) -> list[Level]:
    return [rules.level_from_json(x) for x in (policy.ladder if policy is not None else [])]


def _schedule(db: Session, clock: SlaClock, policy: SlaPolicy | None, cal: Calendar,
              fired: set[int] | None = None) -> list[tuple[int, datetime]]:
    """Set next_fire_at / next_level from the levels not fired yet (and the deadline, until breached)."""
    if clock.status not in ("running", "breached") or clock.met_at is not None:
        clock.next_fire_at, clock.next_level = None, None
        return []
    fired = repo.fired_levels(db, clock.id) if fired is None else fired
    pending = [(i, t) for i, t in rules.ladder_schedule(
        _levels(policy), clock.target, clock.started_at, clock.deadline_at, clock.target_seconds,
        clock.paused_business_seconds, cal) if i not in fired]
    times = [t for _, t in pending]
    if not clock.breached:
        times.append(clock.deadline_at)
    clock.next_fire_at = min(times) if times else None
    clock.next_level = pending[0][0] if pending and pending[0][1] == clock.next_fire_at else None
    return pending


# ---- clocks: reacting to work-order events -----------------------------------------------------------

def on_work_order_event(db: Session, event: OutboxEvent, now: datetime) -> None:
    """Handler of work-order events: start, meet, pause, resume, stop, re-match or restart the clocks."""
    wo_id = (event.payload or {}).get("work_order_id")
    wo = repo.work_order(db, uuid.UUID(str(wo_id))) if wo_id else None
    if wo is None:
        return
    at = event.occurred_at
    kind = event.type
    if kind == "work_order.created":
        start_clocks(db, wo, at, now, cycle=0)
    elif kind == "work_order.reopened":
        start_clocks(db, wo, at, now, cycle=max(wo.reopen_count, 1))
    elif kind in MET_TARGET:
        # A geofence entry carries the position fix's own time, which may precede its upload.
        fix_at = (event.payload or {}).get("at") if kind == "work_order.site_entered" else None
        if isinstance(fix_at, str):
            with contextlib.suppress(ValueError):
                at = min(at, datetime.fromisoformat(fix_at))
        _meet(db, wo, MET_TARGET[kind], at, now)
    elif kind == "work_order.held":
        _pause(db, wo, at, now)
    elif kind == "work_order.resumed":
        _resume(db, wo, at, now)
    elif kind == "work_order.cancelled":
        _stop(db, wo, at, now, "cancelled")
    elif kind == "work_order.updated":
        fields = set((event.payload or {}).get("fields") or [])
        if fields & {"priority", "service_type_id", "customer_id"}:
            rematch(db, wo, at, now)


def seed_clocks(db: Session, wo: WorkOrder, now: datetime) -> None:
    """Clocks for an order whose events are history (demo data, imports): started at creation, then met, paused
    or stopped from the order's own timestamps, as the handlers would have done."""
    if not start_clocks(db, wo, wo.created_at, now, cycle=wo.reopen_count):
        return
    for target, at in (("response", wo.accepted_at), ("arrival", wo.checked_in_at),
                       ("resolution", wo.work_completed_at)):
        if at is not None:
            _meet(db, wo, target, at, now)
    if wo.status == "on_hold" and wo.held_at is not None:
        _pause(db, wo, wo.held_at, now)
    elif wo.status == "cancelled":
        _stop(db, wo, wo.cancelled_at or now, now, "cancelled")
    for clock in _open(db, wo):
        policy = repo.get_policy(db, clock.policy_id)
        _schedule(db, clock, policy, _clock_calendar(db, clock, policy))


def _open(db: Session, wo: WorkOrder) -> list[SlaClock]:
    return [c for c in repo.clocks_of(db, wo.id) if c.status in OPEN and c.met_at is None]


def _meet(db: Session, wo: WorkOrder, target: str, at: datetime, now: datetime) -> None:
    for clock in _open(db, wo):
        if clock.target != target:
            continue
        policy = repo.get_policy(db, clock.policy_id)
        if clock.status == "paused":
            _unpause(db, clock, policy, at)
        clock.met_at = at
        clock.on_time = at <= clock.deadline_at
        clock.breached = clock.breached or not clock.on_time
        clock.status = "met" if clock.on_time else "breached"
        clock.next_fire_at, clock.next_level = None, None
        clock.updated_at = now
        _clock_event(db, wo, clock, "sla.met", now, on_time=clock.on_time, met_at=at)


def _pause(db: Session, wo: WorkOrder, at: datetime, now: datetime) -> None:
    for clock in _open(db, wo):
        policy = repo.get_policy(db, clock.policy_id)
        if clock.status == "paused" or policy is None or not policy.pause_on_hold:
            continue
        codes = list(policy.pause_reason_codes or [])
        if codes and wo.hold_reason_code not in codes:
            continue
        clock.status, clock.paused_at, clock.pause_reason = "paused", at, wo.hold_reason_code
        clock.next_fire_at, clock.next_level = None, None
        clock.updated_at = now
        _clock_event(db, wo, clock, "sla.paused", now, reason=wo.hold_reason_code)


def _unpause(db: Session, clock: SlaClock, policy: SlaPolicy | None, at: datetime) -> float:
    """End a pause at `at`: add its wall and business time, push the deadline by the business time."""
    cal = _clock_calendar(db, clock, policy)
    since = clock.paused_at or at
    business = max(rules.business_seconds_between(since, at, cal), 0.0)
    clock.paused_seconds += max((at - since).total_seconds(), 0.0)
    clock.paused_business_seconds += business
    if business > 0:
        clock.deadline_at = rules.add_business_seconds(clock.deadline_at, business, cal)
    clock.paused_at, clock.pause_reason = None, None
    clock.status = "breached" if clock.breached else "running"
    return business


def _resume(db: Session, wo: WorkOrder, at: datetime, now: datetime) -> None:
    for clock in _open(db, wo):
        if clock.status != "paused":
            continue
        policy = repo.get_policy(db, clock.policy_id)
        business = _unpause(db, clock, policy, at)
        _schedule(db, clock, policy, _clock_calendar(db, clock, policy))
        clock.updated_at = now
        _clock_event(db, wo, clock, "sla.resumed", now, paused_business_seconds=business)


def _stop(db: Session, wo: WorkOrder, at: datetime, now: datetime, reason: str) -> None:
    for clock in _open(db, wo):
        clock.status, clock.stopped_at, clock.stop_reason = "stopped", at, reason
        clock.next_fire_at, clock.next_level = None, None
        clock.updated_at = now


def rematch(db: Session, wo: WorkOrder, at: datetime, now: datetime) -> None:
    """After a priority (or type/customer) change: another policy replaces the clocks of the current cycle,
    measured from the original start; met targets stay met (judged against the new deadline); pauses carry over."""
    current = [c for c in repo.clocks_of(db, wo.id) if c.cycle == max(wo.reopen_count, 0)] or \
        repo.clocks_of(db, wo.id)[:3]
    tier, site_tz = repo.order_context(db, wo)
    policy = match_policy(db, wo, tier)
    if current and all(c.policy_id == (policy.id if policy else None) for c in current):
        return
    if not current:
        if policy is not None and wo.status not in ("closed", "cancelled", "completed"):
            start_clocks(db, wo, at, now, policy=policy)
        return
    old = {c.target: c for c in current}
    cycle = current[0].cycle
    for c in current:
        c.replaced = True
        if c.status in OPEN:
            c.status, c.stopped_at, c.stop_reason = "stopped", at, "replaced"
        c.next_fire_at, c.next_level = None, None
        c.updated_at = now
    db.flush()
    if policy is None:
        return
    cal_row = repo.get_calendar(db, policy.calendar_id)
    if cal_row is None:
        return
    cal = calendar_of(cal_row, site_tz)
    for name in rules.TARGETS:
        if name not in (policy.targets or {}):
            continue
        prev = old.get(name)
        start = prev.started_at if prev is not None else min(c.started_at for c in current)
        clock = _new_clock(db, wo, policy, cal, name, start, now, cycle)
        if prev is None:
            continue
        if prev.paused_business_seconds:
            clock.paused_seconds = prev.paused_seconds
            clock.paused_business_seconds = prev.paused_business_seconds
            clock.deadline_at = rules.add_business_seconds(clock.deadline_at, prev.paused_business_seconds, cal)
        if prev.met_at is not None:
            clock.met_at = prev.met_at
            clock.on_time = prev.met_at <= clock.deadline_at
            clock.breached = not clock.on_time
            clock.status = "met" if clock.on_time else "breached"
        elif prev.paused_at is not None:
            clock.status, clock.paused_at, clock.pause_reason = "paused", prev.paused_at, prev.pause_reason
        elif prev.stop_reason == "cancelled":
            clock.status, clock.stopped_at, clock.stop_reason = "stopped", prev.stopped_at, "cancelled"
        _schedule(db, clock, policy, cal, fired=set())


# ---- the timer scan -----------------------------------------------------------------------------------

def fire_due(db: Session, now: datetime, settings: Settings) -> int:
    """TIMERS job: fire every due level of every due clock exactly once (escalation row unique per clock and
    level, written with its notifications and outbox event in this transaction), mark breaches, set the next
    fire time. Returns the number of levels fired."""
    fired_total = 0
    for clock in repo.claim_due(db, now, settings.sla_scan_batch):
        try:
            with db.begin_nested():
                fired_total += _fire_clock(db, clock, now, settings)
        except Exception:  # one broken clock must not block the others: retry it in a minute
            log.exception("SLA clock %s failed to fire", clock.id)
            clock.next_fire_at = now + timedelta(seconds=60)
    return fired_total


def _fire_clock(db: Session, clock: SlaClock, now: datetime, settings: Settings) -> int:
    wo = repo.work_order(db, clock.work_order_id)
    policy = repo.get_policy(db, clock.policy_id)
    if wo is None:
        clock.next_fire_at = None
        return 0
    cal = _clock_calendar(db, clock, policy)
    fired = repo.fired_levels(db, clock.id)
    pending = _schedule(db, clock, policy, cal, fired)
    ladder = list(policy.ladder) if policy is not None else []
    count = 0
    for idx, due in pending:
        if due > now or clock.status not in ("running", "breached"):
            break
        if clock.deadline_at <= due:
            clock.breached, clock.status = True, "breached"
        if _fire_level(db, wo, clock, idx, ladder[idx], due, now, settings):
            count += 1
            fired.add(idx)
    if clock.deadline_at <= now and clock.status == "running":
        clock.breached, clock.status = True, "breached"
    _schedule(db, clock, policy, cal, fired)
    clock.updated_at = now
    return count


def _recipients(db: Session, wo: WorkOrder, spec: dict[str, Any]) -> list[Recipient]:
    ids: list[uuid.UUID] = []
    if spec.get("assignee"):
        uid = repo.technician_user(db, wo.technician_id)
        if uid:
            ids.append(uid)
    if spec.get("dispatchers"):
        ids += repo.user_ids_by_role(db, wo.org_id, ["dispatcher"])
    if spec.get("supervisors"):
        ids += repo.supervisors_of(db, wo.org_id, wo.territory_id)
    if spec.get("roles"):
        roles = [r for r in spec["roles"] if r != "technician"]
        ids += repo.user_ids_by_role(db, wo.org_id, roles)
        if "technician" in spec["roles"]:
            uid = repo.technician_user(db, wo.technician_id)
            if uid:
                ids.append(uid)
    if spec.get("user_ids"):
        ids += repo.users_in_org(db, wo.org_id, [uuid.UUID(str(x)) for x in spec["user_ids"]])
    seen: set[uuid.UUID] = set()
    out = []
    for uid in ids:
        if uid not in seen:
            seen.add(uid)
            out.append(Recipient(user_id=uid))
    return out


def _fire_level(db: Session, wo: WorkOrder, clock: SlaClock, idx: int, level: dict[str, Any], due: datetime,
                now: datetime, settings: Settings) -> bool:
    lv = rules.level_from_json(level)
    kind = lv.kind()
    esc = SlaEscalation(id=uuid.uuid4(), org_id=clock.org_id, clock_id=clock.id, work_order_id=wo.id,
                        target=clock.target, level=idx, name=lv.name[:100], color=lv.color, kind=kind, due_at=due,
                        fired_at=now, deadline_at=clock.deadline_at, action=level.get("action"), result={})
    try:
        with db.begin_nested():
            db.add(esc)
            db.flush()
    except IntegrityError:
        return False  # another worker (or an earlier pass) fired it
    minutes = rules.minutes_between(now, clock.deadline_at)
    params = {"number": wo.number, "title": wo.title, "target": clock.target, "level": lv.name,
              "deadline": clock.deadline_at.isoformat(), "minutes": minutes}
    template = EVENT_OF_KIND[kind]
    recipients = _recipients(db, wo, dict(level.get("recipients") or {}))
    if recipients:
        notes = notify(db, org_id=wo.org_id, template=template, params=params, recipients=recipients, now=now,
                       work_order_id=wo.id, channels=list(level["channels"]) if level.get("channels") else None,
                       dedupe_key=f"sla:{clock.id}:{idx}")
        esc.notified = len(notes)
    if level.get("action"):
        esc.result = _run_action(db, wo, clock, str(level["action"]), now, settings)
    record_event(db, type=template, aggregate_type="work_order", aggregate_id=wo.id, org_id=wo.org_id,
                 payload=_payload(wo, clock_id=str(clock.id), target=clock.target, level=idx, level_name=lv.name,
                                  color=lv.color, kind=kind, deadline=clock.deadline_at, minutes=minutes,
                                  action=level.get("action"), result=esc.result), now=now)
    return True


def _run_action(db: Session, wo: WorkOrder, clock: SlaClock, action: str, now: datetime,
                settings: Settings) -> dict[str, Any]:
    """Reassign, offer to the grab pool or raise the priority as the system; a refusal is recorded, not raised."""
    system = Ctx(db=db, principal=system_principal(wo.org_id), now=now, settings=settings)
    current = str(wo.technician_id) if wo.technician_id else None
    if action in ("reassign", "pool"):
        dispatch.lock_dispatch(db, wo.org_id)  # before any row lock on the order: the order dispatch uses
    try:
        with db.begin_nested():
            if action == "raise_priority":
                new = RAISE.get(wo.priority)
                if new is None:
                    return {"ok": False, "reason": "already P0"}
                work_orders.update(system, wo.id, f'"{wo.version}"', WorkOrderUpdate(priority=new))
                return {"ok": True, "priority": new}
            if wo.status not in ("new", "assigned", "accepted", "en_route"):
                return {"ok": False, "reason": f"work order is {wo.status}"}
            others = [c for c in dispatch.candidates(system, wo.id) if c.technician_id != current]
            if action == "reassign":
                choice = next((c for c in others if c.feasible), None)
                if choice is None:
                    return {"ok": False, "reason": "no other eligible technician"}
                dispatch.manual_assign(system, wo.id, uuid.UUID(choice.technician_id),
                                       f"SLA escalation ({clock.target})", None)
                return {"ok": True, "technician_id": choice.technician_id, "previous_technician_id": current}
            if action == "pool":
                eligible = [c.technician_id for c in others if c.feasible] or [c.technician_id for c in others]
                if not eligible:
                    return {"ok": False, "reason": "no other technician"}
                offer = dispatch.offer_to_pool(system, wo, eligible, f"SLA escalation ({clock.target})", 15)
                return {"ok": True, "offer_id": str(offer.id), "eligible": len(eligible)}
    except FieldOpsError as exc:
        return {"ok": False, "reason": str(exc)[:500]}
    except Exception as exc:  # the escalation still counts as fired; the failed action is visible
        log.exception("SLA action %s failed for %s", action, wo.id)
        return {"ok": False, "reason": type(exc).__name__}
    return {"ok": False, "reason": f"unknown action {action}"}


# ---- reads ----------------------------------------------------------------------------------------------

def _clock_read(db: Session, clock: SlaClock, now: datetime, number: str | None, settings: Settings,
                escalations: list[SlaEscalation], internal: bool = True) -> ClockRead:
    read = ClockRead(id=clock.id, work_order_id=clock.work_order_id, number=number, target=clock.target,
                     cycle=clock.cycle, status=clock.status, breached=clock.breached, started_at=clock.started_at,
                     deadline_at=clock.deadline_at, met_at=clock.met_at, on_time=clock.on_time,
                     replaced=clock.replaced)
    if not internal:
        return read
    policy = repo.get_policy(db, clock.policy_id)
    cal = _clock_calendar(db, clock, policy)
    end = clock.met_at or clock.stopped_at or now
    paused_wall = clock.paused_seconds
    if clock.paused_at is not None:
        paused_wall += max((now - clock.paused_at).total_seconds(), 0.0)
        end = clock.paused_at
    elapsed = rules.business_seconds_between(clock.started_at, end, cal) - clock.paused_business_seconds
    read.paused = clock.status == "paused"
    read.pause_reason = clock.pause_reason
    read.paused_seconds = round(paused_wall, 1)
    read.percent_elapsed = rules.percent_elapsed(elapsed, clock.target_seconds)
    read.at_risk = clock.status in ("running", "breached") and clock.met_at is None and (
        clock.deadline_at <= now + timedelta(minutes=settings.sla_at_risk_minutes) or read.percent_elapsed >= 75)
    read.next_fire_at = clock.next_fire_at
    read.policy_id = clock.policy_id
    read.escalations = [EscalationRead.model_validate(e) for e in escalations]
    return read


def work_order_sla(ctx: Ctx, work_order_id: uuid.UUID) -> WorkOrderSlaRead:
    """The clocks of one work order (every cycle, newest first). A customer sees only targets, deadlines and
    outcomes of their own order; SLA internals (escalations, percentages, pauses) stay internal."""
    wo = work_orders.get(ctx, work_order_id)
    internal = ctx.principal.role != Role.customer
    clocks = repo.clocks_of(ctx.db, wo.id)
    by_clock: dict[uuid.UUID, list[SlaEscalation]] = {}
    if internal:
        for e in repo.escalations_of(ctx.db, [c.id for c in clocks]):
            by_clock.setdefault(e.clock_id, []).append(e)
    return WorkOrderSlaRead(work_order_id=wo.id, number=wo.number, clocks=[
        _clock_read(ctx.db, c, ctx.now, wo.number, ctx.settings, by_clock.get(c.id, []), internal)
        for c in clocks])


def list_clocks(ctx: Ctx, status: list[str], at_risk: bool | None, work_order_ids: list[uuid.UUID],
                limit: int, offset: int) -> tuple[list[ClockRead], int]:
    """Clocks of the orders the caller may see, for the console: by status, at risk, or a list of orders."""
    require_role(ctx.principal, CLOCK_READ, "read SLA clocks")
    bad = [s for s in status if s not in ("running", "paused", "met", "breached", "stopped")]
    if bad:
        raise InvalidInput(f"Unknown clock status {bad[0]!r}.", f"未知的计时状态“{bad[0]}”。", field="status")
    at_risk_before = ctx.now + timedelta(minutes=ctx.settings.sla_at_risk_minutes) if at_risk else None
    rows, total = _repo(ctx).clocks(work_orders.repo(ctx).scoped(), status=status, work_order_ids=work_order_ids,
                                    at_risk_before=at_risk_before, limit=limit, offset=offset)
    by_clock: dict[uuid.UUID, list[SlaEscalation]] = {}
    for e in repo.escalations_of(ctx.db, [c.id for c, _ in rows]):
        by_clock.setdefault(e.clock_id, []).append(e)
    return [_clock_read(ctx.db, c, ctx.now, n, ctx.settings, by_clock.get(c.id, [])) for c, n in rows], total
