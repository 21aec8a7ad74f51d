from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from fieldops.technicians.rules import (
    CertificateInfo,
    LeaveSpan,
    ShiftSlot,
    SkillLevel,
    certificate_valid_on,
    has_skills,
    is_on_shift,
    shift_problem,
    valid_certificates,
)
from fieldops.technicians.schemas import ShiftIn, ShiftsReplace

NY = "America/New_York"
MON_9_TO_5 = ShiftSlot(0, time(8), time(17), time(12), time(13))


def ny(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo(NY))


def test_is_on_shift_examples() -> None:
    shifts = [MON_9_TO_5]
    assert is_on_shift(shifts, [], ny(2026, 11, 23, 9), NY)  # a Monday
    assert is_on_shift(shifts, [], datetime(2026, 11, 23, 14, tzinfo=UTC), NY)  # 09:00 in New York
    assert is_on_shift(shifts, [], ny(2026, 11, 23, 8), NY)  # start inclusive
    assert not is_on_shift(shifts, [], ny(2026, 11, 23, 7, 59), NY)
    assert not is_on_shift(shifts, [], ny(2026, 11, 23, 17), NY)  # end exclusive
    assert not is_on_shift(shifts, [], ny(2026, 11, 23, 12, 30), NY)  # on the break
    assert is_on_shift(shifts, [], ny(2026, 11, 23, 13), NY)  # break over
    assert not is_on_shift(shifts, [], ny(2026, 11, 24, 9), NY)  # Tuesday
    # 09:00 UTC on Monday is 04:00 in New York: not on shift there, but it is in UTC terms
    assert not is_on_shift(shifts, [], datetime(2026, 11, 23, 9, tzinfo=UTC), NY)
    assert is_on_shift(shifts, [], datetime(2026, 11, 23, 9, tzinfo=UTC), "UTC")
    assert not is_on_shift([], [], ny(2026, 11, 23, 9), NY)


def test_leave_takes_precedence_and_is_half_open() -> None:
    leave = [LeaveSpan(ny(2026, 11, 23, 10), ny(2026, 11, 23, 11), "sick")]
    assert not is_on_shift([MON_9_TO_5], leave, ny(2026, 11, 23, 10), NY)
    assert not is_on_shift([MON_9_TO_5], leave, ny(2026, 11, 23, 10, 59), NY)
    assert is_on_shift([MON_9_TO_5], leave, ny(2026, 11, 23, 11), NY)
    assert is_on_shift([MON_9_TO_5], leave, ny(2026, 11, 23, 9, 59), NY)


def test_shift_times_follow_daylight_saving() -> None:
    # Monday 2026-03-09 is the first weekday after the US switch to EDT (UTC-4)
    assert is_on_shift([MON_9_TO_5], [], datetime(2026, 3, 9, 12, tzinfo=UTC), NY)  # 08:00 EDT
    assert not is_on_shift([MON_9_TO_5], [], datetime(2026, 3, 2, 12, tzinfo=UTC), NY)  # 07:00 EST


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError):
        is_on_shift([MON_9_TO_5], [], datetime(2026, 11, 23, 9), NY)


def test_shift_validation() -> None:
    assert shift_problem(time(8), time(17), time(12), time(13)) is None
    assert shift_problem(time(8), time(17), None, None) is None
    assert "before it ends" in str(shift_problem(time(17), time(8), None, None))
    assert "before it ends" in str(shift_problem(time(8), time(8), None, None))
    assert "inside the shift" in str(shift_problem(time(8), time(17), time(7), time(9)))
    assert "inside the shift" in str(shift_problem(time(8), time(17), time(16), time(18)))
    assert "break must start" in str(shift_problem(time(8), time(17), time(13), time(12)))
    assert "both" in str(shift_problem(time(8), time(17), time(12), None))
    with pytest.raises(ValidationError):
        ShiftIn(weekday=0, start_time=time(8), end_time=time(17), break_start=time(18), break_end=time(19))
    with pytest.raises(ValidationError):
        ShiftIn(weekday=7, start_time=time(8), end_time=time(17))
    with pytest.raises(ValidationError):
        ShiftsReplace.model_validate({"shifts": [
            {"weekday": 1, "start_time": "08:00", "end_time": "12:00"},
            {"weekday": 1, "start_time": "11:00", "end_time": "15:00"}]})
    ok = ShiftsReplace.model_validate({"shifts": [
        {"weekday": 1, "start_time": "08:00", "end_time": "12:00"},
        {"weekday": 1, "start_time": "12:00", "end_time": "15:00"}]})
    assert len(ok.shifts) == 2


