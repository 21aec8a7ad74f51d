"""Pure rules about users: login names and phone numbers."""

from __future__ import annotations

import phonenumbers


def normalize_phone(raw: str) -> str | None:
    """E.164 form of a phone number (US or Chinese numbers without a country code), or None."""
    text = raw.strip()
    for region in ("US", "CN"):
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def looks_like_email(login: str) -> bool:
    return "@" in login


def account_key(login: str) -> str:
    return "acct:" + login.strip().lower()


def address_key(addr: str) -> str:
    return "ip:" + addr


def lock_seconds(base_seconds: int, strikes: int) -> int:
    """Throttle period: base, doubling with each repeated lock, capped at a day."""
    return int(min(base_seconds * (2 ** max(strikes - 1, 0)), 86_400))
