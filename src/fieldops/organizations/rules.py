"""Pure rules of organisations: territory geometry, point-in-territory, time zones. No I/O."""

from __future__ import annotations

import math
import threading
import uuid
import zoneinfo
from collections import OrderedDict
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Protocol

from shapely import Point, prepare
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

MAX_POINTS = 5_000

# Organisation policy knobs that may be overridden per organisation, with their upper bounds.
SETTING_LIMITS: dict[str, float] = {
    "auto_confirm_hours": 24 * 365,
    "auto_close_hours": 24 * 365,
    "reopen_window_days": 3650,
}


class GeometryProblem(ValueError):
    """A territory geometry is unusable; carries the reason in English and Chinese."""

    def __init__(self, en: str, zh: str) -> None:
        super().__init__(en)
        self.en, self.zh = en, zh


# ---- time zones ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_valid_timezone(name: str) -> bool:
    """True for an IANA time-zone name this system knows (e.g. "Asia/Shanghai", "UTC")."""
    return name in _zones()


# ---- geometry -----------------------------------------------------------------------------------


def _position(value: Any, where: str) -> list[float]:
    if not isinstance(value, list | tuple) or len(value) not in (2, 3):
        raise GeometryProblem(
            f"{where} must be a position [longitude, latitude].",
            f"{where} 必须是坐标点 [经度, 纬度]。",
        )
    nums: list[float] = []
    for v in value[:2]:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
            raise GeometryProblem(f"{where} must contain finite numbers.", f"{where} 必须是有限的数字。")
        nums.append(float(v))
    lng, lat = nums
    if not -180 <= lng <= 180:
        raise GeometryProblem(
            f"{where}: longitude {lng:g} is outside -180..180 (GeoJSON order is [longitude, latitude]).",
            f"{where}：经度 {lng:g} 超出 -180..180 范围（GeoJSON 顺序为 [经度, 纬度]）。",
        )
    if not -90 <= lat <= 90:
        raise GeometryProblem(
            f"{where}: latitude {lat:g} is outside -90..90 (GeoJSON order is [longitude, latitude]).",
            f"{where}：纬度 {lat:g} 超出 -90..90 范围（GeoJSON 顺序为 [经度, 纬度]）。",
        )
    return nums


def _polygon_coords(value: Any, where: str, budget: list[int]) -> list[list[list[float]]]:
    if not isinstance(value, list) or not value:
        raise GeometryProblem(
            f"{where} must be a non-empty list of linear rings.",
            f"{where} 必须是非空的闭合环列表。",
        )
    rings: list[list[list[float]]] = []
    for r, ring in enumerate(value):
        rwhere = f"{where}[{r}]"
        if not isinstance(ring, list):
            raise GeometryProblem(f"{rwhere} must be a list of positions.", f"{rwhere} 必须是坐标点列表。")
        budget[0] += len(ring)
        if budget[0] > MAX_POINTS:
            raise GeometryProblem(
                f"The polygon has more than {MAX_POINTS} points; simplify it.",
                f"多边形的点数超过 {MAX_POINTS} 个，请简化后再提交。",
            )
        if len(ring) < 4:
            raise GeometryProblem(
                f"{rwhere} has {len(ring)} positions; a ring needs at least 4 (the last equal to the first).",
                f"{rwhere} 只有 {len(ring)} 个点；一个环至少需要 4 个点（最后一点与第一点相同）。",
            )
        points = [_position(p, f"{rwhere}[{i}]") for i, p in enumerate(ring)]
        if points[0] != points[-1]:
            raise GeometryProblem(
                f"{rwhere} is not closed: its last position must equal its first.",
                f"{rwhere} 未闭合：最后一个点必须与第一个点相同。",
            )
        rings.append(points)
    return rings


