"""Work-order endpoints: parse, authorize (in the service), one service call, respond."""
# No `from __future__ import annotations` here: the action endpoints are built in a loop and FastAPI
# must see their body types as real objects.

import csv
import hashlib
import io
import uuid
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, File, Form, Header, Query, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from openpyxl import Workbook
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from fieldops.core.errors import InvalidInput
from fieldops.core.headers import DOWNLOAD_CSP
from fieldops.core.schemas import Page
from fieldops.core.web import Ctx, PageParams, TransactionalRoute, etag, idempotent, page_params, with_etag
from fieldops.technicians import service as technicians
from fieldops.users.deps import get_ctx
from fieldops.work_orders import service
from fieldops.work_orders.repository import SORTS, WorkOrderFilter
from fieldops.work_orders.rules import ACTIONS, CHANNELS, PRIORITIES, Status
from fieldops.work_orders.schemas import (
    AttachmentRead,
    AuditRead,
    ExceptionCreate,
    ExceptionRead,
    ExceptionResolve,
    MapPoints,
    WorkOrderCreate,
    WorkOrderRead,
    WorkOrderUpdate,
)

router = APIRouter(prefix="/work-orders", tags=["work orders"], route_class=TransactionalRoute)


def _csv_list(value: str | None, allowed: tuple[str, ...], name: str) -> list[str]:
    if not value:
        return []
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise InvalidInput(f"Unknown {name}: {', '.join(bad)}. Use one of: {', '.join(allowed)}.",
                           f"未知的{name}：{', '.join(bad)}。可选：{', '.join(allowed)}。", field=name)
    return items


def work_order_filter(
    status: str | None = Query(None, max_length=300, description="Comma-separated statuses"),
    priority: str | None = Query(None, max_length=50, description="Comma-separated priorities P0..P3"),
    technician_id: uuid.UUID | None = Query(None),
    unassigned: bool = Query(False),
    customer_id: uuid.UUID | None = Query(None),
    site_id: uuid.UUID | None = Query(None),
    asset_id: uuid.UUID | None = Query(None),
    service_type_id: uuid.UUID | None = Query(None),
    territory_id: uuid.UUID | None = Query(None),
    channel: str | None = Query(None, max_length=20),
    created_from: AwareDatetime | None = Query(None),
    created_to: AwareDatetime | None = Query(None),
    due_before: AwareDatetime | None = Query(None),
    q: str | None = Query(None, max_length=200, description="Free-text search"),
    sort: str = Query("-created_at", max_length=30, description="Field, '-' for descending"),
) -> WorkOrderFilter:
    if sort.lstrip("-") not in SORTS:
        raise InvalidInput(f"Cannot sort by {sort}. Use one of: {', '.join(SORTS)}.",
                           f"不能按 {sort} 排序。可选：{', '.join(SORTS)}。", field="sort")
    if channel is not None and channel not in CHANNELS:
        raise InvalidInput(f"Unknown channel {channel}.", f"未知渠道 {channel}。", field="channel")
    if q is not None and "\x00" in q:
        raise InvalidInput("The search text contains a NUL character.", "搜索内容包含非法字符。", field="q")
    return WorkOrderFilter(
        status=_csv_list(status, tuple(s.value for s in Status), "status"),
        priority=_csv_list(priority, PRIORITIES, "priority"), technician_id=technician_id, unassigned=unassigned,
        customer_id=customer_id, site_id=site_id, asset_id=asset_id, service_type_id=service_type_id,
        territory_id=territory_id, channel=channel, created_from=created_from, created_to=created_to,
        due_before=due_before, q=q or None, sort=sort)


@router.get("", response_model=Page[WorkOrderRead], summary="List work orders (filters, search, sort)")
def list_work_orders(ctx: Ctx = Depends(get_ctx), page: PageParams = Depends(page_params),
                     f: WorkOrderFilter = Depends(work_order_filter)) -> Page[WorkOrderRead]:
    rows, total = service.list_work_orders(ctx, f, page.limit, page.offset)
    names = technicians.names(ctx.db, ctx.principal.org_id, [wo.technician_id for wo in rows if wo.technician_id])
    return Page(items=[service.to_read(ctx, wo, with_actions=False, technician_names=names) for wo in rows],
                total=total,
                limit=page.limit, offset=page.offset)


