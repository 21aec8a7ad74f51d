"""Every tracking query. Which technicians a caller may see is decided by the technicians module's repository
(the service loads the technician through it first); these queries take the organisation explicitly."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, lazyload

from fieldops.core.errors import NotFound
from fieldops.organizations.models import Territory
from fieldops.technicians.models import Technician
from fieldops.tracking.models import (
    DailyDistance,
    FenceGeneration,
    Geofence,
    GeofenceEvent,
    LocationAudit,
    LocationPoint,
    TechnicianPosition,
    TrackingAlert,
    TrackingDevice,
)
from fieldops.users.models import User, UserTerritory
from fieldops.work_orders.models import WorkOrder

ACTIVE_JOB = ("assigned", "accepted", "en_route", "on_site", "in_progress")


def _insert(db: Session) -> Any:
    return pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert


# ---- ingest -------------------------------------------------------------------------------------

def device(db: Session, technician_id: uuid.UUID, device_id: str) -> TrackingDevice | None:
    q = select(TrackingDevice).where(TrackingDevice.technician_id == technician_id,
                                     TrackingDevice.device_id == device_id)
    if db.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()  # one batch per device at a time: the bucket and the last fix stay consistent
    return db.scalars(q).first()


def ensure_device(db: Session, org_id: uuid.UUID, technician_id: uuid.UUID, device_id: str, tokens: float,
                  now: datetime) -> TrackingDevice:
    """The device row (created with a full bucket on first use; a concurrent first request does not fail)."""
    found = device(db, technician_id, device_id)
    if found is not None:
        return found
    db.execute(_insert(db)(TrackingDevice).values(id=uuid.uuid4(), org_id=org_id, technician_id=technician_id,
                                                  device_id=device_id, tokens=tokens, tokens_at=now,
                                                  last_seen_at=now).on_conflict_do_nothing())
    created = device(db, technician_id, device_id)
    assert created is not None
    return created


def add_fence_event(db: Session, **values: Any) -> None:
    db.add(GeofenceEvent(**values))


def position(db: Session, technician_id: uuid.UUID) -> TechnicianPosition | None:
    return db.get(TechnicianPosition, technician_id)


def existing_keys(db: Session, technician_id: uuid.UUID, device_id: str, times: list[datetime],
                  client_ids: list[str]) -> tuple[set[datetime], set[str]]:
    """Which of these times / client ids this device already sent (the idempotency keys of a point)."""
    seen_times: set[datetime] = set()
    seen_ids: set[str] = set()
    base = select(LocationPoint.recorded_at, LocationPoint.client_id).where(
        LocationPoint.technician_id == technician_id, LocationPoint.device_id == device_id)
    conds = []
    if times:
        conds.append(LocationPoint.recorded_at.in_(times))
    if client_ids:
        conds.append(LocationPoint.client_id.in_(client_ids))
    if not conds:
        return seen_times, seen_ids
    for at, cid in db.execute(base.where(or_(*conds))):
        seen_times.add(at)
        if cid is not None:
            seen_ids.add(cid)
    return seen_times, seen_ids


def insert_points(db: Session, rows: list[dict[str, Any]]) -> int:
    """Insert points, skipping any that a concurrent request stored first (unique keys)."""
    if not rows:
        return 0
    stmt = _insert(db)(LocationPoint).values(rows).on_conflict_do_nothing().returning(LocationPoint.id)
    return len(db.execute(stmt).all())


def own_technician(db: Session, org_id: uuid.UUID, technician_id: uuid.UUID | None) -> Technician | None:
    """The posting technician's own record, without the eager loads of skills and territories (hot path)."""
    if technician_id is None:
        return None
    return db.scalars(select(Technician).where(Technician.id == technician_id, Technician.org_id == org_id)
                      .options(lazyload(Technician.skills), lazyload(Technician.territories))).first()


def active_jobs(db: Session, org_id: uuid.UUID, technician_id: uuid.UUID) -> list[WorkOrder]:
    """The technician's active work orders (assigned .. in progress), whose sites are fences."""
    return list(db.scalars(select(WorkOrder).where(WorkOrder.org_id == org_id,
                                                   WorkOrder.technician_id == technician_id,
                                                   WorkOrder.status.in_(ACTIVE_JOB))))


def add_distance(db: Session, org_id: uuid.UUID, technician_id: uuid.UUID, day: date, metres: float,
                 points: int) -> None:
    ins = _insert(db)(DailyDistance).values(org_id=org_id, technician_id=technician_id, day=day,
                                            distance_m=metres, points=points)
    db.execute(ins.on_conflict_do_update(
        index_elements=["technician_id", "day"],
        set_={"distance_m": DailyDistance.distance_m + ins.excluded.distance_m,
              "points": DailyDistance.points + ins.excluded.points}))


