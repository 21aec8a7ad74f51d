"""Pure rules: rendering in both languages, channel choice, quiet hours, backoff, robot signing, filters."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from fieldops.notifications import rules
from fieldops.notifications.templates import TEMPLATES

SLA = {"number": "WO-1", "title": "Chiller", "target": "resolution", "level": 2, "deadline": "2026-11-23T18:00Z",
       "minutes": 15}


def test_every_template_has_both_languages_and_renders() -> None:
    for key in ("sla.warning", "sla.breached", "sla.escalated", "comment.mention"):
        assert key in TEMPLATES
    for key, texts in TEMPLATES.items():
        assert set(texts) == {"en", "zh-CN"}, key
        for lang in ("en", "zh-CN"):
            subject, body = rules.render(key, lang, {})  # missing params never break a send
            assert subject and body


def test_sla_rendering_uses_the_target_label() -> None:
    assert "resolution" in rules.render("sla.breached", "en", SLA)[0]
    subject, body = rules.render("sla.breached", "zh-CN", SLA)
    assert "解决" in subject and "15" in subject and "WO-1" in body


def test_channel_choice() -> None:
    none = rules.Prefs()
    assert rules.choose_channels(None, group="sla", is_customer=False, prefs=none) == ["in_app", "email"]
    assert rules.choose_channels(None, group="sla", is_customer=True, prefs=none) == ["email", "sms"]
    prefs = rules.Prefs(channels={"email": False}, groups={"sla": {"sms": True, "in_app": False}})
    assert rules.choose_channels(None, group="sla", is_customer=False, prefs=prefs) == ["sms"]
    assert rules.choose_channels(None, group="comment", is_customer=False, prefs=prefs) == ["in_app"]
    assert rules.choose_channels(["email", "wecom", "bogus"], group="comment", is_customer=False,
                                 prefs=prefs) == ["wecom"]


def test_quiet_hours_wrap_midnight() -> None:
    now = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 23:00 in New York
    until = rules.quiet_until(now, "22:00", "07:00", "America/New_York")
    assert until == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert rules.quiet_until(now, "08:00", "20:00", "America/New_York") is None
    assert rules.quiet_until(now, None, None, "UTC") is None


@given(st.integers(0, 23), st.integers(0, 59), st.integers(0, 23), st.integers(0, 59),
       st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)))
def test_quiet_until_is_after_now_and_within_a_day(sh: int, sm: int, eh: int, em: int, now: datetime) -> None:
    until = rules.quiet_until(now, f"{sh:02d}:{sm:02d}", f"{eh:02d}:{em:02d}", "Asia/Shanghai")
    if until is not None:
        assert now < until <= now + timedelta(days=1)
        assert rules.quiet_until(until, f"{sh:02d}:{sm:02d}", f"{eh:02d}:{em:02d}", "Asia/Shanghai") is None


@given(st.integers(1, 30), st.floats(1, 600))
def test_backoff_grows_and_is_capped(attempt: int, base: float) -> None:
    a, b = rules.backoff_seconds(attempt, base), rules.backoff_seconds(attempt + 1, base)
    assert base <= a <= b <= 3600 or a == b == 3600 or (a >= 3600 and b >= 3600)
    assert b == min(2 * a, 3600) or a >= 3600 or b == 3600


def test_dingtalk_sign_matches_the_documented_algorithm() -> None:
    ts, secret = 1_700_000_000_000, "SEC000"
    digest = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    assert urllib.parse.unquote_plus(rules.dingtalk_sign(secret, ts)) == base64.b64encode(digest).decode()


def test_event_filters() -> None:
    assert rules.event_matches([], "anything")
    assert rules.event_matches(["work_order.*"], "work_order.assigned")
    assert not rules.event_matches(["sla.breached"], "sla.warning")


def test_language_normalisation() -> None:
    assert rules.normalize_lang("zh") == "zh-CN" and rules.normalize_lang("en-US") == "en"
    assert rules.normalize_lang("fr") is None
