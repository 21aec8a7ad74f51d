"""Every work-order query, scoped by organisation and by the caller's role in one place."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, false, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from fieldops.core.auth import Principal
from fieldops.core.errors import NotFound
from fieldops.work_orders.models import Attachment, ExceptionReport, WorkOrder, WorkOrderAudit, WorkOrderCounter
from fieldops.work_orders.rules import ORG_WIDE_ROLES

ORG_WIDE = ORG_WIDE_ROLES  # the SQL twin of rules.visible_to: keep the two in step


@dataclass
class WorkOrderFilter:
    status: list[str] = field(default_factory=list)
    priority: list[str] = field(default_factory=list)
    technician_id: uuid.UUID | None = None
    unassigned: bool = False
    customer_id: uuid.UUID | None = None
    site_id: uuid.UUID | None = None
    asset_id: uuid.UUID | None = None
    service_type_id: uuid.UUID | None = None
    territory_id: uuid.UUID | None = None
    channel: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    due_before: datetime | None = None
    q: str | None = None
    sort: str = "-created_at"


SORTS: dict[str, Any] = {
    "created_at": WorkOrder.created_at, "due_at": WorkOrder.due_at, "priority": WorkOrder.priority,
    "number": WorkOrder.number, "status": WorkOrder.status, "updated_at": WorkOrder.updated_at,
    "window_start": WorkOrder.window_start,
}


class WorkOrderRepository:
    """The only way to read work orders: a technician sees their own, a customer theirs, a supervisor
    their territories, the desk and finance the whole organisation."""

    def __init__(self, db: Session, principal: Principal) -> None:
        self.db, self.p = db, principal

    def scoped(self) -> Select[Any]:
        """The work orders the principal may see, as SQL; `rules.visible_to` is the same rule in Python."""
        q = select(WorkOrder).where(WorkOrder.org_id == self.p.org_id)
        role = self.p.role.value
        if role in ORG_WIDE:
            return q
        if role == "technician":
            tech = self.p.technician_id
            return q.where(WorkOrder.technician_id == tech) if tech else q.where(false())
        if role == "customer":
            return q.where(WorkOrder.customer_id == self.p.customer_id) if self.p.customer_id else q.where(false())
        if role == "supervisor":
            ids = list(self.p.territory_ids)
            return q.where(WorkOrder.territory_id.in_(ids)) if ids else q.where(false())
        return q.where(false())

    def get(self, work_order_id: uuid.UUID, *, for_update: bool = False) -> WorkOrder:
        q = self.scoped().where(WorkOrder.id == work_order_id)
        if for_update and self.db.get_bind().dialect.name == "postgresql":
            q = q.with_for_update()
        wo: WorkOrder | None = self.db.scalars(q).first()
        if wo is None:
            raise NotFound("work_order")
        return wo

    def get_by_number(self, number: str) -> WorkOrder:
        wo: WorkOrder | None = self.db.scalars(self.scoped().where(WorkOrder.number == number)).first()
        if wo is None:
            raise NotFound("work_order")
        return wo

    def filtered(self, f: WorkOrderFilter) -> Select[Any]:
        q = self.scoped()
        if f.status:
            q = q.where(WorkOrder.status.in_(f.status))
        if f.priority:
            q = q.where(WorkOrder.priority.in_(f.priority))
        if f.technician_id:
            q = q.where(WorkOrder.technician_id == f.technician_id)
        if f.unassigned:
            q = q.where(WorkOrder.technician_id.is_(None))
        for col, val in ((WorkOrder.customer_id, f.customer_id), (WorkOrder.site_id, f.site_id),
                         (WorkOrder.asset_id, f.asset_id), (WorkOrder.service_type_id, f.service_type_id),
                         (WorkOrder.territory_id, f.territory_id), (WorkOrder.channel, f.channel)):
            if val is not None:
                q = q.where(col == val)
        if f.created_from:
            q = q.where(WorkOrder.created_at >= f.created_from)
        if f.created_to:
            q = q.where(WorkOrder.created_at < f.created_to)
        if f.due_before:
            q = q.where(WorkOrder.due_at < f.due_before)
        if f.q:
            like = f"%{f.q.lower()}%"
            q = q.where(or_(func.lower(WorkOrder.number).like(like), func.lower(WorkOrder.title).like(like),
                            func.lower(WorkOrder.description).like(like),
                            func.lower(WorkOrder.customer_name).like(like),
                            func.lower(WorkOrder.site_address).like(like),
                            func.lower(WorkOrder.external_ref).like(like)))
        desc = f.sort.startswith("-")
        col = SORTS.get(f.sort.lstrip("-"), WorkOrder.created_at)
        return q.order_by(col.desc() if desc else col.asc(), WorkOrder.id)

    def page(self, f: WorkOrderFilter, limit: int, offset: int) -> tuple[list[WorkOrder], int]:
        q = self.filtered(f)
        total = self.db.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0
        return list(self.db.scalars(q.limit(limit).offset(offset))), total

    def points(self, f: WorkOrderFilter, cap: int) -> tuple[list[Any], int]:
        """Only the columns a map needs, for every order of the filter (up to `cap`)."""
        q = self.filtered(f)
        total = self.db.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0
        cols = q.with_only_columns(WorkOrder.id, WorkOrder.number, WorkOrder.status, WorkOrder.priority,
                                   WorkOrder.title, WorkOrder.site_lat, WorkOrder.site_lng, WorkOrder.technician_id,
                                   WorkOrder.window_start, WorkOrder.window_end, WorkOrder.planned_start)
        return list(self.db.execute(cols.limit(cap))), total

    def iterate(self, f: WorkOrderFilter, cap: int) -> list[WorkOrder]:
        return list(self.db.scalars(self.filtered(f).limit(cap)))

    # ---- children of a visible order (callers load the order through `get` first) ---------------

    def audit(self, wo: WorkOrder) -> list[WorkOrderAudit]:
        return list(self.db.scalars(select(WorkOrderAudit).where(WorkOrderAudit.work_order_id == wo.id)
                                    .order_by(WorkOrderAudit.seq)))

    def next_audit_seq(self, wo: WorkOrder) -> int:
        last = self.db.scalar(select(func.max(WorkOrderAudit.seq)).where(WorkOrderAudit.work_order_id == wo.id))
        return int(last or 0) + 1

    def attachments(self, wo: WorkOrder) -> list[Attachment]:
        return list(self.db.scalars(select(Attachment).where(Attachment.work_order_id == wo.id)
                                    .order_by(Attachment.created_at, Attachment.id)))

    def attachment(self, wo: WorkOrder, attachment_id: uuid.UUID) -> Attachment:
        att = self.db.scalars(select(Attachment).where(Attachment.work_order_id == wo.id,
                                                       Attachment.id == attachment_id)).first()
        if att is None:
            raise NotFound("attachment")
        return att


def exceptions_page(repo: WorkOrderRepository, open_only: bool, limit: int, offset: int,
                    ) -> tuple[list[tuple[ExceptionReport, str]], int]:
    """Exception reports on the work orders the caller can see, newest first, with the order's number."""
    visible = repo.scoped().with_only_columns(WorkOrder.id, WorkOrder.number).subquery()
    q = (select(ExceptionReport, visible.c.number).join(visible, visible.c.id == ExceptionReport.work_order_id))
    if open_only:
        q = q.where(ExceptionReport.resolved_at.is_(None))
    total = repo.db.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = repo.db.execute(q.order_by(ExceptionReport.reported_at.desc(), ExceptionReport.id)
                           .limit(limit).offset(offset)).all()
    return [(r[0], r[1]) for r in rows], total