# ---- fences -------------------------------------------------------------------------------------

def fence_generation(db: Session, org_id: uuid.UUID) -> int:
    return int(db.scalar(select(FenceGeneration.generation).where(FenceGeneration.org_id == org_id)) or 0)


def bump_fence_generation(db: Session, org_id: uuid.UUID) -> None:
    ins = _insert(db)(FenceGeneration).values(org_id=org_id, generation=1)
    db.execute(ins.on_conflict_do_update(index_elements=["org_id"],
                                         set_={"generation": FenceGeneration.generation + 1}))


def territory_fingerprint(db: Session, org_id: uuid.UUID) -> tuple[Any, ...]:
    row = db.execute(select(func.count(), func.max(Territory.updated_at), func.sum(Territory.version))
                     .where(Territory.org_id == org_id, Territory.active.is_(True))).one()
    return tuple(row)


def active_geofences(db: Session, org_id: uuid.UUID) -> list[Geofence]:
    return list(db.scalars(select(Geofence).where(Geofence.org_id == org_id, Geofence.active.is_(True))))


def active_territories(db: Session, org_id: uuid.UUID) -> list[Territory]:
    return list(db.scalars(select(Territory).where(Territory.org_id == org_id, Territory.active.is_(True))))


def geofence(db: Session, org_id: uuid.UUID, geofence_id: uuid.UUID) -> Geofence:
    fence = db.scalars(select(Geofence).where(Geofence.id == geofence_id, Geofence.org_id == org_id)).first()
    if fence is None:
        raise NotFound("geofence")
    return fence


def geofences_page(db: Session, org_id: uuid.UUID, category: str | None, active: bool | None, limit: int,
                   offset: int) -> tuple[list[Geofence], int]:
    q = select(Geofence).where(Geofence.org_id == org_id)
    if category:
        q = q.where(Geofence.category == category)
    if active is not None:
        q = q.where(Geofence.active.is_(active))
    total = db.scalar(select(func.count()).select_from(q.subquery())) or 0
    return list(db.scalars(q.order_by(Geofence.name, Geofence.id).limit(limit).offset(offset))), total


def fence_events_page(db: Session, org_id: uuid.UUID, technician_ids: list[uuid.UUID] | None,
                      work_order_id: uuid.UUID | None, since: datetime | None, until: datetime | None, limit: int,
                      offset: int) -> tuple[list[GeofenceEvent], int]:
    q = select(GeofenceEvent).where(GeofenceEvent.org_id == org_id)
    if technician_ids is not None:
        q = q.where(GeofenceEvent.technician_id.in_(technician_ids))
    if work_order_id is not None:
        q = q.where(GeofenceEvent.work_order_id == work_order_id)
    if since is not None:
        q = q.where(GeofenceEvent.at >= since)
    if until is not None:
        q = q.where(GeofenceEvent.at < until)
    total = db.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = db.scalars(q.order_by(GeofenceEvent.at.desc(), GeofenceEvent.id).limit(limit).offset(offset))
    return list(rows), total


# ---- reads --------------------------------------------------------------------------------------

def positions(db: Session, org_id: uuid.UUID, technician_ids: list[uuid.UUID] | None,
              ) -> list[tuple[TechnicianPosition, str]]:
    q = (select(TechnicianPosition, Technician.name).join(Technician, Technician.id == TechnicianPosition.technician_id)
         .where(TechnicianPosition.org_id == org_id))
    if technician_ids is not None:
        q = q.where(TechnicianPosition.technician_id.in_(technician_ids))
    return [(r[0], r[1]) for r in db.execute(q.order_by(Technician.code, Technician.id))]


def points_between(db: Session, technician_id: uuid.UUID, since: datetime, until: datetime,
                   limit: int) -> list[LocationPoint]:
    return list(db.scalars(select(LocationPoint).where(LocationPoint.technician_id == technician_id,
                                                       LocationPoint.recorded_at >= since,
                                                       LocationPoint.recorded_at < until)
                           .order_by(LocationPoint.recorded_at, LocationPoint.id).limit(limit)))


def distances(db: Session, org_id: uuid.UUID, technician_ids: list[uuid.UUID] | None, first: date,
              last: date, limit: int = 5000) -> list[DailyDistance]:
    q = select(DailyDistance).where(DailyDistance.org_id == org_id, DailyDistance.day >= first,
                                    DailyDistance.day <= last)
    if technician_ids is not None:
        q = q.where(DailyDistance.technician_id.in_(technician_ids))
    return list(db.scalars(q.order_by(DailyDistance.day, DailyDistance.technician_id).limit(limit)))


