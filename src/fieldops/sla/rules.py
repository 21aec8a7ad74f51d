"""SLA math as pure code: business calendars, deadlines, escalation fire times, policy matching.

Business time is the set of instants whose wall-clock time in the calendar's zone lies inside that local day's
working intervals (so working hours follow DST: on a spring-forward day 01:00-04:00 holds two hours, on a
fall-back day three). Days are turned into UTC intervals once and cached, so adding time skips whole intervals
and days instead of stepping minutes.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

TARGETS = ("response", "arrival", "resolution")
TARGET_ZH = {"response": "响应", "arrival": "到场", "resolution": "解决"}
TARGET_EVENTS = {"response": "work_order.accepted", "arrival": "work_order.checked_in",
                 "resolution": "work_order.work_completed"}
TIERS = ("standard", "vip", "key")
HOLD_REASONS = ("waiting_customer", "waiting_parts", "other")
ACTIONS = ("reassign", "pool", "raise_priority")
MAX_DAYS_AHEAD = 3660  # a deadline search gives up after ten years of closed days
DAY_MIN = 1440
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


class CalendarError(ValueError):
    """A calendar or target that cannot be used, with English and Chinese text and the offending field."""

    def __init__(self, en: str, zh: str, field: str) -> None:
        super().__init__(en)
        self.en, self.zh, self.field = en, zh, field


# ---- parsing and validation ---------------------------------------------------------------------

def parse_hhmm(value: str, field: str, *, allow_24: bool = True) -> int:
    """'08:30' -> 510 minutes after midnight; '24:00' closes a day."""
    if not isinstance(value, str) or not _TIME_RE.match(value) or (value == "24:00" and not allow_24):
        raise CalendarError(f"{value!r} is not a time of day (HH:MM, 00:00 to 24:00).",
                            f"“{value}”不是有效的时间（HH:MM，00:00 至 24:00）。", field)
    h, m = value.split(":")
    return int(h) * 60 + int(m)


def parse_intervals(pairs: Sequence[Sequence[str]], field: str) -> tuple[tuple[int, int], ...]:
    """[["08:00","12:00"],["13:00","18:00"]] -> sorted minute intervals; overlaps and empty ones are errors."""
    out: list[tuple[int, int]] = []
    for i, pair in enumerate(pairs):
        if len(pair) != 2:
            raise CalendarError("Each interval is a [start, end] pair.", "每个时间段须为 [开始, 结束]。",
                                f"{field}[{i}]")
        a = parse_hhmm(pair[0], f"{field}[{i}]", allow_24=False)
        b = parse_hhmm(pair[1], f"{field}[{i}]")
        if b <= a:
            raise CalendarError(f"Interval {pair[0]}-{pair[1]} ends before it starts.",
                                f"时间段 {pair[0]}-{pair[1]} 的结束早于开始。", f"{field}[{i}]")
        out.append((a, b))
    out.sort()
    for (a1, b1), (a2, _) in itertools.pairwise(out):
        if a2 < b1:
            raise CalendarError(f"Working intervals overlap ({a1 // 60:02d}:{a1 % 60:02d}).",
                                f"工作时间段重叠（{a1 // 60:02d}:{a1 % 60:02d}）。", field)
    return tuple(out)


def check_timezone(name: str, field: str = "timezone") -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise CalendarError(f"Unknown time zone {name!r}.", f"未知时区“{name}”。", field) from exc
    return name


def check_holiday_region(country: str | None, subdiv: str | None) -> None:
    """Unknown countries or subdivisions of the `holidays` package are an error, not an empty list."""
    if not country:
        if subdiv:
            raise CalendarError("A subdivision needs a country.", "填写地区时须同时填写国家。", "holiday_subdiv")
        return
    supported = holidays_lib.list_supported_countries()
    if country not in supported:
        raise CalendarError(f"Unknown holiday country {country!r}.", f"未知的节假日国家代码“{country}”。",
                            "holiday_country")
    if subdiv and subdiv not in supported[country]:
        raise CalendarError(f"{country} has no subdivision {subdiv!r}.", f"{country} 没有地区代码“{subdiv}”。",
                            "holiday_subdiv")


@lru_cache(maxsize=512)
def holiday_table(country: str, subdiv: str | None, year: int, lang: str = "en") -> tuple[
        tuple[tuple[date, str], ...], tuple[date, ...]]:
    """(holidays, make-up working days) of one year: China's 调休 Saturdays/Sundays are the second list."""
    language = {"zh-CN": "zh_CN"}.get(lang, "en_US")
    # Holiday names in the caller's language where the country's table has it, else the table's default.
    table = holidays_lib.country_holidays(country, subdiv=subdiv, years=year)
    if language in (table.supported_languages or ()):
        table = holidays_lib.country_holidays(country, subdiv=subdiv, years=year, language=language)
    days = tuple(sorted((d, str(n)) for d, n in table.items() if d.year == year))
    workdays = tuple(sorted(d for d in getattr(table, "weekend_workdays", set()) if d.year == year))
    return days, workdays


