"""Pure tracking rules: point validation, distances, the token bucket, trace simplification, stop detection,
fence containment (STRtree) and timeout checks. No I/O; time is always an argument."""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from shapely import LineString, Point, STRtree, box, prepare
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from fieldops.organizations.rules import GeometryProblem, parse_territory_geometry

EARTH_RADIUS_M = 6_371_008.8
MAX_SPEED_KMH = 300.0

# reason code -> (English, Chinese)
REASONS: dict[str, tuple[str, str]] = {
    "non_finite": ("Coordinates, accuracy, speed and heading must be finite numbers.",
                   "坐标、精度、速度和方向必须是有限的数字。"),
    "invalid_coordinates": ("Latitude must be within -90..90 and longitude within -180..180.",
                            "纬度须在 -90..90 之间，经度须在 -180..180 之间。"),
    "null_island": ("The position 0,0 is a device error, not a location.", "坐标 0,0 是设备错误，不是有效位置。"),
    "invalid_value": ("Accuracy and speed must not be negative; heading must be within 0..360.",
                      "精度和速度不能为负数；方向须在 0..360 之间。"),
    "future_timestamp": ("The point's time is in the future.", "该点的时间在未来。"),
    "too_old": ("The point is older than the retention period.", "该点早于数据保留期限。"),
    "out_of_order": ("The point is not later than the last accepted point.", "该点的时间不晚于上一个已接收的点。"),
    "implied_speed": (f"Reaching this point from the previous one needs more than {MAX_SPEED_KMH:g} km/h.",
                      f"从上一个点到该点的速度超过 {MAX_SPEED_KMH:g} 公里/小时。"),
    "off_shift": ("Positions are not stored while you are off shift and have no active job.",
                  "下班且无进行中的工单时不保存位置。"),
    "low_accuracy": ("The point's accuracy is poor; it is kept but not used for geofences.",
                     "该点精度较差；已保存，但不用于电子围栏判断。"),
}


def reason_messages(code: str) -> tuple[str, str]:
    return REASONS.get(code, (code, code))


# ---- distances ----------------------------------------------------------------------------------

def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def degrees_for_metres(lat: float, metres: float) -> tuple[float, float]:
    """(Δlat, Δlng) in degrees that cover at least `metres` around latitude `lat`."""
    dlat = metres / 111_320.0
    dlng = metres / (111_320.0 * max(math.cos(math.radians(min(abs(lat), 89.0))), 0.01))
    return dlat, dlng


# ---- point validation ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RawPoint:
    lat: float
    lng: float
    recorded_at: datetime
    accuracy_m: float | None = None
    speed_mps: float | None = None
    heading: float | None = None


@dataclass(frozen=True)
class Fix:
    lat: float
    lng: float
    recorded_at: datetime


@dataclass(frozen=True)
class Limits:
    max_future_skew: timedelta = timedelta(seconds=120)
    max_age: timedelta = timedelta(days=90)
    max_speed_kmh: float = MAX_SPEED_KMH
    low_accuracy_m: float = 100.0


@dataclass(frozen=True)
class Verdict:
    index: int
    ok: bool  # accepted (possibly flagged)
    reason: str | None = None  # rejection reason
    flags: tuple[str, ...] = ()


def _finite(*values: float | None) -> bool:
    return all(v is None or (isinstance(v, int | float) and math.isfinite(v)) for v in values)


def check_point(p: RawPoint, now: datetime, limits: Limits) -> str | None:
    """The rejection reason of a point on its own, or None."""
    if not _finite(p.lat, p.lng, p.accuracy_m, p.speed_mps, p.heading):
        return "non_finite"
    if not (-90.0 <= p.lat <= 90.0 and -180.0 <= p.lng <= 180.0):
        return "invalid_coordinates"
    if p.lat == 0.0 and p.lng == 0.0:
        return "null_island"
    if (p.accuracy_m is not None and p.accuracy_m < 0) or (p.speed_mps is not None and p.speed_mps < 0) \
            or (p.heading is not None and not 0.0 <= p.heading <= 360.0):
        return "invalid_value"
    if p.recorded_at > now + limits.max_future_skew:
        return "future_timestamp"
    if p.recorded_at < now - limits.max_age:
        return "too_old"
    return None


