"""Use cases of customers, sites and assets, and the look-ups other modules rely on."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fieldops.core.auth import Principal, Role, require_role, system_principal
from fieldops.core.errors import Forbidden, InvalidInput, NotFound, conflict
from fieldops.core.events import record_event
from fieldops.core.security import check_password_policy, one_time_code, sha256_hex
from fieldops.core.web import Ctx, check_if_match
from fieldops.customers import repository as repo
from fieldops.customers import rules
from fieldops.customers.models import Asset, Customer, SignupCode, Site
from fieldops.customers.repository import AssetRepository, CustomerRepository, SiteRepository
from fieldops.customers.schemas import (
    AssetCreate,
    AssetUpdate,
    CustomerCreate,
    CustomerUpdate,
    SignupConfirm,
    SiteCreate,
    SiteUpdate,
    _email,
)
from fieldops.notifications import service as notifications
from fieldops.organizations import service as organizations
from fieldops.organizations.models import Organization
from fieldops.settings import Settings
from fieldops.users import service as users
from fieldops.users.rules import normalize_phone
from fieldops.users.schemas import TokenPair, UserCreate

# Staff who create and change customers, sites and assets (supervisors and finance only read).
WRITERS = frozenset({Role.admin, Role.dispatcher, Role.agent})
# ...and a customer, for their own records (the repository only shows them their own).
SELF_SERVICE = WRITERS | {Role.customer}


# ---- for other modules --------------------------------------------------------------------------


def get_customer_in_org(db: Session, org_id: uuid.UUID, customer_id: uuid.UUID) -> Customer:
    """A customer of the organisation, whoever asks; NotFound if missing or in another organisation."""
    return repo.customer_in_org(db, org_id, customer_id)


def get_site_in_org(db: Session, org_id: uuid.UUID, site_id: uuid.UUID) -> Site:
    """A site of the organisation, whoever asks; NotFound if missing or in another organisation."""
    return repo.site_in_org(db, org_id, site_id)


def get_asset_in_org(db: Session, org_id: uuid.UUID, asset_id: uuid.UUID) -> Asset:
    """An asset of the organisation, whoever asks; NotFound if missing or in another organisation."""
    return repo.asset_in_org(db, org_id, asset_id)


def get_customer(ctx: Ctx, customer_id: uuid.UUID) -> Customer:
    """A customer as the caller may see it (403 for technicians, 404 if not visible)."""
    return CustomerRepository(ctx.db, ctx.principal).get(customer_id)


def get_site(ctx: Ctx, site_id: uuid.UUID) -> Site:
    """A site as the caller may see it (403 for technicians, 404 if not visible)."""
    return SiteRepository(ctx.db, ctx.principal).get(site_id)


def get_asset(ctx: Ctx, asset_id: uuid.UUID) -> Asset:
    """An asset as the caller may see it (403 for technicians, 404 if not visible)."""
    return AssetRepository(ctx.db, ctx.principal).get(asset_id)


# ---- helpers ------------------------------------------------------------------------------------


def _reject_nulls(fields: dict[str, Any], names: Iterable[str]) -> None:
    for name in names:
        if name in fields and fields[name] is None:
            raise InvalidInput(f"{name} cannot be null.", f"{name} 不能为空。", field=name)


def _event(ctx: Ctx, type_: str, aggregate: str, record: Customer | Site | Asset, payload: dict[str, Any]) -> None:
    record_event(
        ctx.db,
        type=type_,
        aggregate_type=aggregate,
        aggregate_id=record.id,
        org_id=record.org_id,
        payload=payload,
        now=ctx.now,
    )


def _flush(ctx: Ctx) -> None:
    try:
        ctx.db.flush()
    except IntegrityError:
        raise conflict("That customer code is already used.", "该客户编码已被使用。") from None


# ---- customers ----------------------------------------------------------------------------------


def list_customers(
    ctx: Ctx, *, q: str | None, tier: str | None, active: bool | None, limit: int, offset: int
) -> tuple[list[Customer], int]:
    """Customers the caller may see (staff: all of the organisation; a customer: their own)."""
    return CustomerRepository(ctx.db, ctx.principal).list(q=q, tier=tier, active=active, limit=limit, offset=offset)


def _check_code(cr: CustomerRepository, code: str, exclude_id: uuid.UUID | None = None) -> None:
    if cr.code_taken(code, exclude_id):
        raise conflict(f"Customer code {code!r} is already used.", f"客户编码“{code}”已被使用。")


def _check_lists(preferred: list[str], blocked: list[str]) -> None:
    both = rules.overlapping(preferred, blocked)
    if both:
        raise InvalidInput(
            f"A technician cannot be both preferred and blocked: {', '.join(both[:5])}.",
            f"同一技师不能既是首选又被屏蔽：{', '.join(both[:5])}。",
            field="blocked_technician_ids",
        )


def create_customer(ctx: Ctx, data: CustomerCreate) -> Customer:
    """Staff (admin, dispatcher, agent) add a customer, optionally with a portal login (role customer)."""
    require_role(ctx.principal, WRITERS, "create customers")
    cr = CustomerRepository(ctx.db, ctx.principal)
    preferred = rules.technician_list(data.preferred_technician_ids)
    blocked = rules.technician_list(data.blocked_technician_ids)
    _check_lists(preferred, blocked)
    customer_id = uuid.uuid4()
    code = data.code or rules.default_customer_code(customer_id)
    _check_code(cr, code)
    customer = Customer(
        id=customer_id,
        org_id=ctx.principal.org_id,
        code=code,
        kind=data.kind,
        name=data.name,
        phone=data.phone,
        email=data.email,
        tier=data.tier,
        preferred_technician_ids=preferred,
        blocked_technician_ids=blocked,
        notes=data.notes,
        active=True,
    )
    ctx.db.add(customer)
    _flush(ctx)
    if data.login is not None:
        login = data.login
        users.create_user(
            ctx,
            UserCreate(
                email=login.email,
                phone=login.phone,
                name=data.name,
                role="customer",
                password=login.password,
                locale=login.locale,
            ),
            customer_id=customer.id,
        )
    _event(ctx, "customer.created", "customer", customer, {"code": customer.code, "tier": customer.tier})
    return customer


def update_customer(ctx: Ctx, customer_id: uuid.UUID, data: CustomerUpdate, if_match: str | None) -> Customer:
    """Staff change any field; a customer may change only their own name, phone and e-mail."""
    cr = CustomerRepository(ctx.db, ctx.principal)
    customer = cr.get(customer_id)
    fields = data.model_dump(exclude_unset=True)
    if ctx.principal.role == Role.customer:
        extra = rules.forbidden_self_fields(fields)
        if extra:
            raise Forbidden(role=ctx.principal.role.value, action=f"change {', '.join(extra)}")
    else:
        require_role(ctx.principal, WRITERS, "change customers")
    check_if_match(if_match, customer.version)
    _reject_nulls(
        fields,
        ("code", "kind", "name", "tier", "preferred_technician_ids", "blocked_technician_ids", "active"),
    )
    if "code" in fields and fields["code"] != customer.code:
        _check_code(cr, fields["code"], customer.id)
    for key in ("preferred_technician_ids", "blocked_technician_ids"):
        if key in fields:
            fields[key] = rules.technician_list(fields[key])
    _check_lists(
        fields.get("preferred_technician_ids", customer.preferred_technician_ids or []),
        fields.get("blocked_technician_ids", customer.blocked_technician_ids or []),
    )
    for name, value in fields.items():
        setattr(customer, name, value)
    _flush(ctx)
    if fields:
        _event(ctx, "customer.updated", "customer", customer, {"fields": sorted(fields)})
    return customer


# ---- sites --------------------------------------------------------------------------------------


def list_sites(
    ctx: Ctx,
    *,
    customer_id: uuid.UUID | None,
    territory_id: uuid.UUID | None,
    q: str | None,
    active: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[Site], int]:
    """Sites the caller may see (staff: all of the organisation; a customer: their own)."""
    return SiteRepository(ctx.db, ctx.principal).list(
        customer_id=customer_id, territory_id=territory_id, q=q, active=active, limit=limit, offset=offset
    )


def _explicit_territory(ctx: Ctx, territory_id: uuid.UUID) -> uuid.UUID:
    if ctx.principal.role == Role.customer:
        raise Forbidden(role=ctx.principal.role.value, action="choose a site's territory")
    try:
        return organizations.get_territory_in_org(ctx.db, ctx.principal.org_id, territory_id, active_only=True).id
    except NotFound:
        raise InvalidInput(
            "territory_id is not an active territory of your organisation.",
            "territory_id 不是本组织的有效片区。",
            field="territory_id",
        ) from None


def create_site(ctx: Ctx, data: SiteCreate) -> Site:
    """Add a site to a customer; its territory is found from the coordinates unless given, and its time
    zone defaults to the organisation's. A customer may add sites to their own record."""
    customer_id = data.customer_id
    if customer_id is None and ctx.principal.role == Role.customer:
        customer_id = ctx.principal.customer_id
    if customer_id is None:
        raise InvalidInput("customer_id is required.", "customer_id 为必填项。", field="customer_id")
    customer = CustomerRepository(ctx.db, ctx.principal).get(customer_id)
    require_role(ctx.principal, SELF_SERVICE, "create sites")
    if not customer.active:
        raise conflict(
            "The customer is inactive; reactivate it before adding sites.",
            "该客户已停用，请先启用再添加站点。",
        )
    territory_id: uuid.UUID | None
    if data.territory_id is not None:
        territory_id = _explicit_territory(ctx, data.territory_id)
    else:
        territory_id = organizations.locate_territory(ctx.db, ctx.principal.org_id, data.lat, data.lng)
    if data.timezone is not None:
        timezone = organizations.check_timezone(data.timezone)
    else:
        timezone = organizations.get_org(ctx.db, ctx.principal.org_id).timezone
    site = Site(
        org_id=ctx.principal.org_id,
        customer_id=customer.id,
        name=data.name,
        address=data.address,
        lat=data.lat,
        lng=data.lng,
        territory_id=territory_id,
        timezone=timezone,
        contact_name=data.contact_name,
        contact_phone=data.contact_phone,
        access_notes=data.access_notes,
        active=True,
    )
    ctx.db.add(site)
    ctx.db.flush()
    _event(
        ctx,
        "site.created",
        "site",
        site,
        {
            "customer_id": str(site.customer_id),
            "territory_id": str(site.territory_id) if site.territory_id else None,
        },
    )
    return site


