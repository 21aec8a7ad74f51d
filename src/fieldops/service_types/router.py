"""Skills, certificate types and the service-type tree: everyone in the organisation reads, admins write."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse

from fieldops.core.schemas import Page
from fieldops.core.web import Ctx, PageParams, TransactionalRoute, etag, idempotent, page_params, with_etag
from fieldops.service_types import service
from fieldops.service_types.models import CertificateType, Skill
from fieldops.service_types.schemas import (
    CertificateTypeCreate,
    CertificateTypeRead,
    CertificateTypeUpdate,
    ServiceTypeCreate,
    ServiceTypeRead,
    ServiceTypeUpdate,
    SkillCreate,
    SkillRead,
    SkillUpdate,
)
from fieldops.users.deps import get_ctx

router = APIRouter(tags=["service types"], route_class=TransactionalRoute)

API = "/api/v1"
Q = Query(None, max_length=200, description="Search code and names")
IF_MATCH = Header(None, alias="If-Match")
IDEMPOTENCY_KEY = Header(None, alias="Idempotency-Key")


# ---- skills -------------------------------------------------------------------------------------

@router.get("/skills", response_model=Page[SkillRead], summary="List skills")
def list_skills(ctx: Ctx = Depends(get_ctx), page: PageParams = Depends(page_params), q: str | None = Q,
                active: bool | None = Query(None)) -> Page[SkillRead]:
    rows, total = service.list_catalogue(ctx, Skill, q=q, active=active, limit=page.limit, offset=page.offset)
    return Page(items=[SkillRead.model_validate(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.post("/skills", response_model=SkillRead, status_code=201, summary="Add a skill (admin)")
def create_skill(body: SkillCreate, ctx: Ctx = Depends(get_ctx),
                 idempotency_key: str | None = IDEMPOTENCY_KEY) -> JSONResponse:
    def produce() -> tuple[SkillRead, dict[str, str]]:
        item = service.create_catalogue(ctx, Skill, body)
        return SkillRead.model_validate(item), {
            "ETag": etag(item.version), "Location": f"{API}/skills/{item.id}"}

    return idempotent(ctx, idempotency_key, "POST /skills", body, produce)


@router.get("/skills/{skill_id}", response_model=SkillRead)
def get_skill(skill_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    item = service.get_catalogue(ctx, Skill, skill_id)
    return with_etag(SkillRead.model_validate(item), item.version)


@router.patch("/skills/{skill_id}", response_model=SkillRead, summary="Change a skill (admin, If-Match)")
def update_skill(skill_id: uuid.UUID, body: SkillUpdate, ctx: Ctx = Depends(get_ctx),
                 if_match: str | None = IF_MATCH) -> JSONResponse:
    item = service.update_catalogue(ctx, Skill, skill_id, body, if_match)
    return with_etag(SkillRead.model_validate(item), item.version)


# ---- certificate types --------------------------------------------------------------------------

@router.get("/certificate-types", response_model=Page[CertificateTypeRead], summary="List certificate types")
def list_certificate_types(ctx: Ctx = Depends(get_ctx), page: PageParams = Depends(page_params),
                           q: str | None = Q, active: bool | None = Query(None)) -> Page[CertificateTypeRead]:
    rows, total = service.list_catalogue(ctx, CertificateType, q=q, active=active, limit=page.limit,
                                         offset=page.offset)
    return Page(items=[CertificateTypeRead.model_validate(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.post("/certificate-types", response_model=CertificateTypeRead, status_code=201,
             summary="Add a certificate type (admin)")
def create_certificate_type(body: CertificateTypeCreate, ctx: Ctx = Depends(get_ctx),
                            idempotency_key: str | None = IDEMPOTENCY_KEY) -> JSONResponse:
    def produce() -> tuple[CertificateTypeRead, dict[str, str]]:
        item = service.create_catalogue(ctx, CertificateType, body)
        return CertificateTypeRead.model_validate(item), {
            "ETag": etag(item.version), "Location": f"{API}/certificate-types/{item.id}"}

    return idempotent(ctx, idempotency_key, "POST /certificate-types", body, produce)


@router.get("/certificate-types/{certificate_type_id}", response_model=CertificateTypeRead)
def get_certificate_type(certificate_type_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    item = service.get_catalogue(ctx, CertificateType, certificate_type_id)
    return with_etag(CertificateTypeRead.model_validate(item), item.version)


@router.patch("/certificate-types/{certificate_type_id}", response_model=CertificateTypeRead,
              summary="Change a certificate type (admin, If-Match)")
def update_certificate_type(certificate_type_id: uuid.UUID, body: CertificateTypeUpdate,
                            ctx: Ctx = Depends(get_ctx), if_match: str | None = IF_MATCH) -> JSONResponse:
    item = service.update_catalogue(ctx, CertificateType, certificate_type_id, body, if_match)
    return with_etag(CertificateTypeRead.model_validate(item), item.version)


# ---- service types ------------------------------------------------------------------------------

@router.get("/service-types", response_model=Page[ServiceTypeRead],
            summary="List service types (flat, or nested with tree=true)")
def list_service_types(
    ctx: Ctx = Depends(get_ctx),
    page: PageParams = Depends(page_params),
    parent_id: uuid.UUID | None = Query(None, description="Direct children of this type (tree: its subtree)"),
    q: str | None = Q,
    active: bool | None = Query(None),
    tree: bool = Query(False, description="Nest children; the page counts top-level nodes"),
) -> Page[ServiceTypeRead]:
    if tree:
        items, total = service.service_type_tree(ctx, parent_id=parent_id, q=q, active=active,
                                                 limit=page.limit, offset=page.offset)
    else:
        rows, total = service.list_service_types(ctx, parent_id=parent_id, q=q, active=active,
                                                 limit=page.limit, offset=page.offset)
        items = [ServiceTypeRead.model_validate(r) for r in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("/service-types", response_model=ServiceTypeRead, status_code=201,
             summary="Add a service type (admin)")
def create_service_type(body: ServiceTypeCreate, ctx: Ctx = Depends(get_ctx),
                        idempotency_key: str | None = IDEMPOTENCY_KEY) -> JSONResponse:
    def produce() -> tuple[ServiceTypeRead, dict[str, str]]:
        item = service.create_service_type(ctx, body)
        return service.to_read(ctx, item, with_effective=True), {
            "ETag": etag(item.version), "Location": f"{API}/service-types/{item.id}"}

    return idempotent(ctx, idempotency_key, "POST /service-types", body, produce)


@router.get("/service-types/{service_type_id}", response_model=ServiceTypeRead,
            summary="One service type, with its effective (inherited) requirements")
def get_service_type(service_type_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    item = service.get_service_type(ctx, service_type_id)
    return with_etag(service.to_read(ctx, item, with_effective=True), item.version)


@router.patch("/service-types/{service_type_id}", response_model=ServiceTypeRead,
              summary="Change a service type (admin, If-Match)")
def update_service_type(service_type_id: uuid.UUID, body: ServiceTypeUpdate, ctx: Ctx = Depends(get_ctx),
                        if_match: str | None = IF_MATCH) -> JSONResponse:
    item = service.update_service_type(ctx, service_type_id, body, if_match)
    return with_etag(service.to_read(ctx, item, with_effective=True), item.version)
