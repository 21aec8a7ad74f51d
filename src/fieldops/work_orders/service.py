"""Work-order use cases: create, read, update, every lifecycle action, attachments, timeline, export.

Each change writes one audit row and one outbox event in the caller's transaction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import filetype
from fastapi.encoders import jsonable_encoder
from sqlalchemy.orm.attributes import set_committed_value

from fieldops.core.auth import Role, require_role, system_principal
from fieldops.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    UnsupportedMedia,
    conflict,
)
from fieldops.core.events import record_event
from fieldops.core.web import Ctx, check_if_match
from fieldops.customers import service as customers
from fieldops.organizations import service as organizations
from fieldops.service_types import service as service_types
from fieldops.technicians import service as technicians
from fieldops.work_orders import rules
from fieldops.work_orders.models import Attachment, ExceptionReport, WorkOrder, WorkOrderAudit
from fieldops.work_orders.repository import (
    WorkOrderFilter,
    WorkOrderRepository,
    awaiting_or_completed,
    exceptions_page,
    get_exception,
    next_number,
    stamp_site_entry,
)
from fieldops.work_orders.rules import ACTIONS, Facts, RuleError, Status
from fieldops.work_orders.schemas import (
    AssignBody,
    AttachmentRead,
    CompleteBody,
    ConfirmBody,
    DepartBody,
    ExceptionRead,
    HoldBody,
    MapPoint,
    MapPoints,
    PositionBody,
    ReasonBody,
    TransferApproveBody,
    WorkOrderCreate,
    WorkOrderRead,
    WorkOrderUpdate,
)

CREATORS = {Role.admin, Role.supervisor, Role.dispatcher, Role.agent, Role.customer}
EDITORS = {Role.admin, Role.supervisor, Role.dispatcher, Role.agent}
COST_EDITORS = {Role.admin, Role.dispatcher, Role.supervisor}
CHECK_IN_FAR_M = 500.0

ALLOWED_MEDIA = {
    "image/jpeg": "photo", "image/png": "photo", "image/webp": "photo", "image/gif": "photo",
    "image/heic": "photo", "image/heif": "photo", "video/mp4": "video", "video/quicktime": "video",
    "video/webm": "video", "application/pdf": "file",
}


def repo(ctx: Ctx) -> WorkOrderRepository:
    return WorkOrderRepository(ctx.db, ctx.principal)


def _org_settings(ctx: Ctx) -> tuple[str, dict[str, Any]]:
    org = organizations.get_org(ctx.db, ctx.principal.org_id)
    return org.timezone or "UTC", dict(org.settings or {})


def _setting(ctx: Ctx, key: str) -> float:
    _, org_settings = _org_settings(ctx)
    value = org_settings.get(key)
    return float(value) if isinstance(value, int | float) else float(getattr(ctx.settings, key))


# ---- audit and events ---------------------------------------------------------------------------

def _jsonable(value: Any) -> Any:
    return jsonable_encoder(value)


def _set(wo: WorkOrder, changes: dict[str, Any], name: str, value: Any) -> None:
    old = getattr(wo, name)
    if old != value:
        changes[name] = [_jsonable(old), _jsonable(value)]
        setattr(wo, name, value)


def _audit(ctx: Ctx, wo: WorkOrder, action: str, from_status: str | None, changes: dict[str, Any],
           reason: str | None = None, data: dict[str, Any] | None = None) -> WorkOrderAudit:
    row = WorkOrderAudit(org_id=wo.org_id, work_order_id=wo.id, seq=repo(ctx).next_audit_seq(wo), at=ctx.now,
                         actor_user_id=None if ctx.principal.is_system else ctx.principal.user_id,
                         actor_name=ctx.principal.name, actor_role=ctx.principal.role.value, action=action,
                         from_status=from_status, to_status=wo.status, changes=changes, reason=reason,
                         data=_jsonable(data or {}))
    ctx.db.add(row)
    return row


def _event(ctx: Ctx, wo: WorkOrder, event_type: str, from_status: str | None, extra: dict[str, Any] | None = None,
           ) -> None:
    payload = {"work_order_id": str(wo.id), "number": wo.number, "status": wo.status, "from_status": from_status,
               "priority": wo.priority, "technician_id": str(wo.technician_id) if wo.technician_id else None,
               "customer_id": str(wo.customer_id), "territory_id": str(wo.territory_id) if wo.territory_id else None,
               "actor_user_id": str(ctx.principal.user_id), **(extra or {})}
    record_event(ctx.db, type=event_type, aggregate_type="work_order", aggregate_id=wo.id, org_id=wo.org_id,
                 payload=_jsonable(payload), now=ctx.now)


# ---- create / read / update ---------------------------------------------------------------------

def create(ctx: Ctx, data: WorkOrderCreate) -> WorkOrder:
    """Create a work order from any channel; customers book for themselves."""
    p = ctx.principal
    customer_id = data.customer_id
    if p.role == Role.customer:
        if customer_id is not None and customer_id != p.customer_id:
            raise NotFound("customer")
        customer_id = p.customer_id
    if customer_id is None:
        raise InvalidInput("customer_id is required.", "请选择客户（customer_id）。", field="customer_id")
    customer = customers.get_customer_in_org(ctx.db, p.org_id, customer_id)
    site = customers.get_site_in_org(ctx.db, p.org_id, data.site_id)
    if site.customer_id != customer.id:
        raise InvalidInput("The site does not belong to this customer.", "该地址不属于此客户。", field="site_id")
    if data.asset_id is not None:
        asset = customers.get_asset_in_org(ctx.db, p.org_id, data.asset_id)
        if asset.site_id != site.id:
            raise InvalidInput("The asset is not at this site.", "该设备不在此地址。", field="asset_id")
    stype = service_types.resolve(ctx.db, p.org_id, data.service_type_id)
    # Role after the look-ups: ids of another organisation are 404 for everyone, as everywhere.
    require_role(p, CREATORS, "create work orders")
    if p.role == Role.supervisor and site.territory_id not in p.territory_ids:
        raise Forbidden(role=p.role.value, action="create work orders outside your territories")
    if data.window_end is not None and data.window_end <= ctx.now:
        raise InvalidInput("The requested time window has already ended.", "预约时间段已过去。",
                           field="window_end")
    channel = data.channel or {Role.customer: "portal", Role.agent: "phone"}.get(p.role, "api")
    if p.role == Role.customer and channel not in ("portal", "app", "qr"):
        channel = "portal"
    priority = data.priority or stype.default_priority or "P2"
    requested_priority = priority
    if p.role == Role.customer and priority == "P0":
        priority = "P1"  # P0 (emergency) is set by the service desk after triage
    tz_name, _ = _org_settings(ctx)
    day = ctx.now.astimezone(ZoneInfo(tz_name)).date()
    seq = next_number(ctx.db, p.org_id, day)
    wo = WorkOrder(
        id=uuid.uuid4(), org_id=p.org_id, number=rules.format_number(day.strftime("%Y%m%d"), seq), channel=channel,
        status=Status.new.value, priority=priority,
        title=(data.title or "").strip() or (stype.name if ctx.lang == "en" else (stype.name_zh or stype.name)),
        description=data.description, external_ref=data.external_ref, customer_id=customer.id,
        site_id=site.id, asset_id=data.asset_id, service_type_id=stype.id, territory_id=site.territory_id,
        customer_name=customer.name, site_address=site.address or "", site_lat=site.lat, site_lng=site.lng,
        contact_name=data.contact_name or site.contact_name or customer.name,
        contact_phone=data.contact_phone or site.contact_phone or customer.phone,
        window_start=data.window_start, window_end=data.window_end,
        due_at=rules.due_at(priority, ctx.now, data.window_end),
        duration_min=data.duration_min if data.duration_min and p.role != Role.customer else stype.default_duration_min,
        required_tools=list(data.required_tools), required_parts=[x.model_dump() for x in data.required_parts],
        custom_fields=dict(data.custom_fields), created_by=None if p.is_system else p.user_id,
        created_at=ctx.now, updated_at=ctx.now,
    )
    ctx.db.add(wo)
    ctx.db.flush()
    _audit(ctx, wo, "create", None, {"status": [None, wo.status]},
           data={"channel": channel, "requested_priority": requested_priority})
    _event(ctx, wo, "work_order.created", None, {"channel": channel})
    ctx.db.flush()
    return wo


def get(ctx: Ctx, work_order_id: uuid.UUID) -> WorkOrder:
    return repo(ctx).get(work_order_id)


def list_work_orders(ctx: Ctx, f: WorkOrderFilter, limit: int, offset: int) -> tuple[list[WorkOrder], int]:
    return repo(ctx).page(f, limit, offset)


MAP_CAP = 5000


def map_points(ctx: Ctx, f: WorkOrderFilter) -> MapPoints:
    """Every work order of the filter that the caller may see, as map points (capped at 5,000)."""
    rows, total = repo(ctx).points(f, MAP_CAP)
    items = [MapPoint(id=r[0], number=r[1], status=r[2], priority=r[3], title=r[4], lat=r[5], lng=r[6],
                      technician_id=r[7], window_start=r[8], window_end=r[9], planned_start=r[10]) for r in rows]
    return MapPoints(items=items, total=total, truncated=total > len(items))


def _ensure_mutable(wo: WorkOrder) -> None:
    if wo.status in (Status.closed, Status.cancelled):
        raise Conflict("invalid_transition", status=wo.status, action="changed")


def update(ctx: Ctx, work_order_id: uuid.UUID, if_match: str | None, data: WorkOrderUpdate) -> WorkOrder:
    """Edit the order's details; closed and cancelled orders change only through reopen."""
    wo = repo(ctx).get(work_order_id)
    p = ctx.principal
    fields = data.model_dump(exclude_unset=True)
    if p.role == Role.customer:
        allowed = {"description", "contact_name", "contact_phone", "window_start", "window_end"}
        if set(fields) - allowed or wo.status != Status.new:
            raise Forbidden(role=p.role.value, action="change this work order")
    else:
        require_role(p, EDITORS, "change work orders")
    if {"labor_cost", "parts_cost", "travel_cost"} & set(fields):
        require_role(p, COST_EDITORS, "change costs")
    check_if_match(if_match, wo.version)
    _ensure_mutable(wo)
    changes: dict[str, Any] = {}
    if "asset_id" in fields and fields["asset_id"] is not None:
        asset = customers.get_asset_in_org(ctx.db, p.org_id, fields["asset_id"])
        if asset.site_id != wo.site_id:
            raise InvalidInput("The asset is not at this site.", "该设备不在此地址。", field="asset_id")
    start = fields.get("window_start", wo.window_start)
    end = fields.get("window_end", wo.window_end)
    if (start is None) != (end is None) or (start and end and start >= end):
        raise InvalidInput("The window needs a start before its end.", "时间段的开始必须早于结束。",
                           field="window_start")
    for name, value in fields.items():
        if name == "required_parts" and value is not None:
            value = [dict(x) for x in value]
        if value is None and name in ("title", "description", "priority", "duration_min", "required_tools",
                                      "required_parts", "custom_fields"):
            continue
        _set(wo, changes, name, value)
    if "priority" in changes or "window_end" in changes:
        _set(wo, changes, "due_at", rules.due_at(wo.priority, wo.created_at, wo.window_end))
    if changes:
        wo.updated_at = ctx.now
        _audit(ctx, wo, "update", wo.status, changes)
        _event(ctx, wo, "work_order.updated", wo.status, {"fields": sorted(changes)})
        ctx.db.flush()
    return wo


