"""Bodies of the auth and user endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import EmailStr, Field, StringConstraints, field_validator

from fieldops.core.schemas import InModel, Name, OutModel
from fieldops.users.rules import normalize_phone

RoleName = Literal["admin", "supervisor", "dispatcher", "agent", "technician", "customer", "finance"]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Locale = Literal["en", "zh-CN"]


class LoginRequest(InModel):
    username: Annotated[str, StringConstraints(min_length=1, max_length=254)] = Field(
        description="E-mail address or phone number"
    )
    password: Password


class TokenPair(OutModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class RefreshRequest(InModel):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class LogoutRequest(InModel):
    refresh_token: Annotated[str, StringConstraints(max_length=4096)] | None = None


class PasswordResetRequest(InModel):
    username: Annotated[str, StringConstraints(min_length=1, max_length=254)]


class PasswordResetConfirm(InModel):
    username: Annotated[str, StringConstraints(min_length=1, max_length=254)]
    code: Annotated[str, StringConstraints(min_length=6, max_length=6, pattern=r"^\d{6}$")]
    new_password: Password


class PasswordChange(InModel):
    current_password: Password
    new_password: Password


class Message(OutModel):
    message: str


def _phone(value: str | None) -> str | None:
    if value is None:
        return None
    normalized = normalize_phone(value)
    if normalized is None:
        raise ValueError("not a valid phone number (use +<country code> for numbers outside the US)")
    return normalized


class UserCreate(InModel):
    email: EmailStr | None = None
    phone: Annotated[str, StringConstraints(max_length=32)] | None = None
    name: Name
    role: RoleName
    password: Password
    locale: Locale = "en"
    territory_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)

    _norm_phone = field_validator("phone")(classmethod(lambda cls, v: _phone(v)))


class UserUpdate(InModel):
    email: EmailStr | None = None
    phone: Annotated[str, StringConstraints(max_length=32)] | None = None
    name: Name | None = None
    role: RoleName | None = None
    locale: Locale | None = None
    is_active: bool | None = None
    territory_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)

    _norm_phone = field_validator("phone")(classmethod(lambda cls, v: _phone(v)))


class MeUpdate(InModel):
    name: Name | None = None
    locale: Locale | None = None


class UserRead(OutModel):
    id: uuid.UUID
    org_id: uuid.UUID
    email: str | None
    phone: str | None
    name: str
    role: str
    locale: str
    is_active: bool
    technician_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    territory_ids: list[uuid.UUID] = Field(default_factory=list)
    last_login_at: datetime | None
    created_at: datetime
    version: int