def test_has_skills() -> None:
    tech = [SkillLevel("hvac", 3), SkillLevel("elec", 1)]
    assert has_skills(tech, []) == []
    assert has_skills(tech, [{"skill": "hvac", "min_level": 3}]) == []
    assert has_skills(tech, [{"skill": "hvac", "min_level": 4}]) == ["hvac"]
    assert has_skills(tech, [{"skill": "elec"}, {"skill": "gas", "min_level": 1}]) == ["gas"]
    required = [{"skill": "hvac", "min_level": 5}, {"skill": "elec", "min_level": 2}]
    assert has_skills({"hvac": 5}, required) == ["elec"]


def test_certificates_valid_and_expired() -> None:
    assert certificate_valid_on(date(2025, 1, 1), date(2026, 1, 1), date(2026, 1, 1))  # expiry inclusive
    assert not certificate_valid_on(date(2025, 1, 1), date(2026, 1, 1), date(2026, 1, 2))
    assert not certificate_valid_on(date(2025, 1, 1), None, date(2024, 12, 31))  # not yet issued
    assert certificate_valid_on(None, None, date(2000, 1, 1))
    certs = [CertificateInfo("epa", "1", date(2020, 1, 1), date(2025, 1, 1)),
             CertificateInfo("epa", "2", date(2025, 1, 1), date(2030, 1, 1)),
             CertificateInfo("height", "3", date(2020, 1, 1), date(2026, 6, 30))]
    assert valid_certificates(certs, ["epa", "height"], date(2026, 6, 30)) == []
    assert valid_certificates(certs, ["epa", "height", "elec"], date(2026, 7, 1)) == ["height", "elec"]
    assert valid_certificates(certs, ["epa"], date(2019, 1, 1)) == ["epa"]
    assert certs[0].valid_on(date(2024, 6, 1)) and not certs[0].valid_on(date(2025, 1, 2))


# ---- property: is_on_shift agrees with a minute-of-week model -----------------------------------

ZONES = ["UTC", NY, "Asia/Shanghai", "Europe/London"]


@st.composite
def shifts_strategy(draw: st.DrawFn) -> ShiftSlot:
    weekday = draw(st.integers(0, 6))
    start = draw(st.integers(0, 24 * 60 - 2))
    end = draw(st.integers(start + 1, 24 * 60 - 1))
    has_break = draw(st.booleans()) and end - start >= 2
    b_start = b_end = None
    if has_break:
        b_start = draw(st.integers(start, end - 1))
        b_end = draw(st.integers(b_start + 1, end))
    as_time = lambda m: time(m // 60, m % 60)  # noqa: E731
    return ShiftSlot(weekday, as_time(start), as_time(end), as_time(b_start) if b_start is not None else None,
                     as_time(b_end) if b_end is not None else None)


instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31),
                        timezones=st.just(UTC))
leaves = st.lists(st.tuples(instants, st.integers(1, 60 * 24 * 10)).map(
    lambda p: LeaveSpan(p[0], p[0] + timedelta(minutes=p[1]))), max_size=3)


def _model(shifts: list[ShiftSlot], spans: list[LeaveSpan], at: datetime, tz: str) -> bool:
    local = at.astimezone(ZoneInfo(tz))
    minute = local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 60e6
    m = lambda t: t.hour * 60 + t.minute  # noqa: E731
    for s in shifts:
        if s.weekday != local.weekday() or not m(s.start_time) <= minute < m(s.end_time):
            continue
        if s.break_start and s.break_end and m(s.break_start) <= minute < m(s.break_end):
            continue
        return all(not (lv.start_at <= at < lv.end_at) for lv in spans)
    return False


@settings(max_examples=300, deadline=None)
@given(st.lists(shifts_strategy(), max_size=6), leaves, instants, st.sampled_from(ZONES))
def test_is_on_shift_property(shifts: list[ShiftSlot], spans: list[LeaveSpan], at: datetime, tz: str) -> None:
    result = is_on_shift(shifts, spans, at, tz)
    assert result == _model(shifts, spans, at, tz)
    # leave can only take time away; a leave around `at` always does
    if result:
        assert is_on_shift(shifts, [], at, tz)
    around = LeaveSpan(at - timedelta(minutes=1), at + timedelta(minutes=1))
    assert not is_on_shift(shifts, [*spans, around], at, tz)
    # on shift means on one of the shifts alone
    assert result == any(is_on_shift([s], spans, at, tz) for s in shifts)