# ---- lifecycle ----------------------------------------------------------------------------------

def _facts(ctx: Ctx, wo: WorkOrder) -> Facts:
    p = ctx.principal
    terminal_since = wo.closed_at if wo.status == Status.closed else wo.cancelled_at
    return Facts(status=Status(wo.status), role=p.role.value,
                 is_assignee=p.technician_id is not None and p.technician_id == wo.technician_id,
                 transfer_pending=wo.transfer_requested_at is not None,
                 status_before_hold=Status(wo.status_before_hold) if wo.status_before_hold else None,
                 terminal_since=terminal_since, now=ctx.now,
                 reopen_window=timedelta(days=_setting(ctx, "reopen_window_days")))


def _decide(ctx: Ctx, wo: WorkOrder, action: str, reason: str | None) -> Status:
    try:
        return rules.decide(action, _facts(ctx, wo), reason=reason)
    except RuleError as err:
        if err.kind == "forbidden":
            raise Forbidden(role=ctx.principal.role.value, action=action)
        if err.kind == "state":
            raise conflict(err.en, err.zh)
        raise InvalidInput(err.en, err.zh, field="reason")


def allowed_actions(ctx: Ctx, wo: WorkOrder) -> list[str]:
    return rules.allowed_actions(_facts(ctx, wo))


