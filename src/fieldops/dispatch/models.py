"""Dispatch policy, decisions with their explanations, the grab pool, day plans and learned performance."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from fieldops.core.db import Base, IdMixin, OrgMixin, TimestampMixin


class DispatchPolicy(IdMixin, OrgMixin, TimestampMixin, Base):
    """The organisation's policy (service_type_id null) or an override for one service type."""

    __tablename__ = "dispatch_policies"
    __table_args__ = (UniqueConstraint("org_id", "service_type_id"),)

    service_type_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    mode: Mapped[str] = mapped_column(String(20), default="best_score")
    weights: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    urgent_first: Mapped[bool] = mapped_column(Boolean, default=True)
    vip_first: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_evict: Mapped[bool] = mapped_column(Boolean, default=True)
    auto_dispatch: Mapped[bool] = mapped_column(Boolean, default=True)
    use_pool: Mapped[bool] = mapped_column(Boolean, default=False)  # offer to the grab pool before assigning
    pool_when_unassignable: Mapped[bool] = mapped_column(Boolean, default=True)
    pool_timeout_min: Mapped[int] = mapped_column(Integer, default=15)
    pool_fallback: Mapped[str] = mapped_column(String(20), default="auto")  # auto | escalate
    stability_gain_min: Mapped[int] = mapped_column(Integer, default=10)
    speed_kmh: Mapped[float] = mapped_column(Float, default=30.0)
    detour_factor: Mapped[float] = mapped_column(Float, default=1.3)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class DispatchDecision(IdMixin, OrgMixin, Base):
    """One decision (auto, manual, grab, plan, evict) with the engine's input summary and explanation."""

    __tablename__ = "dispatch_decisions"
    __table_args__ = (Index("ix_dispatch_decisions_wo", "work_order_id", "at"),)

    work_order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("work_orders.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    mode: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))  # assigned | pool | queue | evicted | override
    technician_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    engine_choice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    engine_version: Mapped[str] = mapped_column(String(20))
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    elapsed_ms: Mapped[float | None] = mapped_column(Float, nullable=True)


class PoolOffer(IdMixin, OrgMixin, Base):
    """A job offered to eligible technicians (抢单); the first valid grab wins."""

    __tablename__ = "pool_offers"
    __table_args__ = (Index("ix_pool_offers_open", "org_id", "status"),)

    work_order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("work_orders.id", ondelete="CASCADE"),
                                                     index=True)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | grabbed | expired | withdrawn
    eligible_technician_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    offered_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    grabbed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    grabbed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class DispatchPlan(IdMixin, OrgMixin, Base):
    __tablename__ = "dispatch_plans"

    day: Mapped[date] = mapped_column(Date)
    territory_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued | running | done | failed | applied
    progress: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    applied_at: Mapped[datetime | None] = mapped_column(nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class TechnicianPerformance(Base):
    """Learned per technician and service type from closed work orders; feeds the quality and speed terms."""

    __tablename__ = "technician_performance"

    technician_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("technicians.id", ondelete="CASCADE"),
                                                     primary_key=True)
    service_type_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    jobs: Mapped[int] = mapped_column(Integer, default=0)
    duration_ratio: Mapped[float] = mapped_column(Float, default=1.0)  # actual / planned, moving average
    first_time_fix: Mapped[float] = mapped_column(Float, default=1.0)
    rework_rate: Mapped[float] = mapped_column(Float, default=0.0)
    rating: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_at: Mapped[datetime]
