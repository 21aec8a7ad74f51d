from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from fieldops.customers.models import Asset, Customer, Site
from fieldops.organizations.models import Organization, Territory
from tests.conftest import login
from tests.factories.base import make_org, make_user
from tests.factories.customers import make_asset, make_customer, make_site
from tests.factories.organizations import BOSTON, SOUTH, make_territory

ROLES = ("admin", "supervisor", "dispatcher", "agent", "finance", "technician")


@dataclass
class Shop:
    org: Organization
    north: Territory
    south: Territory
    customer: Customer
    site: Site
    asset: Asset
    other_customer: Customer
    other_site: Site
    foreign_customer: Customer
    foreign_site: Site
    foreign_asset: Asset
    client: TestClient
    _tokens: dict[str, dict[str, str]]

    def h(self, who: str, **extra: str) -> dict[str, str]:
        """Headers of a user: a role of Acme, "customer" (Jane, of `customer`) or "foreign" (Globex admin)."""
        if who not in self._tokens:
            email = "admin@globex.test" if who == "foreign" else f"{who}@acme.test"
            self._tokens[who] = login(self.client, email)
        return {**self._tokens[who], **extra}


@pytest.fixture
def shop(db: Session, client: TestClient) -> Shop:
    org = make_org(db, "Acme")
    north = make_territory(db, org, "N", "North", BOSTON)
    south = make_territory(db, org, "S", "South", SOUTH)
    customer = make_customer(db, org, "Jane Doe", code="JANE", phone="+16175550123", email="jane@example.com")
    site = make_site(db, org, customer, 42.36, -71.06, territory_id=north.id)
    asset = make_asset(db, site, "Boiler", serial_number="SN-1")
    other = make_customer(db, org, "Bob Corp", code="BOB", kind="company", tier="vip")
    other_site = make_site(db, org, other, 42.2, -71.05, name="Warehouse", territory_id=south.id)
    for role in ROLES:
        make_user(db, org, role, email=f"{role}@acme.test")
    make_user(db, org, "customer", email="customer@acme.test", customer_id=customer.id)
    globex = make_org(db, "Globex")
    make_user(db, globex, "admin", email="admin@globex.test")
    foreign = make_customer(db, globex, "Globex client", code="JANE")
    foreign_site = make_site(db, globex, foreign)
    foreign_asset = make_asset(db, foreign_site)
    db.commit()
    return Shop(
        org,
        north,
        south,
        customer,
        site,
        asset,
        other,
        other_site,
        foreign,
        foreign_site,
        foreign_asset,
        client,
        {},
    )


def problem(r: Any) -> str:
    return str(r.json().get("detail", ""))
