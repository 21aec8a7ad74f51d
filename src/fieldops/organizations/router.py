"""The caller's organisation and its territories (片区)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import JSONResponse

from fieldops.core.schemas import Page
from fieldops.core.web import Ctx, PageParams, TransactionalRoute, etag, idempotent, page_params, with_etag
from fieldops.organizations import service
from fieldops.organizations.schemas import OrgRead, OrgUpdate, TerritoryCreate, TerritoryRead, TerritoryUpdate
from fieldops.users.deps import get_ctx

router = APIRouter(prefix="", tags=["organizations"], route_class=TransactionalRoute)

SearchText = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")]


@router.get("/organizations/current", response_model=OrgRead, summary="The caller's organisation")
def get_current_org(ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    org = service.get_current_org(ctx)
    return with_etag(service.to_org_read(org, ctx.settings), org.version)


@router.patch("/organizations/current", response_model=OrgRead, summary="Change the organisation (admin)")
def update_current_org(
    body: OrgUpdate, ctx: Ctx = Depends(get_ctx), if_match: str | None = Header(None, alias="If-Match")
) -> JSONResponse:
    org = service.update_current_org(ctx, body, if_match)
    return with_etag(service.to_org_read(org, ctx.settings), org.version)


@router.get("/territories", response_model=Page[TerritoryRead], tags=["territories"])
def list_territories(
    ctx: Ctx = Depends(get_ctx),
    page: PageParams = Depends(page_params),
    q: SearchText = None,
    include_inactive: bool = Query(False, description="Also list retired territories"),
    with_polygon: bool = Query(True, description="Include each polygon"),
) -> Page[TerritoryRead]:
    rows, total = service.list_territories(
        ctx, q=q, include_inactive=include_inactive, limit=page.limit, offset=page.offset
    )
    items = [TerritoryRead.model_validate(t) for t in rows]
    if not with_polygon:
        items = [item.model_copy(update={"polygon": None}) for item in items]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("/territories", response_model=TerritoryRead, status_code=201, tags=["territories"])
def create_territory(
    body: TerritoryCreate,
    ctx: Ctx = Depends(get_ctx),
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> JSONResponse:
    def produce() -> tuple[TerritoryRead, dict[str, str]]:
        territory = service.create_territory(ctx, body)
        return TerritoryRead.model_validate(territory), {
            "ETag": etag(territory.version),
            "Location": f"/api/v1/territories/{territory.id}",
        }

    return idempotent(ctx, idempotency_key, "POST /territories", body, produce)


@router.get("/territories/{territory_id}", response_model=TerritoryRead, tags=["territories"])
def get_territory(territory_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    territory = service.get_territory(ctx, territory_id)
    return with_etag(TerritoryRead.model_validate(territory), territory.version)


@router.patch("/territories/{territory_id}", response_model=TerritoryRead, tags=["territories"])
def update_territory(
    territory_id: uuid.UUID,
    body: TerritoryUpdate,
    ctx: Ctx = Depends(get_ctx),
    if_match: str | None = Header(None, alias="If-Match"),
) -> JSONResponse:
    territory = service.update_territory(ctx, territory_id, body, if_match)
    return with_etag(TerritoryRead.model_validate(territory), territory.version)


@router.delete(
    "/territories/{territory_id}",
    status_code=204,
    tags=["territories"],
    summary="Retire a territory (soft delete; If-Match optional)",
)
def retire_territory(
    territory_id: uuid.UUID,
    ctx: Ctx = Depends(get_ctx),
    if_match: str | None = Header(None, alias="If-Match"),
) -> Response:
    service.retire_territory(ctx, territory_id, if_match)
    return Response(status_code=204)
