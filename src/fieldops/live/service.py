"""Live updates: turn outbox events into live events, issue stream tickets, prune, and read a viewer's backlog."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from fieldops.core.errors import Unauthorized
from fieldops.core.events import OutboxEvent
from fieldops.core.security import sha256_hex
from fieldops.core.web import Ctx
from fieldops.live import repository as repo
from fieldops.live import rules
from fieldops.live.models import LiveEvent, LiveTicket
from fieldops.settings import Settings

TICKET_SECONDS = 60
PAGE = 500


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def record(db: Session, event: OutboxEvent, now: datetime) -> LiveEvent | None:
    """Store the outbox event as a live event (idempotent on the outbox id). Work-order events are keyed by
    the order (payload work_order_id, else the aggregate); `user_id` without an order addresses one user."""
    if event.org_id is None or repo.exists_for_outbox(db, event.id):
        return None
    payload = dict(event.payload or {})
    wo_id = _uuid(payload.get("work_order_id"))
    if wo_id is None and event.aggregate_type == "work_order":
        wo_id = event.aggregate_id
        payload["work_order_id"] = str(wo_id)
    user_id = _uuid(payload.get("user_id")) if wo_id is None else None
    return repo.append(db, org_id=event.org_id, type=event.type, work_order_id=wo_id,
                       audience=rules.audience_of(event.type, payload), user_id=user_id, payload=payload,
                       outbox_event_id=event.id, now=now)


def prune(db: Session, now: datetime, settings: Settings) -> int:
    """Keep `live_retention_days` / `live_retention_rows` of live events; drop expired tickets."""
    n = repo.prune(db, now - timedelta(days=settings.live_retention_days), settings.live_retention_rows)
    return n + repo.prune_tickets(db, now - timedelta(minutes=5))


# ---- tickets for plain EventSource clients ----------------------------------------------------------

def issue_ticket(ctx: Ctx) -> tuple[str, int]:
    """A one-time ticket, valid for 60 seconds, standing for the caller's sign-in session."""
    if ctx.principal.session_id is None:
        raise Unauthorized("invalid_token")
    token = secrets.token_urlsafe(32)
    repo.add_ticket(ctx.db, LiveTicket(token_hash=sha256_hex(token), user_id=ctx.principal.user_id,
                                       session_id=ctx.principal.session_id, created_at=ctx.now,
                                       expires_at=ctx.now + timedelta(seconds=TICKET_SECONDS)))
    return token, TICKET_SECONDS


def redeem_ticket(db: Session, token: str, now: datetime) -> tuple[uuid.UUID, uuid.UUID]:
    """(user id, session id) of a valid, unused ticket, which is used up; 401 otherwise."""
    if not token or len(token) > 200:
        raise Unauthorized("invalid_token")
    ticket = repo.take_ticket(db, sha256_hex(token))
    if ticket is None or ticket.used_at is not None or ticket.expires_at <= now:
        raise Unauthorized("invalid_token")
    ticket.used_at = now
    db.flush()
    return ticket.user_id, ticket.session_id


# ---- what one viewer receives ------------------------------------------------------------------------

@dataclass(frozen=True)
class Message:
    id: int
    event: str
    data: dict[str, Any]


def facts(row: LiveEvent) -> rules.EventFacts:
    return rules.EventFacts(id=row.id, org_id=row.org_id, type=row.type, work_order_id=row.work_order_id,
                            audience=row.audience, user_id=row.user_id, payload=dict(row.payload or {}))


def load_orders(db: Session, events: list[rules.EventFacts]) -> dict[uuid.UUID, rules.OrderKeys]:
    """The current keys of every work order the events name, in one query."""
    ids = list({e.work_order_id for e in events if e.work_order_id is not None})
    return {k: rules.OrderKeys(org_id=v.org_id, technician_id=v.technician_id, customer_id=v.customer_id,
                               territory_id=v.territory_id, status=v.status)
            for k, v in repo.order_keys(db, ids).items()}


def route(events: list[rules.EventFacts], orders: dict[uuid.UUID, rules.OrderKeys],
          viewer: rules.LiveViewer) -> list[Message]:
    out = []
    for e in events:
        data = rules.deliver(e, orders.get(e.work_order_id) if e.work_order_id else None, viewer)
        if data is not None:
            out.append(Message(e.id, rules.sse_type(e, data), data))
    return out


@dataclass(frozen=True)
class CatchUp:
    position: int  # the newest id the viewer is now up to date with
    messages: list[Message]
    reset: bool  # the resume point is gone (pruned, or unknown): refetch everything


def catch_up(db: Session, viewer: rules.LiveViewer, last_event_id: int | None, max_events: int) -> CatchUp:
    """Everything after `last_event_id` the viewer may see (None: nothing, start from now)."""
    lo, hi = repo.bounds(db)
    top = hi or 0
    if last_event_id is None:
        return CatchUp(top, [], False)
    if last_event_id > top or (lo is not None and last_event_id < lo - 1) or (lo is None and last_event_id > 0):
        if last_event_id == top:
            return CatchUp(top, [], False)
        return CatchUp(top, [], True)
    if repo.count_between(db, viewer.org_id, last_event_id, top) > max_events:
        return CatchUp(top, [], True)
    messages: list[Message] = []
    cursor = last_event_id
    while cursor < top:
        rows = [r for r in repo.after(db, cursor, PAGE, viewer.org_id) if r.id <= top]
        if not rows:
            break
        events = [facts(r) for r in rows]
        messages.extend(route(events, load_orders(db, events), viewer))
        cursor = rows[-1].id
        if len(rows) < PAGE:
            break
    return CatchUp(top, messages, False)