def _transition(ctx: Ctx, wo: WorkOrder, action: str, target: Status, changes: dict[str, Any],
                reason: str | None = None, data: dict[str, Any] | None = None) -> WorkOrder:
    before = wo.status
    _set(wo, changes, "status", target.value)
    wo.updated_at = ctx.now
    _audit(ctx, wo, action, before, changes, reason, data)
    extra: dict[str, Any] = {"action": action, "reason": reason}
    if "technician_id" in changes and changes["technician_id"][0]:
        # Who lost the order (unassign, reject, reassign, transfer, reopen): live updates tell their phone.
        extra["previous_technician_id"] = changes["technician_id"][0]
    _event(ctx, wo, ACTIONS[action].event, before, extra)
    ctx.db.flush()
    return wo


def perform(ctx: Ctx, work_order_id: uuid.UUID, action: str, if_match: str | None, body: Any,
            **options: Any) -> WorkOrder:
    """Apply a lifecycle action: load (404 if invisible), authorize (403), check the version (428/412),
    check the state (409), apply, audit, record the event. `options` go to the action's applier."""
    if action not in ACTIONS:
        raise NotFound("resource")
    wo = repo(ctx).get(work_order_id, for_update=True)
    reason = getattr(body, "reason", None)
    # Role first so a forbidden caller learns nothing about versions.
    facts = _facts(ctx, wo)
    if facts.role not in ACTIONS[action].roles:
        raise Forbidden(role=ctx.principal.role.value, action=action)
    if not ctx.principal.is_system:
        check_if_match(if_match, wo.version)
    target = _decide(ctx, wo, action, reason)
    handler = _APPLIERS[action]
    return handler(ctx, wo, target, body, **options)


Schedule = tuple[datetime | None, datetime | None, int | None]


def assign(ctx: Ctx, work_order_id: uuid.UUID, technician_id: uuid.UUID, reason: str | None,
           if_match: str | None, data: dict[str, Any] | None = None, schedule: Schedule | None = None) -> WorkOrder:
    """Assign (or reassign) to a technician, optionally with the planned slot (start, end, route position);
    used by manual dispatch, the engine, the grab pool and day plans. One audit row, one event."""
    body = AssignBody(technician_id=technician_id, reason=reason)
    return perform(ctx, work_order_id, "assign", if_match, body, data=data, schedule=schedule)


def _apply_assign(ctx: Ctx, wo: WorkOrder, target: Status, body: AssignBody, data: dict[str, Any] | None = None,
                  schedule: Schedule | None = None) -> WorkOrder:
    tech = technicians.get_technician_in_org(ctx.db, ctx.principal.org_id, body.technician_id)
    if not getattr(tech, "active", True):
        raise InvalidInput("This technician is inactive.", "该技师已停用。", field="technician_id")
    if wo.technician_id == tech.id and wo.status == Status.assigned:
        raise conflict("The work order is already assigned to this technician.", "工单已指派给该技师。")
    changes: dict[str, Any] = {}
    _set(wo, changes, "technician_id", tech.id)
    _set(wo, changes, "assigned_at", ctx.now)
    _set(wo, changes, "accepted_at", None)
    _set(wo, changes, "transfer_requested_at", None)
    _set(wo, changes, "transfer_reason", None)
    if schedule is not None:
        for name, value in zip(("planned_start", "planned_end", "route_seq"), schedule, strict=True):
            _set(wo, changes, name, value)
    else:
        for name in ("planned_start", "planned_end", "route_seq"):
            _set(wo, changes, name, None)
    return _transition(ctx, wo, "assign", target, changes, body.reason,
                       {"technician_name": tech.name, **_jsonable(data or {})})


