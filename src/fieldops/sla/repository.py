"""Every SLA query: configuration scoped to the caller's organisation, clocks scoped through the work orders
the caller may see, and the worker's due-clock claim."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from fieldops.core.auth import Principal
from fieldops.core.errors import NotFound
from fieldops.customers.models import Customer, Site
from fieldops.organizations.models import Organization
from fieldops.sla.models import SlaCalendar, SlaClock, SlaEscalation, SlaPolicy
from fieldops.technicians.models import Technician
from fieldops.users.models import User, UserTerritory
from fieldops.work_orders.models import WorkOrder

OPEN = ("running", "paused", "breached")


class SlaRepository:
    """Calendars and policies of the caller's organisation (404 for anything else)."""

    def __init__(self, db: Session, principal: Principal) -> None:
        self.db, self.p = db, principal

    def calendars(self, limit: int, offset: int) -> tuple[list[SlaCalendar], int]:
        q = select(SlaCalendar).where(SlaCalendar.org_id == self.p.org_id)
        total = self.db.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = self.db.scalars(q.order_by(SlaCalendar.name, SlaCalendar.id).limit(limit).offset(offset))
        return list(rows), int(total)

    def calendar(self, calendar_id: uuid.UUID) -> SlaCalendar:
        row = self.db.get(SlaCalendar, calendar_id)
        if row is None or row.org_id != self.p.org_id:
            raise NotFound("sla_calendar")
        return row

    def policies(self, limit: int, offset: int) -> tuple[list[SlaPolicy], int]:
        q = select(SlaPolicy).where(SlaPolicy.org_id == self.p.org_id)
        total = self.db.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = self.db.scalars(q.order_by(SlaPolicy.rank.desc(), SlaPolicy.name, SlaPolicy.id)
                               .limit(limit).offset(offset))
        return list(rows), int(total)

    def policy(self, policy_id: uuid.UUID) -> SlaPolicy:
        row = self.db.get(SlaPolicy, policy_id)
        if row is None or row.org_id != self.p.org_id:
            raise NotFound("sla_policy")
        return row

    def policies_using(self, calendar_id: uuid.UUID) -> int:
        return int(self.db.scalar(select(func.count()).select_from(SlaPolicy).where(
            SlaPolicy.org_id == self.p.org_id, SlaPolicy.calendar_id == calendar_id)) or 0)

    def clocks(self, visible_orders: Select[Any], *, status: Sequence[str], work_order_ids: Sequence[uuid.UUID],
               at_risk_before: datetime | None, limit: int, offset: int) -> tuple[list[tuple[SlaClock, str]], int]:
        """Clocks of the work orders in `visible_orders` (the work-order repository's scoped select)."""
        ids = visible_orders.with_only_columns(WorkOrder.id).scalar_subquery()
        q = (select(SlaClock, WorkOrder.number).join(WorkOrder, WorkOrder.id == SlaClock.work_order_id)
             .where(SlaClock.org_id == self.p.org_id, SlaClock.work_order_id.in_(ids),
                    SlaClock.replaced.is_(False)))
        if status:
            q = q.where(SlaClock.status.in_(list(status)))
        if work_order_ids:
            q = q.where(SlaClock.work_order_id.in_(list(work_order_ids)))
        if at_risk_before is not None:
            q = q.where(SlaClock.status.in_(("running", "breached")), SlaClock.met_at.is_(None),
                        SlaClock.deadline_at <= at_risk_before)
        total = self.db.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = self.db.execute(q.order_by(SlaClock.deadline_at, SlaClock.id).limit(limit).offset(offset)).all()
        return [(r[0], r[1]) for r in rows], int(total)


# ---- system (worker) queries: ids come from events, no caller --------------------------------------

def clocks_of(db: Session, work_order_id: uuid.UUID, cycle: int | None = None,
              include_replaced: bool = False) -> list[SlaClock]:
    q = select(SlaClock).where(SlaClock.work_order_id == work_order_id)
    if cycle is not None:
        q = q.where(SlaClock.cycle == cycle)
    if not include_replaced:
        q = q.where(SlaClock.replaced.is_(False))
    return list(db.scalars(q.order_by(SlaClock.cycle.desc(), SlaClock.created_at, SlaClock.target)))


def escalations_of(db: Session, clock_ids: Sequence[uuid.UUID]) -> list[SlaEscalation]:
    if not clock_ids:
        return []
    return list(db.scalars(select(SlaEscalation).where(SlaEscalation.clock_id.in_(list(clock_ids)))
                           .order_by(SlaEscalation.fired_at, SlaEscalation.level)))


def fired_levels(db: Session, clock_id: uuid.UUID) -> set[int]:
    return set(db.scalars(select(SlaEscalation.level).where(SlaEscalation.clock_id == clock_id)))


def claim_due(db: Session, now: datetime, limit: int) -> list[SlaClock]:
    """Clocks with a level or deadline due now (index on next_fire_at); locked and skipped by other workers on
    PostgreSQL, serialized by the write lock on SQLite."""
    q = (select(SlaClock).where(SlaClock.next_fire_at <= now).order_by(SlaClock.next_fire_at).limit(limit))
    if db.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return list(db.scalars(q))


def active_policies(db: Session, org_id: uuid.UUID) -> list[SlaPolicy]:
    return list(db.scalars(select(SlaPolicy).where(SlaPolicy.org_id == org_id, SlaPolicy.active.is_(True))
                           .order_by(SlaPolicy.created_at, SlaPolicy.id)))


def get_policy(db: Session, policy_id: uuid.UUID | None) -> SlaPolicy | None:
    return db.get(SlaPolicy, policy_id) if policy_id else None


def get_calendar(db: Session, calendar_id: uuid.UUID) -> SlaCalendar | None:
    return db.get(SlaCalendar, calendar_id)


def work_order(db: Session, work_order_id: uuid.UUID) -> WorkOrder | None:
    return db.get(WorkOrder, work_order_id)


def order_context(db: Session, wo: WorkOrder) -> tuple[str, str]:
    """(customer tier, the site's zone or the organisation's)."""
    customer = db.get(Customer, wo.customer_id)
    site = db.get(Site, wo.site_id)
    tz = site.timezone if site is not None and site.timezone else None
    if tz is None:
        org = db.get(Organization, wo.org_id)
        tz = (org.timezone if org is not None else None) or "UTC"
    return (customer.tier if customer is not None else "standard") or "standard", tz


def user_ids_by_role(db: Session, org_id: uuid.UUID, roles: Sequence[str]) -> list[uuid.UUID]:
    q = select(User.id).where(User.org_id == org_id, User.role.in_(list(roles)), User.is_active.is_(True))
    return list(db.scalars(q.order_by(User.id)))


def supervisors_of(db: Session, org_id: uuid.UUID, territory_id: uuid.UUID | None) -> list[uuid.UUID]:
    if territory_id is None:
        return []
    q = (select(User.id).join(UserTerritory, UserTerritory.user_id == User.id)
         .where(User.org_id == org_id, User.role == "supervisor", UserTerritory.territory_id == territory_id))
    return list(db.scalars(q.order_by(User.id)))


def technician_user(db: Session, technician_id: uuid.UUID | None) -> uuid.UUID | None:
    if technician_id is None:
        return None
    tech = db.get(Technician, technician_id)
    return tech.user_id if tech is not None else None


def users_in_org(db: Session, org_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    if not ids:
        return []
    return list(db.scalars(select(User.id).where(User.org_id == org_id, User.id.in_(list(ids)))))