def validate_batch(points: Sequence[RawPoint], last: Fix | None, now: datetime,
                   limits: Limits = Limits()) -> list[Verdict]:
    """A verdict per point (in input order). Points are taken in time order, each against the last one accepted
    before it (the stored last fix first): earlier-or-equal times are out of order, and a jump needing more than
    the speed limit is rejected. Accepted points with poor accuracy are flagged `low_accuracy`."""
    verdicts: dict[int, Verdict] = {}
    order = sorted(range(len(points)), key=lambda i: (_sort_key(points[i]), i))
    prev = last
    for i in order:
        p = points[i]
        reason = check_point(p, now, limits)
        if reason is None and prev is not None:
            if p.recorded_at <= prev.recorded_at:
                reason = "out_of_order"
            else:
                dt = (p.recorded_at - prev.recorded_at).total_seconds()
                kmh = haversine_m(prev.lat, prev.lng, p.lat, p.lng) / dt * 3.6
                if kmh > limits.max_speed_kmh:
                    reason = "implied_speed"
        if reason is not None:
            verdicts[i] = Verdict(i, False, reason)
            continue
        flags = ("low_accuracy",) if p.accuracy_m is not None and p.accuracy_m > limits.low_accuracy_m else ()
        verdicts[i] = Verdict(i, True, None, flags)
        prev = Fix(p.lat, p.lng, p.recorded_at)
    return [verdicts[i] for i in range(len(points))]


def _sort_key(p: RawPoint) -> datetime:
    return p.recorded_at


# ---- rate limiting ------------------------------------------------------------------------------

def take_token(tokens: float, tokens_at: datetime, now: datetime, rate_per_s: float,
               burst: float) -> tuple[bool, float, int]:
    """Token bucket: (allowed, tokens left, seconds to wait when refused)."""
    elapsed = max(0.0, (now - tokens_at).total_seconds())
    available = min(burst, tokens + elapsed * rate_per_s)
    if available >= 1.0:
        return True, available - 1.0, 0
    wait = math.ceil((1.0 - available) / rate_per_s) if rate_per_s > 0 else 60
    return False, available, max(1, wait)


# ---- privacy ------------------------------------------------------------------------------------

STORING_DUTY = frozenset({"on_duty", "on_break"})


def may_store(duty_status: str, has_active_job: bool) -> bool:
    """Positions are kept only while the technician is on duty (or on a break) or has an active job."""
    return duty_status in STORING_DUTY or has_active_job


# ---- trace: simplification, stops, distance -----------------------------------------------------

@dataclass(frozen=True)
class TracePoint:
    lat: float
    lng: float
    recorded_at: datetime
    accuracy_m: float | None = None


@dataclass(frozen=True)
class Stop:
    lat: float
    lng: float
    arrived_at: datetime
    left_at: datetime
    points: int

    @property
    def duration_s(self) -> int:
        return int((self.left_at - self.arrived_at).total_seconds())


def _project(points: Sequence[TracePoint]) -> tuple[np.ndarray, float, float]:
    """Local equirectangular projection in metres around the trace's mean position."""
    lat0 = float(np.mean([p.lat for p in points]))
    lng0 = float(np.mean([p.lng for p in points]))
    kx = 111_320.0 * math.cos(math.radians(lat0))
    xy = np.array([[(p.lng - lng0) * kx, (p.lat - lat0) * 111_320.0] for p in points], dtype=float)
    return xy, lat0, lng0


def simplify(points: Sequence[TracePoint], tolerance_m: float) -> list[TracePoint]:
    """The points kept by Douglas-Peucker (shapely, in metres); the first and last always stay."""
    if len(points) <= 2 or tolerance_m <= 0:
        return list(points)
    xy, _, _ = _project(points)
    simplified = LineString(xy).simplify(tolerance_m, preserve_topology=False)
    kept = list(simplified.coords)
    out: list[TracePoint] = []
    j = 0
    for p, (x, y) in zip(points, xy, strict=True):  # the kept vertices are input vertices, in order
        if j < len(kept) and abs(kept[j][0] - x) < 1e-6 and abs(kept[j][1] - y) < 1e-6:
            out.append(p)
            j += 1
    if not out or out[0] is not points[0]:
        out.insert(0, points[0])
    if out[-1] is not points[-1]:
        out.append(points[-1])
    return out