def update_site(ctx: Ctx, site_id: uuid.UUID, data: SiteUpdate, if_match: str | None) -> Site:
    """Change a site. Moving it re-locates its territory unless territory_id is sent as well;
    territory_id null asks for it to be found from the coordinates."""
    site = SiteRepository(ctx.db, ctx.principal).get(site_id)
    require_role(ctx.principal, SELF_SERVICE, "change sites")
    check_if_match(if_match, site.version)
    fields = data.model_dump(exclude_unset=True)
    _reject_nulls(fields, ("name", "address", "lat", "lng", "timezone", "active"))
    if fields.get("timezone") is not None:
        organizations.check_timezone(fields["timezone"])
    lat, lng = fields.get("lat", site.lat), fields.get("lng", site.lng)
    if "territory_id" in fields:
        if fields["territory_id"] is not None:
            fields["territory_id"] = _explicit_territory(ctx, fields["territory_id"])
        else:
            fields["territory_id"] = organizations.locate_territory(ctx.db, ctx.principal.org_id, lat, lng)
    elif (lat, lng) != (site.lat, site.lng):
        fields["territory_id"] = organizations.locate_territory(ctx.db, ctx.principal.org_id, lat, lng)
    for name, value in fields.items():
        setattr(site, name, value)
    ctx.db.flush()
    if fields:
        _event(ctx, "site.updated", "site", site, {"fields": sorted(fields)})
    return site


