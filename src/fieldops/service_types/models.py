"""Skill and certificate-type catalogues, and the service-type tree of an organisation."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from fieldops.core.db import Base, IdMixin, OrgMixin, TimestampMixin


class Skill(IdMixin, OrgMixin, TimestampMixin, Base):
    """A skill technicians can have (at a level 1..5) and service types can require, by code."""

    __tablename__ = "skills"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    # Referenced by code from service types and technicians, so it never changes once created.
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str | None] = mapped_column(String(200), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class CertificateType(IdMixin, OrgMixin, TimestampMixin, Base):
    """A kind of certificate (electrician licence, refrigerant handling, working at height, ...)."""

    __tablename__ = "certificate_types"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str | None] = mapped_column(String(200), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class ServiceType(IdMixin, OrgMixin, TimestampMixin, Base):
    """A kind of job customers book. A child with empty requirements inherits its parent's."""

    __tablename__ = "service_types"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("service_types.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str | None] = mapped_column(String(200), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    default_duration_min: Mapped[int] = mapped_column(Integer, default=60)
    default_priority: Mapped[str] = mapped_column(String(2), default="P2")
    # [{"skill": code, "min_level": 1..5}]
    required_skills: Mapped[list[Any]] = mapped_column(default=list)
    # [certificate-type code]
    required_certificates: Mapped[list[Any]] = mapped_column(default=list)
    # [{"key", "label", "label_zh", "type", "required", "options"}]
    checklist_template: Mapped[list[Any]] = mapped_column(default=list)
    # [{"key", "label", "label_zh"}]
    required_photos: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
