"""Worker handlers: auto-dispatch on creation, re-dispatch after a rejection, plans, learning, pool expiry."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from fieldops.core.auth import system_principal
from fieldops.core.clock import Clock
from fieldops.core.db import Database
from fieldops.core.events import OutboxEvent
from fieldops.core.web import Ctx
from fieldops.dispatch import service
from fieldops.dispatch import snapshot as snap
from fieldops.settings import Settings, get_settings
from fieldops.work_orders.models import WorkOrder

log = logging.getLogger("fieldops.dispatch")

# Events older than this are history (e.g. imported or seeded orders), not a request to dispatch now.
STALE_AFTER = timedelta(hours=1)


def _auto(db: Session, event: OutboxEvent, now: datetime) -> None:
    wo = db.get(WorkOrder, event.aggregate_id)
    if wo is None or wo.status != "new" or wo.technician_id is not None:
        return
    if now - event.occurred_at > STALE_AFTER:
        return
    policy = snap.policy_for(db, wo.org_id, wo.service_type_id)
    if policy is not None and not policy.auto_dispatch:
        return
    ctx = Ctx(db=db, principal=system_principal(wo.org_id), now=now, settings=get_settings())
    service.dispatch_now(ctx, wo.id)


def auto_dispatch(db: Session, event: OutboxEvent, now: datetime) -> None:
    """work_order.created → choose and assign a technician (or pool / queue with the reason)."""
    _auto(db, event, now)


def redispatch_after_reject(db: Session, event: OutboxEvent, now: datetime) -> None:
    """work_order.rejected → the rejecting technician is excluded (the order remembers) and it goes again."""
    _auto(db, event, now)


def run_queued_plans(database: Database, clock: Clock, settings: Settings) -> int:
    """Long job: solve the oldest queued day plan. Each step is its own short transaction, so the solver's
    seconds never hold a database lock and screens can poll the progress."""
    with database.session() as db:
        plan = service.claim_queued_plan(db, clock.now())
        if plan is None:
            return 0
        plan_id = plan.id
        db.commit()
    try:
        with database.session() as db:
            data = service.plan_input(db, plan_id, clock.now())
            service.set_plan_progress(db, plan_id, 20)
            db.commit()
        result = service.solve_plan(data)
        with database.session() as db:
            service.store_plan_result(db, plan_id, data, result, clock.now())
            db.commit()
    except Exception as exc:  # a failed plan is a result to show, not a stuck queue
        log.exception("plan %s failed", plan_id)
        with database.session() as db:
            service.fail_plan(db, plan_id, f"{type(exc).__name__}: {exc}", clock.now())
            db.commit()
    return 1


def learn(db: Session, event: OutboxEvent, now: datetime) -> None:
    """work_order.closed → update the technician's learned quality and speed for the service type."""
    wo = db.get(WorkOrder, event.aggregate_id)
    if wo is not None and wo.status == "closed":
        service.learn_from_closed(db, wo, now)


def technician_unavailable(db: Session, event: OutboxEvent, now: datetime) -> None:
    """technician.leave_added / duty_status_changed → move their not-yet-started jobs in the gap."""
    payload = event.payload or {}
    if event.type == "technician.duty_status_changed":
        if payload.get("duty_status") not in ("off_duty", "on_leave"):
            return
        start, end, why = now, None, f"technician went {payload.get('duty_status')}"
    else:
        start = datetime.fromisoformat(str(payload["start_at"]))
        end = datetime.fromisoformat(str(payload["end_at"]))
        if end <= now:
            return
        start, why = max(start, now), "technician on leave"
    service.release_unavailable(db, event.aggregate_id, start, end, now, get_settings(), why)


HANDLERS: dict[str, list[Any]] = {
    "technician.leave_added": [technician_unavailable],
    "technician.duty_status_changed": [technician_unavailable],
    "work_order.created": [auto_dispatch],
    "work_order.rejected": [redispatch_after_reject],
    "work_order.reopened": [redispatch_after_reject],
    "work_order.closed": [learn],
}
PERIODIC = [service.expire_pool]
LONG_JOBS = [run_queued_plans]