# ---- the calendar ---------------------------------------------------------------------------------

Intervals = tuple[tuple[int, int], ...]


@dataclass
class Calendar:
    """Working time in one zone: weekly hours, holidays (closed), make-up working days and custom days.

    `weekly[0]` is Monday. A custom day overrides everything (empty = closed). Make-up working days (调休) use
    `makeup_hours`, else Monday's hours.
    """

    tz: str = "UTC"
    weekly: dict[int, Intervals] = field(default_factory=dict)
    always_open: bool = False
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    custom: dict[date, Intervals] = field(default_factory=dict)
    makeup_hours: Intervals | None = None
    holiday_country: str | None = None
    holiday_subdiv: str | None = None
    _cache: dict[date, tuple[tuple[datetime, datetime], ...]] = field(default_factory=dict, repr=False,
                                                                      compare=False)
    _years: set[int] = field(default_factory=set, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.zone = ZoneInfo(self.tz)
        self._hol: set[date] = set(self.holidays)
        self._work: set[date] = set(self.workdays)

    def _load_year(self, year: int) -> None:
        if year in self._years:
            return
        self._years.add(year)
        if self.holiday_country:
            days, workdays = holiday_table(self.holiday_country, self.holiday_subdiv, year)
            self._hol.update(d for d, _ in days)
            self._work.update(workdays)

    def local_hours(self, d: date) -> Intervals:
        """The working intervals of local day `d` (minutes after local midnight)."""
        if self.always_open:
            return ((0, DAY_MIN),)
        if d in self.custom:
            return self.custom[d]
        self._load_year(d.year)
        if d in self._work and d not in self._hol:
            return self.makeup_hours if self.makeup_hours is not None else self.weekly.get(0, ())
        if d in self._hol:
            return ()
        return self.weekly.get(d.weekday(), ())

    def is_business_day(self, d: date) -> bool:
        return bool(self.local_hours(d))

    def day_intervals(self, d: date) -> tuple[tuple[datetime, datetime], ...]:
        """The UTC intervals of instants whose wall-clock time is inside day `d`'s working hours."""
        hit = self._cache.get(d)
        if hit is not None:
            return hit
        result = _utc_intervals(d, self.local_hours(d), self.zone)
        if len(self._cache) > 20_000:
            self._cache.clear()
        self._cache[d] = result
        return result

    def local_date(self, when: datetime) -> date:
        return when.astimezone(self.zone).date()

    def has_working_time(self) -> bool:
        return self.always_open or any(self.weekly.get(i) for i in range(7)) or any(self.custom.values())


def _offset(zone: ZoneInfo, utc: datetime) -> timedelta:
    off = utc.astimezone(zone).utcoffset()
    return off if off is not None else timedelta(0)


def _utc_intervals(d: date, hours: Intervals, zone: ZoneInfo) -> tuple[tuple[datetime, datetime], ...]:
    """Local wall-clock intervals of day d -> UTC intervals, exact across a DST change that day."""
    if not hours:
        return ()
    midnight = datetime.combine(d, time(0))  # naive local
    lo = (midnight - timedelta(hours=30)).replace(tzinfo=UTC)
    hi = (midnight + timedelta(hours=54)).replace(tzinfo=UTC)
    o1, o2 = _offset(zone, lo), _offset(zone, hi)
    # Constant-offset segments of UTC time covering every instant that can show local date d.
    segments: list[tuple[datetime, datetime, timedelta]]
    if o1 == o2:
        segments = [(lo, hi, o1)]
    else:
        a, b = lo, hi  # binary search the change to the second: offset(a) == o1, offset(b) != o1
        while (b - a) > timedelta(seconds=1):
            mid = a + (b - a) / 2
            mid = mid.replace(microsecond=0)
            if _offset(zone, mid) == o1:
                a = mid
            else:
                b = mid
        segments = [(lo, b, o1), (b, hi, o2)]
    out: list[tuple[datetime, datetime]] = []
    for start_min, end_min in hours:
        ls = (midnight + timedelta(minutes=start_min)).replace(tzinfo=UTC)
        le = (midnight + timedelta(minutes=end_min)).replace(tzinfo=UTC)
        for s, e, off in segments:
            u1, u2 = max(ls - off, s), min(le - off, e)
            if u1 < u2:
                out.append((u1, u2))
    out.sort()
    merged: list[tuple[datetime, datetime]] = []
    for s, e in out:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return tuple(merged)


def _days_from(cal: Calendar, start: datetime) -> Iterable[date]:
    d = cal.local_date(start) - timedelta(days=1)
    for i in range(MAX_DAYS_AHEAD):
        yield d + timedelta(days=i)


def _no_time() -> CalendarError:
    return CalendarError("The calendar has no working time in the next ten years.",
                         "该日历未来十年内没有工作时间。", "calendar")


def add_business_seconds(start: datetime, seconds: float, cal: Calendar) -> datetime:
    """The earliest instant t >= start with `seconds` of business time in [start, t)."""
    if start.tzinfo is None:
        raise ValueError("aware datetime required")
    start = start.astimezone(UTC)
    if cal.always_open:
        return start + timedelta(seconds=seconds)
    if seconds <= 0:
        return start
    left = timedelta(seconds=seconds)
    for d in _days_from(cal, start):
        for s, e in cal.day_intervals(d):
            if e <= start:
                continue
            s = max(s, start)
            span = e - s
            if span >= left:
                return s + left
            left -= span
    raise _no_time()


def add_business(start: datetime, minutes: float, cal: Calendar) -> datetime:
    """`start` plus `minutes` of business time (skips closed time; whole intervals at a time)."""
    return add_business_seconds(start, minutes * 60.0, cal)


def business_seconds_between(a: datetime, b: datetime, cal: Calendar) -> float:
    """Business time in [a, b) in seconds (negative when b < a)."""
    if b < a:
        return -business_seconds_between(b, a, cal)
    if cal.always_open:
        return (b - a).total_seconds()
    total = timedelta(0)
    d = cal.local_date(a) - timedelta(days=1)
    last = cal.local_date(b) + timedelta(days=1)
    while d <= last:
        for s, e in cal.day_intervals(d):
            lo, hi = max(s, a), min(e, b)
            if lo < hi:
                total += hi - lo
        d += timedelta(days=1)
    return total.total_seconds()


def business_minutes_between(a: datetime, b: datetime, cal: Calendar) -> float:
    return business_seconds_between(a, b, cal) / 60.0


def local_at(d: date, minute: int, cal: Calendar) -> datetime:
    """Local wall time `minute` of day `d` as UTC (a time skipped by DST lands just after the change)."""
    naive = datetime.combine(d, time(0)) + timedelta(minutes=minute)
    return naive.replace(tzinfo=cal.zone).astimezone(UTC)


def due_by_business_days(start: datetime, days: int, at_minute: int | None, cutoff_minute: int | None,
                         cal: Calendar) -> datetime:
    """City-style targets: 'due at 08:30 on the Nth business day'.

    Day 0 is the day of the request if it is a business day and the request came before the cutoff, else the
    next business day; the deadline is on the business day `days` after day 0, at `at_minute` local time (None:
    the end of that day's working hours).
    """
    local = start.astimezone(cal.zone)
    d = local.date()
    minute = local.hour * 60 + local.minute
    if not cal.is_business_day(d) or (cutoff_minute is not None and minute >= cutoff_minute):
        d = _next_business_day(d, cal)
    for _ in range(days):
        d = _next_business_day(d, cal)
    if at_minute is None:
        hours = cal.local_hours(d)
        at_minute = hours[-1][1]
    return local_at(d, at_minute, cal)


def _next_business_day(d: date, cal: Calendar) -> date:
    for i in range(1, MAX_DAYS_AHEAD):
        n = d + timedelta(days=i)
        if cal.is_business_day(n):
            return n
    raise _no_time()


# ---- targets and deadlines -------------------------------------------------------------------------

@dataclass(frozen=True)
class TargetSpec:
    """One target: business minutes, or N business days at a time of day with a same-day cutoff."""

    minutes: float | None = None
    business_days: int | None = None
    at: int | None = None  # minutes after local midnight
    cutoff: int | None = None

    @staticmethod
    def from_json(data: dict[str, Any], field: str = "targets") -> TargetSpec:
        minutes = data.get("minutes")
        if data.get("hours") is not None:
            minutes = float(data["hours"]) * 60
        days = data.get("business_days")
        if (minutes is None) == (days is None):
            raise CalendarError("A target needs either minutes/hours or business_days.",
                                "时限须填写分钟/小时数或工作日数之一。", field)
        if minutes is not None and not (0 < float(minutes) <= 525_600):
            raise CalendarError("Target minutes must be between 1 minute and one year.",
                                "时限分钟数须在 1 分钟到一年之间。", field)
        if days is not None and not (0 <= int(days) <= 365):
            raise CalendarError("business_days must be 0 to 365.", "工作日数须在 0 到 365 之间。", field)
        at = parse_hhmm(data["at"], f"{field}.at") if data.get("at") else None
        cutoff = parse_hhmm(data["cutoff"], f"{field}.cutoff") if data.get("cutoff") else None
        return TargetSpec(minutes=float(minutes) if minutes is not None else None,
                          business_days=int(days) if days is not None else None, at=at, cutoff=cutoff)


def deadline_for(start: datetime, spec: TargetSpec, cal: Calendar) -> datetime:
    if spec.business_days is not None:
        return due_by_business_days(start, spec.business_days, spec.at, spec.cutoff, cal)
    return add_business(start, spec.minutes or 0.0, cal)


# ---- escalation ladders ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Level:
    name: str
    color: str | None
    targets: tuple[str, ...]  # empty = every target
    offset_minutes: float | None = None  # relative to the deadline (wall-clock), negative = before
    percent: float | None = None  # of the target's business time

    def kind(self) -> str:
        """warning before 100 %, breach at 100 % (or offset 0), escalation after."""
        pos = self.percent - 100 if self.percent is not None else (self.offset_minutes or 0.0)
        return "warning" if pos < 0 else "breach" if pos == 0 else "escalation"

    def applies_to(self, target: str) -> bool:
        return not self.targets or target in self.targets


def level_from_json(data: dict[str, Any]) -> Level:
    return Level(name=str(data.get("name") or ""), color=data.get("color"),
                 targets=tuple(data.get("targets") or ()), offset_minutes=data.get("offset_minutes"),
                 percent=data.get("percent"))


def level_fire_time(level: Level, start: datetime, deadline: datetime, total_seconds: float,
                    paused_business_seconds: float, cal: Calendar) -> datetime:
    """When a level fires for a clock that started at `start`, is due at `deadline` (already extended by pauses)
    and whose target is `total_seconds` of business time. Paused business time before the fire moment shifts
    percentage levels like it shifted the deadline."""
    if level.percent is None:
        return deadline + timedelta(minutes=level.offset_minutes or 0.0)
    p = level.percent
    if p == 100:
        return deadline
    if p > 100:
        return add_business_seconds(deadline, (p - 100) / 100.0 * total_seconds, cal)
    at = add_business_seconds(start, p / 100.0 * total_seconds + paused_business_seconds, cal)
    return min(at, deadline)


def ladder_schedule(levels: Sequence[Level], target: str, start: datetime, deadline: datetime, total_seconds: float,
                    paused_business_seconds: float, cal: Calendar) -> list[tuple[int, datetime]]:
    """(level index, fire time) of the levels of `target`, in firing order."""
    out = [(i, level_fire_time(lv, start, deadline, total_seconds, paused_business_seconds, cal))
           for i, lv in enumerate(levels) if lv.applies_to(target)]
    out.sort(key=lambda x: (x[1], x[0]))
    return out


# ---- policy matching ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PolicyFacts:
    id: Any
    rank: int
    service_type_ids: tuple[str, ...]
    priorities: tuple[str, ...]
    customer_tiers: tuple[str, ...]
    created_order: int = 0


def policy_matches(p: PolicyFacts, service_type_id: str, priority: str, tier: str) -> bool:
    return ((not p.service_type_ids or service_type_id in p.service_type_ids)
            and (not p.priorities or priority in p.priorities)
            and (not p.customer_tiers or tier in p.customer_tiers))


def specificity(p: PolicyFacts) -> int:
    return sum(1 for x in (p.service_type_ids, p.priorities, p.customer_tiers) if x)


def best_policy(policies: Iterable[PolicyFacts], service_type_id: str, priority: str, tier: str) -> Any:
    """The id of the matching policy that wins: highest explicit rank, then the most criteria, then the oldest."""
    matching = [p for p in policies if policy_matches(p, service_type_id, priority, tier)]
    if not matching:
        return None
    matching.sort(key=lambda p: (-p.rank, -specificity(p), p.created_order))
    return matching[0].id


def percent_elapsed(elapsed_business_seconds: float, total_seconds: float) -> float:
    if total_seconds <= 0:
        return 100.0
    return round(100.0 * max(elapsed_business_seconds, 0.0) / total_seconds, 1)


def minutes_between(a: datetime, b: datetime) -> int:
    return math.floor(abs((b - a).total_seconds()) / 60.0)


def calendar_from_json(data: dict[str, Any], site_tz: str | None = None) -> Calendar:
    """A Calendar from the stored/API shape (validated): timezone may be None = the site's zone."""
    tz = check_timezone(data.get("timezone") or site_tz or "UTC")
    weekly: dict[int, Intervals] = {}
    hours = data.get("hours") or {}
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    for key, pairs in hours.items():
        idx = names.index(key) if key in names else None
        if idx is None:
            raise CalendarError(f"Unknown weekday {key!r} (use mon..sun).", f"未知的星期“{key}”（请用 mon..sun）。",
                                "hours")
        weekly[idx] = parse_intervals(pairs or [], f"hours.{key}")
    custom: dict[date, Intervals] = {}
    for i, day in enumerate(data.get("custom_days") or []):
        try:
            d = date.fromisoformat(str(day.get("date")))
        except ValueError as exc:
            raise CalendarError(f"{day.get('date')!r} is not a date (YYYY-MM-DD).",
                                f"“{day.get('date')}”不是有效日期（YYYY-MM-DD）。", f"custom_days[{i}].date") from exc
        if d in custom:
            raise CalendarError(f"{d} is listed twice.", f"{d} 重复。", f"custom_days[{i}].date")
        custom[d] = parse_intervals(day.get("hours") or [], f"custom_days[{i}].hours")
    country, subdiv = data.get("holiday_country"), data.get("holiday_subdiv")
    check_holiday_region(country, subdiv)
    makeup = data.get("makeup_hours")
    cal = Calendar(tz=tz, weekly=weekly, always_open=bool(data.get("always_open")), custom=custom,
                   makeup_hours=parse_intervals(makeup, "makeup_hours") if makeup is not None else None,
                   holiday_country=country or None, holiday_subdiv=subdiv or None)
    if not cal.has_working_time():
        raise CalendarError("The calendar has no working hours.", "该日历没有任何工作时间。", "hours")
    return cal


def judge(deadline: datetime | None, met_at: datetime | None, as_of: datetime) -> str:
    """A clock's outcome: 'met' (done by the deadline), 'breached' (done late, or still open past it),
    'running' (open, not due yet), 'untracked' (no deadline)."""
    if deadline is None:
        return "untracked"
    if met_at is not None:
        return "met" if met_at <= deadline else "breached"
    return "breached" if as_of > deadline else "running"
