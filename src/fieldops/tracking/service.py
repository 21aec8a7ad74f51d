"""Tracking use cases: ingest location batches, live positions, trace playback, geofences and their evidence,
timeout alerts, retention, export and deletion. Services flush, never commit."""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from fieldops.core.auth import Role, require_role, system_principal
from fieldops.core.errors import Forbidden, InvalidInput, NotFound, TooManyRequests, conflict
from fieldops.core.events import record_event
from fieldops.core.web import Ctx, check_if_match
from fieldops.notifications import service as notifications
from fieldops.organizations import service as organizations
from fieldops.organizations.rules import GeometryProblem
from fieldops.settings import Settings
from fieldops.technicians import service as technicians
from fieldops.technicians.models import Technician
from fieldops.tracking import repository as repo
from fieldops.tracking import rules
from fieldops.tracking.models import Geofence, LocationAudit, LocationPoint, TechnicianPosition, TrackingAlert
from fieldops.tracking.schemas import (
    DayDistance,
    GeofenceCreate,
    GeofenceImport,
    GeofenceUpdate,
    IngestResult,
    PointBatch,
    PointProblem,
    PositionList,
    PositionRead,
    StopRead,
    TracePointRead,
    TraceRead,
    WorkOrderTechnicianPosition,
)
from fieldops.work_orders import service as work_orders
from fieldops.work_orders.models import WorkOrder

log = logging.getLogger("fieldops.tracking")

DESK = frozenset({Role.admin, Role.supervisor, Role.dispatcher, Role.agent})
FENCE_WRITERS = frozenset({Role.admin, Role.supervisor, Role.dispatcher})
TRACE_READERS = DESK | {Role.technician}
DISTANCE_READERS = DESK | {Role.technician, Role.finance}
PRIVACY_ADMINS = frozenset({Role.admin})
ARRIVAL_STATUSES = ("assigned", "accepted", "en_route")
MAX_TRACE_RANGE = timedelta(days=31)
TRACE_CAP = 50_000


# ---- settings -----------------------------------------------------------------------------------

def _org_settings(db: Session, org_id: uuid.UUID) -> tuple[str, dict[str, Any]]:
    org = organizations.get_org(db, org_id)
    return org.timezone or "UTC", dict(org.settings or {})


def _knob(org_settings: dict[str, Any], settings: Settings, key: str) -> float:
    value = org_settings.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return float(getattr(settings, key))


def site_radius(org_settings: dict[str, Any], settings: Settings, service_type_code: str | None = None) -> float:
    """The job-site fence radius: per service type (org setting tracking_site_radius_by_service_type), else the
    organisation's tracking_site_radius_m, else FIELDOPS_TRACKING_SITE_RADIUS_M."""
    per_type = org_settings.get("tracking_site_radius_by_service_type")
    if service_type_code and isinstance(per_type, dict):
        value = per_type.get(service_type_code)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
    return _knob(org_settings, settings, "tracking_site_radius_m")


def _limits(settings: Settings) -> rules.Limits:
    return rules.Limits(max_future_skew=timedelta(seconds=settings.tracking_max_future_seconds),
                        max_age=timedelta(days=settings.tracking_retention_days),
                        low_accuracy_m=settings.tracking_low_accuracy_m)


def _lang(ctx: Ctx) -> str:
    return ctx.lang if ctx.lang in ("en", "zh-CN") else "en"


def _problem(ctx: Ctx, index: int, code: str) -> PointProblem:
    en, zh = rules.reason_messages(code)
    return PointProblem(index=index, reason=code, message=zh if _lang(ctx) == "zh-CN" else en)


# ---- notifications (the contract of the notifications module) -----------------------------------

def _notify(db: Session, *, org_id: uuid.UUID, template: str, params: dict[str, Any], user_ids: list[uuid.UUID],
            now: datetime, work_order_id: uuid.UUID | None, dedupe_key: str,
            channels: list[str] | None = None) -> None:
    """Queue a message through notifications.notify; a failure there never costs the caller its transaction."""
    notify = getattr(notifications, "notify", None)
    recipient = getattr(notifications, "Recipient", None)
    if notify is None or recipient is None or not user_ids:
        return
    try:
        with db.begin_nested():
            notify(db, org_id=org_id, template=template, params=params,
                   recipients=[recipient(user_id=u) for u in user_ids], now=now, work_order_id=work_order_id,
                   channels=channels, dedupe_key=dedupe_key)
    except Exception:  # the alert row and event stand; the message is what is lost
        log.exception("could not queue %s for %s", template, work_order_id)


