"""Arrange tenants and users directly in the database (fast hashing, no HTTP)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from fieldops.core.security import hash_password
from fieldops.organizations.models import Organization
from fieldops.users.models import User
from tests.conftest import PASSWORD

_HASH: dict[str, str] = {}


def password_hash() -> str:
    if "h" not in _HASH:
        _HASH["h"] = hash_password(PASSWORD, "fast")
    return _HASH["h"]


def make_org(db: Session, name: str = "Acme", tz: str = "America/New_York") -> Organization:
    org = Organization(name=name, slug=f"{name.lower()}-{uuid.uuid4().hex[:6]}", timezone=tz, settings={})
    db.add(org)
    db.flush()
    return org


def make_user(db: Session, org: Organization, role: str, email: str | None = None, phone: str | None = None,
              **extra: object) -> User:
    user = User(org_id=org.id, email=email or f"{role}-{uuid.uuid4().hex[:8]}@{org.slug}.test", phone=phone,
                name=f"{role.title()} {org.name}", role=role, password_hash=password_hash(), locale="en",
                **extra)
    db.add(user)
    db.flush()
    return user