def parse_territory_geometry(value: Any) -> dict[str, Any]:
    """Check a GeoJSON Polygon/MultiPolygon geometry and return it normalised (2-D, only type+coordinates).

    Raises GeometryProblem with a reason in English and Chinese when it is malformed, has
    coordinates out of range, open rings, more than MAX_POINTS points, or is not a valid area
    (self-intersections and the like, as judged by shapely).
    """
    if not isinstance(value, dict):
        raise GeometryProblem("The polygon must be a GeoJSON geometry object.", "polygon 必须是 GeoJSON 几何对象。")
    kind = value.get("type")
    if kind == "Feature":
        raise GeometryProblem(
            'Send the geometry of the feature (its "geometry" member), not the Feature itself.',
            "请提交要素的 geometry 部分，而不是整个 Feature。",
        )
    if kind not in ("Polygon", "MultiPolygon"):
        raise GeometryProblem(
            'The polygon\'s type must be "Polygon" or "MultiPolygon".',
            'polygon 的 type 必须是 "Polygon" 或 "MultiPolygon"。',
        )
    unknown = sorted(set(value) - {"type", "coordinates", "bbox"})
    if unknown:
        raise GeometryProblem(
            f"Unknown member(s) in the geometry: {', '.join(map(str, unknown))[:200]}.",
            f"几何对象中包含未知字段：{', '.join(map(str, unknown))[:200]}。",
        )
    coords = value.get("coordinates")
    budget = [0]
    normalised: list[Any]
    if kind == "Polygon":
        normalised = _polygon_coords(coords, "polygon.coordinates", budget)
    else:
        if not isinstance(coords, list) or not coords:
            raise GeometryProblem(
                "polygon.coordinates of a MultiPolygon must be a non-empty list of polygons.",
                "MultiPolygon 的 polygon.coordinates 必须是非空的多边形列表。",
            )
        normalised = [_polygon_coords(p, f"polygon.coordinates[{i}]", budget) for i, p in enumerate(coords)]
    geometry = {"type": kind, "coordinates": normalised}
    try:
        geom = shape(geometry)
    except Exception as exc:  # shapely's own complaint about a structure we did not foresee
        raise GeometryProblem(
            f"The polygon is not valid GeoJSON: {str(exc)[:200]}.",
            f"polygon 不是有效的 GeoJSON：{str(exc)[:200]}。",
        ) from None
    if not geom.is_valid:
        reason = explain_validity(geom)[:200]
        raise GeometryProblem(
            f"The polygon is not a valid area ({reason}); check for self-intersections or overlapping parts.",
            f"多边形不是有效的区域（{reason}）；请检查是否自相交或各部分重叠。",
        )
    if geom.is_empty or geom.area <= 0:
        raise GeometryProblem("The polygon encloses no area.", "多边形没有面积。")
    return geometry


# ---- point in territory -------------------------------------------------------------------------


class TerritoryShape(Protocol):
    id: uuid.UUID
    polygon: dict[str, Any]


# Prepared shapes by (id, version, updated_at): the timestamp tells apart two versions with the same
# number when one of them was rolled back.
_CACHE: OrderedDict[tuple[Any, ...], BaseGeometry] = OrderedDict()
_CACHE_SIZE = 2048
# Requests run in a thread pool; the cache and the lazily built indexes of prepared shapes are shared.
_LOCK = threading.Lock()


def _geometry(t: TerritoryShape) -> BaseGeometry:
    version, stamp = getattr(t, "version", None), getattr(t, "updated_at", None)
    key = (t.id, version, stamp) if isinstance(version, int) and stamp is not None else None
    if key is not None and key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    geom = shape(t.polygon)
    prepare(geom)
    if key is not None:
        _CACHE[key] = geom
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return geom


def territory_for_point(territories: Iterable[TerritoryShape], lat: float, lng: float) -> uuid.UUID | None:
    """The id of the territory containing (lat, lng), or None.

    A point on a border belongs to the territories on both sides; when several territories
    contain the point the smallest (most specific) wins, ties broken by id so the answer is stable.
    """
    point = Point(lng, lat)
    best: tuple[float, str, uuid.UUID] | None = None
    with _LOCK:
        for t in territories:
            geom = _geometry(t)
            if geom.covers(point):
                candidate = (geom.area, str(t.id), t.id)
                if best is None or candidate[:2] < best[:2]:
                    best = candidate
    return best[2] if best else None
