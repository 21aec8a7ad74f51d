"""Work orders, their audit trail, attachments and per-day numbering."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from fieldops.core.audit import append_only
from fieldops.core.db import Base, IdMixin, OrgMixin, TimestampMixin


class WorkOrder(IdMixin, OrgMixin, TimestampMixin, Base):
    __tablename__ = "work_orders"
    __table_args__ = (
        UniqueConstraint("org_id", "number"),
        Index("ix_work_orders_org_status", "org_id", "status"),
        Index("ix_work_orders_org_created", "org_id", "created_at"),
        Index("ix_work_orders_org_tech", "org_id", "technician_id", "status"),
        Index("ix_work_orders_org_customer", "org_id", "customer_id"),
    )

    number: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(24), default="new")
    priority: Mapped[str] = mapped_column(String(2), default="P2")
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    external_ref: Mapped[str | None] = mapped_column(String(100), nullable=True)

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id"), index=True)
    site_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("sites.id"), index=True)
    asset_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("assets.id"), nullable=True, index=True)
    service_type_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("service_types.id"), index=True)
    territory_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    technician_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("technicians.id"), nullable=True
    )
    # Snapshots taken at creation: what the order said then, and cheap search/list columns.
    customer_name: Mapped[str] = mapped_column(String(200), default="")
    site_address: Mapped[str] = mapped_column(String(500), default="")
    site_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    site_lng: Mapped[float | None] = mapped_column(Float, nullable=True)
    contact_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    contact_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)

    window_start: Mapped[datetime | None] = mapped_column(nullable=True)
    window_end: Mapped[datetime | None] = mapped_column(nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    duration_min: Mapped[int] = mapped_column(Integer, default=60)
    # The dispatch plan's slot for this order: planned service start/end and position in the route.
    planned_start: Mapped[datetime | None] = mapped_column(nullable=True)
    planned_end: Mapped[datetime | None] = mapped_column(nullable=True)
    route_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)

    required_tools: Mapped[list[Any]] = mapped_column(JSON, default=list)
    required_parts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    checklist_results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    parts_used: Mapped[list[Any]] = mapped_column(JSON, default=list)
    work_summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    signature_attachment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)

    assigned_at: Mapped[datetime | None] = mapped_column(nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    departed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    checked_in_at: Mapped[datetime | None] = mapped_column(nullable=True)
    check_in_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    check_in_lng: Mapped[float | None] = mapped_column(Float, nullable=True)
    check_in_accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    check_in_distance_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    # First entry into the job site's geofence, seen by tracking (the SLA counts it as the arrival).
    site_entered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    site_entry_distance_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    site_entry_accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    work_completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    hold_reason_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    hold_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    status_before_hold: Mapped[str | None] = mapped_column(String(24), nullable=True)
    held_at: Mapped[datetime | None] = mapped_column(nullable=True)
    total_hold_seconds: Mapped[int] = mapped_column(Integer, default=0)

    transfer_requested_at: Mapped[datetime | None] = mapped_column(nullable=True)
    transfer_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    rejected_technician_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)

    rating_attitude: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rating_quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rating_speed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rating_comment: Mapped[str | None] = mapped_column(Text, nullable=True)

    # Cost fields (finance reads them; dispatchers and admins set them).
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    labor_cost: Mapped[float | None] = mapped_column(Numeric(12, 2, asdecimal=False), nullable=True)
    parts_cost: Mapped[float | None] = mapped_column(Numeric(12, 2, asdecimal=False), nullable=True)
    travel_cost: Mapped[float | None] = mapped_column(Numeric(12, 2, asdecimal=False), nullable=True)

    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


@append_only(purgeable=True)  # the trail of an order goes only with a whole removed organisation
class WorkOrderAudit(IdMixin, OrgMixin, Base):
    """One row per change to a work order, written in the same transaction as the change."""

    __tablename__ = "work_order_audit"
    __table_args__ = (UniqueConstraint("work_order_id", "seq"),)

    work_order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("work_orders.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    actor_role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Attachment(IdMixin, OrgMixin, Base):
    __tablename__ = "attachments"

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # photo | video | file | signature
    label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300))
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    created_at: Mapped[datetime]


class WorkOrderCounter(Base):
    """Per organisation and local day: the last number handed out (WO-YYYYMMDD-NNNN)."""

    __tablename__ = "work_order_counters"

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class ExceptionReport(IdMixin, OrgMixin, Base):
    """A technician's one-tap report from the field (一键上报): shortage, equipment failure, customer absent."""

    __tablename__ = "work_order_exceptions"
    __table_args__ = (Index("ix_work_order_exceptions_open", "org_id", "resolved_at"),)

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    reported_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    reported_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
