"""Build the engine's problem from the database: technicians with shifts, routes and learned performance,
and jobs from work orders. The engine itself never touches the database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldops.customers import service as customers
from fieldops.dispatch.models import DispatchPolicy, TechnicianPerformance
from fieldops.engine import model as em
from fieldops.engine.travel import travel_seconds
from fieldops.organizations import service as organizations
from fieldops.service_types import service as service_types
from fieldops.technicians import service as technicians
from fieldops.technicians.rules import TechnicianSnapshot
from fieldops.work_orders.models import WorkOrder

ROUTE_STATUSES = ("assigned", "accepted", "en_route", "on_site", "in_progress")
PINNED_STATUSES = ("en_route", "on_site", "in_progress")
DONE_STATUSES = ("awaiting_acceptance", "completed", "closed")
LIVE_POSITION_MAX_AGE = timedelta(minutes=30)
ROUTE_COLUMNS = (
    WorkOrder.id,
    WorkOrder.technician_id,
    WorkOrder.status,
    WorkOrder.priority,
    WorkOrder.site_lat,
    WorkOrder.site_lng,
    WorkOrder.duration_min,
    WorkOrder.planned_start,
    WorkOrder.window_start,
    WorkOrder.window_end,
    WorkOrder.assigned_at,
    WorkOrder.created_at,
    WorkOrder.started_at,
    WorkOrder.checked_in_at,
)


def ts(value: datetime) -> int:
    return int(value.timestamp())


@dataclass
class OrgContext:
    org_id: uuid.UUID
    tz: ZoneInfo
    policy: em.Policy
    travel: em.TravelModel


def policy_for(db: Session, org_id: uuid.UUID, service_type_id: uuid.UUID | None = None) -> DispatchPolicy | None:
    rows = list(db.scalars(select(DispatchPolicy).where(DispatchPolicy.org_id == org_id)))
    specific = next((p for p in rows if service_type_id and p.service_type_id == service_type_id), None)
    return specific or next((p for p in rows if p.service_type_id is None), None)


def engine_policy(row: DispatchPolicy | None) -> tuple[em.Policy, em.TravelModel]:
    if row is None:
        return em.Policy(), em.TravelModel()
    weights = em.Weights(
        **{k: float(v) for k, v in (row.weights or {}).items() if k in em.Weights.__dataclass_fields__}
    )
    policy = em.Policy(
        mode=row.mode,
        weights=weights,
        urgent_first=row.urgent_first,
        vip_first=row.vip_first,
        allow_evict=row.allow_evict,
        stability_gain_s=row.stability_gain_min * 60,
    )
    return policy, em.TravelModel(speed_kmh=row.speed_kmh, detour=row.detour_factor)


def org_context(db: Session, org_id: uuid.UUID, service_type_id: uuid.UUID | None = None) -> OrgContext:
    org = organizations.get_org(db, org_id)
    policy, travel = engine_policy(policy_for(db, org_id, service_type_id))
    return OrgContext(org_id, ZoneInfo(org.timezone or "UTC"), policy, travel)


def _shifts(t: TechnicianSnapshot, tz: ZoneInfo, days: list[date]) -> tuple[em.Shift, ...]:
    out = []
    home_lat = t.home_lat if t.home_lat is not None else 0.0
    home_lng = t.home_lng if t.home_lng is not None else 0.0
    for day in days:
        for slot in t.shifts:
            if slot.weekday != day.weekday():
                continue
            start = datetime.combine(day, slot.start_time, tz)
            end = datetime.combine(day, slot.end_time, tz)
            breaks: tuple[em.Window, ...] = ()
            if slot.break_start and slot.break_end:
                breaks = (
                    em.Window(
                        ts(datetime.combine(day, slot.break_start, tz)), ts(datetime.combine(day, slot.break_end, tz))
                    ),
                )
            out.append(em.Shift(ts(start), ts(end), home_lat, home_lng, home_lat, home_lng, breaks))
    return tuple(sorted(out, key=lambda s: s.start))


def _job_windows(wo: WorkOrder, now: datetime) -> tuple[em.Window, ...]:
    dur = timedelta(minutes=wo.duration_min)
    if wo.window_start and wo.window_end:
        start = max(wo.window_start, now)
        latest = max(wo.window_end - dur, start)
        return (em.Window(ts(start), ts(latest)),)
    if wo.due_at and wo.due_at - dur > now:
        return (em.Window(ts(now), ts(wo.due_at - dur)),)
    return ()


def job_from(db: Session, wo: WorkOrder, now: datetime) -> em.Job:
    stype = service_types.resolve(db, wo.org_id, wo.service_type_id)
    customer = customers.get_customer_in_org(db, wo.org_id, wo.customer_id)
    return em.Job(
        id=str(wo.id),
        lat=float(wo.site_lat or 0.0),
        lng=float(wo.site_lng or 0.0),
        duration_s=wo.duration_min * 60,
        windows=_job_windows(wo, now),
        skills=tuple((str(s.get("skill")), int(s.get("min_level", 1))) for s in stype.required_skills or []),
        certificates=tuple(str(c) for c in stype.required_certificates or []),
        priority=wo.priority,
        due=ts(wo.due_at) if wo.due_at else None,
        service_type=str(wo.service_type_id),
        customer_id=str(wo.customer_id),
        territory_id=str(wo.territory_id) if wo.territory_id else None,
        vip=customer.tier in ("vip", "key"),
        preferred_technicians=tuple(str(x) for x in customer.preferred_technician_ids or []),
        blocked_technicians=tuple(str(x) for x in customer.blocked_technician_ids or []),
        rejected_by=tuple(str(x) for x in wo.rejected_technician_ids or []),
        created=ts(wo.created_at),
    )


def _days(now: datetime, tz: ZoneInfo, until: datetime | None) -> list[date]:
    first = now.astimezone(tz).date()
    last = until.astimezone(tz).date() if until else first
    last = min(max(last, first), first + timedelta(days=14))
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def technicians_for(
    db: Session,
    ctx: OrgContext,
    now: datetime,
    until: datetime | None = None,
    exclude_work_orders: set[uuid.UUID] | None = None,
) -> list[em.Technician]:
    """Engine technicians with today's committed routes (in planned order) and learned performance."""
    snaps = technicians.snapshot(db, ctx.org_id, leave_after=now - timedelta(days=1))
    days = _days(now, ctx.tz, until)
    day_start = datetime.combine(now.astimezone(ctx.tz).date(), time(0), ctx.tz)
    # Only the columns a route needs: loading whole work orders (JSON columns) costs more than the decision.
    open_rows = list(
        db.execute(
            select(*ROUTE_COLUMNS).where(
                WorkOrder.org_id == ctx.org_id,
                WorkOrder.status.in_(ROUTE_STATUSES),
                WorkOrder.technician_id.is_not(None),
            )
        )
    )
    done_today = list(
        db.execute(
            select(WorkOrder.technician_id).where(
                WorkOrder.org_id == ctx.org_id,
                WorkOrder.status.in_(DONE_STATUSES),
                WorkOrder.work_completed_at >= day_start,
            )
        ).scalars()
    )
    perf_rows = list(db.scalars(select(TechnicianPerformance).where(TechnicianPerformance.org_id == ctx.org_id)))
    perf: dict[uuid.UUID, list[TechnicianPerformance]] = {}
    for p in perf_rows:
        perf.setdefault(p.technician_id, []).append(p)
    routes: dict[uuid.UUID, list[Any]] = {}
    for wo in open_rows:
        if exclude_work_orders and wo.id in exclude_work_orders:
            continue
        routes.setdefault(wo.technician_id, []).append(wo)  # type: ignore[arg-type]
    out = []
    for t in snaps:
        if not t.active:
            continue
        lat, lng = (t.home_lat or 0.0), (t.home_lng or 0.0)
        if (
            t.last_lat is not None
            and t.last_lng is not None
            and t.last_seen_at
            and now - t.last_seen_at <= LIVE_POSITION_MAX_AGE
        ):
            lat, lng = t.last_lat, t.last_lng
        visits = _route(routes.get(t.id, []), lat, lng, now, ctx.travel)
        q = tuple((str(p.service_type_id), _quality(p)) for p in perf.get(t.id, []))
        sp = tuple((str(p.service_type_id), float(p.duration_ratio)) for p in perf.get(t.id, []))
        out.append(
            em.Technician(
                id=str(t.id),
                name=t.name,
                lat=lat,
                lng=lng,
                shifts=_shifts(t, ctx.tz, days),
                skills=tuple((s.skill_code, s.level) for s in t.skills),
                certificates=tuple(
                    (
                        c.type_code,
                        ts(datetime.combine(c.expires_on + timedelta(days=1), time(0), ctx.tz))
                        if c.expires_on
                        else None,
                    )
                    for c in t.certificates
                ),
                leave=tuple(em.Window(ts(lv.start_at), ts(lv.end_at)) for lv in t.leave),
                territory_ids=tuple(str(x) for x in sorted(t.territory_ids, key=str)),
                home_lat=t.home_lat,
                home_lng=t.home_lng,
                max_radius_km=t.max_travel_km,
                max_jobs_per_day=t.max_jobs_per_day,
                max_work_s=t.max_work_minutes * 60,
                route=tuple(visits),
                jobs_today=done_today.count(t.id),
                quality=q,
                speed=sp,
                active=t.active,
                on_duty=t.duty_status in ("on_duty", "on_break"),
            )
        )
    return out


