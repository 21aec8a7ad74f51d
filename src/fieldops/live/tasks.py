"""Worker handlers: every outbox event a live client may care about becomes a live event (one writer)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from fieldops.core.events import OutboxEvent
from fieldops.live import service
from fieldops.settings import Settings
from fieldops.work_orders.rules import ACTIONS

# Types are matched exactly by the relay, so the list is explicit.
LIVE_TYPES = sorted({
    "work_order.created", "work_order.updated", "work_order.exception_reported", "work_order.dispatch_failed",
    "work_order.pool_expired", "dispatch.offered",
    *(a.event for a in ACTIONS.values() if a.event),
    "sla.warning", "sla.breached", "sla.escalated", "sla.met", "sla.paused", "sla.resumed",
    "comment.created", "notification.created",
    # tracking: arrival evidence, timeout alerts, live positions (staff and the technician only)
    "work_order.site_entered", "work_order.timeout", "work_order.check_in_far", "technician.position",
})


def publish_live(db: Session, event: OutboxEvent, now: datetime) -> None:
    """Store the event for the SSE broadcasters of every API process (idempotent on the event id)."""
    service.record(db, event, now)
    if db.get_bind().dialect.name == "postgresql":
        # Delivered at commit (transactional, collapsed per transaction): wakes every API process's broadcaster.
        db.execute(text("NOTIFY fieldops_live"))


def prune_live_events(db: Session, now: datetime, settings: Settings) -> int:
    """Keep live events for the retention window (resume points older than it get a reset)."""
    return service.prune(db, now, settings)


HANDLERS = {event_type: [publish_live] for event_type in LIVE_TYPES}
PERIODIC = [prune_live_events]
