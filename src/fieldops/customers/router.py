"""Customers, their sites and assets."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from fieldops.core.clock import Clock
from fieldops.core.errors import FieldOpsError
from fieldops.core.schemas import Page
from fieldops.core.web import (
    Ctx,
    PageParams,
    TransactionalRoute,
    app_clock,
    app_settings,
    etag,
    get_db,
    idempotent,
    page_params,
    with_etag,
)
from fieldops.customers import service
from fieldops.customers.schemas import (
    AssetCreate,
    AssetRead,
    AssetUpdate,
    CustomerCreate,
    CustomerRead,
    CustomerUpdate,
    SignupConfirm,
    SignupRequest,
    SiteCreate,
    SiteRead,
    SiteUpdate,
    Tier,
)
from fieldops.settings import Settings
from fieldops.users.deps import get_ctx
from fieldops.users.schemas import Message, TokenPair

router = APIRouter(prefix="", route_class=TransactionalRoute)

SearchText = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$", description="Text to look for")]
IfMatch = Annotated[str | None, Header(alias="If-Match")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


# ---- customers ----------------------------------------------------------------------------------


@router.get("/customers", response_model=Page[CustomerRead], tags=["customers"])
def list_customers(
    ctx: Ctx = Depends(get_ctx),
    page: PageParams = Depends(page_params),
    q: SearchText = None,
    tier: Tier | None = None,
    active: bool | None = None,
) -> Page[CustomerRead]:
    rows, total = service.list_customers(ctx, q=q, tier=tier, active=active, limit=page.limit, offset=page.offset)
    return Page(
        items=[CustomerRead.model_validate(c) for c in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post("/customers", response_model=CustomerRead, status_code=201, tags=["customers"])
def create_customer(
    body: CustomerCreate, ctx: Ctx = Depends(get_ctx), idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    def produce() -> tuple[CustomerRead, dict[str, str]]:
        customer = service.create_customer(ctx, body)
        return CustomerRead.model_validate(customer), {
            "ETag": etag(customer.version),
            "Location": f"/api/v1/customers/{customer.id}",
        }

    return idempotent(ctx, idempotency_key, "POST /customers", body, produce)


@router.get("/customers/{customer_id}", response_model=CustomerRead, tags=["customers"])
def get_customer(customer_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    customer = service.get_customer(ctx, customer_id)
    return with_etag(CustomerRead.model_validate(customer), customer.version)


@router.patch("/customers/{customer_id}", response_model=CustomerRead, tags=["customers"])
def update_customer(
    customer_id: uuid.UUID, body: CustomerUpdate, ctx: Ctx = Depends(get_ctx), if_match: IfMatch = None
) -> JSONResponse:
    customer = service.update_customer(ctx, customer_id, body, if_match)
    return with_etag(CustomerRead.model_validate(customer), customer.version)


# ---- sites --------------------------------------------------------------------------------------


@router.get("/sites", response_model=Page[SiteRead], tags=["sites"])
def list_sites(
    ctx: Ctx = Depends(get_ctx),
    page: PageParams = Depends(page_params),
    customer_id: uuid.UUID | None = None,
    territory_id: uuid.UUID | None = None,
    q: SearchText = None,
    active: bool | None = None,
) -> Page[SiteRead]:
    rows, total = service.list_sites(
        ctx,
        customer_id=customer_id,
        territory_id=territory_id,
        q=q,
        active=active,
        limit=page.limit,
        offset=page.offset,
    )
    return Page(items=[SiteRead.model_validate(s) for s in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/sites", response_model=SiteRead, status_code=201, tags=["sites"])
def create_site(body: SiteCreate, ctx: Ctx = Depends(get_ctx), idempotency_key: IdempotencyKey = None) -> JSONResponse:
    def produce() -> tuple[SiteRead, dict[str, str]]:
        site = service.create_site(ctx, body)
        return SiteRead.model_validate(site), {
            "ETag": etag(site.version),
            "Location": f"/api/v1/sites/{site.id}",
        }

    return idempotent(ctx, idempotency_key, "POST /sites", body, produce)


@router.get("/sites/{site_id}", response_model=SiteRead, tags=["sites"])
def get_site(site_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    site = service.get_site(ctx, site_id)
    return with_etag(SiteRead.model_validate(site), site.version)


@router.patch("/sites/{site_id}", response_model=SiteRead, tags=["sites"])
def update_site(
    site_id: uuid.UUID, body: SiteUpdate, ctx: Ctx = Depends(get_ctx), if_match: IfMatch = None
) -> JSONResponse:
    site = service.update_site(ctx, site_id, body, if_match)
    return with_etag(SiteRead.model_validate(site), site.version)


# ---- assets -------------------------------------------------------------------------------------


@router.get("/assets", response_model=Page[AssetRead], tags=["assets"])
def list_assets(
    ctx: Ctx = Depends(get_ctx),
    page: PageParams = Depends(page_params),
    site_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    q: SearchText = None,
    active: bool | None = None,
) -> Page[AssetRead]:
    rows, total = service.list_assets(
        ctx,
        site_id=site_id,
        customer_id=customer_id,
        q=q,
        active=active,
        limit=page.limit,
        offset=page.offset,
    )
    return Page(items=[AssetRead.model_validate(a) for a in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/assets", response_model=AssetRead, status_code=201, tags=["assets"])
def create_asset(
    body: AssetCreate, ctx: Ctx = Depends(get_ctx), idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    def produce() -> tuple[AssetRead, dict[str, str]]:
        asset = service.create_asset(ctx, body)
        return AssetRead.model_validate(asset), {
            "ETag": etag(asset.version),
            "Location": f"/api/v1/assets/{asset.id}",
        }

    return idempotent(ctx, idempotency_key, "POST /assets", body, produce)


@router.get("/assets/{asset_id}", response_model=AssetRead, tags=["assets"])
def get_asset(asset_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    asset = service.get_asset(ctx, asset_id)
    return with_etag(AssetRead.model_validate(asset), asset.version)


@router.patch("/assets/{asset_id}", response_model=AssetRead, tags=["assets"])
def update_asset(
    asset_id: uuid.UUID, body: AssetUpdate, ctx: Ctx = Depends(get_ctx), if_match: IfMatch = None
) -> JSONResponse:
    asset = service.update_asset(ctx, asset_id, body, if_match)
    return with_etag(AssetRead.model_validate(asset), asset.version)


signup_router = APIRouter(prefix="/auth/signup", tags=["auth"], route_class=TransactionalRoute)


@signup_router.post("/request", status_code=202, response_model=Message,
                    summary="Customer self sign-up, step 1: send a one-time code to a phone or e-mail")
def signup_request(body: SignupRequest, db: Session = Depends(get_db), settings: Settings = Depends(app_settings),
                   clock: Clock = Depends(app_clock)) -> Message:
    service.request_signup(db, settings, body.username, body.organization, clock.now())
    return Message(message="If this login is free, a code has been sent.")


@signup_router.post("/confirm", status_code=201, response_model=TokenPair,
                    summary="Customer self sign-up, step 2: the code, name, password and first address")
def signup_confirm(body: SignupConfirm, request: Request, db: Session = Depends(get_db),
                   settings: Settings = Depends(app_settings), clock: Clock = Depends(app_clock)) -> TokenPair:
    try:
        return service.confirm_signup(db, settings, body, request.client.host if request.client else None,
                                      request.headers.get("user-agent"), clock.now())
    except FieldOpsError:
        db.commit()  # keep the counted wrong attempt
        raise
