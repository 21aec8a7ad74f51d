"""SLA endpoints: calendars and policies (admins write; supervisors and dispatchers read), the preview, holiday
lists, and the clocks of work orders (per order, and in bulk for the console)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse

from fieldops.core.audit import not_audited
from fieldops.core.schemas import Page
from fieldops.core.web import Ctx, PageParams, TransactionalRoute, etag, idempotent, page_params, with_etag
from fieldops.sla import service
from fieldops.sla.schemas import (
    CalendarCreate,
    CalendarRead,
    CalendarUpdate,
    ClockRead,
    HolidaysRead,
    PolicyCreate,
    PolicyUpdate,
    PreviewIn,
    PreviewRead,
    SlaPolicyRead,
    WorkOrderSlaRead,
)
from fieldops.users.deps import get_ctx

router = APIRouter(tags=["sla"], route_class=TransactionalRoute)
IF_MATCH = Header(None, alias="If-Match")
IDEMPOTENCY_KEY = Header(None, alias="Idempotency-Key")


@router.get("/work-orders/{work_order_id}/sla", response_model=WorkOrderSlaRead,
            summary="SLA clocks of a work order (customers: deadlines and outcomes only)")
def work_order_sla(work_order_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> WorkOrderSlaRead:
    return service.work_order_sla(ctx, work_order_id)


@router.get("/sla/clocks", response_model=Page[ClockRead], summary="SLA clocks of many work orders (console)")
def list_clocks(
    ctx: Ctx = Depends(get_ctx),
    page: PageParams = Depends(page_params),
    status: list[str] = Query(default_factory=list, max_length=5, description="running|paused|met|breached|stopped"),
    at_risk: bool | None = Query(None, description="Open clocks due within FIELDOPS_SLA_AT_RISK_MINUTES or late"),
    work_order_id: list[uuid.UUID] = Query(default_factory=list, max_length=100, description="Repeatable"),
) -> Page[ClockRead]:
    items, total = service.list_clocks(ctx, status, at_risk, work_order_id, page.limit, page.offset)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/sla/calendars", response_model=Page[CalendarRead], summary="List business calendars")
def list_calendars(ctx: Ctx = Depends(get_ctx), page: PageParams = Depends(page_params)) -> Page[CalendarRead]:
    rows, total = service.list_calendars(ctx, page.limit, page.offset)
    return Page(items=[CalendarRead.model_validate(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.post("/sla/calendars", response_model=CalendarRead, status_code=201, summary="Add a calendar (admin)")
def create_calendar(body: CalendarCreate, ctx: Ctx = Depends(get_ctx),
                    idempotency_key: str | None = IDEMPOTENCY_KEY) -> JSONResponse:
    def produce() -> tuple[CalendarRead, dict[str, str]]:
        row = service.create_calendar(ctx, body)
        return CalendarRead.model_validate(row), {"ETag": etag(row.version),
                                                  "Location": f"/api/v1/sla/calendars/{row.id}"}

    return idempotent(ctx, idempotency_key, "POST /sla/calendars", body, produce)


@router.get("/sla/calendars/{calendar_id}", response_model=CalendarRead)
def get_calendar(calendar_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    row = service.get_calendar(ctx, calendar_id)
    return with_etag(CalendarRead.model_validate(row), row.version)


@router.patch("/sla/calendars/{calendar_id}", response_model=CalendarRead, summary="Change a calendar (admin)")
def update_calendar(calendar_id: uuid.UUID, body: CalendarUpdate, ctx: Ctx = Depends(get_ctx),
                    if_match: str | None = IF_MATCH) -> JSONResponse:
    row = service.update_calendar(ctx, calendar_id, body, if_match)
    return with_etag(CalendarRead.model_validate(row), row.version)


@router.get("/sla/policies", response_model=Page[SlaPolicyRead], summary="List SLA policies")
def list_policies(ctx: Ctx = Depends(get_ctx), page: PageParams = Depends(page_params)) -> Page[SlaPolicyRead]:
    rows, total = service.list_policies(ctx, page.limit, page.offset)
    return Page(items=[SlaPolicyRead.model_validate(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.post("/sla/policies", response_model=SlaPolicyRead, status_code=201, summary="Add a policy (admin)")
def create_policy(body: PolicyCreate, ctx: Ctx = Depends(get_ctx),
                  idempotency_key: str | None = IDEMPOTENCY_KEY) -> JSONResponse:
    def produce() -> tuple[SlaPolicyRead, dict[str, str]]:
        row = service.create_policy(ctx, body)
        return SlaPolicyRead.model_validate(row), {"ETag": etag(row.version),
                                                "Location": f"/api/v1/sla/policies/{row.id}"}

    return idempotent(ctx, idempotency_key, "POST /sla/policies", body, produce)


@router.get("/sla/policies/{policy_id}", response_model=SlaPolicyRead)
def get_policy(policy_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    row = service.get_policy(ctx, policy_id)
    return with_etag(SlaPolicyRead.model_validate(row), row.version)


@router.patch("/sla/policies/{policy_id}", response_model=SlaPolicyRead, summary="Change a policy (admin)")
def update_policy(policy_id: uuid.UUID, body: PolicyUpdate, ctx: Ctx = Depends(get_ctx),
                  if_match: str | None = IF_MATCH) -> JSONResponse:
    row = service.update_policy(ctx, policy_id, body, if_match)
    return with_etag(SlaPolicyRead.model_validate(row), row.version)


@router.post("/sla/preview", response_model=PreviewRead, openapi_extra=not_audited("a calculation: nothing is stored"),
             summary="Deadlines and escalation times for a start time (nothing is stored)")
def preview(body: PreviewIn, ctx: Ctx = Depends(get_ctx)) -> PreviewRead:
    return service.preview(ctx, body)


@router.get("/sla/holidays", response_model=HolidaysRead,
            summary="Holidays and make-up working days of a country/subdivision and year")
def holidays(ctx: Ctx = Depends(get_ctx), country: str = Query(..., min_length=2, max_length=8),
             subdiv: str | None = Query(None, min_length=1, max_length=16),
             year: int = Query(..., ge=1970, le=2100)) -> HolidaysRead:
    return service.holidays(ctx, country, subdiv, year)