def _apply_unassign(ctx: Ctx, wo: WorkOrder, target: Status, body: ReasonBody) -> WorkOrder:
    changes: dict[str, Any] = {}
    _set(wo, changes, "technician_id", None)
    _set(wo, changes, "assigned_at", None)
    _set(wo, changes, "accepted_at", None)
    for name in ("planned_start", "planned_end", "route_seq", "transfer_requested_at", "transfer_reason"):
        _set(wo, changes, name, None)
    return _transition(ctx, wo, "unassign", target, changes, body.reason)


def set_schedule(ctx: Ctx, wo: WorkOrder, start: datetime | None, end: datetime | None, seq: int | None) -> None:
    """Record the planned slot (no status change; audited when it moves)."""
    changes: dict[str, Any] = {}
    _set(wo, changes, "planned_start", start)
    _set(wo, changes, "planned_end", end)
    _set(wo, changes, "route_seq", seq)
    if changes:
        wo.updated_at = ctx.now
        _audit(ctx, wo, "schedule", wo.status, changes)
        ctx.db.flush()


def _apply_accept(ctx: Ctx, wo: WorkOrder, target: Status, body: ReasonBody) -> WorkOrder:
    changes: dict[str, Any] = {}
    _set(wo, changes, "accepted_at", ctx.now)
    return _transition(ctx, wo, "accept", target, changes, body.reason)


def _apply_reject(ctx: Ctx, wo: WorkOrder, target: Status, body: ReasonBody) -> WorkOrder:
    changes: dict[str, Any] = {}
    rejected = list(wo.rejected_technician_ids or [])
    if wo.technician_id and str(wo.technician_id) not in rejected:
        rejected.append(str(wo.technician_id))
    _set(wo, changes, "rejected_technician_ids", rejected)
    _set(wo, changes, "technician_id", None)
    _set(wo, changes, "assigned_at", None)
    for name in ("planned_start", "planned_end", "route_seq"):
        _set(wo, changes, name, None)
    return _transition(ctx, wo, "reject", target, changes, body.reason)


def _apply_depart(ctx: Ctx, wo: WorkOrder, target: Status, body: DepartBody) -> WorkOrder:
    changes: dict[str, Any] = {}
    _set(wo, changes, "departed_at", ctx.now)
    data = {"lat": body.lat, "lng": body.lng} if body.lat is not None and body.lng is not None else {}
    return _transition(ctx, wo, "depart", target, changes, body.reason, data)


def _apply_check_in(ctx: Ctx, wo: WorkOrder, target: Status, body: PositionBody) -> WorkOrder:
    changes: dict[str, Any] = {}
    distance = None
    if wo.site_lat is not None and wo.site_lng is not None:
        distance = round(rules.haversine_m(body.lat, body.lng, wo.site_lat, wo.site_lng), 1)
    _set(wo, changes, "checked_in_at", ctx.now)
    _set(wo, changes, "check_in_lat", body.lat)
    _set(wo, changes, "check_in_lng", body.lng)
    _set(wo, changes, "check_in_accuracy_m", body.accuracy_m)
    _set(wo, changes, "check_in_distance_m", distance)
    data = {"lat": body.lat, "lng": body.lng, "accuracy_m": body.accuracy_m, "distance_m": distance,
            "far_from_site": distance is not None and distance > CHECK_IN_FAR_M}
    return _transition(ctx, wo, "check-in", target, changes, body.reason, data)


def record_site_entry(ctx: Ctx, work_order_id: uuid.UUID, at: datetime, lat: float, lng: float,
                      accuracy_m: float | None, distance_m: float | None) -> bool:
    """Stamp the first entry into the job site's geofence (first entry wins; later ones are ignored), with an
    audit row and the "work_order.site_entered" event. The stamp is evidence, not an edit: it does not bump
    the version, so the technician's If-Match for the check-in stays valid. True when this call stamped it."""
    wo = WorkOrderRepository(ctx.db, ctx.principal).get(work_order_id)
    if wo.site_entered_at is not None:
        return False
    if not stamp_site_entry(ctx.db, wo.id, at, distance_m, accuracy_m):
        return False
    set_committed_value(wo, "site_entered_at", at)
    set_committed_value(wo, "site_entry_distance_m", distance_m)
    set_committed_value(wo, "site_entry_accuracy_m", accuracy_m)
    data = {"lat": lat, "lng": lng, "accuracy_m": accuracy_m, "distance_m": distance_m, "at": at}
    _audit(ctx, wo, "site_entered", wo.status, {"site_entered_at": [None, _jsonable(at)]}, None, data)
    _event(ctx, wo, "work_order.site_entered", wo.status,
           {"at": _jsonable(at), "distance_m": distance_m, "accuracy_m": accuracy_m})
    ctx.db.flush()
    return True


def _apply_start(ctx: Ctx, wo: WorkOrder, target: Status, body: ReasonBody) -> WorkOrder:
    changes: dict[str, Any] = {}
    _set(wo, changes, "started_at", ctx.now)
    return _transition(ctx, wo, "start", target, changes, body.reason)


