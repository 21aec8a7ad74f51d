"""Worker handlers: tell customers, technicians and the desk about work-order events; fan events out to
webhook subscriptions. Each handler takes ids from the event, reloads, and is idempotent (dedupe keys)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from fieldops.core.events import OutboxEvent
from fieldops.customers.models import Customer, Site
from fieldops.notifications import repository as repo
from fieldops.notifications import rules, service, tracking
from fieldops.notifications.service import Recipient
from fieldops.organizations.models import Territory
from fieldops.service_types.models import ServiceType
from fieldops.settings import Settings, get_settings
from fieldops.technicians.models import Technician
from fieldops.work_orders.models import ExceptionReport, WorkOrder
from fieldops.work_orders.rules import ACTIONS

Handler = Callable[[Session, OutboxEvent, datetime], None]
_settings: Settings | None = None


def configure(settings: Settings) -> None:
    """The worker hands its settings over (signing key and public URL of tracking links)."""
    global _settings
    _settings = settings


def _cfg() -> Settings:
    return _settings or get_settings()


# ---- helpers ------------------------------------------------------------------------------------------

def _first_name(name: str | None) -> str:
    name = (name or "").strip()
    return name.split()[0] if " " in name else name


def _tz(db: Session, wo: WorkOrder) -> str:
    site = db.get(Site, wo.site_id)
    if site is not None and site.timezone:
        return site.timezone
    return service.org_defaults(db, wo.org_id)[1]


def _fmt(value: datetime | None, tz: str) -> str:
    if value is None:
        return "-"
    try:
        return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    except Exception:
        return value.strftime("%Y-%m-%d %H:%M UTC")


def _window(wo: WorkOrder, tz: str) -> str:
    if wo.window_start and wo.window_end:
        end = _fmt(wo.window_end, tz)
        start = _fmt(wo.window_start, tz)
        return f"{start}–{end[11:] if end[:10] == start[:10] else end}"
    if wo.planned_start:
        return _fmt(wo.planned_start, tz)
    return "-"


def eta(wo: WorkOrder, tech: Technician | None = None, now: datetime | None = None) -> datetime | None:
    """Expected arrival: on the way, from the technician's fresh position; else the planned start while it is
    still ahead of the departure, else the window start."""
    if tech is not None and now is not None and wo.status in ("accepted", "en_route"):
        live = rules.live_eta(now, tech.last_lat, tech.last_lng, tech.last_seen_at, wo.site_lat, wo.site_lng)
        if live is not None:
            return live
    if wo.planned_start and (wo.departed_at is None or wo.planned_start >= wo.departed_at):
        return wo.planned_start
    if wo.window_start and (wo.departed_at is None or wo.window_start >= wo.departed_at):
        return wo.window_start
    return None


def _params(db: Session, wo: WorkOrder, now: datetime, *, with_link: bool = False) -> dict[str, Any]:
    tz = _tz(db, wo)
    tech = db.get(Technician, wo.technician_id) if wo.technician_id else None
    st = db.get(ServiceType, wo.service_type_id)
    p: dict[str, Any] = {"number": wo.number, "title": wo.title, "priority": wo.priority,
                         "address": wo.site_address, "window": _window(wo, tz),
                         "technician": _first_name(tech.name) if tech else "-",
                         "service": st.name if st else ""}
    arrival = eta(wo, tech, now)
    p["eta"] = _fmt(arrival, tz) if arrival else "-"
    if with_link:
        s = _cfg()
        p["link"] = tracking.link(s, tracking.make_token(s, work_order_id=wo.id, org_id=wo.org_id, now=now))
    return p


def _customer_recipients(db: Session, wo: WorkOrder) -> list[Recipient]:
    out = [Recipient(user_id=u.id) for u in repo.customer_users(db, wo.org_id, wo.customer_id)]
    customer = db.get(Customer, wo.customer_id)
    if wo.contact_phone:
        out.append(Recipient(phone=wo.contact_phone, name=wo.contact_name))
    if customer is not None and customer.email:
        out.append(Recipient(email=customer.email, name=customer.name))
    return out


def _tech_recipients(db: Session, org_id: uuid.UUID, technician_id: uuid.UUID | str | None) -> list[Recipient]:
    if not technician_id:
        return []
    tid = uuid.UUID(str(technician_id))
    users = {u.id for u in repo.technician_users(db, org_id, tid)}
    tech = db.get(Technician, tid)
    if tech is not None and tech.org_id == org_id and tech.user_id:
        users.add(tech.user_id)
    return [Recipient(user_id=u) for u in sorted(users)]


def _desk_recipients(db: Session, wo: WorkOrder) -> list[Recipient]:
    ids = [u.id for u in repo.users_with_roles(db, wo.org_id, ["dispatcher"])]
    if wo.territory_id:
        terr = db.get(Territory, wo.territory_id)
        supervisors = [u.id for u in repo.territory_supervisors(db, wo.org_id, wo.territory_id)]
        if terr is not None and terr.supervisor_user_id:
            supervisors.append(terr.supervisor_user_id)
        ids += [i for i in dict.fromkeys(supervisors) if i not in ids]
    if not ids:
        ids = [u.id for u in repo.users_with_roles(db, wo.org_id, ["admin"])]
    return [Recipient(user_id=i) for i in ids]


def _wo(db: Session, event: OutboxEvent) -> WorkOrder | None:
    wo = db.get(WorkOrder, event.aggregate_id)
    return wo if wo is not None and wo.org_id == event.org_id else None


def _send(db: Session, event: OutboxEvent, now: datetime, wo: WorkOrder, template: str,
          recipients: list[Recipient], params: dict[str, Any]) -> None:
    if recipients:
        service.notify(db, org_id=wo.org_id, template=template, params=params, recipients=recipients, now=now,
                       work_order_id=wo.id, dedupe_key=f"{event.id}:{template}")


# ---- the customer -------------------------------------------------------------------------------------

def _customer(template: str) -> Handler:
    def handler(db: Session, event: OutboxEvent, now: datetime) -> None:
        wo = _wo(db, event)
        if wo is None:
            return
        _send(db, event, now, wo, template, _customer_recipients(db, wo), _params(db, wo, now, with_link=True))

    handler.__name__ = f"tell_customer_{template.rsplit('_', 1)[-1]}"
    return handler


# ---- the technician -----------------------------------------------------------------------------------

def tell_technician_assigned(db: Session, event: OutboxEvent, now: datetime) -> None:
    wo = _wo(db, event)
    if wo is None:
        return
    params = _params(db, wo, now)
    _send(db, event, now, wo, "work_order.tech_assigned", _tech_recipients(db, wo.org_id, wo.technician_id), params)
    prev = (event.payload or {}).get("previous_technician_id")
    if prev and str(prev) != str(wo.technician_id):
        _send(db, event, now, wo, "work_order.tech_changed", _tech_recipients(db, wo.org_id, prev),
              {**params, "change": "reassigned to someone else", "change_zh": "已改派给他人"})


CHANGE_TEXT = {
    "work_order.updated": ("details updated", "信息已更新"),
    "work_order.unassigned": ("you were unassigned", "已取消对您的指派"),
    "work_order.transfer_approved": ("transfer approved", "转派已批准"),
    "work_order.transfer_declined": ("transfer declined", "转派被驳回"),
}


def tell_technician_changed(db: Session, event: OutboxEvent, now: datetime) -> None:
    wo = _wo(db, event)
    if wo is None:
        return
    payload = event.payload or {}
    en, zh = CHANGE_TEXT.get(event.type, ("changed", "有变更"))
    if event.type == "work_order.updated" and payload.get("fields"):
        en = f"{en} ({', '.join(map(str, payload['fields']))})"
        zh = f"{zh}（{'、'.join(map(str, payload['fields']))}）"
    params = {**_params(db, wo, now), "change": en, "change_zh": zh}
    prev = payload.get("previous_technician_id")
    targets = _tech_recipients(db, wo.org_id, prev) if prev else []
    if event.type in ("work_order.updated", "work_order.transfer_declined") and wo.technician_id:
        targets += _tech_recipients(db, wo.org_id, wo.technician_id)
    _send(db, event, now, wo, "work_order.tech_changed", targets, params)
    if event.type == "work_order.transfer_approved" and wo.technician_id and str(wo.technician_id) != str(prev):
        _send(db, event, now, wo, "work_order.tech_assigned", _tech_recipients(db, wo.org_id, wo.technician_id),
              _params(db, wo, now))


def tell_technician_cancelled(db: Session, event: OutboxEvent, now: datetime) -> None:
    wo = _wo(db, event)
    if wo is None:
        return
    tech = wo.technician_id or (event.payload or {}).get("previous_technician_id")
    params = {**_params(db, wo, now), "reason": (event.payload or {}).get("reason") or wo.cancel_reason or "-"}
    _send(db, event, now, wo, "work_order.tech_cancelled", _tech_recipients(db, wo.org_id, tech), params)


# ---- the dispatcher and the territory's supervisor ----------------------------------------------------

def tell_desk_rejected(db: Session, event: OutboxEvent, now: datetime) -> None:
    wo = _wo(db, event)
    if wo is None:
        return
    payload = event.payload or {}
    prev = payload.get("previous_technician_id")
    tech = db.get(Technician, uuid.UUID(str(prev))) if prev else None
    params = {**_params(db, wo, now), "technician": tech.name if tech else "-", "reason": payload.get("reason") or "-"}
    _send(db, event, now, wo, "work_order.desk_rejected", _desk_recipients(db, wo), params)


def tell_desk_exception(db: Session, event: OutboxEvent, now: datetime) -> None:
    wo = _wo(db, event)
    if wo is None:
        return
    payload = event.payload or {}
    report = None
    if payload.get("exception_id"):
        report = db.get(ExceptionReport, uuid.UUID(str(payload["exception_id"])))
    kind = str(payload.get("kind") or (report.kind if report else "other"))
    tech = db.get(Technician, wo.technician_id) if wo.technician_id else None
    params = {**_params(db, wo, now), "kind": kind, "technician": tech.name if tech else "-",
              "detail": (report.note or "") if report else ""}
    _send(db, event, now, wo, "work_order.desk_exception", _desk_recipients(db, wo), params)


def tell_desk_dispatch_failed(db: Session, event: OutboxEvent, now: datetime) -> None:
    wo = _wo(db, event)
    if wo is None:
        return
    params = {**_params(db, wo, now), "reason": (event.payload or {}).get("reason") or ""}
    _send(db, event, now, wo, "work_order.desk_dispatch_failed", _desk_recipients(db, wo), params)


# ---- webhooks -----------------------------------------------------------------------------------------

def publish_to_webhooks(db: Session, event: OutboxEvent, now: datetime) -> None:
    if event.org_id is None:
        return
    payload = dict(event.payload or {})
    payload.setdefault("aggregate_type", event.aggregate_type)
    payload.setdefault("aggregate_id", str(event.aggregate_id))
    service.publish_event(db, org_id=event.org_id, event_type=event.type, event_id=event.id, payload=payload,
                          occurred_at=event.occurred_at, now=now)


WEBHOOK_EVENTS = sorted({a.event for a in ACTIONS.values() if a.event} | {
    "work_order.created", "work_order.updated", "work_order.exception_reported", "work_order.dispatch_failed",
    "work_order.pool_expired", "sla.warning", "sla.breached", "sla.escalated", "sla.met", "sla.paused",
    "sla.resumed", "comment.created",
})

HANDLERS: dict[str, list[Handler]] = {t: [publish_to_webhooks] for t in WEBHOOK_EVENTS}
for _type, _handler in [
    ("work_order.assigned", _customer("work_order.customer_assigned")),
    ("work_order.assigned", tell_technician_assigned),
    ("work_order.accepted", _customer("work_order.customer_accepted")),
    ("work_order.departed", _customer("work_order.customer_en_route")),
    ("work_order.checked_in", _customer("work_order.customer_arrived")),
    ("work_order.work_completed", _customer("work_order.customer_completed")),
    ("work_order.updated", tell_technician_changed),
    ("work_order.unassigned", tell_technician_changed),
    ("work_order.transfer_approved", tell_technician_changed),
    ("work_order.transfer_declined", tell_technician_changed),
    ("work_order.cancelled", tell_technician_cancelled),
    ("work_order.rejected", tell_desk_rejected),
    ("work_order.exception_reported", tell_desk_exception),
    ("work_order.dispatch_failed", tell_desk_dispatch_failed),
]:
    HANDLERS.setdefault(_type, []).append(_handler)
