from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from fieldops.organizations.rules import (
    MAX_POINTS,
    GeometryProblem,
    is_valid_timezone,
    parse_territory_geometry,
    territory_for_point,
)
from tests.factories.organizations import BOSTON, SOUTH, box


@dataclass
class T:
    polygon: dict[str, Any]
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    version: int = 1


def test_point_in_territory_inside_outside_and_border() -> None:
    north, south = T(BOSTON), T(SOUTH)
    assert territory_for_point([north, south], 42.36, -71.06) == north.id
    assert territory_for_point([north, south], 42.2, -71.06) == south.id
    assert territory_for_point([north, south], 40.7, -74.0) is None
    assert territory_for_point([], 42.36, -71.06) is None
    # On the shared border both cover the point; the answer is still one, stable id.
    first = territory_for_point([north, south], 42.3, -71.06)
    assert first in (north.id, south.id)
    assert territory_for_point([south, north], 42.3, -71.06) == first


def test_smallest_containing_territory_wins() -> None:
    big = T(box(-72, 42, -70, 43))
    small = T(box(-71.1, 42.3, -71.0, 42.4))
    assert territory_for_point([big, small], 42.35, -71.05) == small.id
    assert territory_for_point([big, small], 42.9, -71.9) == big.id


def test_multipolygon_and_hole() -> None:
    donut = {
        "type": "Polygon",
        "coordinates": [
            [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
            [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]],
        ],
    }
    assert parse_territory_geometry(donut) == donut | {
        "coordinates": [[[float(x), float(y)] for x, y in ring] for ring in donut["coordinates"]]
    }
    t = T(donut)
    assert territory_for_point([t], 2, 2) == t.id
    assert territory_for_point([t], 5, 5) is None
    multi = {
        "type": "MultiPolygon",
        "coordinates": [box(0, 0, 1, 1)["coordinates"], box(5, 5, 6, 6)["coordinates"]],
    }
    m = T(parse_territory_geometry(multi))
    assert territory_for_point([m], 5.5, 5.5) == m.id


def test_altitude_is_dropped_and_extra_members_refused() -> None:
    g = parse_territory_geometry({"type": "Polygon", "coordinates": [[[0, 0, 5], [1, 0, 5], [1, 1, 5], [0, 0, 5]]]})
    assert g["coordinates"][0][0] == [0.0, 0.0]
    with pytest.raises(GeometryProblem, match="Unknown member"):
        parse_territory_geometry(box(0, 0, 1, 1) | {"properties": {}})


@pytest.mark.parametrize(
    ("geometry", "en", "zh"),
    [
        ("nope", "GeoJSON geometry object", "GeoJSON"),
        ({"type": "Point", "coordinates": [0, 0]}, '"Polygon" or "MultiPolygon"', "必须是"),
        ({"type": "Feature", "geometry": {}}, "geometry of the feature", "geometry"),
        ({"type": "Polygon", "coordinates": []}, "non-empty list of linear rings", "闭合环"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "not closed", "未闭合"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "at least 4", "至少需要 4"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [181, 0], [1, 1], [0, 0]]]},
            "longitude 181",
            "经度 181",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, -91], [1, 1], [0, 0]]]},
            "latitude -91",
            "纬度 -91",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], ["a", 0], [1, 1], [0, 0]]]},
            "finite numbers",
            "有限的数字",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [True, 0], [1, 1], [0, 0]]]},
            "finite numbers",
            "有限的数字",
        ),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1], [1, 1], [0, 0]]]}, "must be a position", "坐标点"),
        # a bow-tie crosses itself
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
            "not a valid area",
            "自相交",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [2, 2], [0, 0]]]},
            "not a valid area",
            "有效的区域",
        ),
        ({"type": "MultiPolygon", "coordinates": []}, "list of polygons", "多边形列表"),
    ],
)
def test_bad_geometries_explain_themselves(geometry: Any, en: str, zh: str) -> None:
    with pytest.raises(GeometryProblem) as info:
        parse_territory_geometry(geometry)
    assert en in info.value.en
    assert zh in info.value.zh


def test_point_limit() -> None:
    n = MAX_POINTS + 1
    ring = [[i / n, 0.0] for i in range(n - 1)] + [[0.0, 0.0]]
    with pytest.raises(GeometryProblem, match=str(MAX_POINTS)):
        parse_territory_geometry({"type": "Polygon", "coordinates": [ring]})


def test_timezones() -> None:
    assert is_valid_timezone("Asia/Shanghai") and is_valid_timezone("UTC")
    assert not is_valid_timezone("Mars/Olympus") and not is_valid_timezone("../../etc/passwd")
