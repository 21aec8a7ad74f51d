"""Technicians: the roster, skills, certificates, weekly shifts, leave and one's own duty status."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import JSONResponse

from fieldops.core.schemas import Code, Page
from fieldops.core.web import Ctx, PageParams, TransactionalRoute, etag, idempotent, page_params, with_etag
from fieldops.technicians import service
from fieldops.technicians.models import Technician
from fieldops.technicians.schemas import (
    CertificateCreate,
    CertificateRead,
    DutyStatus,
    DutyStatusUpdate,
    LeaveCreate,
    LeaveRead,
    ShiftsReplace,
    SkillsReplace,
    TechnicianCreate,
    TechnicianDetail,
    TechnicianRead,
    TechnicianUpdate,
)
from fieldops.users.deps import get_ctx

router = APIRouter(prefix="/technicians", tags=["technicians"], route_class=TransactionalRoute)

BASE = "/api/v1/technicians"
IF_MATCH = Header(None, alias="If-Match")
IDEMPOTENCY_KEY = Header(None, alias="Idempotency-Key")


def _detail(ctx: Ctx, tech: Technician) -> JSONResponse:
    detail = service.to_detail(ctx, tech)
    return with_etag(detail, detail.version)


@router.get("", response_model=Page[TechnicianRead], summary="List technicians")
def list_technicians(
    ctx: Ctx = Depends(get_ctx),
    page: PageParams = Depends(page_params),
    q: str | None = Query(None, max_length=200, description="Search name, code and phone"),
    territory_id: uuid.UUID | None = Query(None),
    skill: Code | None = Query(None, description="Has this skill code (any level)"),
    duty_status: DutyStatus | None = Query(None),
    active: bool | None = Query(None),
) -> Page[TechnicianRead]:
    rows, total = service.list_technicians(ctx, q=q, territory_id=territory_id, skill=skill,
                                           duty_status=duty_status, active=active, limit=page.limit,
                                           offset=page.offset)
    return Page(items=[service.to_read(ctx.principal, t) for t in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.post("", response_model=TechnicianDetail, status_code=201,
             summary="Add a technician, optionally with a login, skills, certificates and shifts")
def create_technician(body: TechnicianCreate, ctx: Ctx = Depends(get_ctx),
                      idempotency_key: str | None = IDEMPOTENCY_KEY) -> JSONResponse:
    def produce() -> tuple[TechnicianDetail, dict[str, str]]:
        tech = service.create_technician(ctx, body)
        return service.to_detail(ctx, tech), {"ETag": etag(tech.version), "Location": f"{BASE}/{tech.id}"}

    return idempotent(ctx, idempotency_key, "POST /technicians", body, produce)


@router.get("/me", response_model=TechnicianDetail, summary="Your own technician record")
def get_me(ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    return _detail(ctx, service.get_my_technician(ctx))


@router.patch("/me/duty-status", response_model=TechnicianDetail,
              summary="Go on or off duty, or on a break (If-Match)")
def set_my_duty_status(body: DutyStatusUpdate, ctx: Ctx = Depends(get_ctx),
                       if_match: str | None = IF_MATCH) -> JSONResponse:
    return _detail(ctx, service.set_my_duty_status(ctx, body, if_match))


@router.get("/{technician_id}", response_model=TechnicianDetail)
def get_technician(technician_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    return _detail(ctx, service.get_technician(ctx, technician_id))


@router.patch("/{technician_id}", response_model=TechnicianDetail, summary="Change a technician (If-Match)")
def update_technician(technician_id: uuid.UUID, body: TechnicianUpdate, ctx: Ctx = Depends(get_ctx),
                      if_match: str | None = IF_MATCH) -> JSONResponse:
    return _detail(ctx, service.update_technician(ctx, technician_id, body, if_match))


@router.put("/{technician_id}/skills", response_model=TechnicianDetail,
            summary="Replace the technician's skills (If-Match)")
def replace_skills(technician_id: uuid.UUID, body: SkillsReplace, ctx: Ctx = Depends(get_ctx),
                   if_match: str | None = IF_MATCH) -> JSONResponse:
    return _detail(ctx, service.replace_skills(ctx, technician_id, body, if_match))


@router.put("/{technician_id}/shifts", response_model=TechnicianDetail,
            summary="Replace the weekly shift pattern (If-Match)")
def replace_shifts(technician_id: uuid.UUID, body: ShiftsReplace, ctx: Ctx = Depends(get_ctx),
                   if_match: str | None = IF_MATCH) -> JSONResponse:
    return _detail(ctx, service.replace_shifts(ctx, technician_id, body, if_match))


@router.post("/{technician_id}/certificates", response_model=CertificateRead, status_code=201,
             summary="Record a certificate")
def add_certificate(technician_id: uuid.UUID, body: CertificateCreate, ctx: Ctx = Depends(get_ctx),
                    idempotency_key: str | None = IDEMPOTENCY_KEY) -> JSONResponse:
    def produce() -> tuple[CertificateRead, dict[str, str]]:
        _, cert = service.add_certificate(ctx, technician_id, body)
        return service.certificate_read(ctx, cert), {
            "Location": f"{BASE}/{technician_id}/certificates/{cert.id}"}

    return idempotent(ctx, idempotency_key, f"POST /technicians/{technician_id}/certificates", body, produce)


@router.delete("/{technician_id}/certificates/{certificate_id}", status_code=204, response_class=Response,
               summary="Remove a certificate")
def delete_certificate(technician_id: uuid.UUID, certificate_id: uuid.UUID,
                       ctx: Ctx = Depends(get_ctx)) -> Response:
    service.delete_certificate(ctx, technician_id, certificate_id)
    return Response(status_code=204)


@router.post("/{technician_id}/leave", response_model=LeaveRead, status_code=201, summary="Record leave")
def add_leave(technician_id: uuid.UUID, body: LeaveCreate, ctx: Ctx = Depends(get_ctx),
              idempotency_key: str | None = IDEMPOTENCY_KEY) -> JSONResponse:
    def produce() -> tuple[LeaveRead, dict[str, str]]:
        _, leave = service.add_leave(ctx, technician_id, body)
        return LeaveRead.model_validate(leave), {"Location": f"{BASE}/{technician_id}/leave/{leave.id}"}

    return idempotent(ctx, idempotency_key, f"POST /technicians/{technician_id}/leave", body, produce)


@router.delete("/{technician_id}/leave/{leave_id}", status_code=204, response_class=Response,
               summary="Cancel leave")
def delete_leave(technician_id: uuid.UUID, leave_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> Response:
    service.delete_leave(ctx, technician_id, leave_id)
    return Response(status_code=204)
