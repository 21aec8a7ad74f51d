"""Every query of the service-types module, scoped to one organisation.

Every signed-in role of an organisation may read its catalogue (customers book by service type), so
the scoping is the organisation alone; another organisation's records are simply not found.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from fieldops.core.auth import Principal
from fieldops.core.errors import NotFound
from fieldops.service_types.models import CertificateType, ServiceType, Skill

Catalogue = TypeVar("Catalogue", Skill, CertificateType)


def like_pattern(q: str) -> str:
    """A case-insensitive LIKE pattern for `q` with its own wildcards taken literally."""
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _count(db: Session, query: Select[Any]) -> int:
    return db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


class ServiceTypeRepository:
    """Skills, certificate types and service types of the principal's organisation."""

    def __init__(self, db: Session, principal: Principal) -> None:
        self.db, self.p = db, principal
        self.org_id = principal.org_id

    # ---- skills and certificate types (the same shape) ----

    def _catalogue_base(self, model: type[Catalogue]) -> Select[Catalogue]:
        return select(model).where(model.org_id == self.org_id)

    def get_catalogue(self, model: type[Catalogue], item_id: uuid.UUID, noun: str) -> Catalogue:
        item = self.db.scalars(self._catalogue_base(model).where(model.id == item_id)).first()
        if item is None:
            raise NotFound(noun)
        return item

    def catalogue_by_code(self, model: type[Catalogue], code: str) -> Catalogue | None:
        return self.db.scalars(self._catalogue_base(model).where(model.code == code)).first()

    def search_catalogue(self, model: type[Catalogue], *, q: str | None, active: bool | None, limit: int,
                       offset: int) -> tuple[list[Catalogue], int]:
        query = self._catalogue_base(model)
        if active is not None:
            query = query.where(model.active.is_(active))
        if q:
            pattern = like_pattern(q)
            query = query.where(or_(func.lower(model.code).like(pattern, escape="\\"),
                                    func.lower(model.name).like(pattern, escape="\\"),
                                    func.lower(model.name_zh).like(pattern, escape="\\")))
        total = _count(self.db, query)
        rows = self.db.scalars(query.order_by(model.code, model.id).limit(limit).offset(offset)).all()
        return list(rows), total

    def existing_codes(self, model: type[Catalogue], codes: Iterable[str]) -> set[str]:
        wanted = set(codes)
        if not wanted:
            return set()
        return set(self.db.scalars(select(model.code).where(model.org_id == self.org_id,
                                                            model.code.in_(wanted))))

    # ---- service types ----

    def _base(self) -> Select[ServiceType]:
        return select(ServiceType).where(ServiceType.org_id == self.org_id)

    def find(self, service_type_id: uuid.UUID) -> ServiceType | None:
        return self.db.scalars(self._base().where(ServiceType.id == service_type_id)).first()

    def get(self, service_type_id: uuid.UUID) -> ServiceType:
        found = self.find(service_type_id)
        if found is None:
            raise NotFound("service_type")
        return found

    def by_code(self, code: str) -> ServiceType | None:
        return self.db.scalars(self._base().where(ServiceType.code == code)).first()

    def search(self, *, parent_id: uuid.UUID | None, q: str | None, active: bool | None, limit: int,
             offset: int) -> tuple[list[ServiceType], int]:
        query = self._base()
        if parent_id is not None:
            query = query.where(ServiceType.parent_id == parent_id)
        if active is not None:
            query = query.where(ServiceType.active.is_(active))
        if q:
            query = query.where(self._matches(q))
        total = _count(self.db, query)
        rows = self.db.scalars(query.order_by(ServiceType.code, ServiceType.id).limit(limit).offset(offset))
        return list(rows), total

    @staticmethod
    def _matches(q: str) -> Any:
        pattern = like_pattern(q)
        return or_(func.lower(ServiceType.code).like(pattern, escape="\\"),
                   func.lower(ServiceType.name).like(pattern, escape="\\"),
                   func.lower(ServiceType.name_zh).like(pattern, escape="\\"))

    def all(self) -> list[ServiceType]:
        """Every service type of the organisation (a catalogue: small enough to hold as a tree)."""
        return list(self.db.scalars(self._base().order_by(ServiceType.code, ServiceType.id)))

    def matching_ids(self, q: str) -> set[uuid.UUID]:
        return set(self.db.scalars(select(ServiceType.id).where(ServiceType.org_id == self.org_id,
                                                                self._matches(q))))

    def parents(self) -> dict[uuid.UUID, uuid.UUID | None]:
        rows = self.db.execute(select(ServiceType.id, ServiceType.parent_id)
                               .where(ServiceType.org_id == self.org_id))
        return {row[0]: row[1] for row in rows}

    def chain(self, service_type: ServiceType, max_len: int = 16) -> list[ServiceType]:
        """The service type and its ancestors, nearest first."""
        chain = [service_type]
        seen = {service_type.id}
        current = service_type
        while current.parent_id is not None and len(chain) < max_len:
            parent = self.find(current.parent_id)
            if parent is None or parent.id in seen:
                break
            chain.append(parent)
            seen.add(parent.id)
            current = parent
        return chain
