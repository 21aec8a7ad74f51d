"""The calendar engine against hand-checked cases and a slow minute-by-minute reference (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldops.sla import rules
from fieldops.sla.rules import Calendar, CalendarError, Level

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
NY_OFFICE = {"timezone": "America/New_York", "hours": {d: [["08:00", "18:00"]] for d in WEEKDAYS},
             "holiday_country": "US", "holiday_subdiv": "MA"}


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)  # type: ignore[misc]


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)  # type: ignore[misc]


# ---- hand-checked cases -----------------------------------------------------------------------------

def test_business_hours_skip_nights_weekends_and_massachusetts_holidays() -> None:
    cal = rules.calendar_from_json(NY_OFFICE)
    assert rules.add_business(ny(2026, 11, 25, 15), 180, cal) == ny(2026, 11, 25, 18)
    # Wed 17:00 + 2 h: Thanksgiving (Thu) is a holiday -> Fri 09:00.
    assert rules.add_business(ny(2026, 11, 25, 17), 120, cal) == ny(2026, 11, 27, 9)
    # Patriots' Day (Mon 2026-04-20) is a Massachusetts holiday only.
    assert rules.add_business(ny(2026, 4, 17, 17), 120, cal) == ny(2026, 4, 21, 9)
    assert rules.business_minutes_between(ny(2026, 11, 25, 17), ny(2026, 11, 27, 9), cal) == 120


def test_china_statutory_holidays_and_makeup_workdays() -> None:
    cal = rules.calendar_from_json({"timezone": "Asia/Shanghai", "holiday_country": "CN",
                                    "hours": {d: [["09:00", "12:00"], ["13:00", "18:00"]] for d in WEEKDAYS}})
    # Saturday 2026-02-14 is a make-up working day (调休) before the Spring Festival.
    assert rules.add_business(sh(2026, 2, 13, 17), 120, cal) == sh(2026, 2, 14, 10)
    # National Day: 2026-09-30 (Wed) 17:00 + 2 h -> closed 10-01..10-07, open again Thu 10-08.
    assert rules.add_business(sh(2026, 9, 30, 17), 120, cal) == sh(2026, 10, 8, 10)
    # Sunday 2026-09-20 is a make-up working day.
    assert rules.add_business(sh(2026, 9, 19, 9), 60, cal) == sh(2026, 9, 20, 10)
    # Lunch break is not business time.
    assert rules.add_business(sh(2026, 3, 2, 11), 120, cal) == sh(2026, 3, 2, 14)


def test_dst_days_have_wall_clock_hours() -> None:
    cal = rules.calendar_from_json({"timezone": "America/New_York",
                                    "hours": {d: [["00:00", "04:00"]] for d in (*WEEKDAYS, "sat", "sun")}})
    spring = cal.day_intervals(date(2026, 3, 8))
    fall = cal.day_intervals(date(2026, 11, 1))
    assert sum((b - a).total_seconds() for a, b in spring) == 3 * 3600
    assert sum((b - a).total_seconds() for a, b in fall) == 5 * 3600
    office = rules.calendar_from_json(NY_OFFICE)
    # Friday before the spring change 17:00 EST + 2 h -> Monday 09:00 EDT (13:00 UTC).
    assert rules.add_business(ny(2026, 3, 6, 17), 120, office) == datetime(2026, 3, 9, 13, tzinfo=UTC)


def test_business_days_with_cutoff_like_city_services() -> None:
    cal = rules.calendar_from_json({**NY_OFFICE, "hours": {d: [["07:00", "16:00"]] for d in WEEKDAYS}})
    at, cutoff = 8 * 60 + 30, 15 * 60
    # Before the cutoff on Tuesday: day 0 is Tuesday; 10th business day later at 08:30.
    assert rules.due_by_business_days(ny(2026, 6, 2, 10), 10, at, cutoff, cal) == ny(2026, 6, 16, 8, 30)
    # After the cutoff: counting starts Wednesday.
    assert rules.due_by_business_days(ny(2026, 6, 2, 15, 30), 10, at, cutoff, cal) == ny(2026, 6, 17, 8, 30)
    # Saturday counts from Monday; Juneteenth (Fri 06-19) is skipped.
    assert rules.due_by_business_days(ny(2026, 6, 13, 9), 5, at, cutoff, cal) == ny(2026, 6, 23, 8, 30)


def test_always_open_and_custom_days() -> None:
    cal = rules.calendar_from_json({"always_open": True, "timezone": "Europe/Berlin"})
    start = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert rules.add_business(start, 240, cal) == start + timedelta(hours=4)
    custom = rules.calendar_from_json({**NY_OFFICE, "custom_days": [
        {"date": "2026-12-24", "hours": [["08:00", "12:00"]]}, {"date": "2026-12-28", "hours": []}]})
    assert rules.add_business(ny(2026, 12, 24, 11), 120, custom) == ny(2026, 12, 29, 9)


def test_validation_messages() -> None:
    cases = [
        ({"hours": {"mon": [["8:00", "12:00"]]}}, "hours.mon[0]"),
        ({"hours": {"mon": [["08:00", "12:00"], ["11:00", "13:00"]]}}, "hours.mon"),
        ({"hours": {"mon": [["12:00", "08:00"]]}}, "hours.mon[0]"),
        ({"hours": {"mon": [["08:00", "12:00"]]}, "holiday_country": "XX"}, "holiday_country"),
        ({"hours": {"mon": [["08:00", "12:00"]]}, "holiday_country": "US", "holiday_subdiv": "ZZ"}, "holiday_subdiv"),
        ({"hours": {"mon": [["08:00", "12:00"]]}, "timezone": "Mars/Base"}, "timezone"),
        ({"hours": {}}, "hours"),
    ]
    for data, field in cases:
        with pytest.raises(CalendarError) as err:
            rules.calendar_from_json(data)
        assert err.value.field == field and err.value.zh


def test_ladder_percent_and_offsets() -> None:
    cal = rules.calendar_from_json({"always_open": True})
    start = datetime(2026, 11, 23, 14, tzinfo=UTC)
    deadline = start + timedelta(minutes=60)
    levels = [Level("warn", "yellow", (), percent=50), Level("late", "red", (), percent=100),
              Level("black", "black", ("arrival",), offset_minutes=5), Level("pre", None, (), offset_minutes=-10)]
    sched = rules.ladder_schedule(levels, "response", start, deadline, 3600, 0, cal)
    assert [(i, (t - start).total_seconds() / 60) for i, t in sched] == [(0, 30), (3, 50), (1, 60)]
    assert [lv.kind() for lv in levels] == ["warning", "breach", "escalation", "warning"]


def test_policy_matching_rank_then_specificity() -> None:
    P = rules.PolicyFacts
    ps = [P("any", 0, (), (), ()), P("p0", 0, (), ("P0",), ()), P("p0vip", 0, (), ("P0",), ("vip",)),
          P("ranked", 5, (), (), ("key",))]
    assert rules.best_policy(ps, "st", "P0", "vip") == "p0vip"
    assert rules.best_policy(ps, "st", "P0", "standard") == "p0"
    assert rules.best_policy(ps, "st", "P0", "key") == "ranked"
    assert rules.best_policy(ps, "st", "P2", "standard") == "any"
    assert rules.best_policy(ps[1:3], "st", "P2", "standard") is None


# ---- property test: the fast engine against minute stepping ------------------------------------------

ZONES = ["America/New_York", "Europe/Berlin", "Asia/Shanghai"]
NEAR_DST = [date(2026, 3, 6), date(2026, 10, 30), date(2026, 3, 27), date(2026, 10, 23), date(2026, 7, 1)]
MINUTE = timedelta(minutes=1)


def _ref_hours(spec: dict, d: date) -> list[tuple[int, int]]:  # type: ignore[type-arg]
    if d in spec["custom"]:
        return spec["custom"][d]
    if d in spec["holidays"]:
        return []
    return spec["weekly"].get(d.weekday(), [])


def _ref_is_business(spec: dict, u: datetime) -> bool:  # type: ignore[type-arg]
    loc = u.astimezone(ZoneInfo(spec["tz"]))
    m = loc.hour * 60 + loc.minute
    return any(a <= m < b for a, b in _ref_hours(spec, loc.date()))


def _ref_add(spec: dict, start: datetime, minutes: int, pause: tuple[datetime, datetime] | None) -> datetime:  # type: ignore[type-arg]
    u, left = start, minutes
    while left > 0:
        if _ref_is_business(spec, u) and not (pause and pause[0] <= u < pause[1]):
            left -= 1
        u += MINUTE
    return u


@st.composite
def calendars(draw: st.DrawFn) -> dict:  # type: ignore[type-arg]
    tz = draw(st.sampled_from(ZONES))
    weekly: dict[int, list[tuple[int, int]]] = {}
    for wd in range(7):
        n = draw(st.integers(0, 2))
        cuts = sorted(draw(st.lists(st.integers(0, 48), min_size=2 * n, max_size=2 * n, unique=True)))
        weekly[wd] = [(cuts[2 * i] * 30, cuts[2 * i + 1] * 30) for i in range(n)]
    if not any(weekly.values()):
        weekly[0] = [(60, 180)]  # 01:00-03:00: crosses the DST hour
    base = draw(st.sampled_from(NEAR_DST))
    holidays = set(draw(st.lists(st.integers(0, 12), max_size=3)))
    custom = {base + timedelta(days=k): [(s * 30, (s + w) * 30)]
              for k, s, w in draw(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 40), st.integers(1, 8)),
                                           max_size=2))}
    return {"tz": tz, "weekly": weekly, "base": base, "custom": custom,
            "holidays": {base + timedelta(days=k) for k in holidays}}


def _engine(spec: dict) -> Calendar:  # type: ignore[type-arg]
    return Calendar(tz=spec["tz"], weekly={k: tuple(v) for k, v in spec["weekly"].items()},
                    holidays=frozenset(spec["holidays"]), custom={k: tuple(v) for k, v in spec["custom"].items()})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=calendars(), hour=st.integers(0, 23), minute=st.integers(0, 59), minutes=st.integers(1, 900),
       pause=st.one_of(st.none(), st.tuples(st.integers(0, 2000), st.integers(1, 2000))))
def test_add_business_matches_minute_stepping(spec: dict, hour: int, minute: int, minutes: int,  # type: ignore[type-arg]
                                              pause: tuple[int, int] | None) -> None:
    cal = _engine(spec)
    start = datetime(spec["base"].year, spec["base"].month, spec["base"].day, hour, minute, tzinfo=UTC)
    deadline = rules.add_business(start, minutes, cal)
    window = None
    if pause is not None:
        p0 = start + timedelta(minutes=pause[0])
        window = (p0, p0 + timedelta(minutes=pause[1]))
        if window[0] < deadline:  # a pause ends before the deadline or covers it: extend by its business time
            deadline = rules.add_business_seconds(
                deadline, rules.business_seconds_between(window[0], window[1], cal), cal)
        else:
            window = None
    assert deadline == _ref_add(spec, start, minutes, window)
    if window is None:
        assert rules.business_minutes_between(start, deadline, cal) == minutes


@settings(max_examples=100, deadline=None)
@given(spec=calendars(), hour=st.integers(0, 23), days=st.integers(0, 6), at=st.integers(0, 47),
       cutoff=st.integers(1, 47))
def test_business_days_match_day_stepping(spec: dict, hour: int, days: int, at: int, cutoff: int) -> None:  # type: ignore[type-arg]
    cal = _engine(spec)
    start = datetime(spec["base"].year, spec["base"].month, spec["base"].day, hour, 7, tzinfo=UTC)
    got = rules.due_by_business_days(start, days, at * 30, cutoff * 30, cal)
    zone = ZoneInfo(spec["tz"])
    loc = start.astimezone(zone)
    d = loc.date()
    is_open = bool(_ref_hours(spec, d)) and loc.hour * 60 + loc.minute < cutoff * 30
    counted = 0 if is_open else -1
    while counted < days or not _ref_hours(spec, d):
        d += timedelta(days=1)
        if _ref_hours(spec, d):
            counted += 1
    want = datetime(d.year, d.month, d.day, (at * 30) // 60, (at * 30) % 60, tzinfo=zone).astimezone(UTC)
    assert got == want