def _apply_complete(ctx: Ctx, wo: WorkOrder, target: Status, body: CompleteBody) -> WorkOrder:
    stype = service_types.resolve(ctx.db, wo.org_id, wo.service_type_id)
    missing = rules.missing_checklist(list(stype.checklist_template or []), dict(body.checklist))
    if missing:
        raise InvalidInput(f"Answer the required checklist items: {', '.join(missing)}.",
                           f"请完成必填检查项：{'、'.join(missing)}。", field="checklist")
    attachments = {a.id: a for a in repo(ctx).attachments(wo)}
    for att_id in body.photo_attachment_ids:
        if att_id not in attachments:
            raise InvalidInput("A photo id does not belong to this work order.", "照片不属于此工单。",
                               field="photo_attachment_ids")
    labels = {a.label for a in attachments.values() if a.kind == "photo" and a.label}
    missing_photos = [str(ph.get("key")) for ph in (stype.required_photos or []) if ph.get("key") not in labels]
    if missing_photos:
        raise InvalidInput(f"Upload the required photos first: {', '.join(missing_photos)}.",
                           f"请先上传必需的照片：{'、'.join(missing_photos)}。", field="photo_attachment_ids")
    signature_id = body.signature_attachment_id
    if signature_id is not None and signature_id not in attachments:
        raise InvalidInput("The signature does not belong to this work order.", "签名不属于此工单。",
                           field="signature_attachment_id")
    if body.signature_png_base64:
        signature_id = _store_signature(ctx, wo, body.signature_png_base64).id
    changes: dict[str, Any] = {}
    _set(wo, changes, "work_summary", body.summary)
    _set(wo, changes, "checklist_results", _jsonable(body.checklist))
    _set(wo, changes, "parts_used", [x.model_dump() for x in body.parts_used])
    _set(wo, changes, "signature_attachment_id", signature_id)
    _set(wo, changes, "work_completed_at", ctx.now)
    parts_total = sum((x.unit_price or 0) * x.qty for x in body.parts_used)
    if parts_total and wo.parts_cost is None:
        _set(wo, changes, "parts_cost", round(parts_total, 2))
    return _transition(ctx, wo, "complete", target, changes, None,
                       {"photo_attachment_ids": [str(i) for i in body.photo_attachment_ids]})


def _apply_confirm(ctx: Ctx, wo: WorkOrder, target: Status, body: ConfirmBody) -> WorkOrder:
    changes: dict[str, Any] = {}
    if body.rating is not None:
        if ctx.principal.role != Role.customer:
            raise Forbidden(role=ctx.principal.role.value, action="rate on the customer's behalf")
        _set(wo, changes, "rating_attitude", body.rating.attitude)
        _set(wo, changes, "rating_quality", body.rating.quality)
        _set(wo, changes, "rating_speed", body.rating.speed)
        _set(wo, changes, "rating_comment", body.rating.comment)
    _set(wo, changes, "confirmed_at", ctx.now)
    return _transition(ctx, wo, "confirm", target, changes, body.reason,
                       {"automatic": ctx.principal.is_system})


def _apply_refuse(ctx: Ctx, wo: WorkOrder, target: Status, body: ReasonBody) -> WorkOrder:
    changes: dict[str, Any] = {}
    _set(wo, changes, "rework_count", wo.rework_count + 1)
    for name in ("checked_in_at", "started_at", "work_completed_at", "departed_at"):
        _set(wo, changes, name, None)
    return _transition(ctx, wo, "refuse", target, changes, body.reason, {"rework": True})


def _apply_close(ctx: Ctx, wo: WorkOrder, target: Status, body: ReasonBody) -> WorkOrder:
    changes: dict[str, Any] = {}
    _set(wo, changes, "closed_at", ctx.now)
    return _transition(ctx, wo, "close", target, changes, body.reason, {"automatic": ctx.principal.is_system})


def _apply_hold(ctx: Ctx, wo: WorkOrder, target: Status, body: HoldBody) -> WorkOrder:
    changes: dict[str, Any] = {}
    _set(wo, changes, "status_before_hold", wo.status)
    _set(wo, changes, "hold_reason_code", body.reason_code)
    _set(wo, changes, "hold_reason", body.reason)
    _set(wo, changes, "held_at", ctx.now)
    return _transition(ctx, wo, "hold", target, changes, body.reason, {"reason_code": body.reason_code})


def _apply_resume(ctx: Ctx, wo: WorkOrder, target: Status, body: ReasonBody) -> WorkOrder:
    changes: dict[str, Any] = {}
    held = int((ctx.now - wo.held_at).total_seconds()) if wo.held_at else 0
    _set(wo, changes, "total_hold_seconds", wo.total_hold_seconds + max(held, 0))
    _set(wo, changes, "status_before_hold", None)
    _set(wo, changes, "hold_reason_code", None)
    _set(wo, changes, "hold_reason", None)
    _set(wo, changes, "held_at", None)
    return _transition(ctx, wo, "resume", target, changes, body.reason, {"held_seconds": held})


def _apply_cancel(ctx: Ctx, wo: WorkOrder, target: Status, body: ReasonBody) -> WorkOrder:
    changes: dict[str, Any] = {}
    _set(wo, changes, "cancelled_at", ctx.now)
    _set(wo, changes, "cancel_reason", body.reason)
    return _transition(ctx, wo, "cancel", target, changes, body.reason)