def _quality(p: TechnicianPerformance) -> float:
    rating = (p.rating or 4.0) / 5.0
    return round(0.4 * p.first_time_fix + 0.3 * (1 - p.rework_rate) + 0.3 * rating, 4)


def _route(rows: list[Any], lat: float, lng: float, now: datetime, travel: em.TravelModel) -> list[em.Visit]:
    """The technician's committed visits in order; unplanned ones are chained after the planned ones."""

    def key(wo: Any) -> tuple[int, float, float]:
        pinned = 0 if wo.status in PINNED_STATUSES else 1
        start = wo.planned_start or wo.window_start or wo.assigned_at or wo.created_at
        return (pinned, start.timestamp(), wo.created_at.timestamp())

    visits: list[em.Visit] = []
    clock, here = ts(now), (lat, lng)
    for wo in sorted(rows, key=key):
        pinned = wo.status in PINNED_STATUSES
        site = (float(wo.site_lat or lat), float(wo.site_lng or lng))
        if wo.status in ("on_site", "in_progress"):
            begun = wo.started_at or wo.checked_in_at or now
            start = ts(begun)
        else:
            arrive = clock + travel_seconds(travel, here[0], here[1], site[0], site[1])
            planned = ts(wo.planned_start) if wo.planned_start else arrive
            window_open = ts(wo.window_start) if wo.window_start else arrive
            start = max(arrive, planned, window_open)
        windows = (
            (em.Window(ts(wo.window_start), max(ts(wo.window_end) - wo.duration_min * 60, ts(wo.window_start))),)
            if wo.window_start and wo.window_end
            else ()
        )
        if windows and start > windows[0].end:
            windows = (em.Window(windows[0].start, start),)  # already late: keep it where it is
        visits.append(
            em.Visit(
                job_id=str(wo.id),
                lat=site[0],
                lng=site[1],
                duration_s=wo.duration_min * 60,
                start=start,
                windows=windows,
                priority=wo.priority,
                pinned=pinned,
            )
        )
        clock, here = max(clock, start + wo.duration_min * 60), site
    return visits
