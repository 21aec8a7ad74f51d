"""Bodies of the customer, site and asset endpoints."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import EmailStr, Field, StringConstraints, field_validator

from fieldops.core.schemas import Code, InModel, Latitude, Longitude, LongText, Name, OutModel
from fieldops.users.rules import normalize_phone
from fieldops.users.schemas import Locale, Password

CustomerKind = Literal["person", "company"]
Tier = Literal["standard", "vip", "key"]
PhoneText = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Address = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Label = Annotated[str, StringConstraints(max_length=200)]
TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
TechnicianIds = Annotated[list[uuid.UUID], Field(max_length=200)]


def _phone(value: str | None) -> str | None:
    if value is None:
        return None
    normalized = normalize_phone(value)
    if normalized is None:
        raise ValueError("not a valid phone number (use +<country code> for numbers outside the US)")
    return normalized


def _email(value: str | None) -> str | None:
    return value.lower() if value else value


class CustomerLogin(InModel):
    """A portal login for the customer (role "customer"), signing in with this e-mail or phone."""

    email: EmailStr | None = None
    phone: PhoneText | None = None
    password: Password
    locale: Locale = "en"

    _norm_phone = field_validator("phone")(classmethod(lambda cls, v: _phone(v)))


class CustomerCreate(InModel):
    code: Code | None = Field(None, description="Unique in the organisation; generated when omitted")
    kind: CustomerKind = "company"
    name: Name
    phone: PhoneText | None = None
    email: EmailStr | None = None
    tier: Tier = "standard"
    preferred_technician_ids: TechnicianIds = Field(default_factory=list)
    blocked_technician_ids: TechnicianIds = Field(default_factory=list)
    notes: LongText | None = None
    login: CustomerLogin | None = None

    _norm_phone = field_validator("phone")(classmethod(lambda cls, v: _phone(v)))
    _norm_email = field_validator("email")(classmethod(lambda cls, v: _email(v)))


class CustomerUpdate(InModel):
    """A customer may change only their own name, phone and email."""

    code: Code | None = None
    kind: CustomerKind | None = None
    name: Name | None = None
    phone: PhoneText | None = None
    email: EmailStr | None = None
    tier: Tier | None = None
    preferred_technician_ids: TechnicianIds | None = None
    blocked_technician_ids: TechnicianIds | None = None
    notes: LongText | None = None
    active: bool | None = None

    _norm_phone = field_validator("phone")(classmethod(lambda cls, v: _phone(v)))
    _norm_email = field_validator("email")(classmethod(lambda cls, v: _email(v)))


class CustomerRead(OutModel):
    id: uuid.UUID
    org_id: uuid.UUID
    code: str
    kind: str
    name: str
    phone: str | None
    email: str | None
    tier: str
    preferred_technician_ids: list[uuid.UUID]
    blocked_technician_ids: list[uuid.UUID]
    notes: str | None
    active: bool
    created_at: datetime
    updated_at: datetime
    version: int


class SiteCreate(InModel):
    customer_id: uuid.UUID | None = Field(None, description="Required for staff; a customer's own by default")
    name: Name
    address: Address
    lat: Latitude
    lng: Longitude
    territory_id: uuid.UUID | None = Field(None, description="Found from the coordinates when omitted")
    timezone: TimeZoneName | None = Field(None, description="IANA time zone; the organisation's by default")
    contact_name: Name | None = None
    contact_phone: PhoneText | None = None
    access_notes: LongText | None = None

    _norm_phone = field_validator("contact_phone")(classmethod(lambda cls, v: _phone(v)))


class SiteUpdate(InModel):
    """Moving a site (lat/lng) re-locates its territory unless territory_id is sent too;
    territory_id null means "find it from the coordinates"."""

    name: Name | None = None
    address: Address | None = None
    lat: Latitude | None = None
    lng: Longitude | None = None
    territory_id: uuid.UUID | None = None
    timezone: TimeZoneName | None = None
    contact_name: Name | None = None
    contact_phone: PhoneText | None = None
    access_notes: LongText | None = None
    active: bool | None = None

    _norm_phone = field_validator("contact_phone")(classmethod(lambda cls, v: _phone(v)))


class SiteRead(OutModel):
    id: uuid.UUID
    org_id: uuid.UUID
    customer_id: uuid.UUID
    name: str
    address: str
    lat: float
    lng: float
    territory_id: uuid.UUID | None
    timezone: str
    contact_name: str | None
    contact_phone: str | None
    access_notes: str | None
    active: bool
    created_at: datetime
    updated_at: datetime
    version: int


class AssetCreate(InModel):
    site_id: uuid.UUID
    name: Name
    model: Label | None = None
    serial_number: Label | None = None
    manufacturer: Label | None = None
    install_date: date | None = None
    warranty_until: date | None = None
    notes: LongText | None = None


class AssetUpdate(InModel):
    """Sending site_id moves the asset (its customer follows the site)."""

    site_id: uuid.UUID | None = None
    name: Name | None = None
    model: Label | None = None
    serial_number: Label | None = None
    manufacturer: Label | None = None
    install_date: date | None = None
    warranty_until: date | None = None
    notes: LongText | None = None
    active: bool | None = None


class AssetRead(OutModel):
    id: uuid.UUID
    org_id: uuid.UUID
    site_id: uuid.UUID
    customer_id: uuid.UUID
    name: str
    model: str | None
    serial_number: str | None
    manufacturer: str | None
    install_date: date | None
    warranty_until: date | None
    notes: str | None
    active: bool
    created_at: datetime
    updated_at: datetime
    version: int


class SignupRequest(InModel):
    username: Annotated[str, StringConstraints(min_length=3, max_length=254)] = Field(
        description="Phone number or e-mail address to sign up with")
    organization: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None, description="The organisation's slug; optional when the deployment serves one organisation")


class SignupSite(InModel):
    name: Name | None = None
    address: Address
    lat: Latitude
    lng: Longitude


class SignupConfirm(InModel):
    username: Annotated[str, StringConstraints(min_length=3, max_length=254)]
    code: Annotated[str, StringConstraints(min_length=6, max_length=6, pattern=r"^\d{6}$")]
    name: Name
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    locale: Literal["en", "zh-CN"] = "en"
    organization: Annotated[str, StringConstraints(max_length=64)] | None = None
    site: SignupSite | None = None
