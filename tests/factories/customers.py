"""Arrange customers, sites and assets directly in the database."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from fieldops.customers.models import Asset, Customer, Site
from fieldops.organizations.models import Organization


def make_customer(
    db: Session, org: Organization, name: str = "Jane Doe", code: str | None = None, **extra: Any
) -> Customer:
    values: dict[str, Any] = {
        "kind": "person",
        "tier": "standard",
        "preferred_technician_ids": [],
        "blocked_technician_ids": [],
        **extra,
    }
    customer = Customer(org_id=org.id, code=code or f"C-{uuid.uuid4().hex[:8]}", name=name, **values)
    db.add(customer)
    db.flush()
    return customer


def make_site(
    db: Session,
    org: Organization,
    customer: Customer,
    lat: float = 42.36,
    lng: float = -71.06,
    name: str = "Head office",
    **extra: Any,
) -> Site:
    values: dict[str, Any] = {"address": "1 Main St, Boston MA", "timezone": org.timezone, **extra}
    site = Site(org_id=org.id, customer_id=customer.id, name=name, lat=lat, lng=lng, **values)
    db.add(site)
    db.flush()
    return site


def make_asset(db: Session, site: Site, name: str = "Rooftop unit", **extra: Any) -> Asset:
    asset = Asset(org_id=site.org_id, site_id=site.id, customer_id=site.customer_id, name=name, **extra)
    db.add(asset)
    db.flush()
    return asset