def detect_stops(points: Sequence[TracePoint], radius_m: float, min_dwell: timedelta) -> list[Stop]:
    """Stays of at least `min_dwell` within `radius_m` of where they began (points in time order)."""
    stops: list[Stop] = []
    i, n = 0, len(points)
    while i < n:
        j = i
        while j + 1 < n and haversine_m(points[i].lat, points[i].lng, points[j + 1].lat, points[j + 1].lng) <= radius_m:
            j += 1
        if points[j].recorded_at - points[i].recorded_at >= min_dwell:
            group = points[i:j + 1]
            stops.append(Stop(lat=sum(p.lat for p in group) / len(group), lng=sum(p.lng for p in group) / len(group),
                              arrived_at=points[i].recorded_at, left_at=points[j].recorded_at, points=len(group)))
            i = j + 1
        else:
            i += 1
    return stops


def path_length_m(points: Sequence[TracePoint]) -> float:
    return sum(haversine_m(a.lat, a.lng, b.lat, b.lng) for a, b in itertools.pairwise(points))


# ---- geofences ----------------------------------------------------------------------------------

def parse_polygon(value: Any) -> dict[str, Any]:
    """A normalised GeoJSON Polygon/MultiPolygon; GeometryProblem (English + Chinese) when unusable."""
    return parse_territory_geometry(value)