def _wo_payload(wo: WorkOrder, **extra: Any) -> dict[str, Any]:
    return {"work_order_id": str(wo.id), "number": wo.number, "status": wo.status, "priority": wo.priority,
            "technician_id": str(wo.technician_id) if wo.technician_id else None,
            "customer_id": str(wo.customer_id), "territory_id": str(wo.territory_id) if wo.territory_id else None,
            **extra}


# ---- the fence index (cached per process, rebuilt when the organisation's fences change) ---------

@dataclass
class _CachedIndex:
    fingerprint: tuple[Any, ...]
    index: rules.FenceIndex
    by_key: dict[str, rules.FenceShape]


_INDEXES: dict[uuid.UUID, _CachedIndex] = {}
_INDEX_LOCK = threading.Lock()


def fence_index(db: Session, org_id: uuid.UUID) -> _CachedIndex:
    """The organisation's geofences and territories in one STRtree, rebuilt only when they changed."""
    fingerprint = (repo.fence_generation(db, org_id), *repo.territory_fingerprint(db, org_id))
    with _INDEX_LOCK:
        cached = _INDEXES.get(org_id)
        if cached is not None and cached.fingerprint == fingerprint:
            return cached
    shapes: list[rules.FenceShape] = []
    for g in repo.active_geofences(db, org_id):
        shapes.append(rules.FenceShape(key=f"g:{g.id}", fence_type="geofence", fence_id=g.id, name=g.name,
                                       lat=g.lat, lng=g.lng, radius_m=g.radius_m,
                                       geometry=g.geometry if g.kind == "polygon" else None))
    for t in repo.active_territories(db, org_id):
        shapes.append(rules.FenceShape(key=f"t:{t.id}", fence_type="territory", fence_id=t.id, name=t.name,
                                       geometry=t.polygon))
    built = _CachedIndex(fingerprint, rules.FenceIndex(shapes), {s.key: s for s in shapes})
    with _INDEX_LOCK:
        _INDEXES[org_id] = built
    return built


# ---- ingest -------------------------------------------------------------------------------------

def ingest(ctx: Ctx, batch: PointBatch) -> IngestResult:
    """Store a batch from the signed-in technician's device: rate limited per device, idempotent per point
    (technician, device, time or client id), each point validated on its own; positions are dropped entirely
    while the technician is off shift with no active job. Updates the live position, per-day distance and
    geofence evidence, and stamps the arrival when the technician enters their job site."""
    require_role(ctx.principal, {Role.technician}, "post locations")
    if ctx.principal.is_system:
        raise Forbidden(role="system", action="post locations")
    db, now, s = ctx.db, ctx.now, ctx.settings
    tech = repo.own_technician(db, ctx.principal.org_id, ctx.principal.technician_id)
    if tech is None:
        raise NotFound("technician")
    device = repo.ensure_device(db, tech.org_id, tech.id, batch.device_id, float(s.tracking_rate_burst), now)
    allowed, tokens, wait = rules.take_token(device.tokens, device.tokens_at, now, s.tracking_rate_per_minute / 60.0,
                                             float(s.tracking_rate_burst))
    if not allowed:
        raise TooManyRequests(wait, code="rate_limited")
    device.tokens, device.tokens_at, device.last_seen_at = tokens, now, now

    points = batch.points
    jobs = repo.active_jobs(db, tech.org_id, tech.id)
    if not rules.may_store(tech.duty_status, bool(jobs)):
        db.flush()
        return IngestResult(accepted=0, duplicates=0, flagged=[],
                            rejected=[_problem(ctx, i, "off_shift") for i in range(len(points))])

    # Idempotency: a point already stored (or repeated inside the batch) is a duplicate, not an error.
    times = [p.recorded_at.astimezone(UTC) for p in points]
    seen_t, seen_c = repo.existing_keys(db, tech.id, batch.device_id, times,
                                        [p.client_id for p in points if p.client_id])
    duplicates: set[int] = set()
    for i, p in enumerate(points):
        if times[i] in seen_t or (p.client_id is not None and p.client_id in seen_c):
            duplicates.add(i)
        seen_t.add(times[i])
        if p.client_id is not None:
            seen_c.add(p.client_id)
    candidates = [i for i in range(len(points)) if i not in duplicates]
    pos = repo.position(db, tech.id)
    last = rules.Fix(pos.lat, pos.lng, pos.recorded_at) if pos is not None else None
    raw = [rules.RawPoint(lat=points[i].lat, lng=points[i].lng, recorded_at=times[i], accuracy_m=points[i].accuracy_m,
                          speed_mps=points[i].speed_mps, heading=points[i].heading) for i in candidates]
    verdicts = rules.validate_batch(raw, last, now, _limits(s))
    rejected = [_problem(ctx, candidates[v.index], v.reason or "invalid_value") for v in verdicts if not v.ok]
    good = [(candidates[v.index], v) for v in verdicts if v.ok]
    good.sort(key=lambda item: times[item[0]])
    flagged = [_problem(ctx, i, f) for i, v in good for f in v.flags]
    rows = [{"id": uuid.uuid4(), "org_id": tech.org_id, "technician_id": tech.id, "device_id": batch.device_id,
             "client_id": points[i].client_id, "recorded_at": times[i], "received_at": now, "lat": points[i].lat,
             "lng": points[i].lng, "accuracy_m": points[i].accuracy_m, "speed_mps": points[i].speed_mps,
             "heading": points[i].heading, "flags": ",".join(v.flags)} for i, v in good]
    stored = repo.insert_points(db, rows)
    result = IngestResult(accepted=stored, duplicates=len(duplicates) + len(rows) - stored,
                          rejected=sorted(rejected, key=lambda r: r.index), flagged=flagged)
    if not good:
        db.flush()
        return result
    _after_accept(ctx, tech, batch.device_id, pos, jobs, [(times[i], points[i], v) for i, v in good])
    db.flush()
    return result


