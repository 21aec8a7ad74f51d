"""Every query of the technicians module, with the organisation and role scoping in one place.

Admins, supervisors, dispatchers, agents and finance see every technician of their organisation; a
technician sees only their own record; customers may not look at technicians at all (403).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, false, func, or_, select, update
from sqlalchemy.orm import Session, lazyload

from fieldops.core.auth import Principal, Role
from fieldops.core.errors import Forbidden, NotFound
from fieldops.organizations.models import Organization, Territory
from fieldops.technicians.models import Certificate, Leave, Technician, TechnicianSkill, TechnicianTerritory

SEE_ALL = frozenset({Role.admin, Role.supervisor, Role.dispatcher, Role.agent, Role.finance, Role.system})


def like_pattern(q: str) -> str:
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class TechnicianRepository:
    """Technicians the principal may see; anything else is NotFound."""

    def __init__(self, db: Session, principal: Principal) -> None:
        self.db, self.p = db, principal

    def _base(self) -> Select[Technician]:
        query = select(Technician).where(Technician.org_id == self.p.org_id)
        if self.p.role in SEE_ALL:
            return query
        if self.p.role == Role.technician:
            if self.p.technician_id is None:
                return query.where(false())
            return query.where(Technician.id == self.p.technician_id)
        raise Forbidden(role=self.p.role.value, action="view technicians")

    def find(self, technician_id: uuid.UUID) -> Technician | None:
        if self.p.role not in SEE_ALL and self.p.role != Role.technician:
            # a barred role learns only that its own organisation's record exists (403), else 404
            exists = self.db.scalar(select(Technician.id).where(Technician.id == technician_id,
                                                                 Technician.org_id == self.p.org_id))
            if exists is None:
                return None
        return self.db.scalars(self._base().where(Technician.id == technician_id)).first()

    def get(self, technician_id: uuid.UUID) -> Technician:
        tech = self.find(technician_id)
        if tech is None:
            raise NotFound("technician")
        return tech

    def get_own(self) -> Technician:
        """The principal's own technician record (customers: 403; other non-technicians: 404)."""
        if self.p.technician_id is None:
            self._base()
            raise NotFound("technician")
        return self.get(self.p.technician_id)

    def search(self, *, q: str | None, territory_id: uuid.UUID | None, skill: str | None,
             duty_status: str | None, active: bool | None, limit: int,
             offset: int) -> tuple[list[Technician], int]:
        query = self._base()
        if q:
            pattern = like_pattern(q)
            query = query.where(or_(func.lower(Technician.name).like(pattern, escape="\\"),
                                    func.lower(Technician.code).like(pattern, escape="\\"),
                                    Technician.phone.like(pattern, escape="\\")))
        if territory_id is not None:
            query = query.where(Technician.id.in_(select(TechnicianTerritory.technician_id).where(
                TechnicianTerritory.territory_id == territory_id)))
        if skill:
            query = query.where(Technician.id.in_(select(TechnicianSkill.technician_id).where(
                TechnicianSkill.skill_code == skill)))
        if duty_status:
            query = query.where(Technician.duty_status == duty_status)
        if active is not None:
            query = query.where(Technician.active.is_(active))
        total = self.db.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.db.scalars(query.order_by(Technician.code, Technician.id).limit(limit).offset(offset))
        return list(rows), total

    # ---- lookups inside the organisation, not limited by role (uniqueness, references) ----

    def code_taken(self, code: str, own_id: uuid.UUID | None) -> bool:
        other = self.db.scalar(select(Technician.id).where(Technician.org_id == self.p.org_id,
                                                           Technician.code == code))
        return other is not None and other != own_id

    def existing_territory_ids(self, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        wanted = set(ids)
        if not wanted:
            return set()
        return set(self.db.scalars(select(Territory.id).where(Territory.org_id == self.p.org_id,
                                                              Territory.id.in_(wanted))))

    def org_timezone(self) -> str:
        return org_timezone(self.db, self.p.org_id)

    def certificate(self, tech: Technician, certificate_id: uuid.UUID) -> Certificate:
        cert = self.db.scalars(select(Certificate).where(Certificate.id == certificate_id,
                                                         Certificate.technician_id == tech.id)).first()
        if cert is None:
            raise NotFound("certificate")
        return cert

    def leave(self, tech: Technician, leave_id: uuid.UUID) -> Leave:
        found = self.db.scalars(select(Leave).where(Leave.id == leave_id,
                                                    Leave.technician_id == tech.id)).first()
        if found is None:
            raise NotFound("leave")
        return found

    def upcoming_leave(self, tech: Technician, now: datetime, limit: int = 50) -> list[Leave]:
        return list(self.db.scalars(select(Leave).where(Leave.technician_id == tech.id, Leave.end_at > now)
                                    .order_by(Leave.start_at).limit(limit)))

    def overlapping_leave(self, tech: Technician, start: datetime, end: datetime) -> Leave | None:
        return self.db.scalars(select(Leave).where(Leave.technician_id == tech.id, Leave.start_at < end,
                                                   Leave.end_at > start)).first()


def org_timezone(db: Session, org_id: uuid.UUID) -> str:
    return db.scalar(select(Organization.timezone).where(Organization.id == org_id)) or "UTC"


# ---- bulk reads for the dispatch snapshot (organisation-wide, no role) ---------------------------

def technicians_of_org(db: Session, org_id: uuid.UUID, include_inactive: bool) -> list[Technician]:
    # Skills and territories come from children_of_org; skip the eager loads configured on the model.
    query = select(Technician).where(Technician.org_id == org_id).options(
        lazyload(Technician.skills), lazyload(Technician.territories))
    if not include_inactive:
        query = query.where(Technician.active.is_(True))
    return list(db.scalars(query.order_by(Technician.code, Technician.id)))


def children_of_org(db: Session, org_id: uuid.UUID, model: Any, since: datetime | None = None) -> list[Any]:
    """Rows of a per-technician table (skills, certificates, shifts, leave, territories) in the org."""
    query = select(model).join(Technician, Technician.id == model.technician_id).where(
        Technician.org_id == org_id)
    if model is Leave and since is not None:
        query = query.where(Leave.end_at > since)
    return list(db.scalars(query))



def set_last_position(db: Session, org_id: uuid.UUID, technician_id: uuid.UUID, lat: float, lng: float,
                      at: datetime) -> None:
    db.execute(update(Technician).where(Technician.id == technician_id, Technician.org_id == org_id,
                                        or_(Technician.last_seen_at.is_(None), Technician.last_seen_at < at))
               .values(last_lat=lat, last_lng=lng, last_seen_at=at).execution_options(synchronize_session=False))


def names_of(db: Session, org_id: uuid.UUID, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = db.execute(select(Technician.id, Technician.name).where(Technician.org_id == org_id,
                                                                   Technician.id.in_(ids)))
    return {r[0]: r[1] for r in rows}
