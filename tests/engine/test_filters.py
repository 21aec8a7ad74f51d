"""Hard filters, one reason code each; travel helpers."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldops.engine.filters import hard_filters, shift_options
from fieldops.engine.model import Reason, TravelModel, Window
from fieldops.engine.travel import HaversineMatrix, haversine_m, travel_seconds, travel_seconds_many
from tests.engine.helpers import DAY, HOME, at, job, north, tech, visit


def reasons(t: object, j: object, now: int = at(7)) -> list[Reason]:
    return [r for r, _ in hard_filters(t, j, now)]  # type: ignore[arg-type]


def test_travel_matches_the_boston_formula() -> None:
    # haversine km × 1.3 at 30 km/h, whole seconds (shared/data/boston-dispatch/README.md)
    d = haversine_m(42.3659, -71.0551, 42.3385, -71.09)
    p1, p2, dl = math.radians(42.3659), math.radians(42.3385), math.radians(-71.09 + 71.0551)
    law_of_cosines = 6_371_000 * math.acos(math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl))
    assert abs(d - law_of_cosines) < 0.01
    assert travel_seconds(TravelModel(), 42.3659, -71.0551, 42.3385, -71.09) == round(d / 1000 * 1.3 / 30 * 3600)
    assert travel_seconds(TravelModel(), *HOME, *HOME) == 0
    one_km = north(1.0)
    assert abs(travel_seconds(TravelModel(), *HOME, *one_km) - 156) <= 1  # 1.3 km at 30 km/h


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(42.2, 42.45), st.floats(-71.2, -70.95)), min_size=2, max_size=8))
def test_vectorised_travel_equals_scalar(points: list[tuple[float, float]]) -> None:
    lat = np.array([p[0] for p in points])
    lng = np.array([p[1] for p in points])
    m = HaversineMatrix().matrix(lat, lng, lat, lng)
    for i, a in enumerate(points):
        for k, b in enumerate(points):
            assert abs(int(m[i, k]) - travel_seconds(TravelModel(), *a, *b)) <= 1  # float rounding at .5
    assert (m == m.T).all()
    pairs = travel_seconds_many(TravelModel(), lat[:-1], lng[:-1], lat[1:], lng[1:])
    assert pairs.tolist() == [int(m[i, i + 1]) for i in range(len(points) - 1)]


def test_eligible_technician_has_no_failures() -> None:
    assert hard_filters(tech("A"), job("J"), at(7)) == []


def test_skill_and_level() -> None:
    j = job("J", skills=(("hvac", 3), ("elec", 1)))
    failures = hard_filters(tech("A", skills=(("hvac", 2),)), j, at(7))
    assert [r for r, _ in failures] == [Reason.SKILL]
    assert "hvac level 2 < 3" in failures[0][1] and "lacks elec" in failures[0][1]
    assert reasons(tech("B", skills=(("hvac", 3), ("elec", 1))), j) == []


def test_certificate_valid_on_the_job_date() -> None:
    j = job("J", certificates=("gas",), windows=((at(10), at(12)),))
    assert reasons(tech("A", certificates=(("gas", at(9)),)), j) == [Reason.CERTIFICATE]  # expired before start
    assert reasons(tech("B", certificates=(("gas", at(10)),)), j) == []                   # expiry ≥ job start
    assert reasons(tech("C", certificates=(("gas", None),)), j) == []                     # no expiry
    assert reasons(tech("D", certificates=()), j) == [Reason.CERTIFICATE]
    assert "expired" in hard_filters(tech("A", certificates=(("gas", DAY - 1),)), j, at(7))[0][1]


def test_off_shift_off_duty_and_leave() -> None:
    j = job("J", windows=((at(17), at(18)),))
    assert reasons(tech("A"), j) == [Reason.OFF_SHIFT]                         # the shift ends at 16:00
    assert reasons(tech("B", on_duty=False), job("K")) == [Reason.OFF_SHIFT]
    # a window that ends inside the shift but leaves no room for the service before the shift ends
    assert reasons(tech("C"), job("L", minutes=60, windows=((at(15, 30), at(17)),))) == [Reason.OFF_SHIFT]
    on_leave = tech("D", leave=(Window(at(0), at(23)),))
    assert reasons(on_leave, job("M")) == [Reason.ON_LEAVE]
    # leave in the morning only: the afternoon still fits
    half = tech("E", leave=(Window(at(8), at(12)),))
    assert reasons(half, job("N", windows=((at(9), at(14)),))) == []
    assert reasons(half, job("O", windows=((at(9), at(11)),))) == [Reason.ON_LEAVE]
    # every window passed
    assert reasons(tech("F"), job("P", windows=((at(8), at(9)),)), now=at(10)) == [Reason.OFF_SHIFT]


def test_shift_options_cover_every_window_and_shift() -> None:
    two = tech("A")
    j = job("J", minutes=30, windows=((at(9), at(10)), (at(13), at(14))))
    assert shift_options(two, j, at(7)) == [(0, at(9), at(10)), (0, at(13), at(14))]
    assert shift_options(two, j, at(9, 30)) == [(0, at(9, 30), at(10)), (0, at(13), at(14))]


def test_territory_radius_cap_blocked_rejected_inactive() -> None:
    j = job("J", place=north(20), territory_id="north", customer_id="c1")
    assert reasons(tech("A", territory_ids=("south",)), j) == [Reason.TERRITORY]
    assert reasons(tech("B", territory_ids=("north", "south")), j) == []
    assert reasons(tech("C"), job("J2", territory_id="x")) == []  # no territories: anywhere
    assert reasons(tech("D", max_radius_km=10.0), j) == [Reason.RADIUS]
    assert reasons(tech("E", max_radius_km=25.0), j) == []
    full = tech("F", max_jobs_per_day=3, jobs_today=1,
                route=(visit("a", HOME, at(9)), visit("b", HOME, at(11))))
    assert reasons(full, j) == [Reason.DAILY_CAP]
    minutes = tech("G", max_work_s=90 * 60, route=(visit("a", HOME, at(9)),))
    assert reasons(minutes, j) == [Reason.DAILY_CAP]
    assert reasons(tech("H"), job("J3", blocked_technicians=("H",))) == [Reason.BLOCKED]
    assert reasons(tech("I"), job("J4", rejected_by=("I",))) == [Reason.REJECTED]
    assert reasons(tech("K", active=False), job("J5")) == [Reason.INACTIVE]


def test_all_failures_are_returned_cheapest_first() -> None:
    t = tech("A", active=False, skills=(), territory_ids=("south",), max_radius_km=1.0, on_duty=False)
    j = job("J", place=north(5), territory_id="north", rejected_by=("A",), blocked_technicians=("A",),
            certificates=("gas",))
    assert reasons(t, j) == [Reason.INACTIVE, Reason.REJECTED, Reason.BLOCKED, Reason.SKILL, Reason.CERTIFICATE,
                             Reason.TERRITORY, Reason.RADIUS, Reason.OFF_SHIFT]
    assert all(detail for _, detail in hard_filters(t, j, at(7)))