def _after_accept(ctx: Ctx, tech: Technician, device_id: str, pos: TechnicianPosition | None, jobs: list[WorkOrder],
                  accepted: list[tuple[datetime, Any, rules.Verdict]]) -> None:
    db, now, s = ctx.db, ctx.now, ctx.settings
    tz, org_settings = _org_settings(db, tech.org_id)
    zone = ZoneInfo(tz)
    # Distance per local day, over consecutive accepted points (the stored last fix first).
    per_day: dict[date, list[float]] = {}
    prev = (pos.lat, pos.lng) if pos is not None else None
    for at, p, _ in accepted:
        day = at.astimezone(zone).date()
        acc = per_day.setdefault(day, [0.0, 0])
        if prev is not None:
            acc[0] += rules.haversine_m(prev[0], prev[1], p.lat, p.lng)
        acc[1] += 1
        prev = (p.lat, p.lng)
    for day, (metres, count) in per_day.items():
        repo.add_distance(db, tech.org_id, tech.id, day, round(metres, 1), int(count))

    # Geofences: the organisation's fences and territories, and the technician's job sites.
    cached = fence_index(db, tech.org_id)
    sites = {}
    for wo in jobs:
        if wo.site_lat is None or wo.site_lng is None:
            continue
        sites[f"s:{wo.id}"] = (wo, rules.FenceShape(
            key=f"s:{wo.id}", fence_type="site", fence_id=wo.id, name=wo.number, lat=wo.site_lat, lng=wo.site_lng,
            radius_m=site_radius(org_settings, s), work_order_id=wo.id))
    inside = set(pos.inside or []) if pos is not None else set()
    known = set(cached.by_key) | set(sites)
    inside &= known  # fences deleted or jobs finished since: forgotten, no leave event
    slack = float(s.tracking_fence_hysteresis_m)
    for at, p, verdict in accepted:
        if "low_accuracy" in verdict.flags:
            continue
        hits = cached.index.containing(p.lat, p.lng, inside, slack)
        hits += rules.circle_hits([shape for _, shape in sites.values()], p.lat, p.lng, inside, slack)
        current = {h.fence.key: h for h in hits}
        for key in sorted(set(current) - inside):
            hit = current[key]
            _fence_event(db, tech, hit.fence, "enter", at, p, hit.distance_m)
            if key in sites:
                _site_entered(ctx, tech, sites[key][0], at, p, hit.distance_m)
        for key in sorted(inside - set(current)):
            fence = cached.by_key.get(key) or sites[key][1]
            distance = None
            if fence.lat is not None and fence.lng is not None:
                distance = round(rules.haversine_m(p.lat, p.lng, fence.lat, fence.lng), 1)
            _fence_event(db, tech, fence, "leave", at, p, distance)
        inside = set(current)

    at, p, _ = accepted[-1]
    if pos is None:
        pos = TechnicianPosition(technician_id=tech.id, org_id=tech.org_id, device_id=device_id, lat=p.lat, lng=p.lng,
                                 recorded_at=at, received_at=now, inside=[])
        db.add(pos)
    pos.device_id, pos.lat, pos.lng, pos.accuracy_m = device_id, p.lat, p.lng, p.accuracy_m
    pos.speed_mps, pos.heading, pos.recorded_at, pos.received_at = p.speed_mps, p.heading, at, now
    pos.inside = sorted(inside)
    technicians.record_position(db, tech.org_id, tech.id, p.lat, p.lng, at)
    throttle = timedelta(seconds=s.tracking_position_event_seconds)
    if pos.last_event_at is None or now - pos.last_event_at >= throttle or now < pos.last_event_at:
        pos.last_event_at = now
        record_event(db, type="technician.position", aggregate_type="technician", aggregate_id=tech.id,
                     org_id=tech.org_id, now=now,
                     payload={"technician_id": str(tech.id), "lat": p.lat, "lng": p.lng, "accuracy_m": p.accuracy_m,
                              "recorded_at": at.isoformat(), "audience": "staff"})