def _apply_reopen(ctx: Ctx, wo: WorkOrder, target: Status, body: ReasonBody) -> WorkOrder:
    changes: dict[str, Any] = {}
    _set(wo, changes, "reopen_count", wo.reopen_count + 1)
    for name in ("planned_start", "planned_end", "route_seq"):
        _set(wo, changes, name, None)
    for name in ("closed_at", "cancelled_at", "cancel_reason", "confirmed_at", "technician_id", "assigned_at",
                 "accepted_at", "departed_at", "checked_in_at", "started_at", "work_completed_at"):
        _set(wo, changes, name, None)
    return _transition(ctx, wo, "reopen", target, changes, body.reason)


def _apply_request_transfer(ctx: Ctx, wo: WorkOrder, target: Status, body: ReasonBody) -> WorkOrder:
    changes: dict[str, Any] = {}
    _set(wo, changes, "transfer_requested_at", ctx.now)
    _set(wo, changes, "transfer_reason", body.reason)
    return _transition(ctx, wo, "request-transfer", target, changes, body.reason)


def _apply_approve_transfer(ctx: Ctx, wo: WorkOrder, target: Status, body: TransferApproveBody) -> WorkOrder:
    changes: dict[str, Any] = {}
    previous = wo.technician_id
    rejected = list(wo.rejected_technician_ids or [])
    if previous and str(previous) not in rejected:
        rejected.append(str(previous))
    _set(wo, changes, "rejected_technician_ids", rejected)
    _set(wo, changes, "transfer_requested_at", None)
    _set(wo, changes, "transfer_reason", None)
    _set(wo, changes, "accepted_at", None)
    _set(wo, changes, "departed_at", None)
    data: dict[str, Any] = {"from_technician_id": str(previous) if previous else None}
    if body.technician_id is not None:
        if body.technician_id == previous:
            raise InvalidInput("Choose a different technician.", "请选择其他技师。", field="technician_id")
        tech = technicians.get_technician_in_org(ctx.db, ctx.principal.org_id, body.technician_id)
        _set(wo, changes, "technician_id", tech.id)
        _set(wo, changes, "assigned_at", ctx.now)
        data["to_technician_id"] = str(tech.id)
        return _transition(ctx, wo, "approve-transfer", Status.assigned, changes, body.reason, data)
    _set(wo, changes, "technician_id", None)
    _set(wo, changes, "assigned_at", None)
    return _transition(ctx, wo, "approve-transfer", Status.new, changes, body.reason, data)


def _apply_decline_transfer(ctx: Ctx, wo: WorkOrder, target: Status, body: ReasonBody) -> WorkOrder:
    changes: dict[str, Any] = {}
    _set(wo, changes, "transfer_requested_at", None)
    _set(wo, changes, "transfer_reason", None)
    return _transition(ctx, wo, "decline-transfer", target, changes, body.reason)


_APPLIERS: dict[str, Any] = {
    "assign": _apply_assign, "unassign": _apply_unassign, "accept": _apply_accept, "reject": _apply_reject,
    "depart": _apply_depart,
    "check-in": _apply_check_in, "start": _apply_start, "complete": _apply_complete, "confirm": _apply_confirm,
    "refuse": _apply_refuse, "close": _apply_close, "hold": _apply_hold, "resume": _apply_resume,
    "cancel": _apply_cancel, "reopen": _apply_reopen, "request-transfer": _apply_request_transfer,
    "approve-transfer": _apply_approve_transfer, "decline-transfer": _apply_decline_transfer,
}

BODIES: dict[str, type] = {
    "assign": AssignBody, "unassign": ReasonBody, "accept": ReasonBody, "reject": ReasonBody, "depart": DepartBody,
    "check-in": PositionBody, "start": ReasonBody, "complete": CompleteBody, "confirm": ConfirmBody,
    "refuse": ReasonBody, "close": ReasonBody, "hold": HoldBody, "resume": ReasonBody, "cancel": ReasonBody,
    "reopen": ReasonBody, "request-transfer": ReasonBody, "approve-transfer": TransferApproveBody,
    "decline-transfer": ReasonBody,
}


# ---- reads --------------------------------------------------------------------------------------

def to_read(ctx: Ctx, wo: WorkOrder, with_actions: bool = True,
            technician_names: dict[uuid.UUID, str] | None = None) -> WorkOrderRead:
    read = WorkOrderRead.model_validate(wo)
    if wo.technician_id is not None:
        names = technician_names if technician_names is not None else technicians.names(
            ctx.db, wo.org_id, [wo.technician_id])
        read.technician_name = names.get(wo.technician_id)
    read.status_label = {"en": wo.status.replace("_", " "), "zh-CN": rules.STATUS_ZH.get(wo.status, wo.status)}
    costs = [c for c in (wo.labor_cost, wo.parts_cost, wo.travel_cost) if c is not None]
    read.total_cost = round(sum(costs), 2) if costs else None
    if ctx.principal.role == Role.customer:  # costs are the desk's and finance's (the total too)
        read.labor_cost = read.parts_cost = read.travel_cost = read.total_cost = None
    if with_actions:
        read.allowed_actions = allowed_actions(ctx, wo)
    return read


# What a customer's timeline leaves out: the desk's and the technician's internal steps (with their notes),
# cost changes, and the evidence data (positions, dispatch details) of the other steps.
# (the same steps the live stream keeps from customers: live.rules.INTERNAL_TYPES)
CUSTOMER_HIDDEN_ACTIONS = frozenset({"request-transfer", "decline-transfer", "exception_reported",
                                     "exception_resolved"})
