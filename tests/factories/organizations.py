"""Arrange territories directly in the database."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from fieldops.organizations.models import Organization, Territory


def box(min_lng: float, min_lat: float, max_lng: float, max_lat: float) -> dict[str, Any]:
    """A rectangular GeoJSON Polygon."""
    return {
        "type": "Polygon",
        "coordinates": [
            [
                [min_lng, min_lat],
                [max_lng, min_lat],
                [max_lng, max_lat],
                [min_lng, max_lat],
                [min_lng, min_lat],
            ]
        ],
    }


# Downtown Boston and the area just south of it.
BOSTON = box(-71.2, 42.3, -70.95, 42.45)
SOUTH = box(-71.2, 42.1, -70.95, 42.3)


def make_territory(
    db: Session,
    org: Organization,
    code: str | None = None,
    name: str | None = None,
    polygon: dict[str, Any] | None = None,
    **extra: Any,
) -> Territory:
    code = code or f"T-{uuid.uuid4().hex[:6]}"
    territory = Territory(
        org_id=org.id, code=code, name=name or f"Territory {code}", polygon=polygon or BOSTON, **extra
    )
    db.add(territory)
    db.flush()
    return territory
