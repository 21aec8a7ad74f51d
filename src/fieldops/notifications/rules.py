"""Pure notification rules: languages, rendering, channel choice, quiet hours, backoff, robot signing."""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fieldops.engine.travel import haversine_m
from fieldops.notifications.templates import EXCEPTION_KINDS, TARGETS, TEMPLATES

CHANNELS = ("in_app", "email", "sms", "wecom", "dingtalk", "webhook")
PERSONAL = ("in_app", "email", "sms")  # addressed to a person; user preferences apply
ORG_WIDE = ("wecom", "dingtalk", "webhook")  # one per organisation / subscription
EXTERNAL = ("email", "sms", "wecom", "dingtalk", "webhook")  # delivered by the worker
LANGS = ("en", "zh-CN")


def normalize_lang(lang: str | None) -> str | None:
    if not lang:
        return None
    low = lang.strip().lower()
    if low.startswith("zh"):
        return "zh-CN"
    if low.startswith("en"):
        return "en"
    return None


def template_group(template: str) -> str:
    return template.split(".", 1)[0]


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def enrich(params: Mapping[str, Any]) -> dict[str, Any]:
    """Derived params every template may use (bilingual labels for SLA targets and exception kinds)."""
    out = {k: ("" if v is None else v) for k, v in params.items()}
    target = str(params.get("target") or "")
    en, zh = TARGETS.get(target, (target, target))
    out.setdefault("target_en", en)
    out.setdefault("target_zh", zh)
    kind = str(params.get("kind") or "")
    ken, kzh = EXCEPTION_KINDS.get(kind, (kind, kind))
    out.setdefault("kind_en", ken)
    out.setdefault("kind_zh", kzh)
    out.setdefault("change_zh", out.get("change", ""))
    return out


def render(template: str, lang: str, params: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, body) of a template in a language; unknown templates render their key and params."""
    texts = TEMPLATES.get(template)
    if texts is None:
        return template, ", ".join(f"{k}={v}" for k, v in params.items())
    subject, body = texts.get(lang) or texts["en"]
    values = _Blank(enrich(params))
    return subject.format_map(values)[:300], body.format_map(values)


@dataclass(frozen=True)
class Prefs:
    """A user's stored choices (empty = the defaults)."""

    channels: Mapping[str, bool] = field(default_factory=dict)
    groups: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)
    quiet_start: str | None = None
    quiet_end: str | None = None


def default_channels(is_customer: bool) -> tuple[str, ...]:
    return ("sms", "email") if is_customer else ("in_app", "email")


def choose_channels(requested: Iterable[str] | None, *, group: str, is_customer: bool, prefs: Prefs) -> list[str]:
    """Channels for one person. None → the preferences (defaults: staff in_app+email, customers sms+email);
    an explicit list is honoured except for personal channels the person switched off."""

    def wanted(ch: str, default: bool) -> bool:
        grp = prefs.groups.get(group, {})
        if ch in grp:
            return bool(grp[ch])
        return bool(prefs.channels.get(ch, default))

    if requested is None:
        defaults = default_channels(is_customer)
        return [ch for ch in PERSONAL if wanted(ch, ch in defaults)]
    out: list[str] = []
    for ch in requested:
        if ch in out or ch not in CHANNELS:
            continue
        if ch in PERSONAL and not wanted(ch, True):
            continue
        out.append(ch)
    return out


def parse_hhmm(value: str) -> time:
    hh, mm = value.split(":")
    return time(int(hh), int(mm))


def quiet_until(now: datetime, start: str | None, end: str | None, tz: str) -> datetime | None:
    """When quiet hours (local wall-clock [start, end), may wrap midnight) end, if `now` is inside them."""
    if not start or not end or start == end:
        return None
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    s, e = parse_hhmm(start), parse_hhmm(end)
    t = local.time().replace(second=0, microsecond=0)
    inside = (s <= t < e) if s < e else (t >= s or t < e)
    if not inside:
        return None
    end_local = datetime.combine(local.date(), e, tzinfo=zone)
    if end_local <= local:
        end_local += timedelta(days=1)
    return end_local.astimezone(now.tzinfo)


def backoff_seconds(attempt: int, base: float, cap: float = 3600.0) -> float:
    """Exponential backoff after the `attempt`-th failure: base, 2·base, 4·base, … capped."""
    return float(min(base * (2 ** max(attempt - 1, 0)), cap))


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk robot signature: base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")), URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def event_matches(filters: Iterable[str], event_type: str) -> bool:
    """A webhook's filters: empty = everything; exact names or shell patterns like "work_order.*"."""
    pats = list(filters)
    return not pats or any(fnmatch.fnmatchcase(event_type, p) for p in pats)


def mask(value: str | None) -> str | None:
    """A secret shown as set / not set, never its value."""
    return "********" if value else None


# ---- live ETA ---------------------------------------------------------------------------------------------

ETA_SPEED_KMH = 30.0  # urban driving, as the dispatch engine's default
ETA_DETOUR = 1.3  # road distance over straight-line distance
ETA_FRESH_MINUTES = 15  # an older fix says nothing about where the technician is now


def position_is_fresh(seen_at: datetime | None, now: datetime) -> bool:
    return seen_at is not None and timedelta(0) <= now - seen_at <= timedelta(minutes=ETA_FRESH_MINUTES)


def live_eta(now: datetime, tech_lat: float | None, tech_lng: float | None, seen_at: datetime | None,
             site_lat: float | None, site_lng: float | None) -> datetime | None:
    """Arrival estimate from the technician's last fresh position: straight line × detour at urban speed."""
    if None in (tech_lat, tech_lng, site_lat, site_lng) or not position_is_fresh(seen_at, now):
        return None
    metres = haversine_m(float(tech_lat), float(tech_lng), float(site_lat), float(site_lng))  # type: ignore[arg-type]
    return now + timedelta(hours=metres / 1000.0 * ETA_DETOUR / ETA_SPEED_KMH)
