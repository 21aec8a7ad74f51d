"""Pure tracking rules: the point validator (property-based), bucket, simplification, stops, fences, timeouts."""

from __future__ import annotations

import itertools
import math
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from fieldops.tracking import rules

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)

floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-200, 200))
times = st.integers(-3 * 86400, 3600).map(lambda s: NOW + timedelta(seconds=s))
raw_points = st.builds(rules.RawPoint, lat=floats, lng=floats, recorded_at=times,
                       accuracy_m=st.one_of(st.none(), floats), speed_mps=st.one_of(st.none(), floats),
                       heading=st.one_of(st.none(), floats))


@settings(max_examples=300, deadline=None)
@given(st.lists(raw_points, max_size=12), st.one_of(st.none(), st.builds(
    rules.Fix, lat=st.floats(-80, 80), lng=st.floats(-170, 170), recorded_at=times)))
def test_validator_keeps_only_sane_points_in_strict_time_order(points: list[rules.RawPoint],
                                                                last: rules.Fix | None) -> None:
    limits = rules.Limits()
    verdicts = rules.validate_batch(points, last, NOW, limits)
    assert [v.index for v in verdicts] == list(range(len(points)))
    accepted = sorted((points[v.index] for v in verdicts if v.ok), key=lambda p: p.recorded_at)
    for v in verdicts:
        p = points[v.index]
        if v.ok:
            assert v.reason is None
            assert math.isfinite(p.lat) and math.isfinite(p.lng)
            assert -90 <= p.lat <= 90 and -180 <= p.lng <= 180
            assert p.recorded_at <= NOW + limits.max_future_skew
        else:
            assert v.reason in rules.REASONS
    chain = ([rules.RawPoint(last.lat, last.lng, last.recorded_at)] if last else []) + accepted
    for a, b in itertools.pairwise(chain):
        assert b.recorded_at > a.recorded_at  # strictly after the previous accepted point
        kmh = rules.haversine_m(a.lat, a.lng, b.lat, b.lng) / (b.recorded_at - a.recorded_at).total_seconds() * 3.6
        assert kmh <= limits.max_speed_kmh + 1e-6


def test_validator_reasons() -> None:
    t = NOW - timedelta(minutes=5)
    pts = [rules.RawPoint(42.35, -71.06, t),
           rules.RawPoint(float("nan"), -71.06, t + timedelta(seconds=10)),
           rules.RawPoint(95, -71.06, t + timedelta(seconds=20)),
           rules.RawPoint(42.35, -71.06, NOW + timedelta(hours=1)),
           rules.RawPoint(43.35, -71.06, t + timedelta(seconds=30)),  # 111 km in 30 s
           rules.RawPoint(42.3501, -71.06, t + timedelta(seconds=40), accuracy_m=500),
           rules.RawPoint(0.0, 0.0, t + timedelta(seconds=50))]
    v = rules.validate_batch(pts, rules.Fix(42.35, -71.06, t - timedelta(seconds=10)), NOW)
    assert [x.reason for x in v] == [None, "non_finite", "invalid_coordinates", "future_timestamp", "implied_speed",
                                     None, "null_island"]
    assert v[5].flags == ("low_accuracy",)
    late = rules.validate_batch([rules.RawPoint(42.35, -71.06, t)], rules.Fix(42.35, -71.06, t), NOW)
    assert late[0].reason == "out_of_order"


def test_token_bucket() -> None:
    ok, left, _ = rules.take_token(1.0, NOW, NOW, 0.5, 3)
    assert ok and left == 0
    ok, _, wait = rules.take_token(0.0, NOW, NOW, 0.5, 3)
    assert not ok and wait == 2
    ok, left, _ = rules.take_token(0.0, NOW - timedelta(hours=1), NOW, 0.5, 3)
    assert ok and left == 2  # refilled up to the burst only


def _walk(n: int, step_m: float, start: datetime = NOW) -> list[rules.TracePoint]:
    dlat = step_m / 111_320.0
    return [rules.TracePoint(42.34 + i * dlat, -71.06, start + timedelta(seconds=10 * i)) for i in range(n)]


def test_simplify_stops_and_distance() -> None:
    walk = _walk(60, 14.0)
    end = walk[-1]
    still = [rules.TracePoint(end.lat + (i % 2) * 0.00001, -71.06, end.recorded_at + timedelta(seconds=10 * i))
             for i in range(1, 61)]
    pts = walk + still
    simple = rules.simplify(pts, 10)
    assert simple[0] == pts[0] and simple[-1] == pts[-1] and len(simple) < 10
    stops = rules.detect_stops(pts, 50, timedelta(minutes=5))
    assert len(stops) == 1 and stops[0].duration_s >= 540
    assert abs(rules.path_length_m(walk) - 59 * 14.0) < 5


def test_fence_index_polygons_and_circles() -> None:
    square = {"type": "Polygon", "coordinates": [[[-71.1, 42.3], [-71.0, 42.3], [-71.0, 42.4], [-71.1, 42.4],
                                                  [-71.1, 42.3]]]}
    fences = [rules.FenceShape(key="g:poly", fence_type="geofence", fence_id=uuid.uuid4(), name="sq", geometry=square),
              rules.FenceShape(key="g:c", fence_type="geofence", fence_id=uuid.uuid4(), name="c", lat=42.35,
                               lng=-71.06, radius_m=100)]
    idx = rules.FenceIndex(fences)
    assert {h.fence.key for h in idx.containing(42.35, -71.06)} == {"g:poly", "g:c"}
    near_edge = 42.35 + 110 / 111_320.0  # 110 m north: outside the circle ...
    assert {h.fence.key for h in idx.containing(near_edge, -71.06)} == {"g:poly"}
    # ... unless already inside it (hysteresis)
    assert {h.fence.key for h in idx.containing(near_edge, -71.06, {"g:c"}, 25)} == {"g:poly", "g:c"}
    assert idx.containing(10.0, 10.0) == []


def test_feature_collection_errors_name_the_feature() -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    try:
        rules.parse_feature_collection({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {}, "geometry": bowtie}]})
    except rules.GeometryProblem as exc:
        assert exc.en.startswith("features[0]") and "valid" in exc.en
    else:  # pragma: no cover
        raise AssertionError("a self-intersecting polygon was accepted")


def test_timeouts() -> None:
    policy = rules.TimeoutPolicy()
    o = rules.OrderTimes(status="assigned", assigned_at=NOW - timedelta(minutes=31), window_start=NOW + timedelta(
        minutes=20), window_end=NOW + timedelta(hours=2), checked_in_at=None, site_entered_at=None, duration_min=60,
        travel_min=30)
    assert [k for k, _ in rules.due_timeouts(o, NOW, policy)] == ["not_accepted", "not_departed"]
    late = rules.OrderTimes(status="en_route", assigned_at=None, window_start=None, window_end=NOW - timedelta(
        minutes=1), checked_in_at=None, site_entered_at=None, duration_min=60, travel_min=0)
    assert [k for k, _ in rules.due_timeouts(late, NOW, policy)] == ["not_arrived"]
    stay = rules.OrderTimes(status="in_progress", assigned_at=None, window_start=None, window_end=None,
                            checked_in_at=NOW - timedelta(minutes=91), site_entered_at=None, duration_min=60,
                            travel_min=0)
    assert [k for k, _ in rules.due_timeouts(stay, NOW, policy)] == ["overstay"]