def parse_feature_collection(value: Any, max_features: int = 10_000) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(geometry, properties) per feature of a GeoJSON FeatureCollection of Polygon/MultiPolygon features."""
    if not isinstance(value, dict) or value.get("type") != "FeatureCollection":
        raise GeometryProblem('Send a GeoJSON object with "type": "FeatureCollection".',
                              '请提交 "type" 为 "FeatureCollection" 的 GeoJSON 对象。')
    features = value.get("features")
    if not isinstance(features, list) or not features:
        raise GeometryProblem("The FeatureCollection has no features.", "FeatureCollection 中没有要素。")
    if len(features) > max_features:
        raise GeometryProblem(f"At most {max_features} features per import.", f"每次最多导入 {max_features} 个要素。")
    out = []
    for i, feature in enumerate(features):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise GeometryProblem(f"features[{i}] is not a GeoJSON Feature.", f"features[{i}] 不是 GeoJSON 要素。")
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            raise GeometryProblem(f"features[{i}].properties must be an object.",
                                  f"features[{i}].properties 必须是对象。")
        try:
            geometry = parse_polygon(feature.get("geometry"))
        except GeometryProblem as exc:
            raise GeometryProblem(f"features[{i}]: {exc.en}", f"features[{i}]：{exc.zh}") from None
        out.append((geometry, props))
    return out


@dataclass(frozen=True)
class FenceShape:
    """A fence to test points against: a circle (lat, lng, radius) or a polygon geometry (GeoJSON)."""

    key: str  # "g:<id>", "t:<id>", "s:<work order id>"
    fence_type: str  # geofence | territory | site
    fence_id: uuid.UUID
    name: str
    lat: float | None = None
    lng: float | None = None
    radius_m: float | None = None
    geometry: dict[str, Any] | None = None
    work_order_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Hit:
    fence: FenceShape
    distance_m: float | None  # to the centre of a circle


@dataclass
class FenceIndex:
    """Many fences in one STRtree over their bounding boxes (degrees); exact tests after the tree query."""

    fences: list[FenceShape]
    _tree: STRtree | None = None
    _geoms: list[BaseGeometry] = field(default_factory=list)

    def __post_init__(self) -> None:
        boxes = []
        for f in self.fences:
            if f.geometry is not None:
                geom = shape(f.geometry)
                prepare(geom)
                self._geoms.append(geom)
                boxes.append(box(*geom.bounds))
            else:
                assert f.lat is not None and f.lng is not None and f.radius_m is not None
                dlat, dlng = degrees_for_metres(f.lat, f.radius_m * 1.01 + 1)
                self._geoms.append(Point(f.lng, f.lat))
                boxes.append(box(f.lng - dlng, f.lat - dlat, f.lng + dlng, f.lat + dlat))
        self._tree = STRtree(boxes) if boxes else None

    def containing(self, lat: float, lng: float, slack_m: Iterable[str] = (), slack: float = 0.0) -> list[Hit]:
        """Fences containing the point. Circles whose key is in `slack_m` (those the technician is already inside)
        get `slack` metres more, so a fix jittering on the edge does not enter and leave over and over."""
        if self._tree is None:
            return []
        sticky = set(slack_m)
        pt = Point(lng, lat)
        hits = []
        margin = degrees_for_metres(lat, slack) if slack > 0 else (0.0, 0.0)
        query = box(lng - margin[1], lat - margin[0], lng + margin[1], lat + margin[0]) if slack > 0 else pt
        for idx in self._tree.query(query):
            f = self.fences[int(idx)]
            if f.geometry is not None:
                if self._geoms[int(idx)].covers(pt):
                    hits.append(Hit(f, None))
                continue
            assert f.lat is not None and f.lng is not None and f.radius_m is not None
            d = haversine_m(lat, lng, f.lat, f.lng)
            if d <= f.radius_m + (slack if f.key in sticky else 0.0):
                hits.append(Hit(f, round(d, 1)))
        return hits


def circle_hits(circles: Iterable[FenceShape], lat: float, lng: float, sticky: set[str], slack: float) -> list[Hit]:
    """The few per-technician circles (job sites) without an index."""
    hits = []
    for f in circles:
        assert f.lat is not None and f.lng is not None and f.radius_m is not None
        d = haversine_m(lat, lng, f.lat, f.lng)
        if d <= f.radius_m + (slack if f.key in sticky else 0.0):
            hits.append(Hit(f, round(d, 1)))
    return hits


# ---- timeouts -----------------------------------------------------------------------------------

TIMEOUT_KINDS: dict[str, tuple[str, str]] = {
    "not_accepted": ("not accepted in time", "未及时接单"),
    "not_departed": ("not departed in time", "未按时出发"),
    "not_arrived": ("not arrived by the end of the window", "预约时段结束仍未到场"),
    "overstay": ("on site much longer than planned", "现场停留时间远超计划"),
    "check_in_far": ("checked in far from the site", "签到位置距离现场过远"),
}


@dataclass(frozen=True)
class OrderTimes:
    status: str
    assigned_at: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    checked_in_at: datetime | None
    site_entered_at: datetime | None
    duration_min: int
    travel_min: float


@dataclass(frozen=True)
class TimeoutPolicy:
    accept_min: float = 30.0
    overstay_factor: float = 1.5


def due_timeouts(o: OrderTimes, now: datetime, policy: TimeoutPolicy) -> list[tuple[str, str]]:
    """(kind, stamp) of every timeout that is due; the stamp makes the alert key unique per occurrence
    (a reassignment re-arms `not_accepted`, a new window re-arms the window alerts)."""
    out: list[tuple[str, str]] = []
    if o.status == "assigned" and o.assigned_at is not None \
            and now >= o.assigned_at + timedelta(minutes=policy.accept_min):
        out.append(("not_accepted", o.assigned_at.isoformat()))
    if o.status in ("assigned", "accepted") and o.window_start is not None \
            and now >= o.window_start - timedelta(minutes=o.travel_min):
        out.append(("not_departed", o.window_start.isoformat()))
    if o.status in ("assigned", "accepted", "en_route") and o.window_end is not None and now > o.window_end \
            and o.site_entered_at is None and o.checked_in_at is None:
        out.append(("not_arrived", o.window_end.isoformat()))
    if o.status in ("on_site", "in_progress") and o.checked_in_at is not None \
            and now >= o.checked_in_at + timedelta(minutes=o.duration_min * policy.overstay_factor):
        out.append(("overstay", o.checked_in_at.isoformat()))
    return out


def travel_minutes(distance_m: float | None, speed_kmh: float, default_min: float) -> float:
    """A rough travel estimate: road distance ≈ 1.3 × straight line, at `speed_kmh`."""
    if distance_m is None or speed_kmh <= 0:
        return default_min
    return distance_m * 1.3 / 1000.0 / speed_kmh * 60.0