# ---- assets -------------------------------------------------------------------------------------


def list_assets(
    ctx: Ctx,
    *,
    site_id: uuid.UUID | None,
    customer_id: uuid.UUID | None,
    q: str | None,
    active: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[Asset], int]:
    """Assets the caller may see (staff: all of the organisation; a customer: their own)."""
    return AssetRepository(ctx.db, ctx.principal).list(
        site_id=site_id, customer_id=customer_id, q=q, active=active, limit=limit, offset=offset
    )


def _require_active(site: Site) -> Site:
    if not site.active:
        raise conflict("The site is inactive; assets cannot be placed there.", "该站点已停用，不能放置设备。")
    return site


def create_asset(ctx: Ctx, data: AssetCreate) -> Asset:
    """Add an asset to a site (its customer is the site's). A customer may add assets to their own sites."""
    site = SiteRepository(ctx.db, ctx.principal).get(data.site_id)
    require_role(ctx.principal, SELF_SERVICE, "create assets")
    _require_active(site)
    asset = Asset(
        org_id=ctx.principal.org_id,
        site_id=site.id,
        customer_id=site.customer_id,
        name=data.name,
        model=data.model,
        serial_number=data.serial_number,
        manufacturer=data.manufacturer,
        install_date=data.install_date,
        warranty_until=data.warranty_until,
        notes=data.notes,
        active=True,
    )
    ctx.db.add(asset)
    ctx.db.flush()
    _event(ctx, "asset.created", "asset", asset, {"site_id": str(asset.site_id)})
    return asset