def _fence_event(db: Session, tech: Technician, fence: rules.FenceShape, event: str, at: datetime, p: Any,
                 distance: float | None) -> None:
    repo.add_fence_event(db, org_id=tech.org_id, technician_id=tech.id, fence_type=fence.fence_type,
                         fence_id=fence.fence_id, fence_name=fence.name[:200], work_order_id=fence.work_order_id,
                         event=event, at=at, lat=p.lat, lng=p.lng, accuracy_m=p.accuracy_m, distance_m=distance)


def _site_entered(ctx: Ctx, tech: Technician, wo: WorkOrder, at: datetime, p: Any, distance: float | None) -> None:
    if wo.status not in ARRIVAL_STATUSES or wo.site_entered_at is not None:
        return
    system = Ctx(db=ctx.db, principal=system_principal(tech.org_id), now=ctx.now, settings=ctx.settings, lang=ctx.lang)
    if not work_orders.record_site_entry(system, wo.id, at, p.lat, p.lng, p.accuracy_m, distance):
        return
    if tech.user_id is not None:
        _notify(ctx.db, org_id=tech.org_id, template="tracking.arrived_prompt",
                params={"number": wo.number, "title": wo.title, "address": wo.site_address},
                user_ids=[tech.user_id], now=ctx.now, work_order_id=wo.id, dedupe_key=f"arrived:{wo.id}",
                channels=["in_app"])


# ---- positions ----------------------------------------------------------------------------------

def _position_read(pos: TechnicianPosition, name: str | None, now: datetime, stale_after: timedelta) -> PositionRead:
    age = max(0, int((now - pos.recorded_at).total_seconds()))
    return PositionRead(technician_id=pos.technician_id, technician_name=name, lat=pos.lat, lng=pos.lng,
                        accuracy_m=pos.accuracy_m, speed_mps=pos.speed_mps, heading=pos.heading,
                        recorded_at=pos.recorded_at, device_id=pos.device_id, age_s=age,
                        stale=now - pos.recorded_at > stale_after)


def _visible_technicians(ctx: Ctx) -> list[uuid.UUID] | None:
    """None: every technician of the organisation; a technician: only themselves."""
    if ctx.principal.role == Role.technician:
        return [ctx.principal.technician_id] if ctx.principal.technician_id else []
    return None


def list_positions(ctx: Ctx) -> PositionList:
    """The last known position of every technician the caller may see, with its age and whether it is stale."""
    require_role(ctx.principal, DESK | {Role.technician}, "see technician positions")
    stale_after = timedelta(minutes=ctx.settings.tracking_stale_minutes)
    rows = repo.positions(ctx.db, ctx.principal.org_id, _visible_technicians(ctx))
    items = [_position_read(pos, name, ctx.now, stale_after) for pos, name in rows]
    return PositionList(items=items, total=len(items), stale_after_s=int(stale_after.total_seconds()))


