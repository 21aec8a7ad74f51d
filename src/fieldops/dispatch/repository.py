"""Queries of the dispatch module, scoped to the caller's organisation."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from fieldops.core.auth import Principal, Role
from fieldops.core.errors import NotFound
from fieldops.dispatch.models import DispatchDecision, DispatchPlan, DispatchPolicy, PoolOffer, TechnicianPerformance
from fieldops.work_orders.models import WorkOrder


class DispatchRepository:
    def __init__(self, db: Session, principal: Principal) -> None:
        self.db, self.p = db, principal

    def policies(self) -> list[DispatchPolicy]:
        return list(self.db.scalars(select(DispatchPolicy).where(DispatchPolicy.org_id == self.p.org_id)))

    def policy(self, service_type_id: uuid.UUID | None) -> DispatchPolicy | None:
        q = select(DispatchPolicy).where(DispatchPolicy.org_id == self.p.org_id)
        q = q.where(DispatchPolicy.service_type_id.is_(None) if service_type_id is None
                    else DispatchPolicy.service_type_id == service_type_id)
        row: DispatchPolicy | None = self.db.scalars(q).first()
        return row

    def decisions(self, work_order_id: uuid.UUID) -> list[DispatchDecision]:
        return list(self.db.scalars(select(DispatchDecision).where(
            DispatchDecision.org_id == self.p.org_id, DispatchDecision.work_order_id == work_order_id)
            .order_by(DispatchDecision.at, DispatchDecision.id)))

    def open_offer_for(self, work_order_id: uuid.UUID) -> PoolOffer | None:
        row: PoolOffer | None = self.db.scalars(select(PoolOffer).where(
            PoolOffer.org_id == self.p.org_id, PoolOffer.work_order_id == work_order_id,
            PoolOffer.status == "open")).first()
        return row

    def offers(self, status: str | None, limit: int, offset: int) -> tuple[list[tuple[PoolOffer, WorkOrder]], int]:
        q = (select(PoolOffer, WorkOrder).join(WorkOrder, WorkOrder.id == PoolOffer.work_order_id)
             .where(PoolOffer.org_id == self.p.org_id))
        if self.p.role == Role.supervisor:  # their territories' orders only, as everywhere else
            q = q.where(WorkOrder.territory_id.in_(list(self.p.territory_ids)))
        if status:
            q = q.where(PoolOffer.status == status)
        rows = [(r[0], r[1]) for r in self.db.execute(q.order_by(PoolOffer.offered_at.desc(), PoolOffer.id))]
        return rows[offset:offset + limit], len(rows)

    def offer(self, offer_id: uuid.UUID) -> PoolOffer:
        row = self.db.get(PoolOffer, offer_id)
        if row is None or row.org_id != self.p.org_id:
            raise NotFound("resource")
        return row

    def claim_offer(self, offer_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> bool:
        """Atomically take an open offer; exactly one caller wins under concurrency."""
        result = self.db.execute(update(PoolOffer).where(PoolOffer.id == offer_id, PoolOffer.status == "open",
                                                         PoolOffer.expires_at > now)
                                 .values(status="grabbed", grabbed_by=user_id, grabbed_at=now, closed_at=now))
        return bool(getattr(result, "rowcount", 0) == 1)

    def plan(self, plan_id: uuid.UUID) -> DispatchPlan:
        row = self.db.get(DispatchPlan, plan_id)
        if row is None or row.org_id != self.p.org_id:
            raise NotFound("resource")
        return row

    def plans(self, limit: int, offset: int) -> tuple[list[DispatchPlan], int]:
        q = select(DispatchPlan).where(DispatchPlan.org_id == self.p.org_id)
        if self.p.role.value == "supervisor":
            q = q.where(DispatchPlan.territory_id.in_(list(self.p.territory_ids)))
        total = self.db.scalar(select(func.count()).select_from(q.subquery())) or 0
        return list(self.db.scalars(q.order_by(DispatchPlan.created_at.desc()).limit(limit).offset(offset))), total


def expired_offers(db: Session, now: datetime) -> list[PoolOffer]:
    return list(db.scalars(select(PoolOffer).where(PoolOffer.status == "open", PoolOffer.expires_at <= now)))


def performance(db: Session, technician_id: uuid.UUID, service_type_id: uuid.UUID) -> TechnicianPerformance | None:
    return db.get(TechnicianPerformance, (technician_id, service_type_id))


def last_assigned(db: Session, org_id: uuid.UUID) -> dict[str, int]:
    rows = db.execute(select(WorkOrder.technician_id, func.max(WorkOrder.assigned_at)).where(
        WorkOrder.org_id == org_id, WorkOrder.technician_id.is_not(None)).group_by(WorkOrder.technician_id))
    return {str(t): int(at.timestamp()) for t, at in rows if at is not None}


def open_jobs_for_plan(db: Session, org_id: uuid.UUID, territory_id: uuid.UUID | None, include_assigned: bool,
                       day_end: datetime) -> list[WorkOrder]:
    statuses = ["new", "assigned", "accepted"] if include_assigned else ["new"]
    q = select(WorkOrder).where(WorkOrder.org_id == org_id, WorkOrder.status.in_(statuses))
    if territory_id:
        q = q.where(WorkOrder.territory_id == territory_id)
    rows = list(db.scalars(q))
    return [w for w in rows if w.window_start is None or w.window_start < day_end]


def next_queued_plan(db: Session) -> DispatchPlan | None:
    q = select(DispatchPlan).where(DispatchPlan.status == "queued").order_by(DispatchPlan.created_at).limit(1)
    if db.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    row: DispatchPlan | None = db.scalars(q).first()
    return row


def lock_org_dispatch(db: Session, org_id: uuid.UUID) -> None:
    """PostgreSQL: a transaction advisory lock per organisation (released at commit or rollback)."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": org_id.int % (2**63 - 1)})


def unstarted_jobs_of(db: Session, technician_id: uuid.UUID) -> list[WorkOrder]:
    return list(db.scalars(select(WorkOrder).where(WorkOrder.technician_id == technician_id,
                                                   WorkOrder.status.in_(("assigned", "accepted")))))