CUSTOMER_NO_REASON = frozenset({"reject", "unassign"})  # the technician's or the desk's own reasons
COST_FIELDS = frozenset({"labor_cost", "parts_cost", "travel_cost", "currency"})


def timeline(ctx: Ctx, work_order_id: uuid.UUID) -> list[WorkOrderAudit]:
    """The order's audit trail, oldest first; a customer gets the customer's view of it (copies, never stored)."""
    r = repo(ctx)
    rows = r.audit(r.get(work_order_id))
    if ctx.principal.role != Role.customer:
        return rows
    return [WorkOrderAudit(seq=row.seq, at=row.at, actor_user_id=row.actor_user_id, actor_name=row.actor_name,
                           actor_role=row.actor_role, action=row.action, from_status=row.from_status,
                           to_status=row.to_status, data={},
                           reason=None if row.action in CUSTOMER_NO_REASON else row.reason,
                           changes={k: v for k, v in (row.changes or {}).items() if k not in COST_FIELDS})
            for row in rows if row.action not in CUSTOMER_HIDDEN_ACTIONS]


# ---- attachments --------------------------------------------------------------------------------

def _storage_path(ctx: Ctx, key: str) -> Path:
    return ctx.settings.attachments_root / key


def _sniff(content: bytes, filename: str) -> str:
    kind = filetype.guess(content[:8192])
    if kind is not None:
        return str(kind.mime)
    if filename.lower().endswith((".txt", ".csv", ".log")) and b"\x00" not in content:
        try:
            content.decode("utf-8")
            return "text/plain"
        except UnicodeDecodeError:
            pass
    return "application/octet-stream"


def _check_image(ctx: Ctx, content: bytes, mime: str) -> None:
    """Refuse decompression bombs (an image declaring huge dimensions) and images whose header cannot be read;
    only the header is parsed, nothing is decoded."""
    from PIL import Image, UnidentifiedImageError

    if mime in ("image/heic", "image/heif"):
        return  # Pillow cannot read HEIC headers; phones' photos are bounded by the byte limit
    try:
        with Image.open(io.BytesIO(content)) as image:
            width, height = image.size
    except Image.DecompressionBombError:
        width = height = ctx.settings.max_image_pixels  # far past the limit: say so below
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise InvalidInput("The image is damaged or not what its type says.", "图片已损坏或与其类型不符。",
                           field="file")
    if width * height > ctx.settings.max_image_pixels:
        limit = f"{ctx.settings.max_image_pixels / 1_000_000:g}"
        raise InvalidInput(f"The image is too large in pixels (limit {limit} megapixels).",
                           f"图片像素尺寸过大（上限 {limit} 百万像素）。", field="file")


def add_attachment(ctx: Ctx, work_order_id: uuid.UUID, filename: str, content: bytes, kind: str | None,
                   label: str | None) -> Attachment:
    """Store a file for the order after sniffing its real type; the audit trail records it."""
    wo = repo(ctx).get(work_order_id)
    if ctx.principal.role == Role.finance:
        raise Forbidden(role="finance", action="add attachments")
    _ensure_mutable(wo)
    limit = ctx.settings.max_attachment_mb * 1024 * 1024
    if len(content) > limit:
        raise PayloadTooLarge(limit=f"{ctx.settings.max_attachment_mb} MB")
    if not content:
        raise InvalidInput("The file is empty.", "文件为空。", field="file")
    mime = _sniff(content, filename)
    natural = ALLOWED_MEDIA.get(mime, "file" if mime == "text/plain" else None)
    if natural is None:
        raise UnsupportedMedia(content_type=mime)
    if natural == "photo":
        _check_image(ctx, content, mime)
    if kind == "signature" and mime != "image/png" and mime != "image/jpeg":
        raise UnsupportedMedia(content_type=mime)
    if kind in ("photo",) and natural != "photo":
        raise InvalidInput(f"A photo must be an image, not {mime}.", f"照片必须是图片，而不是 {mime}。", field="file")
    final_kind = kind or natural
    return _store(ctx, wo, filename, content, mime, final_kind, label)