def work_order_position(ctx: Ctx, work_order_id: uuid.UUID) -> WorkOrderTechnicianPosition:
    """Where the order's technician is: for the customer only while the technician is en route to them (409
    otherwise); the desk and the assigned technician any time."""
    wo = work_orders.get(ctx, work_order_id)
    require_role(ctx.principal, DESK | {Role.technician, Role.customer}, "see the technician's position")
    if ctx.principal.role == Role.customer and wo.status != "en_route":
        raise conflict("The technician's position is shown only while they are on the way to you.",
                       "仅在技师前往您处的途中显示其位置。")
    out = WorkOrderTechnicianPosition(work_order_id=wo.id, technician_id=wo.technician_id, available=False)
    if wo.technician_id is None:
        return out
    pos = repo.position(ctx.db, wo.technician_id)
    if pos is None:
        return out
    stale_after = timedelta(minutes=ctx.settings.tracking_stale_minutes)
    out.position = _position_read(pos, None, ctx.now, stale_after)
    if ctx.principal.role == Role.customer:
        out.position.device_id = ""  # the customer learns where, not which phone
    out.available = True
    return out


# ---- trace --------------------------------------------------------------------------------------

def _range(ctx: Ctx, since: datetime | None, until: datetime | None,
           default: timedelta = timedelta(hours=24)) -> tuple[datetime, datetime]:
    until = until or ctx.now
    since = since or (until - default)
    if since >= until:
        raise InvalidInput("`from` must be before `to`.", "开始时间必须早于结束时间。", field="from")
    if until - since > MAX_TRACE_RANGE:
        raise InvalidInput("Ask for at most 31 days at a time.", "每次最多查询 31 天。", field="from")
    return since, until


def trace(ctx: Ctx, technician_id: uuid.UUID, since: datetime | None, until: datetime | None) -> TraceRead:
    """A technician's path between two times, simplified for display, with stops and distance per day."""
    tech = technicians.get_technician(ctx, technician_id)
    require_role(ctx.principal, TRACE_READERS, "see technician traces")
    since, until = _range(ctx, since, until)
    rows = repo.points_between(ctx.db, tech.id, since, until, TRACE_CAP + 1)
    truncated = len(rows) > TRACE_CAP
    pts = [rules.TracePoint(r.lat, r.lng, r.recorded_at, r.accuracy_m) for r in rows[:TRACE_CAP]]
    s = ctx.settings
    path = rules.simplify(pts, s.tracking_simplify_m)
    stops = rules.detect_stops(pts, s.tracking_stop_radius_m, timedelta(minutes=s.tracking_stop_minutes))
    tz, _ = _org_settings(ctx.db, tech.org_id)
    zone = ZoneInfo(tz)
    days = repo.distances(ctx.db, tech.org_id, [tech.id], since.astimezone(zone).date(), until.astimezone(zone).date())
    return TraceRead(
        technician_id=tech.id, from_=since, to=until, points_total=len(pts), truncated=truncated,
        distance_m=round(rules.path_length_m(pts), 1),
        path=[TracePointRead(lat=p.lat, lng=p.lng, recorded_at=p.recorded_at, accuracy_m=p.accuracy_m) for p in path],
        stops=[StopRead(lat=round(st.lat, 6), lng=round(st.lng, 6), arrived_at=st.arrived_at, left_at=st.left_at,
                        duration_s=st.duration_s, points=st.points) for st in stops],
        days=[DayDistance.model_validate(d) for d in days])


def daily_distances(ctx: Ctx, technician_id: uuid.UUID | None, first: date | None,
                    last: date | None) -> list[DayDistance]:
    """Distance travelled per technician and local day (the commute-distance report)."""
    require_role(ctx.principal, DISTANCE_READERS, "see travelled distances")
    visible = _visible_technicians(ctx)
    if technician_id is not None:
        tech = technicians.get_technician(ctx, technician_id)
        visible = [tech.id]
    tz, _ = _org_settings(ctx.db, ctx.principal.org_id)
    today = ctx.now.astimezone(ZoneInfo(tz)).date()
    last = last or today
    first = first or (last - timedelta(days=6))
    if first > last or (last - first).days > 366:
        raise InvalidInput("Give from_day before to_day, at most a year apart.", "请给出不超过一年的日期范围。",
                           field="from_day")
    return [DayDistance.model_validate(d) for d in repo.distances(ctx.db, ctx.principal.org_id, visible, first, last)]


