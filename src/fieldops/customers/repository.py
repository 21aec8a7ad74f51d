"""Every query of the customers module. Organisation and role scoping live here, in `_Scoped`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, false, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from fieldops.core.auth import Principal, Role, require_role
from fieldops.core.errors import NotFound
from fieldops.customers.models import Asset, Customer, SignupCode, Site

# Roles that see every customer, site and asset of their organisation.
SEE_ALL = frozenset({Role.admin, Role.supervisor, Role.dispatcher, Role.agent, Role.finance, Role.system})
# Roles that may read these collections at all (a customer sees only their own records; a
# technician sees sites only inside their work orders, through the work-orders module).
READERS = SEE_ALL | {Role.customer}

T = TypeVar("T", Customer, Site, Asset)


def like_pattern(text: str) -> str:
    """A lower-case LIKE pattern matching `text` literally (escape character: backslash)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search(columns: list[InstrumentedAttribute[Any]], q: str) -> ColumnElement[bool]:
    like = like_pattern(q)
    return or_(*[func.lower(c).like(like, escape="\\") for c in columns])


# ---- unscoped look-ups for other modules (they apply their own visibility) ----------------------


def _in_org(db: Session, model: type[T], org_id: uuid.UUID, record_id: uuid.UUID, noun: str) -> T:
    record = db.scalars(select(model).where(model.org_id == org_id, model.id == record_id)).first()
    if record is None:
        raise NotFound(noun)
    return record


def customer_in_org(db: Session, org_id: uuid.UUID, customer_id: uuid.UUID) -> Customer:
    return _in_org(db, Customer, org_id, customer_id, "customer")


def site_in_org(db: Session, org_id: uuid.UUID, site_id: uuid.UUID) -> Site:
    return _in_org(db, Site, org_id, site_id, "site")


def asset_in_org(db: Session, org_id: uuid.UUID, asset_id: uuid.UUID) -> Asset:
    return _in_org(db, Asset, org_id, asset_id, "asset")


# ---- role-scoped repositories -------------------------------------------------------------------


class _Scoped:
    """The one place that decides what a principal sees: their organisation's records (staff), only
    their own customer's records (a customer), or nothing at all (403 for any other role)."""

    noun = "resource"

    def __init__(self, db: Session, principal: Principal) -> None:
        self.db, self.p = db, principal
        self._barred = principal.role not in READERS and principal.role != Role.system

    def _guard(self, model: type[Any], record_id: uuid.UUID) -> None:
        """A barred role learns only that a record of its own organisation exists (403); another
        organisation's record, or a missing one, is 404 like for everyone."""
        if not self._barred:
            return
        exists = self.db.scalar(select(model.id).where(model.id == record_id, model.org_id == self.p.org_id))
        if exists is None:
            raise NotFound(self.noun)
        require_role(self.p, READERS, f"view {self.noun}s")

    def _scope(self, query: Select[T], model: type[T], customer_col: Any) -> Select[T]:
        if self._barred:
            require_role(self.p, READERS, f"view {self.noun}s")
        query = query.where(model.org_id == self.p.org_id)
        if self.p.role in SEE_ALL:
            return query
        if self.p.role == Role.customer and self.p.customer_id is not None:
            return query.where(customer_col == self.p.customer_id)
        return query.where(false())

    def _page(self, query: Select[T], order: list[Any], limit: int, offset: int) -> tuple[list[T], int]:
        total = self.db.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.db.scalars(query.order_by(*order).limit(limit).offset(offset)).all()
        return list(rows), total


class CustomerRepository(_Scoped):
    noun = "customer"

    def _base(self) -> Select[Customer]:
        return self._scope(select(Customer), Customer, Customer.id)

    def get(self, customer_id: uuid.UUID) -> Customer:
        self._guard(Customer, customer_id)
        record = self.db.scalars(self._base().where(Customer.id == customer_id)).first()
        if record is None:
            raise NotFound("customer")
        return record

    def code_taken(self, code: str, exclude_id: uuid.UUID | None = None) -> bool:
        # Uniqueness spans the whole organisation, whatever the caller may see.
        query = select(Customer.id).where(Customer.org_id == self.p.org_id, func.lower(Customer.code) == code.lower())
        if exclude_id is not None:
            query = query.where(Customer.id != exclude_id)
        return self.db.scalars(query).first() is not None

    def list(
        self, *, q: str | None, tier: str | None, active: bool | None, limit: int, offset: int
    ) -> tuple[list[Customer], int]:
        query = self._base()
        if q:
            query = query.where(_search([Customer.code, Customer.name, Customer.phone, Customer.email], q))
        if tier:
            query = query.where(Customer.tier == tier)
        if active is not None:
            query = query.where(Customer.active.is_(active))
        return self._page(query, [Customer.name, Customer.id], limit, offset)


class SiteRepository(_Scoped):
    noun = "site"

    def _base(self) -> Select[Site]:
        return self._scope(select(Site), Site, Site.customer_id)

    def get(self, site_id: uuid.UUID) -> Site:
        self._guard(Site, site_id)
        record = self.db.scalars(self._base().where(Site.id == site_id)).first()
        if record is None:
            raise NotFound("site")
        return record

    def list(
        self,
        *,
        customer_id: uuid.UUID | None,
        territory_id: uuid.UUID | None,
        q: str | None,
        active: bool | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Site], int]:
        query = self._base()
        if customer_id:
            query = query.where(Site.customer_id == customer_id)
        if territory_id:
            query = query.where(Site.territory_id == territory_id)
        if q:
            query = query.where(_search([Site.name, Site.address, Site.contact_name], q))
        if active is not None:
            query = query.where(Site.active.is_(active))
        return self._page(query, [Site.name, Site.id], limit, offset)


class AssetRepository(_Scoped):
    noun = "asset"

    def _base(self) -> Select[Asset]:
        return self._scope(select(Asset), Asset, Asset.customer_id)

    def get(self, asset_id: uuid.UUID) -> Asset:
        self._guard(Asset, asset_id)
        record = self.db.scalars(self._base().where(Asset.id == asset_id)).first()
        if record is None:
            raise NotFound("asset")
        return record

    def list(
        self,
        *,
        site_id: uuid.UUID | None,
        customer_id: uuid.UUID | None,
        q: str | None,
        active: bool | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Asset], int]:
        query = self._base()
        if site_id:
            query = query.where(Asset.site_id == site_id)
        if customer_id:
            query = query.where(Asset.customer_id == customer_id)
        if q:
            query = query.where(_search([Asset.name, Asset.model, Asset.serial_number, Asset.manufacturer], q))
        if active is not None:
            query = query.where(Asset.active.is_(active))
        return self._page(query, [Asset.name, Asset.id], limit, offset)


def active_signup_codes(db: Session, org_id: uuid.UUID, login: str, now: datetime) -> list[SignupCode]:
    return list(db.scalars(select(SignupCode).where(
        SignupCode.org_id == org_id, SignupCode.login == login, SignupCode.used_at.is_(None),
        SignupCode.expires_at > now).order_by(SignupCode.created_at.desc())))
