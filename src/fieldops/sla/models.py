"""SLA calendars, policies, the per-order clocks and the escalations they fired."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from fieldops.core.db import Base, IdMixin, OrgMixin, TimestampMixin


class SlaCalendar(IdMixin, OrgMixin, TimestampMixin, Base):
    """Working hours per weekday, holidays of a country/subdivision, custom days, an optional fixed zone."""

    __tablename__ = "sla_calendars"

    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)  # None: the site's zone
    always_open: Mapped[bool] = mapped_column(Boolean, default=False)
    hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"mon": [["08:00","18:00"]], ...}
    holiday_country: Mapped[str | None] = mapped_column(String(8), nullable=True)
    holiday_subdiv: Mapped[str | None] = mapped_column(String(16), nullable=True)
    makeup_hours: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    custom_days: Mapped[list[Any]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class SlaPolicy(IdMixin, OrgMixin, TimestampMixin, Base):
    """Which orders it covers (service types, priorities, customer tiers), targets, pause rules, the ladder."""

    __tablename__ = "sla_policies"

    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    rank: Mapped[int] = mapped_column(Integer, default=0)
    calendar_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("sla_calendars.id"), index=True)
    service_type_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    priorities: Mapped[list[Any]] = mapped_column(JSON, default=list)
    customer_tiers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    targets: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pause_on_hold: Mapped[bool] = mapped_column(Boolean, default=True)
    pause_reason_codes: Mapped[list[Any]] = mapped_column(JSON, default=list)  # empty: every hold reason
    ladder: Mapped[list[Any]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class SlaClock(IdMixin, OrgMixin, Base):
    """One target of one work order: running, paused, met, breached or stopped.

    `cycle` counts reopenings: a reopened order gets fresh clocks, the old ones stay as history. A priority change
    that selects another policy marks the clocks `replaced` and starts new ones from the original start.
    """

    __tablename__ = "sla_clocks"
    __table_args__ = (
        Index("ix_sla_clocks_due", "next_fire_at"),
        Index("ix_sla_clocks_order", "work_order_id", "target", "cycle"),
        Index("ix_sla_clocks_org_status", "org_id", "status"),
    )

    work_order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("work_orders.id", ondelete="CASCADE"))
    policy_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("sla_policies.id", ondelete="SET NULL"),
                                                        nullable=True)
    target: Mapped[str] = mapped_column(String(16))
    cycle: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="running")
    breached: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    started_at: Mapped[datetime]
    deadline_at: Mapped[datetime]
    target_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # business time from start to deadline
    met_at: Mapped[datetime | None] = mapped_column(nullable=True)
    on_time: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(nullable=True)
    stop_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)  # cancelled | replaced
    replaced: Mapped[bool] = mapped_column(Boolean, default=False)  # superseded after a priority change
    paused_at: Mapped[datetime | None] = mapped_column(nullable=True)
    pause_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    paused_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # wall-clock total
    paused_business_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    next_fire_at: Mapped[datetime | None] = mapped_column(nullable=True)
    next_level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SlaEscalation(IdMixin, OrgMixin, Base):
    """A ladder level that fired: unique per (clock, level), written with its notifications and event."""

    __tablename__ = "sla_escalations"
    __table_args__ = (UniqueConstraint("clock_id", "level"),)

    clock_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("sla_clocks.id", ondelete="CASCADE"), index=True)
    work_order_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    target: Mapped[str] = mapped_column(String(16))
    level: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str | None] = mapped_column(String(20), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # warning | breach | escalation
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime]
    deadline_at: Mapped[datetime]
    action: Mapped[str | None] = mapped_column(String(20), nullable=True)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notified: Mapped[int] = mapped_column(Integer, default=0)
