"""Use cases of organisations and territories, and the look-ups other modules rely on."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fieldops.core.auth import STAFF, Role, require_role
from fieldops.core.errors import InvalidInput, NotFound, conflict
from fieldops.core.events import record_event
from fieldops.core.web import Ctx, check_if_match
from fieldops.organizations import repository as repo
from fieldops.organizations import rules
from fieldops.organizations.models import Organization, Territory
from fieldops.organizations.repository import TerritoryRepository
from fieldops.organizations.schemas import OrgRead, OrgUpdate, TerritoryCreate, TerritoryUpdate
from fieldops.settings import Settings
from fieldops.users import service as users

TERRITORY_READERS = STAFF | {Role.technician}


# ---- for other modules --------------------------------------------------------------------------


def get_org(db: Session, org_id: uuid.UUID) -> Organization:
    """The organisation with this id; NotFound otherwise."""
    return repo.get_org(db, org_id)


def get_territory_in_org(
    db: Session, org_id: uuid.UUID, territory_id: uuid.UUID, *, active_only: bool = False
) -> Territory:
    """A territory of the organisation (optionally only an active one); NotFound otherwise."""
    return repo.territory_in_org(db, org_id, territory_id, active_only)


def locate_territory(db: Session, org_id: uuid.UUID, lat: float, lng: float) -> uuid.UUID | None:
    """The id of the organisation's active territory containing the point, or None."""
    return rules.territory_for_point(repo.active_territories(db, org_id), lat, lng)


def effective_settings(db: Session, settings: Settings, org_id: uuid.UUID) -> dict[str, float]:
    """The organisation's policy knobs (auto_confirm_hours, auto_close_hours, reopen_window_days),
    its overrides merged over the deployment's defaults."""
    return _effective(get_org(db, org_id), settings)


def check_timezone(name: str, field: str = "timezone") -> str:
    """Return `name` if it is a known IANA time zone; 422 with an English and Chinese reason otherwise."""
    if not rules.is_valid_timezone(name):
        raise InvalidInput(
            f"{name[:64]!r} is not a known time zone; use an IANA name such as Asia/Shanghai or America/New_York.",
            f"“{name[:64]}”不是有效的时区；请使用 IANA 时区名，例如 Asia/Shanghai 或 America/New_York。",
            field=field,
        )
    return name


def _effective(org: Organization, settings: Settings) -> dict[str, float]:
    merged = {key: float(getattr(settings, key)) for key in rules.SETTING_LIMITS}
    for key, value in (org.settings or {}).items():
        if key in merged and isinstance(value, int | float):
            merged[key] = float(value)
    return merged


# ---- the caller's organisation ------------------------------------------------------------------


def to_org_read(org: Organization, settings: Settings) -> OrgRead:
    """The organisation as the API shows it, with its effective policy settings."""
    return OrgRead(
        id=org.id,
        name=org.name,
        slug=org.slug,
        timezone=org.timezone,
        settings=dict(org.settings or {}),
        effective_settings=_effective(org, settings),
        version=org.version,
    )


def get_current_org(ctx: Ctx) -> Organization:
    """The caller's organisation (any signed-in user may read it)."""
    return get_org(ctx.db, ctx.principal.org_id)


def update_current_org(ctx: Ctx, data: OrgUpdate, if_match: str | None) -> Organization:
    """Admins rename the organisation, change its time zone or its policy overrides."""
    org = get_current_org(ctx)
    require_role(ctx.principal, {Role.admin}, "change the organisation")
    check_if_match(if_match, org.version)
    fields = data.model_dump(exclude_unset=True)
    changed: list[str] = []
    if fields.get("name") is not None:
        org.name = fields["name"]
        changed.append("name")
    if fields.get("timezone") is not None:
        org.timezone = check_timezone(fields["timezone"])
        changed.append("timezone")
    if data.settings is not None:
        merged: dict[str, Any] = dict(org.settings or {})
        for key, value in data.settings.model_dump(exclude_unset=True).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        org.settings = merged  # a new dict, so the JSON column sees the change
        changed.append("settings")
    if changed:
        record_event(
            ctx.db,
            type="organization.updated",
            aggregate_type="organization",
            aggregate_id=org.id,
            org_id=org.id,
            payload={"fields": changed},
            now=ctx.now,
        )
    ctx.db.flush()
    return org


# ---- territories --------------------------------------------------------------------------------


def _geometry(value: Any) -> dict[str, Any]:
    try:
        return rules.parse_territory_geometry(value)
    except rules.GeometryProblem as exc:
        raise InvalidInput(exc.en, exc.zh, field="polygon") from None


def _check_supervisor(ctx: Ctx, user_id: uuid.UUID) -> None:
    try:
        user = users.get_user(ctx, user_id)
    except NotFound:
        user = None
    if user is None or user.role != Role.supervisor.value or not user.is_active:
        raise InvalidInput(
            "supervisor_user_id must be an active supervisor of your organisation.",
            "supervisor_user_id 必须是本组织中在职的主管。",
            field="supervisor_user_id",
        )


