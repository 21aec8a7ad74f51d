"""Who receives which live event: pure rules, the same for the live fan-out and for a resume's backlog.

A work-order event is judged against the order as it is NOW (its current keys), with the same predicate as
the REST API (`work_orders.rules.visible_to`); the payload only says who may have just lost it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from fieldops.work_orders.rules import Viewer, visible_to

INTERNAL = "internal"
CUSTOMER = "customer"

# Events that say something about the service desk's work, not the customer's order: never to customers,
# whatever their payload says.
INTERNAL_TYPES = frozenset({
    "work_order.exception_reported", "work_order.transfer_requested", "work_order.transfer_declined",
    "work_order.dispatch_failed", "work_order.pool_expired", "dispatch.offered",
    "sla.warning", "sla.breached", "sla.escalated", "sla.met", "sla.paused", "sla.resumed",
    "work_order.timeout", "work_order.check_in_far",
})
# The keys a customer receives of a work-order event (an allow-list: reasons, actors and notes stay inside).
CUSTOMER_KEYS = frozenset({
    "work_order_id", "number", "status", "from_status", "priority", "technician_id", "customer_id", "territory_id",
    "action", "comment_id", "seq", "visibility", "author_name", "author_role", "body", "created_at",
})
# Payload keys a technician does not receive even of an order they see (other technicians offered the job).
TECHNICIAN_HIDDEN_KEYS = frozenset({"eligible"})
# Payload keys naming a technician who may just have lost the order.
LOST_KEYS = ("previous_technician_id", "from_technician_id", "technician_id")
STAFF_ROLES = frozenset({"admin", "supervisor", "dispatcher", "agent", "finance", "system"})


@dataclass(frozen=True)
class EventFacts:
    id: int
    org_id: uuid.UUID
    type: str
    work_order_id: uuid.UUID | None
    audience: str | None
    user_id: uuid.UUID | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class OrderKeys:
    """The work order's current visibility keys and headline fields."""

    org_id: uuid.UUID
    technician_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    territory_id: uuid.UUID | None
    status: str


class LiveViewer(Viewer, Protocol):
    @property
    def user_id(self) -> uuid.UUID: ...


def audience_of(event_type: str, payload: dict[str, Any]) -> str | None:
    """The stored audience: the payload's, made internal for desk-only event types."""
    audience = payload.get("audience")
    if event_type in INTERNAL_TYPES or audience == INTERNAL:
        return INTERNAL
    return str(audience) if audience else None


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def deliver(event: EventFacts, order: OrderKeys | None, viewer: LiveViewer) -> dict[str, Any] | None:
    """What `viewer` receives of `event` (the data of the SSE message), or None. A technician who can no
    longer see the order but is named in the event as its (previous) technician gets {"status": "removed"}."""
    if event.org_id != viewer.org_id:
        return None
    role = str(viewer.role)
    if event.work_order_id is None:
        if event.user_id is not None:
            return dict(event.payload) if event.user_id == viewer.user_id else None
        if role == "technician" and viewer.technician_id is not None \
                and _uuid(event.payload.get("technician_id")) == viewer.technician_id:
            return dict(event.payload)  # about this technician (e.g. their own position)
        if role not in STAFF_ROLES:
            return None  # organisation-wide news (no order, no addressee) is for the desk
        return dict(event.payload)
    if event.audience == INTERNAL and role == "customer":
        return None
    if event.user_id is not None and event.user_id != viewer.user_id:
        return None
    if order is not None and order.org_id == event.org_id and visible_to(
            viewer, order.org_id, order.technician_id, order.customer_id, order.territory_id):
        data = dict(event.payload)
        data["work_order_id"] = str(event.work_order_id)
        data["current_status"] = order.status
        if role == "customer":
            data = {k: v for k, v in data.items() if k in CUSTOMER_KEYS or k == "current_status"}
        elif role == "technician":  # who else was offered the job is the desk's business
            data = {k: v for k, v in data.items() if k not in TECHNICIAN_HIDDEN_KEYS}
        return data
    if role == "technician" and viewer.technician_id is not None:
        named = {_uuid(event.payload.get(k)) for k in LOST_KEYS}
        if viewer.technician_id in named:
            return {"work_order_id": str(event.work_order_id), "status": "removed"}
        if event.type == "dispatch.offered" and str(viewer.technician_id) in {
                str(x) for x in event.payload.get("eligible") or []}:
            # The grab pool: an offer the technician may grab (not the list of who else may).
            return {"work_order_id": str(event.work_order_id), "number": event.payload.get("number"),
                    "offer_id": event.payload.get("offer_id")}
    return None


def sse_type(event: EventFacts, data: dict[str, Any]) -> str:
    """The SSE `event:` name: the domain type, or work_order.removed for the minimal drop message."""
    if data.get("status") == "removed" and set(data) == {"work_order_id", "status"}:
        return "work_order.removed"
    return event.type