def update_asset(ctx: Ctx, asset_id: uuid.UUID, data: AssetUpdate, if_match: str | None) -> Asset:
    """Change an asset; sending site_id moves it, and its customer follows the new site."""
    asset = AssetRepository(ctx.db, ctx.principal).get(asset_id)
    require_role(ctx.principal, SELF_SERVICE, "change assets")
    check_if_match(if_match, asset.version)
    fields = data.model_dump(exclude_unset=True)
    _reject_nulls(fields, ("site_id", "name", "active"))
    if "site_id" in fields and fields["site_id"] != asset.site_id:
        site = _require_active(SiteRepository(ctx.db, ctx.principal).get(fields["site_id"]))
        fields["customer_id"] = site.customer_id
    for name, value in fields.items():
        setattr(asset, name, value)
    ctx.db.flush()
    if fields:
        _event(ctx, "asset.updated", "asset", asset, {"fields": sorted(fields)})
    return asset


# ---- self sign-up (customers) ---------------------------------------------------------------------

def _signup_org(db: Session, slug: str | None) -> Organization:
    org = organizations.find_org_for_signup(db, slug)
    if org is None:
        raise InvalidInput("Choose the organisation to sign up with.", "请选择要注册的服务机构。",
                           field="organization")
    return org


def _signup_login(username: str) -> tuple[str | None, str | None]:
    """(email, phone) from what the person typed; 422 when it is neither."""
    text = username.strip()
    if "@" in text:
        return _email(text), None
    phone = normalize_phone(text)
    if phone is None:
        raise InvalidInput("Enter a valid phone number or e-mail address.", "请输入有效的手机号或邮箱。",
                           field="username")
    return None, phone


def request_signup(db: Session, settings: Settings, username: str, org_slug: str | None, now: datetime) -> None:
    """Send a one-time sign-up code to a phone or e-mail (silent if that login already exists)."""
    org = _signup_org(db, org_slug)
    email, phone = _signup_login(username)
    login = email or phone or ""
    if users.find_login(db, login) is not None:
        return  # do not reveal which logins exist; the confirm step refuses it
    code = one_time_code()
    for old in repo.active_signup_codes(db, org.id, login, now):
        old.used_at = now
    db.add(SignupCode(org_id=org.id, login=login, code_hash=sha256_hex(f"{org.id}:{login}:{code}"), created_at=now,
                      expires_at=now + timedelta(minutes=settings.reset_code_minutes)))
    body_en = f"Your fieldops sign-up code is {code}. It expires in {settings.reset_code_minutes} minutes."
    body_zh = f"您的注册验证码是 {code}，{settings.reset_code_minutes} 分钟内有效。"
    notifications.enqueue(db, channel="email" if email else "sms", recipient=login,
                          subject="fieldops sign-up code / 注册验证码", body=f"{body_en}\n{body_zh}", now=now,
                          org_id=org.id)
    db.flush()


def confirm_signup(db: Session, settings: Settings, data: SignupConfirm, client_addr: str | None,
                   user_agent: str | None, now: datetime) -> TokenPair:
    """Create the customer, their login and (optionally) their first site, then sign them in."""
    org = _signup_org(db, data.organization)
    email, phone = _signup_login(data.username)
    login = email or phone or ""
    codes = repo.active_signup_codes(db, org.id, login, now)
    wrong = InvalidInput("The code is wrong or has expired. Ask for a new one.", "验证码错误或已过期，请重新获取。",
                         field="code")
    if not codes:
        raise wrong
    current = codes[0]
    if current.code_hash != sha256_hex(f"{org.id}:{login}:{data.code}"):
        current.attempts += 1
        if current.attempts >= 5:
            current.used_at = now
        db.flush()
        raise wrong
    if users.find_login(db, login) is not None:
        raise conflict("An account with this login already exists; sign in or reset the password.",
                       "该账号已存在，请直接登录或重置密码。")
    check_password_policy(data.password)
    current.used_at = now
    system = Ctx(db=db, principal=system_principal(org.id), now=now, settings=settings, lang=data.locale)
    customer_id = uuid.uuid4()
    customer = Customer(id=customer_id, org_id=org.id, code=rules.default_customer_code(customer_id), kind="person",
                        name=data.name, phone=phone, email=email, tier="standard", preferred_technician_ids=[],
                        blocked_technician_ids=[], active=True)
    db.add(customer)
    db.flush()
    user = users.create_user(system, UserCreate(email=email, phone=phone, name=data.name, role="customer",
                                                password=data.password, locale=data.locale), customer_id=customer.id)
    _event(system, "customer.signed_up", "customer", customer, {"channel": "self"})
    if data.site is not None:
        me = Principal(user_id=user.id, org_id=org.id, role=Role.customer, name=data.name, customer_id=customer.id)
        create_site(Ctx(db=db, principal=me, now=now, settings=settings, lang=data.locale),
                    SiteCreate(name=data.site.name or data.name, address=data.site.address, lat=data.site.lat,
                               lng=data.site.lng))
    return users.open_session(db, settings, user, client_addr, user_agent, now)
