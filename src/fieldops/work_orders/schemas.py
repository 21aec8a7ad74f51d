"""Bodies of the work-order endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints, field_validator, model_validator

from fieldops.core.schemas import InModel, Latitude, Longitude, LongText, OutModel, Reason, ShortText

Priority = Literal["P0", "P1", "P2", "P3"]
Channel = Literal["portal", "phone", "app", "api", "email", "wecom", "dingtalk", "qr", "iot", "import"]
StatusName = Literal["new", "assigned", "accepted", "en_route", "on_site", "in_progress", "awaiting_acceptance",
                     "completed", "closed", "on_hold", "cancelled"]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class PartLine(InModel):
    sku: Annotated[str, StringConstraints(max_length=64)] | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    qty: float = Field(gt=0, le=100_000, allow_inf_nan=False)
    unit_price: float | None = Field(default=None, ge=0, le=1_000_000, allow_inf_nan=False)


Scalar = str | int | float | bool | None


def _check_custom_fields(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return value
    if len(value) > 50:
        raise ValueError("at most 50 custom fields")
    for key, item in value.items():
        if not (1 <= len(key) <= 64):
            raise ValueError("custom field names must be 1 to 64 characters")
        if isinstance(item, str) and len(item) > 2000:
            raise ValueError(f"custom field {key} is longer than 2000 characters")
        if not isinstance(item, str | int | float | bool | type(None)):
            raise ValueError(f"custom field {key} must be a text, number, true/false or null")
    return value


class WorkOrderCreate(InModel):
    customer_id: uuid.UUID | None = Field(None, description="Required for staff; customers book for themselves")
    site_id: uuid.UUID
    asset_id: uuid.UUID | None = None
    service_type_id: uuid.UUID
    title: Annotated[str, StringConstraints(max_length=200)] | None = None
    description: LongText = ""
    priority: Priority | None = None
    channel: Channel | None = None
    window_start: AwareDatetime | None = None
    window_end: AwareDatetime | None = None
    duration_min: int | None = Field(None, ge=5, le=1440)
    required_tools: list[Tag] = Field(default_factory=list, max_length=50)
    required_parts: list[PartLine] = Field(default_factory=list, max_length=100)
    custom_fields: dict[str, Scalar] = Field(default_factory=dict)
    contact_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    contact_phone: Annotated[str, StringConstraints(max_length=32)] | None = None
    external_ref: Annotated[str, StringConstraints(max_length=100)] | None = None

    _cf = field_validator("custom_fields")(classmethod(lambda cls, v: _check_custom_fields(v)))

    @model_validator(mode="after")
    def _window(self) -> WorkOrderCreate:
        if (self.window_start is None) != (self.window_end is None):
            raise ValueError("give both window_start and window_end, or neither")
        if self.window_start and self.window_end and self.window_start >= self.window_end:
            raise ValueError("window_start must be before window_end")
        return self


class WorkOrderUpdate(InModel):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    description: LongText | None = None
    priority: Priority | None = None
    asset_id: uuid.UUID | None = None
    window_start: AwareDatetime | None = None
    window_end: AwareDatetime | None = None
    duration_min: int | None = Field(None, ge=5, le=1440)
    required_tools: list[Tag] | None = Field(None, max_length=50)
    required_parts: list[PartLine] | None = Field(None, max_length=100)
    custom_fields: dict[str, Scalar] | None = None
    contact_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    contact_phone: Annotated[str, StringConstraints(max_length=32)] | None = None
    labor_cost: float | None = Field(None, ge=0, le=10_000_000, allow_inf_nan=False)
    parts_cost: float | None = Field(None, ge=0, le=10_000_000, allow_inf_nan=False)
    travel_cost: float | None = Field(None, ge=0, le=10_000_000, allow_inf_nan=False)

    _cf = field_validator("custom_fields")(classmethod(lambda cls, v: _check_custom_fields(v)))


# ---- action bodies ------------------------------------------------------------------------------

class ReasonBody(InModel):
    reason: Reason | None = None


class AssignBody(InModel):
    technician_id: uuid.UUID
    reason: Reason | None = None
    force: bool = Field(False, description="Assign even when the technician fails skill, certificate, "
                        "customer-block or leave checks (audited)")


class PositionBody(InModel):
    lat: Latitude
    lng: Longitude
    accuracy_m: float | None = Field(None, ge=0, le=100_000, allow_inf_nan=False)
    reason: Reason | None = None


class DepartBody(InModel):
    lat: Latitude | None = None
    lng: Longitude | None = None
    reason: Reason | None = None


class CompleteBody(InModel):
    summary: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
    checklist: dict[str, Scalar | list[str]] = Field(default_factory=dict)
    parts_used: list[PartLine] = Field(default_factory=list, max_length=200)
    photo_attachment_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    signature_attachment_id: uuid.UUID | None = None
    signature_png_base64: Annotated[str, StringConstraints(max_length=700_000)] | None = Field(
        None, description="The customer's signature as a PNG (base64 or a data: URL), instead of an attachment id"
    )


class Rating(InModel):
    attitude: int = Field(ge=1, le=5)
    quality: int = Field(ge=1, le=5)
    speed: int = Field(ge=1, le=5)
    comment: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ConfirmBody(InModel):
    rating: Rating | None = None
    reason: Reason | None = None


class HoldBody(InModel):
    reason_code: Literal["waiting_customer", "waiting_parts", "other"]
    reason: Reason


class TransferApproveBody(InModel):
    technician_id: uuid.UUID | None = Field(
        None, description="Assign straight to this technician; else back to the queue")
    reason: Reason | None = None


# ---- reads --------------------------------------------------------------------------------------

class MapPoint(OutModel):
    """A compact work order for maps: every job of a filter, not one page."""

    id: uuid.UUID
    number: str
    status: str
    priority: str
    title: str
    lat: float | None
    lng: float | None
    technician_id: uuid.UUID | None
    window_start: datetime | None
    window_end: datetime | None
    planned_start: datetime | None


class MapPoints(OutModel):
    items: list[MapPoint]
    total: int
    truncated: bool


class AuditRead(OutModel):
    seq: int
    at: datetime
    actor_user_id: uuid.UUID | None
    actor_name: str
    actor_role: str
    action: str
    from_status: str | None
    to_status: str | None
    changes: dict[str, Any]
    reason: str | None
    data: dict[str, Any]


class AttachmentRead(OutModel):
    id: uuid.UUID
    work_order_id: uuid.UUID
    kind: str
    label: str | None
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    uploaded_by: uuid.UUID | None
    url: str = ""


class WorkOrderRead(OutModel):
    id: uuid.UUID
    org_id: uuid.UUID
    number: str
    channel: str
    status: str
    status_label: dict[str, str] = Field(default_factory=dict)
    priority: str
    title: str
    description: str
    external_ref: str | None
    customer_id: uuid.UUID
    customer_name: str
    site_id: uuid.UUID
    site_address: str
    site_lat: float | None
    site_lng: float | None
    asset_id: uuid.UUID | None
    service_type_id: uuid.UUID
    territory_id: uuid.UUID | None
    technician_id: uuid.UUID | None
    technician_name: str | None = None
    contact_name: str | None
    contact_phone: str | None
    window_start: datetime | None
    window_end: datetime | None
    due_at: datetime | None
    duration_min: int
    planned_start: datetime | None = None
    planned_end: datetime | None = None
    route_seq: int | None = None
    required_tools: list[Any]
    required_parts: list[Any]
    custom_fields: dict[str, Any]
    checklist_results: dict[str, Any]
    parts_used: list[Any]
    work_summary: str | None
    signature_attachment_id: uuid.UUID | None
    assigned_at: datetime | None
    accepted_at: datetime | None
    departed_at: datetime | None
    checked_in_at: datetime | None
    check_in_lat: float | None
    check_in_lng: float | None
    check_in_distance_m: float | None
    site_entered_at: datetime | None = None
    site_entry_distance_m: float | None = None
    started_at: datetime | None
    work_completed_at: datetime | None
    confirmed_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    hold_reason_code: str | None
    hold_reason: str | None
    total_hold_seconds: int
    transfer_requested_at: datetime | None
    transfer_reason: str | None
    rework_count: int
    reopen_count: int
    rating_attitude: int | None
    rating_quality: int | None
    rating_speed: int | None
    rating_comment: str | None
    currency: str
    labor_cost: float | None
    parts_cost: float | None
    travel_cost: float | None
    total_cost: float | None = None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    version: int
    allowed_actions: list[str] = Field(default_factory=list)


ShortReason = ShortText


class ExceptionCreate(InModel):
    kind: Literal["material_shortage", "equipment_failure", "customer_absent", "other"]
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ExceptionResolve(InModel):
    resolution: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ExceptionRead(OutModel):
    id: uuid.UUID
    work_order_id: uuid.UUID
    work_order_number: str = ""
    kind: str
    note: str | None
    reported_by: uuid.UUID | None
    reported_at: datetime
    resolved_at: datetime | None
    resolved_by: uuid.UUID | None
    resolution: str | None
