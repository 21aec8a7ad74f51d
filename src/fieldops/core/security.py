"""Password hashing (argon2id), the password policy, and signed tokens (PyJWT)."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from fieldops.core.errors import InvalidInput, Unauthorized

_PROFILES = {
    # RFC 9106's second recommended option (64 MiB) is heavy for a 2-core box; OWASP's 19 MiB/t=2 is fine.
    "standard": PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1),
    "fast": PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
}


def hasher(profile: str = "standard") -> PasswordHasher:
    return _PROFILES.get(profile, _PROFILES["standard"])


def hash_password(password: str, profile: str = "standard") -> str:
    return hasher(profile).hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _PROFILES["standard"].verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A constant hash to verify against when the user does not exist, so timing does not reveal it.
DUMMY_HASH = _PROFILES["fast"].hash("not-a-real-password-1!")


@lru_cache(maxsize=4)
def dummy_hash(profile: str = "standard") -> str:
    """The hash to verify an unknown account's password against: made with the same cost profile as real
    users' hashes, or an unknown account would answer measurably faster than a known one."""
    return hasher(profile).hash("not-a-real-password-1!")


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"][:20000])


PASSWORD_RULES_EN = (
    "at least 8 characters, with letters, digits and a symbol, and not a common password"
)
PASSWORD_RULES_ZH = "至少 8 位，须包含字母、数字和符号，且不能是常见密码"


def check_password_policy(password: str) -> None:
    """Raise InvalidInput with a readable reason when the password breaks the policy."""
    problems_en: list[str] = []
    problems_zh: list[str] = []
    if len(password) < 8:
        problems_en.append("it is shorter than 8 characters")
        problems_zh.append("少于 8 位")
    if len(password) > 128:
        problems_en.append("it is longer than 128 characters")
        problems_zh.append("超过 128 位")
    if not re.search(r"[A-Za-z]", password):
        problems_en.append("it has no letter")
        problems_zh.append("缺少字母")
    if not re.search(r"\d", password):
        problems_en.append("it has no digit")
        problems_zh.append("缺少数字")
    if not re.search(r"[^A-Za-z0-9]", password):
        problems_en.append("it has no symbol")
        problems_zh.append("缺少符号")
    lowered = password.lower()
    stripped = re.sub(r"[^a-z0-9]", "", lowered)
    common = _common_passwords()
    if lowered in common or (len(stripped) >= 4 and stripped in common and len(stripped) >= len(lowered) - 1):
        problems_en.append("it is one of the most common passwords")
        problems_zh.append("属于常见密码")
    if problems_en:
        raise InvalidInput(
            f"The password is too weak: {', '.join(problems_en)}. Rules: {PASSWORD_RULES_EN}.",
            f"密码强度不足：{'，'.join(problems_zh)}。规则：{PASSWORD_RULES_ZH}。",
            field="password",
        )


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    kind: str
    jti: str
    expires_at: datetime


def issue_token(key: str, *, user_id: uuid.UUID, session_id: uuid.UUID, kind: str,
                now: datetime, ttl: timedelta, jti: str | None = None) -> tuple[str, TokenClaims]:
    jti = jti or secrets.token_urlsafe(16)
    exp = now + ttl
    payload: dict[str, Any] = {
        "sub": str(user_id), "sid": str(session_id), "typ": kind, "jti": jti,
        "iat": int(now.timestamp()), "exp": int(exp.timestamp()),
    }
    token = jwt.encode(payload, key, algorithm="HS256")
    return token, TokenClaims(user_id, session_id, kind, jti, exp)


def decode_token(key: str, token: str, *, kind: str, now: datetime) -> TokenClaims:
    """Verify signature, expiry and kind; raise 401 otherwise."""
    try:
        # Expiry is checked against the injectable clock below, not the wall clock.
        options = {"require": ["exp", "sub", "sid", "typ", "jti"], "verify_exp": False, "verify_iat": False,
                   "verify_nbf": False}
        payload = jwt.decode(token, key, algorithms=["HS256"], options=options)  # type: ignore[arg-type]
    except jwt.PyJWTError:
        raise Unauthorized("invalid_token")
    if payload.get("typ") != kind or int(payload["exp"]) <= int(now.timestamp()):
        raise Unauthorized("invalid_token")
    try:
        return TokenClaims(uuid.UUID(payload["sub"]), uuid.UUID(payload["sid"]), kind, str(payload["jti"]),
                           datetime.fromtimestamp(int(payload["exp"]), tz=now.tzinfo))
    except (ValueError, TypeError):
        raise Unauthorized("invalid_token")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def one_time_code() -> str:
    """A 6-digit code for password resets and sign-up."""
    return f"{secrets.randbelow(1_000_000):06d}"