def _check_code(tr: TerritoryRepository, code: str, exclude_id: uuid.UUID | None = None) -> None:
    if tr.code_taken(code, exclude_id):
        raise conflict(
            f"Territory code {code!r} is already used (perhaps by a retired territory).",
            f"片区编码“{code}”已被使用（可能是已停用的片区）。",
        )


def list_territories(
    ctx: Ctx, *, q: str | None, include_inactive: bool, limit: int, offset: int
) -> tuple[list[Territory], int]:
    """Territories of the caller's organisation (staff and technicians)."""
    require_role(ctx.principal, TERRITORY_READERS, "view territories")
    return TerritoryRepository(ctx.db, ctx.principal).list(
        q=q, include_inactive=include_inactive, limit=limit, offset=offset
    )


def get_territory(ctx: Ctx, territory_id: uuid.UUID) -> Territory:
    """One territory of the caller's organisation (staff and technicians)."""
    territory = TerritoryRepository(ctx.db, ctx.principal).get(territory_id)
    require_role(ctx.principal, TERRITORY_READERS, "view territories")
    return territory


def create_territory(ctx: Ctx, data: TerritoryCreate) -> Territory:
    """Admins draw a territory; its polygon is checked (closed, valid, in range, ≤ 5,000 points)."""
    require_role(ctx.principal, {Role.admin}, "create territories")
    geometry = _geometry(data.polygon)
    tr = TerritoryRepository(ctx.db, ctx.principal)
    _check_code(tr, data.code)
    if data.supervisor_user_id is not None:
        _check_supervisor(ctx, data.supervisor_user_id)
    territory = Territory(
        org_id=ctx.principal.org_id,
        code=data.code,
        name=data.name,
        polygon=geometry,
        supervisor_user_id=data.supervisor_user_id,
        active=True,
    )
    ctx.db.add(territory)
    try:
        ctx.db.flush()
    except IntegrityError:
        raise conflict("That territory code is already used.", "该片区编码已被使用。") from None
    record_event(
        ctx.db,
        type="territory.created",
        aggregate_type="territory",
        aggregate_id=territory.id,
        org_id=territory.org_id,
        payload={"code": territory.code},
        now=ctx.now,
    )
    return territory


def update_territory(ctx: Ctx, territory_id: uuid.UUID, data: TerritoryUpdate, if_match: str | None) -> Territory:
    """Admins change a territory's code, name, polygon, supervisor, or bring a retired one back."""
    tr = TerritoryRepository(ctx.db, ctx.principal)
    territory = tr.get(territory_id)
    require_role(ctx.principal, {Role.admin}, "change territories")
    check_if_match(if_match, territory.version)
    fields = data.model_dump(exclude_unset=True)
    for name in ("code", "name", "polygon", "active"):
        if name in fields and fields[name] is None:
            raise InvalidInput(f"{name} cannot be null.", f"{name} 不能为空。", field=name)
    if "polygon" in fields:
        fields["polygon"] = _geometry(fields["polygon"])
    if "code" in fields and fields["code"] != territory.code:
        _check_code(tr, fields["code"], territory.id)
    if fields.get("supervisor_user_id") is not None:
        _check_supervisor(ctx, fields["supervisor_user_id"])
    for name, value in fields.items():
        setattr(territory, name, value)
    try:
        ctx.db.flush()
    except IntegrityError:
        raise conflict("That territory code is already used.", "该片区编码已被使用。") from None
    if fields:
        record_event(
            ctx.db,
            type="territory.updated",
            aggregate_type="territory",
            aggregate_id=territory.id,
            org_id=territory.org_id,
            payload={"fields": sorted(fields)},
            now=ctx.now,
        )
    return territory


def retire_territory(ctx: Ctx, territory_id: uuid.UUID, if_match: str | None) -> None:
    """Admins retire (soft-delete) a territory: existing sites keep it, new sites are not placed in it."""
    territory = TerritoryRepository(ctx.db, ctx.principal).get(territory_id)
    require_role(ctx.principal, {Role.admin}, "delete territories")
    if if_match:
        check_if_match(if_match, territory.version)
    if not territory.active:
        return
    territory.active = False
    ctx.db.flush()
    record_event(
        ctx.db,
        type="territory.retired",
        aggregate_type="territory",
        aggregate_id=territory.id,
        org_id=territory.org_id,
        payload={"code": territory.code},
        now=ctx.now,
    )


def find_org_for_signup(db: Session, slug: str | None) -> Organization | None:
    """The organisation a self sign-up joins: by slug, or the only one when the deployment has one."""
    return repo.org_by_slug_or_only(db, slug)
