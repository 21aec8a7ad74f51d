"""Every query of the organisations module, scoped to the caller's organisation."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from fieldops.core.auth import Principal
from fieldops.core.errors import NotFound
from fieldops.organizations.models import Organization, Territory


def get_org(db: Session, org_id: uuid.UUID) -> Organization:
    org = db.get(Organization, org_id)
    if org is None:
        raise NotFound("organization")
    return org


def territory_in_org(db: Session, org_id: uuid.UUID, territory_id: uuid.UUID, active_only: bool = False) -> Territory:
    query = select(Territory).where(Territory.org_id == org_id, Territory.id == territory_id)
    if active_only:
        query = query.where(Territory.active.is_(True))
    territory = db.scalars(query).first()
    if territory is None:
        raise NotFound("territory")
    return territory


def active_territories(db: Session, org_id: uuid.UUID) -> list[Territory]:
    return list(
        db.scalars(
            select(Territory).where(Territory.org_id == org_id, Territory.active.is_(True)).order_by(Territory.code)
        )
    )


def like_pattern(text: str) -> str:
    """A case-insensitive LIKE pattern matching `text` literally (escape character: backslash)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class TerritoryRepository:
    """Territories of the principal's organisation (role checks are the service's job: reading
    territories is a role question, not a per-record one)."""

    def __init__(self, db: Session, principal: Principal) -> None:
        self.db, self.p = db, principal

    def _base(self) -> Select[Territory]:
        return select(Territory).where(Territory.org_id == self.p.org_id)

    def get(self, territory_id: uuid.UUID) -> Territory:
        territory = self.db.scalars(self._base().where(Territory.id == territory_id)).first()
        if territory is None:
            raise NotFound("territory")
        return territory

    def code_taken(self, code: str, exclude_id: uuid.UUID | None = None) -> bool:
        query = self._base().where(func.lower(Territory.code) == code.lower())
        if exclude_id is not None:
            query = query.where(Territory.id != exclude_id)
        return self.db.scalars(query).first() is not None

    def list(self, *, q: str | None, include_inactive: bool, limit: int, offset: int) -> tuple[list[Territory], int]:
        query = self._base()
        if not include_inactive:
            query = query.where(Territory.active.is_(True))
        if q:
            like = like_pattern(q)
            query = query.where(
                or_(
                    func.lower(Territory.code).like(like, escape="\\"),
                    func.lower(Territory.name).like(like, escape="\\"),
                )
            )
        total = self.db.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.db.scalars(query.order_by(Territory.code, Territory.id).limit(limit).offset(offset)).all()
        return list(rows), total


def org_by_slug_or_only(db: Session, slug: str | None) -> Organization | None:
    if slug:
        org: Organization | None = db.scalars(select(Organization).where(Organization.slug == slug)).first()
        return org
    orgs = list(db.scalars(select(Organization).limit(2)))
    return orgs[0] if len(orgs) == 1 else None
