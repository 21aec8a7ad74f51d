"""Technicians and what dispatch needs to know about them: skills, certificates, shifts, leave."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Time,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldops.core.db import Base, IdMixin, OrgMixin, TimestampMixin
from fieldops.technicians.rules import certificate_valid_on


class Technician(IdMixin, OrgMixin, TimestampMixin, Base):
    __tablename__ = "technicians"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    # The technician's login (role "technician"); None for people who do not use the app.
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True, unique=True
    )
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    level: Mapped[int] = mapped_column(Integer, default=1)
    home_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    home_lng: Mapped[float | None] = mapped_column(Float, nullable=True)
    home_address: Mapped[str | None] = mapped_column(String(500), nullable=True)
    max_travel_km: Mapped[float] = mapped_column(Float, default=30)
    max_jobs_per_day: Mapped[int] = mapped_column(Integer, default=8)
    max_work_minutes: Mapped[int] = mapped_column(Integer, default=480)
    duty_status: Mapped[str] = mapped_column(String(20), default="off_duty", index=True)
    hourly_cost: Mapped[Decimal | None] = mapped_column(Numeric(10, 2), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Last known position, written by the tracking module.
    last_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_lng: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    skills: Mapped[list[TechnicianSkill]] = relationship(
        cascade="all, delete-orphan", order_by="TechnicianSkill.skill_code", lazy="selectin")
    territories: Mapped[list[TechnicianTerritory]] = relationship(
        cascade="all, delete-orphan", lazy="selectin")
    certificates: Mapped[list[Certificate]] = relationship(
        cascade="all, delete-orphan", order_by="Certificate.type_code", lazy="select")
    shifts: Mapped[list[Shift]] = relationship(
        cascade="all, delete-orphan", order_by="[Shift.weekday, Shift.start_time]", lazy="select")
    leaves: Mapped[list[Leave]] = relationship(
        cascade="all, delete-orphan", order_by="Leave.start_at", lazy="select")

    __mapper_args__ = {"version_id_col": version}

    @property
    def territory_ids(self) -> list[uuid.UUID]:
        return [t.territory_id for t in self.territories]


class TechnicianTerritory(Base):
    """The territories (片区) a technician serves."""

    __tablename__ = "technician_territories"

    technician_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("technicians.id", ondelete="CASCADE"), primary_key=True)
    territory_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("territories.id", ondelete="CASCADE"), primary_key=True, index=True)


class TechnicianSkill(IdMixin, Base):
    """A skill (by its code in the organisation's catalogue) at a level 1..5."""

    __tablename__ = "technician_skills"
    __table_args__ = (UniqueConstraint("technician_id", "skill_code"),
                      Index("ix_technician_skills_code", "skill_code"))

    technician_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("technicians.id", ondelete="CASCADE"), index=True)
    skill_code: Mapped[str] = mapped_column(String(64))
    level: Mapped[int] = mapped_column(Integer, default=1)


class Certificate(IdMixin, TimestampMixin, Base):
    """A certificate the technician holds (by certificate-type code), valid from issue to expiry."""

    __tablename__ = "technician_certificates"

    technician_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("technicians.id", ondelete="CASCADE"), index=True)
    type_code: Mapped[str] = mapped_column(String(64))
    number: Mapped[str | None] = mapped_column(String(100), nullable=True)
    issued_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)

    def valid_on(self, on: date) -> bool:
        """Valid from the issue date through the expiry date, both inclusive."""
        return certificate_valid_on(self.issued_on, self.expires_on, on)


class Shift(IdMixin, Base):
    """One slot of the weekly pattern, in the organisation's local time (no overnight shifts)."""

    __tablename__ = "technician_shifts"

    technician_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("technicians.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    break_start: Mapped[time | None] = mapped_column(Time, nullable=True)
    break_end: Mapped[time | None] = mapped_column(Time, nullable=True)


class Leave(IdMixin, TimestampMixin, Base):
    """Time off, [start_at, end_at) in UTC."""

    __tablename__ = "technician_leave"

    technician_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("technicians.id", ondelete="CASCADE"), index=True)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(20), default="vacation")
    reason: Mapped[str | None] = mapped_column(String(1000), nullable=True)