# ---- geofences ----------------------------------------------------------------------------------

def _fence_shape(kind_fields: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    lat, lng, radius, geometry = (kind_fields.get("lat"), kind_fields.get("lng"), kind_fields.get("radius_m"),
                                  kind_fields.get("geometry"))
    if geometry is not None:
        if lat is not None or lng is not None or radius is not None:
            raise InvalidInput("Give either a circle (lat, lng, radius_m) or a polygon geometry, not both.",
                               "请只提供圆形（lat、lng、radius_m）或多边形（geometry）之一。", field="geometry")
        try:
            return "polygon", rules.parse_polygon(geometry)
        except GeometryProblem as exc:
            raise InvalidInput(exc.en, exc.zh, field="geometry") from None
    if lat is None or lng is None or radius is None:
        raise InvalidInput("A circle needs lat, lng and radius_m (or send a polygon geometry).",
                           "圆形围栏需要 lat、lng 和 radius_m（或提供多边形 geometry）。", field="radius_m")
    return "circle", None


def list_geofences(ctx: Ctx, category: str | None, active: bool | None, limit: int,
                   offset: int) -> tuple[list[Geofence], int]:
    require_role(ctx.principal, DESK, "see geofences")
    return repo.geofences_page(ctx.db, ctx.principal.org_id, category, active, limit, offset)


def get_geofence(ctx: Ctx, geofence_id: uuid.UUID) -> Geofence:
    fence = repo.geofence(ctx.db, ctx.principal.org_id, geofence_id)
    require_role(ctx.principal, DESK, "see geofences")
    return fence


def create_geofence(ctx: Ctx, data: GeofenceCreate) -> Geofence:
    """A circle or a polygon fence (service area, grid 网格, business district 商圈)."""
    require_role(ctx.principal, FENCE_WRITERS, "create geofences")
    kind, geometry = _fence_shape(data.model_dump())
    fence = Geofence(org_id=ctx.principal.org_id, name=data.name, category=data.category, kind=kind,
                     lat=data.lat if kind == "circle" else None, lng=data.lng if kind == "circle" else None,
                     radius_m=data.radius_m if kind == "circle" else None, geometry=geometry,
                     properties=dict(data.properties), active=data.active, created_at=ctx.now, updated_at=ctx.now)
    ctx.db.add(fence)
    repo.bump_fence_generation(ctx.db, ctx.principal.org_id)
    ctx.db.flush()
    return fence


def import_geofences(ctx: Ctx, data: GeofenceImport) -> list[Geofence]:
    """Polygon fences from a GeoJSON FeatureCollection; one invalid feature rejects the import (422, naming it)."""
    require_role(ctx.principal, FENCE_WRITERS, "import geofences")
    try:
        parsed = rules.parse_feature_collection({"type": data.type, "features": data.features})
    except GeometryProblem as exc:
        raise InvalidInput(exc.en, exc.zh, field="features") from None
    fences = []
    for i, (geometry, props) in enumerate(parsed):
        name = str(props.get("name") or f"Imported {i + 1}")[:200]
        category = str(props.get("category") or data.category or "service_area")[:32]
        fences.append(Geofence(org_id=ctx.principal.org_id, name=name, category=category, kind="polygon",
                               geometry=geometry, properties={k: v for k, v in props.items() if k != "name"},
                               active=True, created_at=ctx.now, updated_at=ctx.now))
    ctx.db.add_all(fences)
    repo.bump_fence_generation(ctx.db, ctx.principal.org_id)
    ctx.db.flush()
    return fences


def update_geofence(ctx: Ctx, geofence_id: uuid.UUID, data: GeofenceUpdate, if_match: str | None) -> Geofence:
    fence = repo.geofence(ctx.db, ctx.principal.org_id, geofence_id)
    require_role(ctx.principal, FENCE_WRITERS, "change geofences")
    check_if_match(if_match, fence.version)
    fields = data.model_dump(exclude_unset=True)
    shape_fields = {"lat", "lng", "radius_m", "geometry"}
    if shape_fields & set(fields):
        merged = {k: fields.get(k, getattr(fence, k)) for k in shape_fields}
        if "geometry" in fields and fields["geometry"] is not None:
            merged.update({k: fields.get(k) for k in ("lat", "lng", "radius_m")})
        elif {"lat", "lng", "radius_m"} & set(fields):
            merged["geometry"] = None
            merged.update({k: fields.get(k, getattr(fence, k)) for k in ("lat", "lng", "radius_m")})
        kind, geometry = _fence_shape(merged)
        fence.kind, fence.geometry = kind, geometry
        fence.lat, fence.lng, fence.radius_m = (merged["lat"], merged["lng"], merged["radius_m"]) \
            if kind == "circle" else (None, None, None)
    for name in ("name", "category", "properties", "active"):
        if name in fields and fields[name] is not None:
            setattr(fence, name, fields[name])
    fence.updated_at = ctx.now
    repo.bump_fence_generation(ctx.db, ctx.principal.org_id)
    ctx.db.flush()
    return fence


def delete_geofence(ctx: Ctx, geofence_id: uuid.UUID) -> None:
    fence = repo.geofence(ctx.db, ctx.principal.org_id, geofence_id)
    require_role(ctx.principal, FENCE_WRITERS, "delete geofences")
    ctx.db.delete(fence)
    repo.bump_fence_generation(ctx.db, ctx.principal.org_id)
    ctx.db.flush()


def fence_events(ctx: Ctx, technician_id: uuid.UUID | None, work_order_id: uuid.UUID | None,
                 since: datetime | None, until: datetime | None, limit: int, offset: int) -> tuple[list[Any], int]:
    """Enter/leave evidence: the desk sees every technician's, a technician their own."""
    require_role(ctx.principal, TRACE_READERS, "see geofence events")
    visible = _visible_technicians(ctx)
    if technician_id is not None:
        visible = [technicians.get_technician(ctx, technician_id).id]
    if work_order_id is not None:
        work_orders.get(ctx, work_order_id)
    return repo.fence_events_page(ctx.db, ctx.principal.org_id, visible, work_order_id, since, until, limit, offset)


# ---- alerts -------------------------------------------------------------------------------------

def list_alerts(ctx: Ctx, kind: str | None, limit: int, offset: int) -> tuple[list[TrackingAlert], int]:
    """Timeout and far-check-in alerts on the work orders the caller may see."""
    require_role(ctx.principal, DESK, "see tracking alerts")
    visible = work_orders.repo(ctx).scoped().with_only_columns(WorkOrder.id)
    return repo.alerts_page(ctx.db, ctx.principal.org_id, visible, kind, limit, offset)


def scan_timeouts(db: Session, now: datetime, settings: Settings) -> int:
    """Raise each due timeout once (not accepted, not departed, not arrived, overstay, far check-in): an alert
    row with a unique key, a message to the dispatchers and the territory's supervisors, and an outbox event."""
    candidates = repo.timeout_candidates(db)
    if not candidates:
        return 0
    org_cache: dict[uuid.UUID, tuple[str, dict[str, Any]]] = {}
    tech_pos = repo.positions_of(db, {wo.technician_id for wo in candidates if wo.technician_id})
    due: list[tuple[WorkOrder, str, str, dict[str, Any]]] = []
    for wo in candidates:
        if wo.org_id not in org_cache:
            org_cache[wo.org_id] = _org_settings(db, wo.org_id)
        _, org_settings = org_cache[wo.org_id]
        distance = None
        if wo.technician_id in tech_pos and wo.site_lat is not None and wo.site_lng is not None:
            lat, lng = tech_pos[wo.technician_id]  # type: ignore[index]
            distance = rules.haversine_m(lat, lng, wo.site_lat, wo.site_lng)
        travel = rules.travel_minutes(distance, settings.tracking_travel_speed_kmh, 30.0)
        times = rules.OrderTimes(status=wo.status, assigned_at=wo.assigned_at, window_start=wo.window_start,
                                 window_end=wo.window_end, checked_in_at=wo.checked_in_at,
                                 site_entered_at=wo.site_entered_at, duration_min=wo.duration_min or 60,
                                 travel_min=travel)
        policy = rules.TimeoutPolicy(accept_min=_knob(org_settings, settings, "tracking_accept_timeout_minutes"),
                                     overstay_factor=_knob(org_settings, settings, "tracking_overstay_factor"))
        for kind, stamp in rules.due_timeouts(times, now, policy):
            due.append((wo, kind, stamp, {"travel_min": round(travel, 1)}))
        radius = site_radius(org_settings, settings)
        if wo.check_in_distance_m is not None and wo.checked_in_at is not None \
                and wo.check_in_distance_m > 2 * radius:
            due.append((wo, "check_in_far", wo.checked_in_at.isoformat(),
                        {"distance_m": wo.check_in_distance_m, "radius_m": radius}))
    known = repo.alert_keys(db, [f"{kind}:{wo.id}:{stamp}" for wo, kind, stamp, _ in due])
    raised = 0
    for wo, kind, stamp, data in due:
        key = f"{kind}:{wo.id}:{stamp}"
        if key in known:
            continue
        if not repo.insert_alert(db, {"id": uuid.uuid4(), "org_id": wo.org_id, "key": key, "kind": kind,
                                      "work_order_id": wo.id, "technician_id": wo.technician_id, "raised_at": now,
                                      "data": data}):
            continue
        raised += 1
        en, zh = rules.TIMEOUT_KINDS[kind]
        record_event(db, type="work_order.timeout" if kind != "check_in_far" else "work_order.check_in_far",
                     aggregate_type="work_order", aggregate_id=wo.id, org_id=wo.org_id, now=now,
                     payload=_wo_payload(wo, audience="internal", kind=kind, **data))
        _notify(db, org_id=wo.org_id, template="tracking.timeout",
                params={"number": wo.number, "title": wo.title, "kind": kind, "kind_en": en, "kind_zh": zh},
                user_ids=repo.desk_user_ids(db, wo.org_id, wo.territory_id), now=now, work_order_id=wo.id,
                dedupe_key=key)
    db.flush()
    return raised


# ---- privacy ------------------------------------------------------------------------------------

def purge_expired(db: Session, now: datetime, settings: Settings) -> int:
    """Delete location points, fence evidence and daily distances older than the retention period."""
    cutoff = now - timedelta(days=settings.tracking_retention_days)
    deleted = repo.purge_before(db, cutoff, cutoff.date())
    db.flush()
    return deleted


def _audit(ctx: Ctx, tech: Technician, action: str, data: dict[str, Any]) -> None:
    repo.add_audit(ctx.db, LocationAudit(org_id=tech.org_id, technician_id=tech.id,
                                         actor_user_id=None if ctx.principal.is_system else ctx.principal.user_id,
                                         actor_role=ctx.principal.role.value, action=action, at=ctx.now, data=data))


EXPORT_COLUMNS = ["recorded_at", "lat", "lng", "accuracy_m", "speed_mps", "heading", "device_id", "client_id",
                  "flags", "received_at"]


def export_points(ctx: Ctx, technician_id: uuid.UUID, since: datetime | None, until: datetime | None,
                  fmt: str) -> tuple[Technician, list[LocationPoint]]:
    """An admin's export of one technician's stored points (audited)."""
    tech = technicians.get_technician(ctx, technician_id)
    require_role(ctx.principal, PRIVACY_ADMINS, "export location data")
    since = since or (ctx.now - timedelta(days=ctx.settings.tracking_retention_days + 1))
    until = until or (ctx.now + timedelta(days=1))
    if since >= until:
        raise InvalidInput("`from` must be before `to`.", "开始时间必须早于结束时间。", field="from")
    rows = repo.points_between(ctx.db, tech.id, since, until, 1_000_000)
    _audit(ctx, tech, "export", {"format": fmt, "points": len(rows), "from": since.isoformat(),
                                 "to": until.isoformat()})
    ctx.db.flush()
    return tech, rows


def delete_data(ctx: Ctx, technician_id: uuid.UUID) -> tuple[int, int]:
    """An admin deletes all of one technician's location data (points, evidence, distances, last position)."""
    tech = technicians.get_technician(ctx, technician_id)
    require_role(ctx.principal, PRIVACY_ADMINS, "delete location data")
    points, events = repo.delete_technician_data(ctx.db, tech.id)
    _audit(ctx, tech, "delete", {"points": points, "events": events})
    ctx.db.flush()
    return points, events