def get_exception(repo: WorkOrderRepository, exception_id: uuid.UUID) -> tuple[ExceptionReport, WorkOrder]:
    report = repo.db.get(ExceptionReport, exception_id)
    if report is None or report.org_id != repo.p.org_id:
        raise NotFound("resource")
    return report, repo.get(report.work_order_id)


@dataclass(frozen=True)
class VisibilityKeys:
    """What decides who may see a work order, as it is now (for live updates)."""

    id: uuid.UUID
    org_id: uuid.UUID
    technician_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    territory_id: uuid.UUID | None
    status: str
    number: str
    priority: str


def visibility_keys(db: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, VisibilityKeys]:
    """System read (all organisations): the current visibility keys of these work orders, in one query.
    Callers decide per viewer with `rules.visible_to`."""
    if not ids:
        return {}
    rows = db.execute(select(WorkOrder.id, WorkOrder.org_id, WorkOrder.technician_id, WorkOrder.customer_id,
                             WorkOrder.territory_id, WorkOrder.status, WorkOrder.number, WorkOrder.priority)
                      .where(WorkOrder.id.in_(ids))).all()
    return {r[0]: VisibilityKeys(*r) for r in rows}


def next_number(db: Session, org_id: uuid.UUID, day: date) -> int:
    """Atomically take the next sequence number of the organisation's local day."""
    dialect = db.get_bind().dialect.name
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(WorkOrderCounter)
    db.execute(ins.values(org_id=org_id, day=day, last=0).on_conflict_do_nothing())
    value = db.execute(update(WorkOrderCounter).where(WorkOrderCounter.org_id == org_id,
                                                      WorkOrderCounter.day == day)
                       .values(last=WorkOrderCounter.last + 1).returning(WorkOrderCounter.last)).scalar_one()
    return int(value)


def due_for_auto_confirm(db: Session, before: datetime, limit: int = 500) -> list[WorkOrder]:
    """System scan (all organisations): awaiting acceptance since before `before`."""
    return list(db.scalars(select(WorkOrder).where(WorkOrder.status == "awaiting_acceptance",
                                                   WorkOrder.work_completed_at < before).limit(limit)))


def awaiting_or_completed(db: Session, status: str, limit: int = 2000) -> list[WorkOrder]:
    return list(db.scalars(select(WorkOrder).where(WorkOrder.status == status).limit(limit)))


def stamp_site_entry(db: Session, work_order_id: uuid.UUID, at: datetime, distance_m: float | None,
                     accuracy_m: float | None) -> bool:
    """Set the site-entry stamp unless one exists (atomic: the first entry wins); no version bump."""
    result = db.execute(update(WorkOrder).where(WorkOrder.id == work_order_id, WorkOrder.site_entered_at.is_(None))
                        .values(site_entered_at=at, site_entry_distance_m=distance_m, site_entry_accuracy_m=accuracy_m)
                        .execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0))
