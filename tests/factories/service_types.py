"""Arrange skills, certificate types and service types directly in the database."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from fieldops.organizations.models import Organization
from fieldops.service_types.models import CertificateType, ServiceType, Skill


def make_skill(db: Session, org: Organization, code: str | None = None, name: str | None = None,
               **extra: Any) -> Skill:
    code = code or f"sk-{uuid.uuid4().hex[:6]}"
    skill = Skill(org_id=org.id, code=code, name=name or code.title(), **extra)
    db.add(skill)
    db.flush()
    return skill


def make_certificate_type(db: Session, org: Organization, code: str | None = None, name: str | None = None,
                          **extra: Any) -> CertificateType:
    code = code or f"ct-{uuid.uuid4().hex[:6]}"
    cert_type = CertificateType(org_id=org.id, code=code, name=name or code.upper(), **extra)
    db.add(cert_type)
    db.flush()
    return cert_type


def make_service_type(db: Session, org: Organization, code: str | None = None,
                      parent: ServiceType | None = None, **extra: Any) -> ServiceType:
    code = code or f"st-{uuid.uuid4().hex[:6]}"
    fields: dict[str, Any] = {"name": code.title(), "default_duration_min": 60, "default_priority": "P2",
                              "required_skills": [], "required_certificates": [], "checklist_template": [],
                              "required_photos": []}
    fields.update(extra)
    service_type = ServiceType(org_id=org.id, code=code, parent_id=parent.id if parent else None, **fields)
    db.add(service_type)
    db.flush()
    return service_type
