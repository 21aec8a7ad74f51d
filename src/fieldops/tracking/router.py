"""Tracking API: location ingest from the technician's phone, live positions, trace playback, geofences,
fence evidence, alerts, and the privacy tools (export, delete)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from fieldops.core.audit import not_audited
from fieldops.core.errors import InvalidInput
from fieldops.core.schemas import Page
from fieldops.core.web import Ctx, PageParams, TransactionalRoute, etag, idempotent, page_params, with_etag
from fieldops.tracking import service
from fieldops.tracking.schemas import (
    AlertRead,
    DayDistance,
    DeleteResult,
    GeofenceCreate,
    GeofenceEventRead,
    GeofenceImport,
    GeofenceImportResult,
    GeofenceRead,
    GeofenceUpdate,
    IngestResult,
    PointBatch,
    PositionList,
    TraceRead,
    WorkOrderTechnicianPosition,
)
from fieldops.users.deps import get_ctx

router = APIRouter(tags=["tracking"], route_class=TransactionalRoute)

BASE = "/api/v1/tracking"
IF_MATCH = Header(None, alias="If-Match")
IDEMPOTENCY_KEY = Header(None, alias="Idempotency-Key")
FROM = Query(None, alias="from", description="Start (inclusive, ISO 8601 with zone); default: 24 h before `to`")
TO = Query(None, description="End (exclusive); default: now")


@router.post("/tracking/points", response_model=IngestResult, openapi_extra=not_audited(
    "device telemetry every few seconds: the stored points are their own record"),
             summary="Post a batch of location points from your device (idempotent per point, rate limited)")
def post_points(body: PointBatch, ctx: Ctx = Depends(get_ctx)) -> IngestResult:
    return service.ingest(ctx, body)


@router.get("/tracking/positions", response_model=PositionList,
            summary="Last known position of each technician, with its age and staleness")
def positions(ctx: Ctx = Depends(get_ctx)) -> PositionList:
    return service.list_positions(ctx)


@router.get("/tracking/technicians/{technician_id}/trace", response_model=TraceRead, response_model_by_alias=True,
            summary="Trajectory playback: simplified path, stops and distance per day")
def trace(technician_id: uuid.UUID, ctx: Ctx = Depends(get_ctx), since: datetime | None = FROM,
          to: datetime | None = TO) -> JSONResponse:
    read = service.trace(ctx, technician_id, _aware(since, "from"), _aware(to, "to"))
    return JSONResponse(jsonable_encoder(read, by_alias=True))


@router.get("/tracking/technicians/{technician_id}/export", summary="Export one technician's location data "
            "(admins; JSON or CSV; audited)")
def export(technician_id: uuid.UUID, ctx: Ctx = Depends(get_ctx), since: datetime | None = FROM,
           to: datetime | None = TO, format: Literal["json", "csv"] = Query("json")) -> Response:
    tech, rows = service.export_points(ctx, technician_id, _aware(since, "from"), _aware(to, "to"), format)
    name = f"locations-{tech.code}"
    if format == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(service.EXPORT_COLUMNS)
        for r in rows:
            writer.writerow([_cell(getattr(r, c)) for c in service.EXPORT_COLUMNS])
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    body = {"technician_id": str(tech.id), "technician_code": tech.code, "technician_name": tech.name,
            "points": [{c: getattr(r, c) for c in service.EXPORT_COLUMNS} for r in rows]}
    return JSONResponse(jsonable_encoder(body), headers={"Content-Disposition": f'attachment; filename="{name}.json"'})


@router.delete("/tracking/technicians/{technician_id}/data", response_model=DeleteResult,
               summary="Delete all of one technician's location data (admins; audited)")
def delete_data(technician_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> DeleteResult:
    points, events = service.delete_data(ctx, technician_id)
    return DeleteResult(technician_id=technician_id, points_deleted=points, events_deleted=events)


@router.get("/tracking/distances", response_model=list[DayDistance],
            summary="Distance travelled per technician and day (commute-distance report)")
def distances(ctx: Ctx = Depends(get_ctx), technician_id: uuid.UUID | None = Query(None),
              from_day: date | None = Query(None), to_day: date | None = Query(None)) -> list[DayDistance]:
    return service.daily_distances(ctx, technician_id, from_day, to_day)


@router.get("/tracking/geofences", response_model=Page[GeofenceRead], summary="List geofences")
def list_geofences(ctx: Ctx = Depends(get_ctx), page: PageParams = Depends(page_params),
                   category: str | None = Query(None, max_length=32),
                   active: bool | None = Query(None)) -> Page[GeofenceRead]:
    rows, total = service.list_geofences(ctx, category, active, page.limit, page.offset)
    return Page(items=[GeofenceRead.model_validate(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.post("/tracking/geofences", response_model=GeofenceRead, status_code=201,
             summary="Create a circular or polygon geofence")
def create_geofence(body: GeofenceCreate, ctx: Ctx = Depends(get_ctx),
                    idempotency_key: str | None = IDEMPOTENCY_KEY) -> JSONResponse:
    def produce() -> tuple[GeofenceRead, dict[str, str]]:
        fence = service.create_geofence(ctx, body)
        return GeofenceRead.model_validate(fence), {"ETag": etag(fence.version),
                                                     "Location": f"{BASE}/geofences/{fence.id}"}

    return idempotent(ctx, idempotency_key, "POST /tracking/geofences", body, produce)


@router.post("/tracking/geofences/import", response_model=GeofenceImportResult, status_code=201,
             summary="Import polygon geofences from a GeoJSON FeatureCollection")
def import_geofences(body: GeofenceImport, ctx: Ctx = Depends(get_ctx),
                     idempotency_key: str | None = IDEMPOTENCY_KEY) -> JSONResponse:
    def produce() -> tuple[GeofenceImportResult, dict[str, str]]:
        fences = service.import_geofences(ctx, body)
        return GeofenceImportResult(created=len(fences), ids=[f.id for f in fences]), {}

    return idempotent(ctx, idempotency_key, "POST /tracking/geofences/import", body, produce)


@router.get("/tracking/geofences/{geofence_id}", response_model=GeofenceRead, summary="One geofence (ETag)")
def get_geofence(geofence_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    fence = service.get_geofence(ctx, geofence_id)
    return with_etag(GeofenceRead.model_validate(fence), fence.version)


@router.patch("/tracking/geofences/{geofence_id}", response_model=GeofenceRead,
              summary="Change a geofence (If-Match)")
def update_geofence(geofence_id: uuid.UUID, body: GeofenceUpdate, ctx: Ctx = Depends(get_ctx),
                    if_match: str | None = IF_MATCH) -> JSONResponse:
    fence = service.update_geofence(ctx, geofence_id, body, if_match)
    return with_etag(GeofenceRead.model_validate(fence), fence.version)


@router.delete("/tracking/geofences/{geofence_id}", status_code=204, response_class=Response,
               summary="Delete a geofence")
def delete_geofence(geofence_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> Response:
    service.delete_geofence(ctx, geofence_id)
    return Response(status_code=204)


@router.get("/tracking/geofence-events", response_model=Page[GeofenceEventRead],
            summary="Enter/leave evidence (with the fix's accuracy)")
def geofence_events(ctx: Ctx = Depends(get_ctx), page: PageParams = Depends(page_params),
                    technician_id: uuid.UUID | None = Query(None), work_order_id: uuid.UUID | None = Query(None),
                    since: datetime | None = FROM, to: datetime | None = TO) -> Page[GeofenceEventRead]:
    rows, total = service.fence_events(ctx, technician_id, work_order_id, _aware(since, "from"), _aware(to, "to"),
                                       page.limit, page.offset)
    return Page(items=[GeofenceEventRead.model_validate(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.get("/tracking/alerts", response_model=Page[AlertRead],
            summary="Timeout and far-check-in alerts on the work orders you see")
def alerts(ctx: Ctx = Depends(get_ctx), page: PageParams = Depends(page_params),
           kind: str | None = Query(None, max_length=32)) -> Page[AlertRead]:
    rows, total = service.list_alerts(ctx, kind, page.limit, page.offset)
    return Page(items=[AlertRead.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/work-orders/{work_order_id}/technician-position", response_model=WorkOrderTechnicianPosition,
            summary="Where the order's technician is (customers: only while en route)")
def work_order_position(work_order_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> WorkOrderTechnicianPosition:
    return service.work_order_position(ctx, work_order_id)


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput(f"`{field}` needs a time zone (e.g. 2026-11-23T14:00:00Z).",
                           f"`{field}` 必须带时区（例如 2026-11-23T14:00:00Z）。", field=field)
    return value


def _cell(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value
