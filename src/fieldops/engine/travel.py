"""Travel times between points: great-circle distance × detour factor at a constant speed, in whole seconds.

The default model is the one behind the Boston instances in shared/data/boston-dispatch (haversine on a
6,371 km sphere, × 1.3, at 30 km/h, rounded to whole seconds). A deployment with a road-network service
plugs it in through `MatrixProvider`; the engine only ever asks for whole seconds between lists of points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fieldops.engine.model import TravelModel

EARTH_RADIUS_M = 6_371_000.0

Seconds = NDArray[np.int64]


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres between two points given in degrees."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def _seconds_from_m(model: TravelModel, metres: float) -> float:
    # km × detour ÷ km/h × 3600, written the way the instance README states it.
    return metres / 1000.0 * model.detour / model.speed_kmh * 3600.0


def travel_seconds(model: TravelModel, lat1: float, lng1: float, lat2: float, lng2: float) -> int:
    """Whole seconds from (lat1, lng1) to (lat2, lng2) under `model` (rounded half to even, like numpy)."""
    return round(_seconds_from_m(model, haversine_m(lat1, lng1, lat2, lng2)))


def haversine_many_m(lat1: ArrayLike, lng1: ArrayLike, lat2: ArrayLike, lng2: ArrayLike) -> NDArray[np.float64]:
    """Vectorised `haversine_m`; the arguments broadcast against each other like numpy arrays."""
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dl = np.radians(np.asarray(lng2, dtype=np.float64) - np.asarray(lng1, dtype=np.float64))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(1.0, a))), dtype=np.float64)


def travel_seconds_many(model: TravelModel, lat1: ArrayLike, lng1: ArrayLike, lat2: ArrayLike,
                        lng2: ArrayLike) -> Seconds:
    """Vectorised `travel_seconds` (broadcasting); int64 whole seconds."""
    metres = haversine_many_m(lat1, lng1, lat2, lng2)
    return np.rint(metres / 1000.0 * model.detour / model.speed_kmh * 3600.0).astype(np.int64)


def seconds_to_metres(model: TravelModel, seconds: float) -> float:
    """The great-circle distance that takes `seconds` under `model` (for bounding-box pre-filters)."""
    return seconds / 3600.0 * model.speed_kmh / model.detour * 1000.0


@runtime_checkable
class MatrixProvider(Protocol):
    """Whole seconds of travel between points. Implementations must be deterministic.

    `matrix` answers every origin × destination (shape (len(src), len(dst))); `pairs` answers
    src[i] → dst[i] element-wise. Coordinates are degrees.
    """

    def matrix(self, src_lat: ArrayLike, src_lng: ArrayLike, dst_lat: ArrayLike, dst_lng: ArrayLike) -> Seconds: ...

    def pairs(self, src_lat: ArrayLike, src_lng: ArrayLike, dst_lat: ArrayLike, dst_lng: ArrayLike) -> Seconds: ...


@dataclass(frozen=True)
class HaversineMatrix:
    """The default provider: `travel_seconds` for every pair, computed with numpy.

    It satisfies the triangle inequality up to rounding (one second per leg), which the dispatch
    pre-filter relies on (`metric = True`); a road-network provider should leave `metric` False
    unless it guarantees the same.
    """

    model: TravelModel = field(default_factory=TravelModel)
    metric: bool = True

    def matrix(self, src_lat: ArrayLike, src_lng: ArrayLike, dst_lat: ArrayLike, dst_lng: ArrayLike) -> Seconds:
        s_lat = np.asarray(src_lat, dtype=np.float64).reshape(-1, 1)
        s_lng = np.asarray(src_lng, dtype=np.float64).reshape(-1, 1)
        d_lat = np.asarray(dst_lat, dtype=np.float64).reshape(1, -1)
        d_lng = np.asarray(dst_lng, dtype=np.float64).reshape(1, -1)
        return travel_seconds_many(self.model, s_lat, s_lng, d_lat, d_lng)

    def pairs(self, src_lat: ArrayLike, src_lng: ArrayLike, dst_lat: ArrayLike, dst_lng: ArrayLike) -> Seconds:
        return travel_seconds_many(self.model, src_lat, src_lng, dst_lat, dst_lng).reshape(-1)

    def seconds(self, lat1: float, lng1: float, lat2: float, lng2: float) -> int:
        return travel_seconds(self.model, lat1, lng1, lat2, lng2)
