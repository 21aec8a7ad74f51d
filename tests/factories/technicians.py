"""Arrange technicians (and their logins, skills, certificates, shifts, leave) directly in the database."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

from sqlalchemy.orm import Session

from fieldops.organizations.models import Organization
from fieldops.technicians.models import (
    Certificate,
    Leave,
    Shift,
    Technician,
    TechnicianSkill,
    TechnicianTerritory,
)
from fieldops.users.models import User
from tests.factories.base import make_user

WEEKDAYS_9_TO_5 = [(wd, time(9), time(17), time(12), time(13)) for wd in range(5)]


def make_technician(db: Session, org: Organization, code: str | None = None, *,
                    skills: dict[str, int] | None = None,
                    certificates: list[tuple[str, date | None, date | None]] | None = None,
                    shifts: Sequence[tuple[int, time, time, time | None, time | None]] | None = None,
                    territory_ids: list[uuid.UUID] | None = None, **extra: Any) -> Technician:
    """A technician with skills {code: level}, certificates [(type, issued, expires)], shifts, territories."""
    code = code or f"T-{uuid.uuid4().hex[:6]}"
    fields: dict[str, Any] = {"name": f"Tech {code}", "level": 3, "duty_status": "on_duty"}
    fields.update(extra)
    tech = Technician(org_id=org.id, code=code, **fields)
    db.add(tech)
    db.flush()
    for skill, level in (skills or {}).items():
        db.add(TechnicianSkill(technician_id=tech.id, skill_code=skill, level=level))
    for type_code, issued, expires in certificates or []:
        db.add(Certificate(technician_id=tech.id, type_code=type_code, number=f"N-{type_code}",
                           issued_on=issued, expires_on=expires))
    for wd, start, end, b_start, b_end in shifts or []:
        db.add(Shift(technician_id=tech.id, weekday=wd, start_time=start, end_time=end, break_start=b_start,
                     break_end=b_end))
    for territory_id in territory_ids or []:
        db.add(TechnicianTerritory(technician_id=tech.id, territory_id=territory_id))
    db.flush()
    db.refresh(tech)
    return tech


def make_technician_login(db: Session, org: Organization, tech: Technician, email: str | None = None) -> User:
    """A user of role technician linked both ways to `tech`."""
    user = make_user(db, org, "technician", email=email, technician_id=tech.id)
    tech.user_id = user.id
    db.flush()
    return user


def make_leave(db: Session, tech: Technician, start_at: datetime, end_at: datetime, kind: str = "vacation",
               reason: str | None = None) -> Leave:
    leave = Leave(technician_id=tech.id, start_at=start_at, end_at=end_at, kind=kind, reason=reason)
    db.add(leave)
    db.flush()
    return leave