@router.post("", response_model=WorkOrderRead, status_code=201, summary="Create a work order")
def create_work_order(body: WorkOrderCreate, ctx: Ctx = Depends(get_ctx),
                      idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> JSONResponse:
    def produce() -> tuple[Any, dict[str, str]]:
        wo = service.create(ctx, body)
        return service.to_read(ctx, wo), {"ETag": etag(wo.version), "Location": f"/api/v1/work-orders/{wo.id}"}

    return idempotent(ctx, idempotency_key, "POST /work-orders", body, produce)


@router.get("/export", summary="Export the filtered list as CSV or XLSX",
            responses={200: {"content": {"text/csv": {}, "application/vnd.openxmlformats-officedocument."
                                                                "spreadsheetml.sheet": {}}}})
def export_work_orders(format: Literal["csv", "xlsx"] = Query("csv"), ctx: Ctx = Depends(get_ctx),
                       f: WorkOrderFilter = Depends(work_order_filter)) -> Response:
    columns, rows = service.export_rows(ctx, f)
    stamp = ctx.now.strftime("%Y%m%d-%H%M")
    if format == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        writer.writerows(rows)
        return Response("\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="work-orders-{stamp}.csv"'})
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("work orders")
    ws.append(columns)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return Response(out.getvalue(), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="work-orders-{stamp}.xlsx"'})


@router.get("/map-points", response_model=MapPoints,
            summary="Every work order of the filter as a map point (not paged; up to 5,000)")
def work_order_map_points(ctx: Ctx = Depends(get_ctx), f: WorkOrderFilter = Depends(work_order_filter)) -> MapPoints:
    return service.map_points(ctx, f)


@router.get("/{work_order_id}", response_model=WorkOrderRead, summary="One work order (ETag = version)")
def get_work_order(work_order_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    wo = service.get(ctx, work_order_id)
    return with_etag(service.to_read(ctx, wo), wo.version)


@router.patch("/{work_order_id}", response_model=WorkOrderRead, summary="Change details (If-Match required)")
def update_work_order(work_order_id: uuid.UUID, body: WorkOrderUpdate, ctx: Ctx = Depends(get_ctx),
                      if_match: str | None = Header(None, alias="If-Match")) -> JSONResponse:
    wo = service.update(ctx, work_order_id, if_match, body)
    return with_etag(service.to_read(ctx, wo), wo.version)


@router.get("/{work_order_id}/timeline", response_model=list[AuditRead], summary="Audit trail, oldest first")
def work_order_timeline(work_order_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> list[AuditRead]:
    return [AuditRead.model_validate(row) for row in service.timeline(ctx, work_order_id)]


@router.get("/{work_order_id}/attachments", response_model=list[AttachmentRead])
def list_attachments(work_order_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> list[AttachmentRead]:
    return [service.attachment_read(a) for a in service.list_attachments(ctx, work_order_id)]


@router.post("/{work_order_id}/attachments", response_model=AttachmentRead, status_code=201,
             summary="Upload a photo, video or file (type sniffed from the content)")
async def upload_attachment(work_order_id: uuid.UUID, file: UploadFile = File(...),
                            kind: Literal["photo", "video", "file", "signature"] | None = Form(None),
                            label: str | None = Form(None, max_length=64, pattern=r"^[A-Za-z0-9_.\-]*$"),
                            ctx: Ctx = Depends(get_ctx),
                            idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> JSONResponse:
    limit = ctx.settings.max_attachment_mb * 1024 * 1024
    content = await file.read(limit + 1)
    def produce() -> tuple[Any, dict[str, str]]:
        att = service.add_attachment(ctx, work_order_id, file.filename or "file", content, kind, label or None)
        return service.attachment_read(att), {}

    # An offline phone may resend an upload whose answer it never saw: the key makes that a replay.
    fingerprint = {"sha256": hashlib.sha256(content).hexdigest(), "kind": kind, "label": label}
    return await run_in_threadpool(idempotent, ctx, idempotency_key,
                                   f"POST /work-orders/{work_order_id}/attachments", fingerprint, produce)


@router.get("/{work_order_id}/attachments/{attachment_id}/content", summary="Download an attachment")
def attachment_content(work_order_id: uuid.UUID, attachment_id: uuid.UUID,
                       ctx: Ctx = Depends(get_ctx)) -> FileResponse:
    att, path = service.attachment_file(ctx, work_order_id, attachment_id)
    # Always a download, never a page of our origin: the web app shows images from a blob (AuthImage.vue).
    return FileResponse(path, media_type=att.content_type, filename=att.filename, content_disposition_type="attachment",
                        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": DOWNLOAD_CSP})


OPTIONAL_BODY = {"accept", "start", "close", "resume", "depart", "confirm"}


def _make_action(action: str) -> Any:
    body_type = service.BODIES[action]
    def run(ctx: Ctx, work_order_id: uuid.UUID, if_match: str | None, body: Any, key: str | None) -> JSONResponse:
        # An offline phone replays queued actions with their Idempotency-Key: a replay returns the first answer
        # instead of a 409/412 for a change that was in fact applied.
        def produce() -> tuple[Any, dict[str, str]]:
            wo = service.perform(ctx, work_order_id, action, if_match, body)
            return service.to_read(ctx, wo), {"ETag": etag(wo.version)}

        return idempotent(ctx, key, f"POST /work-orders/{work_order_id}/{action}", body, produce, status_code=200)

    def optional_body(work_order_id: uuid.UUID, ctx: Ctx = Depends(get_ctx),
                      if_match: str | None = Header(None, alias="If-Match"),
                      idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
                      body: body_type | None = Body(None)) -> JSONResponse:  # type: ignore[valid-type]
        return run(ctx, work_order_id, if_match, body or body_type(), idempotency_key)

    def required_body(work_order_id: uuid.UUID, body: body_type, ctx: Ctx = Depends(get_ctx),  # type: ignore[valid-type]
                      if_match: str | None = Header(None, alias="If-Match"),
                      idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> JSONResponse:
        return run(ctx, work_order_id, if_match, body, idempotency_key)

    endpoint = optional_body if action in OPTIONAL_BODY else required_body
    endpoint.__name__ = "work_order_" + action.replace("-", "_")
    return endpoint


for _action in ACTIONS:
    if _action == "assign":
        continue  # belongs to dispatch
    router.add_api_route(f"/{{work_order_id}}/{_action}", _make_action(_action), methods=["POST"],
                         response_model=WorkOrderRead, summary=f"{_action} ({ACTIONS[_action].zh})",
                         description="Send the order's version in If-Match. "
                         + ("A reason is required." if ACTIONS[_action].needs_reason else ""))



@router.post("/{work_order_id}/exceptions", response_model=ExceptionRead, status_code=201,
             summary="Report an exception from the field (一键上报)")
def report_exception(work_order_id: uuid.UUID, body: ExceptionCreate, ctx: Ctx = Depends(get_ctx),
                     idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> JSONResponse:
    def produce() -> tuple[Any, dict[str, str]]:
        report = service.report_exception(ctx, work_order_id, body.kind, body.note)
        read = ExceptionRead.model_validate(report)
        return read, {}

    return idempotent(ctx, idempotency_key, f"POST /work-orders/{work_order_id}/exceptions", body, produce)


exceptions_router = APIRouter(prefix="/exceptions", tags=["work orders"], route_class=TransactionalRoute)


@exceptions_router.get("", response_model=Page[ExceptionRead], summary="Technicians' exception reports")
def list_exceptions(ctx: Ctx = Depends(get_ctx), page: PageParams = Depends(page_params),
                    open: bool = Query(True, description="Only unresolved reports")) -> Page[ExceptionRead]:
    items, total = service.list_exceptions(ctx, open, page.limit, page.offset)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@exceptions_router.post("/{exception_id}/resolve", response_model=ExceptionRead)
def resolve_exception(exception_id: uuid.UUID, body: ExceptionResolve | None = Body(None),
                      ctx: Ctx = Depends(get_ctx)) -> ExceptionRead:
    return service.resolve_exception(ctx, exception_id, body.resolution if body else None)