def _store(ctx: Ctx, wo: WorkOrder, filename: str, content: bytes, mime: str, kind: str,
           label: str | None) -> Attachment:
    att_id = uuid.uuid4()
    key = f"{wo.org_id}/{wo.id}/{att_id}"
    path = _storage_path(ctx, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    safe_name = "".join(ch for ch in Path(filename or "file").name if ch.isprintable())[:255] or "file"
    att = Attachment(id=att_id, org_id=wo.org_id, work_order_id=wo.id, kind=kind, label=label, filename=safe_name,
                     content_type=mime, size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                     storage_key=key, uploaded_by=None if ctx.principal.is_system else ctx.principal.user_id,
                     created_at=ctx.now)
    ctx.db.add(att)
    ctx.db.flush()
    _audit(ctx, wo, "attachment_added", wo.status, {},
           data={"attachment_id": str(att.id), "kind": kind, "label": label, "filename": safe_name})
    return att


def _store_signature(ctx: Ctx, wo: WorkOrder, data: str) -> Attachment:
    raw = data.split(",", 1)[1] if data.startswith("data:") else data
    try:
        content = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("The signature is not valid base64.", "签名数据不是有效的 base64。",
                           field="signature_png_base64")
    kind = filetype.guess(content[:64])
    if kind is None or kind.mime != "image/png":
        raise InvalidInput("The signature must be a PNG image.", "签名必须是 PNG 图片。", field="signature_png_base64")
    return _store(ctx, wo, "signature.png", content, "image/png", "signature", "signature")


def list_attachments(ctx: Ctx, work_order_id: uuid.UUID) -> list[Attachment]:
    r = repo(ctx)
    return r.attachments(r.get(work_order_id))


def attachment_file(ctx: Ctx, work_order_id: uuid.UUID, attachment_id: uuid.UUID) -> tuple[Attachment, Path]:
    r = repo(ctx)
    att = r.attachment(r.get(work_order_id), attachment_id)
    path = _storage_path(ctx, att.storage_key)
    if not path.exists():
        raise NotFound("attachment")
    return att, path


def attachment_read(att: Attachment) -> AttachmentRead:
    read = AttachmentRead.model_validate(att)
    read.url = f"/api/v1/work-orders/{att.work_order_id}/attachments/{att.id}/content"
    return read


# ---- export -------------------------------------------------------------------------------------

EXPORT_COLUMNS = [
    "number", "status", "priority", "channel", "title", "customer_name", "site_address", "technician_id",
    "service_type_id", "territory_id", "created_at", "window_start", "window_end", "due_at", "assigned_at",
    "checked_in_at", "work_completed_at", "closed_at", "rework_count", "rating_quality", "labor_cost",
    "parts_cost", "travel_cost", "description",
]
EXPORT_CAP = 100_000


def export_rows(ctx: Ctx, f: WorkOrderFilter) -> tuple[list[str], list[list[Any]]]:
    """Rows for CSV/XLSX export, with the same scoping and filters as the list; cells are neutralised."""
    columns = [c for c in EXPORT_COLUMNS if not (ctx.principal.role == Role.customer and c.endswith("_cost"))]
    rows = []
    for wo in repo(ctx).iterate(f, EXPORT_CAP):
        row = []
        for col in columns:
            value = getattr(wo, col)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, uuid.UUID):
                value = str(value)
            row.append(rules.neutralize_cell(value))
        rows.append(row)
    return columns, rows


# ---- worker scans -------------------------------------------------------------------------------

def auto_advance(db: Any, now: datetime, settings: Any) -> int:
    """Confirm orders nobody answered and close completed ones after the organisation's delays."""
    done = 0
    for status, action, key, stamp in (("awaiting_acceptance", "confirm", "auto_confirm_hours", "work_completed_at"),
                                       ("completed", "close", "auto_close_hours", "confirmed_at")):
        for wo in awaiting_or_completed(db, status):
            ctx = Ctx(db=db, principal=system_principal(wo.org_id), now=now, settings=settings)
            hours = _setting(ctx, key)
            since = getattr(wo, stamp) or wo.updated_at
            if now - since < timedelta(hours=hours):
                continue
            body = ConfirmBody() if action == "confirm" else ReasonBody(reason=None)
            with db.begin_nested():
                perform(ctx, wo.id, action, None, body)
            done += 1
    return done


# ---- exception reports (一键上报) -----------------------------------------------------------------

EXCEPTION_VIEWERS = {Role.admin, Role.supervisor, Role.dispatcher, Role.agent}


def report_exception(ctx: Ctx, work_order_id: uuid.UUID, kind: str, note: str | None) -> ExceptionReport:
    """The assigned technician reports a problem from the field; dispatchers see it in their alerts."""
    wo = repo(ctx).get(work_order_id)
    require_role(ctx.principal, {Role.technician} | EXCEPTION_VIEWERS, "report exceptions")
    _ensure_mutable(wo)
    report = ExceptionReport(org_id=wo.org_id, work_order_id=wo.id, kind=kind, note=note,
                             reported_by=ctx.principal.user_id, reported_at=ctx.now)
    ctx.db.add(report)
    ctx.db.flush()
    _audit(ctx, wo, "exception_reported", wo.status, {}, note, {"kind": kind, "exception_id": str(report.id)})
    _event(ctx, wo, "work_order.exception_reported", wo.status, {"kind": kind, "exception_id": str(report.id)})
    return report


def list_exceptions(ctx: Ctx, open_only: bool, limit: int, offset: int) -> tuple[list[ExceptionRead], int]:
    require_role(ctx.principal, EXCEPTION_VIEWERS | {Role.finance}, "see exception reports")
    rows, total = exceptions_page(repo(ctx), open_only, limit, offset)
    out = []
    for report, number in rows:
        read = ExceptionRead.model_validate(report)
        read.work_order_number = number
        out.append(read)
    return out, total


def resolve_exception(ctx: Ctx, exception_id: uuid.UUID, resolution: str | None) -> ExceptionRead:
    report, wo = get_exception(repo(ctx), exception_id)
    require_role(ctx.principal, EXCEPTION_VIEWERS, "resolve exception reports")
    if report.resolved_at is not None:
        raise conflict("This report is already resolved.", "该上报已处理。")
    report.resolved_at, report.resolved_by, report.resolution = ctx.now, ctx.principal.user_id, resolution
    _audit(ctx, wo, "exception_resolved", wo.status, {}, resolution, {"exception_id": str(report.id)})
    ctx.db.flush()
    read = ExceptionRead.model_validate(report)
    read.work_order_number = wo.number
    return read
