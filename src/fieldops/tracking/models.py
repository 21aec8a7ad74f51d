"""Tracking tables: accepted location points, each device's rate bucket, the last known position per technician,
geofences and their enter/leave evidence, per-day distance, alerts raised once, and the data-access audit."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from fieldops.core.audit import append_only
from fieldops.core.db import Base, IdMixin, OrgMixin, TimestampMixin


class LocationPoint(IdMixin, OrgMixin, Base):
    """One accepted fix from a technician's device (rejected and off-shift points are never stored)."""

    __tablename__ = "location_points"
    __table_args__ = (
        UniqueConstraint("technician_id", "device_id", "recorded_at"),
        UniqueConstraint("technician_id", "device_id", "client_id"),
        Index("ix_location_points_tech_time", "technician_id", "recorded_at"),
        Index("ix_location_points_org_time", "org_id", "recorded_at"),
    )

    technician_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("technicians.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(100))
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recorded_at: Mapped[datetime]
    received_at: Mapped[datetime]
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    speed_mps: Mapped[float | None] = mapped_column(Float, nullable=True)
    heading: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Reason codes of accepted-but-flagged points (e.g. low_accuracy), comma-separated; "" when clean.
    flags: Mapped[str] = mapped_column(String(100), default="")


class TrackingDevice(IdMixin, OrgMixin, Base):
    """A technician's device: its token bucket (requests per device) and when it last reported."""

    __tablename__ = "tracking_devices"
    __table_args__ = (UniqueConstraint("technician_id", "device_id"),)

    technician_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("technicians.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(100))
    tokens: Mapped[float] = mapped_column(Float)
    tokens_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class TechnicianPosition(OrgMixin, Base):
    """The last accepted fix of a technician, the fences they are inside, and when a live event last went out."""

    __tablename__ = "technician_positions"

    technician_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("technicians.id", ondelete="CASCADE"), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(100))
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    speed_mps: Mapped[float | None] = mapped_column(Float, nullable=True)
    heading: Mapped[float | None] = mapped_column(Float, nullable=True)
    recorded_at: Mapped[datetime]
    received_at: Mapped[datetime]
    last_event_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Keys of the fences the technician is inside: "g:<geofence id>", "t:<territory id>", "s:<work order id>".
    inside: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Geofence(IdMixin, OrgMixin, TimestampMixin, Base):
    """A circle (centre + radius in metres) or a GeoJSON Polygon/MultiPolygon (service area, 网格, 商圈)."""

    __tablename__ = "geofences"
    __table_args__ = (Index("ix_geofences_org_active", "org_id", "active"),)

    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32), default="service_area")
    kind: Mapped[str] = mapped_column(String(10))  # circle | polygon
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lng: Mapped[float | None] = mapped_column(Float, nullable=True)
    radius_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class FenceGeneration(Base):
    """Bumped on every geofence change, so each process knows when its cached spatial index is stale."""

    __tablename__ = "geofence_generations"

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"),
                                              primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)


class GeofenceEvent(IdMixin, OrgMixin, Base):
    """Evidence that a technician entered or left a fence, with the fix (and its accuracy) that showed it."""

    __tablename__ = "geofence_events"
    __table_args__ = (Index("ix_geofence_events_tech_time", "technician_id", "at"),
                      Index("ix_geofence_events_org_time", "org_id", "at"))

    technician_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("technicians.id", ondelete="CASCADE"))
    fence_type: Mapped[str] = mapped_column(String(12))  # geofence | territory | site
    fence_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # geofence, territory or work-order id
    fence_name: Mapped[str] = mapped_column(String(200), default="")
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    event: Mapped[str] = mapped_column(String(8))  # enter | leave
    at: Mapped[datetime]
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    distance_m: Mapped[float | None] = mapped_column(Float, nullable=True)


class DailyDistance(OrgMixin, Base):
    """Distance travelled per technician and local day (haversine over consecutive accepted points)."""

    __tablename__ = "tracking_daily_distance"

    technician_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("technicians.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    distance_m: Mapped[float] = mapped_column(Float, default=0.0)
    points: Mapped[int] = mapped_column(Integer, default=0)


class TrackingAlert(IdMixin, OrgMixin, Base):
    """A timeout or far-check-in alert; its key makes each one fire once."""

    __tablename__ = "tracking_alerts"
    __table_args__ = (UniqueConstraint("key"), Index("ix_tracking_alerts_org_time", "org_id", "raised_at"))

    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("work_orders.id", ondelete="CASCADE"), nullable=True, index=True)
    technician_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    raised_at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


@append_only(purgeable=True)
class LocationAudit(IdMixin, OrgMixin, Base):
    """Who exported or deleted a technician's location data, and when."""

    __tablename__ = "location_audit"

    technician_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    actor_role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(20))  # export | delete
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