def alerts_page(db: Session, org_id: uuid.UUID, work_order_ids: Any, kind: str | None, limit: int,
                offset: int) -> tuple[list[TrackingAlert], int]:
    q = select(TrackingAlert).where(TrackingAlert.org_id == org_id, or_(
        TrackingAlert.work_order_id.is_(None), TrackingAlert.work_order_id.in_(work_order_ids)))
    if kind:
        q = q.where(TrackingAlert.kind == kind)
    total = db.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = db.scalars(q.order_by(TrackingAlert.raised_at.desc(), TrackingAlert.id).limit(limit).offset(offset))
    return list(rows), total


# ---- privacy ------------------------------------------------------------------------------------

def delete_technician_data(db: Session, technician_id: uuid.UUID) -> tuple[int, int]:
    points = db.execute(delete(LocationPoint).where(LocationPoint.technician_id == technician_id))
    events = db.execute(delete(GeofenceEvent).where(GeofenceEvent.technician_id == technician_id))
    db.execute(delete(DailyDistance).where(DailyDistance.technician_id == technician_id))
    db.execute(delete(TechnicianPosition).where(TechnicianPosition.technician_id == technician_id))
    db.execute(delete(TrackingDevice).where(TrackingDevice.technician_id == technician_id))
    db.execute(update(Technician).where(Technician.id == technician_id).values(
        last_lat=None, last_lng=None, last_seen_at=None).execution_options(synchronize_session=False))
    return int(getattr(points, "rowcount", 0) or 0), int(getattr(events, "rowcount", 0) or 0)


def purge_before(db: Session, cutoff: datetime, cutoff_day: date, batch: int = 5000) -> int:
    """Delete location data older than the cutoff (all organisations), at most `batch` points per call."""
    ids = list(db.scalars(select(LocationPoint.id).where(LocationPoint.recorded_at < cutoff).limit(batch)))
    n = 0
    if ids:
        n = int(getattr(db.execute(delete(LocationPoint).where(LocationPoint.id.in_(ids))), "rowcount", 0) or 0)
    db.execute(delete(GeofenceEvent).where(GeofenceEvent.at < cutoff))
    db.execute(delete(DailyDistance).where(DailyDistance.day < cutoff_day))
    db.execute(delete(TechnicianPosition).where(TechnicianPosition.recorded_at < cutoff))
    return n


def add_audit(db: Session, row: LocationAudit) -> None:
    db.add(row)


# ---- timeouts -----------------------------------------------------------------------------------

def timeout_candidates(db: Session, limit: int = 5000) -> list[WorkOrder]:
    """Orders where a timeout may be due (all organisations): the statuses the scan looks at."""
    return list(db.scalars(select(WorkOrder).where(
        WorkOrder.status.in_(("assigned", "accepted", "en_route", "on_site", "in_progress"))).limit(limit)))


def alert_keys(db: Session, keys: Iterable[str]) -> set[str]:
    wanted = list(keys)
    if not wanted:
        return set()
    return set(db.scalars(select(TrackingAlert.key).where(TrackingAlert.key.in_(wanted))))


def insert_alert(db: Session, row: dict[str, Any]) -> bool:
    """Insert the alert unless its key exists (True when this call inserted it)."""
    stmt = _insert(db)(TrackingAlert).values(**row).on_conflict_do_nothing(index_elements=["key"])
    return db.execute(stmt.returning(TrackingAlert.id)).first() is not None


def desk_user_ids(db: Session, org_id: uuid.UUID, territory_id: uuid.UUID | None) -> list[uuid.UUID]:
    """Active dispatchers of the organisation and supervisors of the territory (alert recipients)."""
    q = select(User.id).where(User.org_id == org_id, User.is_active.is_(True), User.role == "dispatcher")
    ids = list(db.scalars(q))
    if territory_id is not None:
        ids += list(db.scalars(select(User.id).join(UserTerritory, UserTerritory.user_id == User.id).where(
            User.org_id == org_id, User.is_active.is_(True), User.role == "supervisor",
            UserTerritory.territory_id == territory_id)))
    return list(dict.fromkeys(ids))


def positions_of(db: Session, technician_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, tuple[float, float]]:
    ids = list(technician_ids)
    if not ids:
        return {}
    rows = db.execute(select(Technician.id, Technician.last_lat, Technician.last_lng, Technician.home_lat,
                             Technician.home_lng).where(Technician.id.in_(ids)))
    out = {}
    for tid, lat, lng, hlat, hlng in rows:
        if lat is not None and lng is not None:
            out[tid] = (lat, lng)
        elif hlat is not None and hlng is not None:
            out[tid] = (hlat, hlng)
    return out

