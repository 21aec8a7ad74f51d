"""Request and response bodies of the tracking API."""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

from fieldops.core.schemas import InModel, Latitude, Longitude, Name, OutModel


def _finite_json(value: Any, path: str = "value") -> Any:
    """Free-form JSON must not carry NaN or Infinity (JSON cannot represent them; storing one breaks reads)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path} must be a finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            _finite_json(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _finite_json(v, f"{path}[{i}]")
    return value


FiniteJson = Annotated[dict[str, Any], AfterValidator(_finite_json)]
DeviceId = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:\-]+$")]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Category = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")]


class PointIn(InModel):
    """One fix. Numbers are checked per point (out of range, NaN/Infinity → that point is rejected with a reason),
    so one bad fix never costs the rest of the batch."""

    lat: float
    lng: float
    accuracy_m: float | None = None
    speed_mps: float | None = None
    heading: float | None = None
    recorded_at: AwareDatetime
    client_id: ClientId | None = None


class PointBatch(InModel):
    device_id: DeviceId
    points: list[PointIn] = Field(min_length=1, max_length=1000)


class PointProblem(OutModel):
    index: int
    reason: str
    message: str


class IngestResult(OutModel):
    accepted: int
    duplicates: int
    rejected: list[PointProblem]
    flagged: list[PointProblem]


class PositionRead(OutModel):
    technician_id: uuid.UUID
    technician_name: str | None = None
    lat: float
    lng: float
    accuracy_m: float | None
    speed_mps: float | None
    heading: float | None
    recorded_at: datetime
    device_id: str
    age_s: int
    stale: bool


class PositionList(OutModel):
    items: list[PositionRead]
    total: int
    stale_after_s: int


class WorkOrderTechnicianPosition(OutModel):
    work_order_id: uuid.UUID
    technician_id: uuid.UUID | None
    available: bool
    position: PositionRead | None = None


class TracePointRead(OutModel):
    lat: float
    lng: float
    recorded_at: datetime
    accuracy_m: float | None = None


class StopRead(OutModel):
    lat: float
    lng: float
    arrived_at: datetime
    left_at: datetime
    duration_s: int
    points: int


class DayDistance(OutModel):
    technician_id: uuid.UUID
    day: date
    distance_m: float
    points: int


class TraceRead(OutModel):
    technician_id: uuid.UUID
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    points_total: int
    truncated: bool
    distance_m: float
    path: list[TracePointRead]
    stops: list[StopRead]
    days: list[DayDistance]


class GeofenceCreate(InModel):
    name: Name
    category: Category = "service_area"
    lat: Latitude | None = None
    lng: Longitude | None = None
    radius_m: Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False)] | None = None
    geometry: FiniteJson | None = None
    properties: FiniteJson = Field(default_factory=dict)
    active: bool = True


class GeofenceUpdate(InModel):
    name: Name | None = None
    category: Category | None = None
    lat: Latitude | None = None
    lng: Longitude | None = None
    radius_m: Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False)] | None = None
    geometry: FiniteJson | None = None
    properties: FiniteJson | None = None
    active: bool | None = None


class GeofenceRead(OutModel):
    id: uuid.UUID
    name: str
    category: str
    kind: Literal["circle", "polygon"]
    lat: float | None
    lng: float | None
    radius_m: float | None
    geometry: dict[str, Any] | None
    properties: dict[str, Any]
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class GeofenceImport(InModel):
    """A GeoJSON FeatureCollection of Polygon/MultiPolygon features; `properties.name` / `properties.category`
    name each fence."""

    type: Literal["FeatureCollection"]
    features: list[FiniteJson] = Field(min_length=1, max_length=10_000)
    category: Category | None = None


class GeofenceImportResult(OutModel):
    created: int
    ids: list[uuid.UUID]


class GeofenceEventRead(OutModel):
    id: uuid.UUID
    technician_id: uuid.UUID
    fence_type: str
    fence_id: uuid.UUID
    fence_name: str
    work_order_id: uuid.UUID | None
    event: str
    at: datetime
    lat: float
    lng: float
    accuracy_m: float | None
    distance_m: float | None


class AlertRead(OutModel):
    id: uuid.UUID
    kind: str
    work_order_id: uuid.UUID | None
    technician_id: uuid.UUID | None
    raised_at: datetime
    data: dict[str, Any]


class DeleteResult(OutModel):
    technician_id: uuid.UUID
    points_deleted: int
    events_deleted: int
