"""Signed, expiring tracking links for customers (PyJWT, audience "track", the app's signing key)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from fieldops.settings import Settings

AUDIENCE = "track"


@dataclass(frozen=True)
class TrackClaims:
    work_order_id: uuid.UUID
    org_id: uuid.UUID


class TrackTokenError(Exception):
    def __init__(self, reason: str) -> None:  # "expired" | "invalid"
        super().__init__(reason)
        self.reason = reason


def make_token(settings: Settings, *, work_order_id: uuid.UUID, org_id: uuid.UUID, now: datetime) -> str:
    exp = now + timedelta(days=settings.tracking_link_days)
    claims = {"sub": str(work_order_id), "org": str(org_id), "aud": AUDIENCE, "iat": int(now.timestamp()),
              "exp": int(exp.timestamp())}
    return jwt.encode(claims, settings.signing_key(), algorithm="HS256")


def link(settings: Settings, token: str) -> str:
    base = (settings.public_base_url or "http://127.0.0.1:8000").rstrip("/")
    return f"{base}/track/{token}"


def read_token(settings: Settings, token: str, now: datetime) -> TrackClaims:
    """The claims of a genuine, unexpired tracking token (expiry checked against the injected clock)."""
    try:
        claims = jwt.decode(token, settings.signing_key(), algorithms=["HS256"], audience=AUDIENCE,
                            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                     "require": ["exp", "sub", "org", "aud"]})
        exp = int(claims["exp"])
        ids = TrackClaims(uuid.UUID(str(claims["sub"])), uuid.UUID(str(claims["org"])))
    except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
        raise TrackTokenError("invalid") from exc
    if now.timestamp() >= exp:
        raise TrackTokenError("expired")
    return ids


def expires_at(settings: Settings, token: str) -> datetime | None:
    try:
        claims = jwt.decode(token, settings.signing_key(), algorithms=["HS256"], audience=AUDIENCE,
                            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False})
        return datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
    except (jwt.PyJWTError, KeyError, ValueError, TypeError):
        return None
