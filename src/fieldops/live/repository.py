"""Every live-event and ticket query. Live events are a system table: callers filter per viewer with rules."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from fieldops.live.models import LiveEvent, LiveTicket
from fieldops.work_orders.repository import VisibilityKeys, visibility_keys

# Any constant shared by every writer: pg_advisory_xact_lock(LOCK_KEY) serialises live-event inserts.
LOCK_KEY = 0x6C697665  # "live"


def append(db: Session, *, org_id: uuid.UUID, type: str, work_order_id: uuid.UUID | None, audience: str | None,
           user_id: uuid.UUID | None, payload: dict[str, Any], outbox_event_id: uuid.UUID | None,
           now: datetime) -> LiveEvent:
    """Insert one live event. On PostgreSQL a transaction-level advisory lock makes inserts commit one after
    another, so ids become visible in id order (a reader polling "id > last" never skips a late commit).
    SQLite serialises writers already (BEGIN IMMEDIATE)."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    row = LiveEvent(org_id=org_id, type=type, work_order_id=work_order_id, audience=audience, user_id=user_id,
                    payload=payload, outbox_event_id=outbox_event_id, created_at=now)
    db.add(row)
    db.flush()
    return row


def exists_for_outbox(db: Session, outbox_event_id: uuid.UUID) -> bool:
    return db.scalar(select(LiveEvent.id).where(LiveEvent.outbox_event_id == outbox_event_id)) is not None


def after(db: Session, last_id: int, limit: int, org_id: uuid.UUID | None = None) -> list[LiveEvent]:
    q = select(LiveEvent).where(LiveEvent.id > last_id)
    if org_id is not None:
        q = q.where(LiveEvent.org_id == org_id)
    return list(db.scalars(q.order_by(LiveEvent.id).limit(limit)))


def bounds(db: Session) -> tuple[int | None, int | None]:
    """(smallest, largest) retained id, or (None, None) when the table is empty."""
    row = db.execute(select(func.min(LiveEvent.id), func.max(LiveEvent.id))).one()
    return (int(row[0]) if row[0] is not None else None, int(row[1]) if row[1] is not None else None)


def count_between(db: Session, org_id: uuid.UUID, after_id: int, upto_id: int) -> int:
    return int(db.scalar(select(func.count()).select_from(LiveEvent).where(
        LiveEvent.org_id == org_id, LiveEvent.id > after_id, LiveEvent.id <= upto_id)) or 0)


def order_keys(db: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, VisibilityKeys]:
    return visibility_keys(db, ids)


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def prune(db: Session, before: datetime, keep_rows: int) -> int:
    """Delete events older than `before`, and beyond the newest `keep_rows`."""
    n = _count(db.execute(delete(LiveEvent).where(LiveEvent.created_at < before)))
    top = db.scalar(select(func.max(LiveEvent.id)))
    if top is not None:
        n += _count(db.execute(delete(LiveEvent).where(LiveEvent.id <= int(top) - keep_rows)))
    return n


def add_ticket(db: Session, ticket: LiveTicket) -> None:
    db.add(ticket)
    db.flush()


def take_ticket(db: Session, token_hash: str) -> LiveTicket | None:
    q = select(LiveTicket).where(LiveTicket.token_hash == token_hash)
    if db.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    ticket: LiveTicket | None = db.scalars(q).first()
    return ticket


def prune_tickets(db: Session, before: datetime) -> int:
    return _count(db.execute(delete(LiveTicket).where(LiveTicket.expires_at < before)))
