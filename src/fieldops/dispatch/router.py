"""Dispatch endpoints: auto and manual assignment with explanations, the grab pool, day plans, policy."""

import uuid
from typing import Any

from fastapi import APIRouter, Body, Depends, Header, Query
from fastapi.responses import JSONResponse

from fieldops.core.schemas import Page
from fieldops.core.web import Ctx, PageParams, TransactionalRoute, etag, idempotent, page_params, with_etag
from fieldops.dispatch import service
from fieldops.dispatch.schemas import (
    CandidateRead,
    DecisionRead,
    DispatchBody,
    PlanApplyResult,
    PlanCreate,
    PlanRead,
    PolicyBody,
    PolicyRead,
    PoolOfferRead,
)
from fieldops.users.deps import get_ctx
from fieldops.work_orders import service as work_orders
from fieldops.work_orders.schemas import AssignBody, WorkOrderRead

router = APIRouter(tags=["dispatch"], route_class=TransactionalRoute)


@router.post("/work-orders/{work_order_id}/assign", response_model=WorkOrderRead,
             summary="Assign or reassign to a technician (派单), with a reason; If-Match required")
def assign(work_order_id: uuid.UUID, body: AssignBody, ctx: Ctx = Depends(get_ctx),
           if_match: str | None = Header(None, alias="If-Match")) -> JSONResponse:
    wo = service.manual_assign(ctx, work_order_id, body.technician_id, body.reason, if_match, body.force)
    return with_etag(work_orders.to_read(ctx, wo), wo.version)


@router.post("/work-orders/{work_order_id}/dispatch", response_model=DecisionRead,
             summary="Auto-dispatch now: the engine chooses, assigns and explains; If-Match required")
def dispatch(work_order_id: uuid.UUID, body: DispatchBody | None = Body(None), ctx: Ctx = Depends(get_ctx),
             if_match: str | None = Header(None, alias="If-Match")) -> DecisionRead:
    row = service.dispatch_now(ctx, work_order_id, if_match, body.reason if body else None)
    return DecisionRead.model_validate(row)


@router.get("/work-orders/{work_order_id}/dispatch-decisions", response_model=list[DecisionRead],
            summary="Every dispatch decision of the order with its explanation")
def decisions(work_order_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> list[DecisionRead]:
    return [DecisionRead.model_validate(r) for r in service.decisions(ctx, work_order_id)]


@router.get("/work-orders/{work_order_id}/dispatch-candidates", response_model=list[CandidateRead],
            summary="Every technician's standing now, best first; technician_id= answers 'why not X'")
def dispatch_candidates(work_order_id: uuid.UUID, technician_id: uuid.UUID | None = Query(None),
                        ctx: Ctx = Depends(get_ctx)) -> list[CandidateRead]:
    return service.candidates(ctx, work_order_id, technician_id)


pool_router = APIRouter(prefix="/dispatch", tags=["dispatch"], route_class=TransactionalRoute)


def _offer_read(offer: Any, wo: Any) -> PoolOfferRead:
    read = PoolOfferRead.model_validate(offer)
    read.work_order_number, read.title, read.priority = wo.number, wo.title, wo.priority
    read.site_address, read.site_lat, read.site_lng = wo.site_address, wo.site_lat, wo.site_lng
    read.window_start, read.window_end = wo.window_start, wo.window_end
    read.eligible_count = len(offer.eligible_technician_ids or [])
    return read


@pool_router.get("/pool", response_model=Page[PoolOfferRead], summary="The grab pool (抢单池)")
def pool(ctx: Ctx = Depends(get_ctx), page: PageParams = Depends(page_params),
         status: str | None = Query("open", pattern="^(open|grabbed|expired|withdrawn)$")) -> Page[PoolOfferRead]:
    rows, total = service.list_pool(ctx, status, page.limit, page.offset)
    return Page(items=[_offer_read(o, w) for o, w in rows], total=total, limit=page.limit, offset=page.offset)


@pool_router.post("/pool/{offer_id}/grab", response_model=WorkOrderRead, summary="Grab an offered job (technicians)")
def grab(offer_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    wo = service.grab(ctx, offer_id)
    return with_etag(work_orders.to_read(ctx, wo), wo.version)


@pool_router.get("/policy", response_model=PolicyRead, summary="The dispatch policy (or a service type's override)")
def get_policy(service_type_id: uuid.UUID | None = Query(None), ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    read = service.get_policy(ctx, service_type_id)
    return with_etag(read, read.version)


@pool_router.put("/policy", response_model=PolicyRead, summary="Save the dispatch policy (If-Match once it exists)")
def put_policy(body: PolicyBody, ctx: Ctx = Depends(get_ctx),
               if_match: str | None = Header(None, alias="If-Match")) -> JSONResponse:
    read = service.put_policy(ctx, body, if_match)
    return with_etag(read, read.version)


@pool_router.post("/plans", response_model=PlanRead, status_code=202,
                  summary="Plan a day or a territory's day (runs in the worker; poll for progress)")
def create_plan(body: PlanCreate, ctx: Ctx = Depends(get_ctx),
                idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> JSONResponse:
    def produce() -> tuple[Any, dict[str, str]]:
        plan = service.create_plan(ctx, body)
        return PlanRead.model_validate(plan), {"ETag": etag(plan.version),
                                               "Location": f"/api/v1/dispatch/plans/{plan.id}"}

    return idempotent(ctx, idempotency_key, "POST /dispatch/plans", body, produce, status_code=202)


@pool_router.get("/plans", response_model=Page[PlanRead])
def list_plans(ctx: Ctx = Depends(get_ctx), page: PageParams = Depends(page_params)) -> Page[PlanRead]:
    rows, total = service.list_plans(ctx, page.limit, page.offset)
    return Page(items=[PlanRead.model_validate(p) for p in rows], total=total, limit=page.limit, offset=page.offset)


@pool_router.get("/plans/{plan_id}", response_model=PlanRead,
                 summary="A plan: status, progress, routes with ETAs, travel and lateness before/after")
def get_plan(plan_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    plan = service.get_plan(ctx, plan_id)
    return with_etag(PlanRead.model_validate(plan), plan.version)


@pool_router.post("/plans/{plan_id}/apply", response_model=PlanApplyResult,
                  summary="Apply a finished plan (If-Match: the plan's version)")
def apply_plan(plan_id: uuid.UUID, ctx: Ctx = Depends(get_ctx),
               if_match: str | None = Header(None, alias="If-Match")) -> PlanApplyResult:
    return service.apply_plan(ctx, plan_id, if_match)
