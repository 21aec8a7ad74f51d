"""Bodies of the organisation and territory endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from fieldops.core.schemas import Code, InModel, Name, OutModel

TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Hours = Annotated[float, Field(gt=0, le=24 * 365, allow_inf_nan=False)]
Days = Annotated[float, Field(gt=0, le=3650, allow_inf_nan=False)]


class OrgSettingsUpdate(InModel):
    """Policy overrides; a key set to null goes back to the deployment's default."""

    auto_confirm_hours: Hours | None = None
    auto_close_hours: Hours | None = None
    reopen_window_days: Days | None = None


class OrgUpdate(InModel):
    name: Name | None = None
    timezone: TimeZoneName | None = Field(None, description="IANA time zone, e.g. Asia/Shanghai")
    settings: OrgSettingsUpdate | None = None


class OrgRead(OutModel):
    id: uuid.UUID
    name: str
    slug: str
    timezone: str
    settings: dict[str, Any] = Field(description="The organisation's own overrides")
    effective_settings: dict[str, float] = Field(
        default_factory=dict, description="Overrides merged with the deployment's defaults"
    )
    version: int


class TerritoryCreate(InModel):
    code: Code
    name: Name
    polygon: dict[str, Any] = Field(
        description="GeoJSON Polygon or MultiPolygon geometry, positions as [longitude, latitude]"
    )
    supervisor_user_id: uuid.UUID | None = None


class TerritoryUpdate(InModel):
    code: Code | None = None
    name: Name | None = None
    polygon: dict[str, Any] | None = None
    supervisor_user_id: uuid.UUID | None = None
    active: bool | None = None


class TerritoryRead(OutModel):
    id: uuid.UUID
    org_id: uuid.UUID
    code: str
    name: str
    polygon: dict[str, Any] | None
    supervisor_user_id: uuid.UUID | None
    active: bool
    created_at: datetime
    updated_at: datetime
    version: int
