"""Tracking end to end through the API: a technician walks to a job, the desk watches, the arrival is stamped,
the trace plays back; idempotency, bad points, privacy, geofences, retention, export/delete, timeouts."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from fieldops.core.clock import FrozenClock
from fieldops.core.events import OutboxEvent
from fieldops.notifications import service as notifications
from fieldops.notifications.models import Notification
from fieldops.technicians.models import Technician
from fieldops.tracking import service
from fieldops.tracking.models import GeofenceEvent, LocationAudit, LocationPoint, TrackingAlert
from fieldops.work_orders.models import WorkOrder
from fieldops.worker.registry import periodic
from tests.factories.world import World, make_world
from tests.work_orders.helpers import API, Actors, act, create_wo

SITE = (42.351, -71.06)  # Customer 1's site in the world
STEP_DEG = 15.0 / 111_320.0  # 15 m north per 10 s


@pytest.fixture
def world(db: Session) -> World:
    return make_world(db)


def _point(at: datetime, lat: float, lng: float = SITE[1], accuracy: float = 8.0, **extra: Any) -> dict[str, Any]:
    return {"lat": lat, "lng": lng, "accuracy_m": accuracy, "speed_mps": 1.5, "heading": 0.0,
            "recorded_at": at.isoformat(), **extra}


def _post(client: TestClient, headers: dict[str, str], points: list[dict[str, Any]], device: str = "phone-1") -> Any:
    return client.post(f"{API}/tracking/points", json={"device_id": device, "points": points}, headers=headers)


def _en_route_order(client: TestClient, world: World) -> tuple[Actors, dict[str, Any]]:
    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t)
    assert act(client, who["dispatcher"], wo, "assign", {"technician_id": str(t.tech.id)}).status_code == 200  # type: ignore[union-attr]
    assert act(client, who["tech"], wo, "accept").status_code == 200
    assert act(client, who["tech"], wo, "depart").json()["status"] == "en_route"
    return who, wo


def _walk(client: TestClient, clock: FrozenClock, tech: dict[str, str]) -> list[dict[str, Any]]:
    """From 1.2 km south of the site to it at 1.5 m/s, a fix every 10 s, then 8 minutes on site; batches of 10
    posted every 100 s as the phone would."""
    start_lat = SITE[0] - 82 * STEP_DEG
    fixes = [start_lat + i * STEP_DEG for i in range(83)] + [SITE[0] + (i % 3) * 0.00001 for i in range(48)]
    results = []
    t0 = clock.now()
    for b in range(0, len(fixes), 10):
        chunk = fixes[b:b + 10]
        clock.set(t0 + timedelta(seconds=10 * (b + len(chunk) - 1)))
        pts = [_point(t0 + timedelta(seconds=10 * (b + i)), lat, client_id=f"p{b + i}") for i, lat in enumerate(chunk)]
        r = _post(client, tech, pts)
        assert r.status_code == 200, r.text
        results.append(r.json())
    return results


def test_walk_to_the_job(client: TestClient, world: World, db: Session, clock: FrozenClock) -> None:
    who, wo = _en_route_order(client, world)
    tech_id = str(world.a.tech.id)  # type: ignore[union-attr]
    t0 = clock.now()
    version = db.get(Technician, world.a.tech.id).version  # type: ignore[union-attr]
    # While en route the customer sees where the technician is (nothing yet, then the live position).
    r = client.get(f"{API}/work-orders/{wo['id']}/technician-position", headers=who["customer"])
    assert r.status_code == 200 and r.json()["available"] is False
    results = _walk(client, clock, who["tech"])
    assert sum(x["accepted"] for x in results) == 131 and not any(x["rejected"] for x in results)

    # The dispatcher's map: the technician's live position, fresh.
    r = client.get(f"{API}/tracking/positions", headers=who["dispatcher"])
    assert r.status_code == 200
    mine = [p for p in r.json()["items"] if p["technician_id"] == tech_id]
    assert len(mine) == 1 and not mine[0]["stale"] and abs(mine[0]["lat"] - SITE[0]) < 0.0002
    tech_row = db.get(Technician, world.a.tech.id, populate_existing=True)  # type: ignore[union-attr]
    assert tech_row is not None and tech_row.last_seen_at is not None
    assert abs((tech_row.last_lat or 0) - SITE[0]) < 0.001
    assert tech_row.version == version  # the live position is not an edit of the record
    # Live events: throttled, staff audience, no user id.
    events = list(db.scalars(select(OutboxEvent).where(OutboxEvent.type == "technician.position")))
    assert 1 <= len(events) <= len(results)
    assert events[0].payload["audience"] == "staff" and "user_id" not in events[0].payload

    # Arrival: stamped on entering the site fence, with the outbox event the SLA counts, and the evidence.
    order = db.get(WorkOrder, uuid.UUID(wo["id"]), populate_existing=True)
    assert order is not None and order.site_entered_at is not None
    assert t0 + timedelta(minutes=11) < order.site_entered_at < t0 + timedelta(minutes=14)
    assert order.site_entry_distance_m is not None and order.site_entry_distance_m <= 150
    entered = list(db.scalars(select(OutboxEvent).where(OutboxEvent.type == "work_order.site_entered")))
    assert len(entered) == 1 and entered[0].payload["work_order_id"] == wo["id"]
    fence = list(db.scalars(select(GeofenceEvent).where(GeofenceEvent.work_order_id == order.id)))
    assert [(e.fence_type, e.event) for e in fence] == [("site", "enter")] and fence[0].accuracy_m == 8.0
    assert db.scalar(select(func.count()).select_from(GeofenceEvent).where(
        GeofenceEvent.fence_type == "territory", GeofenceEvent.event == "enter")) == 1
    if hasattr(notifications, "notify"):
        prompts = db.scalar(select(func.count()).select_from(Notification).where(
            Notification.template == "tracking.arrived_prompt"))
        assert prompts is not None and prompts >= 1
    db.commit()  # SQLite: end the test session's transaction (it holds the write lock) before more requests
    read = client.get(f"{API}/work-orders/{wo['id']}", headers=who["dispatcher"]).json()
    assert read["site_entered_at"] is not None

    r = client.get(f"{API}/work-orders/{wo['id']}/technician-position", headers=who["customer"])
    assert r.status_code == 200 and r.json()["available"] and r.json()["position"]["technician_id"] == tech_id

    # Playback afterwards, by the technician themselves: stops, distance, the day.
    q = {"from": (t0 - timedelta(minutes=1)).isoformat(), "to": (clock.now() + timedelta(seconds=1)).isoformat()}
    r = client.get(f"{API}/tracking/technicians/{tech_id}/trace", params=q, headers=who["tech"])
    assert r.status_code == 200, r.text
    tr = r.json()
    assert tr["points_total"] == 131 and len(tr["path"]) < 20 and tr["from"]
    assert 1150 < tr["distance_m"] < 1350
    assert len(tr["stops"]) == 1 and tr["stops"][0]["duration_s"] >= 5 * 60
    assert len(tr["days"]) == 1 and 1150 < tr["days"][0]["distance_m"] < 1350
    r = client.get(f"{API}/tracking/distances", headers=who["finance"])
    assert r.status_code == 200 and [d["technician_id"] for d in r.json()] == [tech_id]

    # Once checked in, the customer no longer sees the position.
    assert act(client, who["tech"], wo, "check-in", {"lat": SITE[0], "lng": SITE[1]}).status_code == 200
    r = client.get(f"{API}/work-orders/{wo['id']}/technician-position", headers=who["customer"])
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"


def test_resend_is_idempotent_and_bad_points_are_reported(client: TestClient, world: World, db: Session,
                                                          clock: FrozenClock) -> None:
    who = Actors(client, world.a)
    now = clock.now()
    batch = [_point(now - timedelta(seconds=30 - 10 * i), 42.34 + i * STEP_DEG) for i in range(3)]
    first = _post(client, who["tech"], batch).json()
    assert (first["accepted"], first["duplicates"]) == (3, 0)
    again = _post(client, who["tech"], batch).json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 3, [])
    def at(seconds_ago: int) -> str:
        return (now - timedelta(seconds=seconds_ago)).isoformat()

    # Non-finite numbers as raw JSON, out of range, future, out of order, too fast, imprecise: one verdict each.
    body = ('{"device_id": "phone-1", "points": ['
            f'{{"lat": NaN, "lng": -71.06, "recorded_at": "{at(9)}"}},'
            f'{{"lat": 95, "lng": -71.06, "recorded_at": "{at(8)}"}},'
            f'{{"lat": 42.34, "lng": -71.06, "recorded_at": "{(now + timedelta(hours=2)).isoformat()}"}},'
            f'{{"lat": 42.34, "lng": -71.06, "recorded_at": "{(now - timedelta(minutes=5)).isoformat()}"}},'
            f'{{"lat": 43.5, "lng": -71.06, "recorded_at": "{at(6)}"}},'
            f'{{"lat": 42.3405, "lng": -71.06, "accuracy_m": Infinity, "recorded_at": "{at(4)}"}},'
            f'{{"lat": 42.3405, "lng": -71.06, "accuracy_m": 400, "recorded_at": "{at(3)}"}}]}}')
    r = client.post(f"{API}/tracking/points", content=body,
                    headers={**who["tech"], "Content-Type": "application/json", "Accept-Language": "zh-CN"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert {x["index"]: x["reason"] for x in out["rejected"]} == {
        0: "non_finite", 1: "invalid_coordinates", 2: "future_timestamp", 3: "out_of_order", 4: "implied_speed",
        5: "non_finite"}
    assert out["accepted"] == 1 and [f["reason"] for f in out["flagged"]] == ["low_accuracy"]
    assert all(x["message"] for x in out["rejected"]) and "未来" in out["rejected"][2]["message"]
    # A malformed body is a 422 problem, never a 500.
    r = _post(client, who["tech"], [{"lat": "north", "lng": 1, "recorded_at": now.isoformat()}])
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    r = _post(client, who["tech"], [{"lat": 1, "lng": 1, "recorded_at": "2026-11-23T14:00:00"}])  # no zone
    assert r.status_code == 422
    assert db.scalar(select(func.count()).select_from(LocationPoint)) == 4


def test_rate_limit_per_device(client: TestClient, world: World, clock: FrozenClock) -> None:
    who = Actors(client, world.a)
    now = clock.now()
    codes = [_post(client, who["tech"], [_point(now - timedelta(seconds=60 - i), 42.34)]).status_code
             for i in range(12)]
    assert codes[:10] == [200] * 10 and codes[10] == 429
    r = _post(client, who["tech"], [_point(now, 42.34)])
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert r.headers["content-type"] == "application/problem+json"
    assert _post(client, who["tech"], [_point(now, 42.34)], device="phone-2").status_code == 200  # per device
    clock.advance(seconds=10)
    assert _post(client, who["tech"], [_point(now + timedelta(seconds=5), 42.34)]).status_code == 200


def test_who_may_post_and_see(client: TestClient, world: World, db: Session, clock: FrozenClock) -> None:
    who = Actors(client, world.a)
    now = clock.now()
    tech1 = str(world.a.tech.id)  # type: ignore[union-attr]
    assert _post(client, who["tech"], [_point(now, 42.34)]).status_code == 200
    for role in ("dispatcher", "admin", "customer"):
        assert _post(client, who[role], [_point(now, 42.34)]).status_code == 403
    # Tech 2 sees only themselves: not Tech 1's trace, nor their position.
    assert client.get(f"{API}/tracking/technicians/{tech1}/trace", headers=who["tech2"]).status_code == 404
    assert client.get(f"{API}/tracking/positions", headers=who["tech2"]).json()["items"] == []
    assert client.get(f"{API}/tracking/positions", headers=who["customer"]).status_code == 403
    assert client.get(f"{API}/tracking/technicians/{tech1}/trace", headers=who["customer"]).status_code == 403
    other = Actors(client, world.b)
    assert client.get(f"{API}/tracking/technicians/{tech1}/trace", headers=other["admin"]).status_code == 404
    assert client.get(f"{API}/tracking/positions", headers=other["dispatcher"]).json()["items"] == []
    # Off shift with no active job: nothing is stored at all.
    tech2_id = world.a.tech2.id  # type: ignore[union-attr]
    db.execute(update(Technician).where(Technician.id == tech2_id).values(duty_status="off_duty"))
    db.commit()
    r = _post(client, who["tech2"], [_point(now, 42.34), _point(now - timedelta(seconds=10), 42.34)])
    assert r.status_code == 200 and r.json()["accepted"] == 0
    assert {x["reason"] for x in r.json()["rejected"]} == {"off_shift"}
    assert db.scalar(select(func.count()).select_from(LocationPoint).where(
        LocationPoint.technician_id == tech2_id)) == 0


def test_geofences_crud_import_and_evidence(client: TestClient, world: World, db: Session,
                                            clock: FrozenClock) -> None:
    who = Actors(client, world.a)
    square = {"type": "Polygon", "coordinates": [[[-71.07, 42.33], [-71.05, 42.33], [-71.05, 42.345],
                                                  [-71.07, 42.345], [-71.07, 42.33]]]}
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "网格 A", "category": "grid"}, "geometry": square}]}
    r = client.post(f"{API}/tracking/geofences/import", json=fc, headers=who["dispatcher"])
    assert r.status_code == 201 and r.json()["created"] == 1
    bad = json.loads(json.dumps(fc))
    bad["features"][0]["geometry"]["coordinates"][0][2] = [-71.07, 42.33]  # collapse into a line
    bad["features"][0]["geometry"]["coordinates"][0][3] = [-71.05, 42.345]
    r = client.post(f"{API}/tracking/geofences/import", json=bad, headers=who["dispatcher"])
    assert r.status_code == 422 and "features[0]" in r.json()["detail"]
    r = client.post(f"{API}/tracking/geofences", json={"name": "Depot", "lat": 42.36, "lng": -71.06, "radius_m": 80},
                    headers=who["admin"])
    assert r.status_code == 201, r.text
    depot = r.json()
    assert client.post(f"{API}/tracking/geofences", json={"name": "x", "lat": 42.36}, headers=who["admin"]
                       ).status_code == 422
    r = client.post(f"{API}/tracking/geofences", headers={**who["admin"], "Content-Type": "application/json"},
                    content='{"name": "x", "lat": 42.3, "lng": -71.0, "radius_m": 50, "properties": {"w": NaN}}')
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert client.post(f"{API}/tracking/geofences", json={"name": "x", "lat": 42.36, "lng": 1, "radius_m": 5},
                       headers=who["tech"]).status_code == 403
    r = client.patch(f"{API}/tracking/geofences/{depot['id']}", json={"radius_m": 120},
                     headers={**who["admin"], "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["radius_m"] == 120 and r.headers["ETag"] == '"2"'
    listed = client.get(f"{API}/tracking/geofences", headers=who["agent"]).json()
    assert listed["total"] == 2
    # The technician walks into the grid polygon, then out of it, then into the depot circle.
    now = clock.now()
    pts = [_point(now - timedelta(seconds=300 - 30 * i), lat) for i, lat in
           enumerate([42.325, 42.335, 42.340, 42.350, 42.3595, 42.36])]
    assert _post(client, who["tech"], pts).json()["accepted"] == 6
    r = client.get(f"{API}/tracking/geofence-events", headers=who["dispatcher"])
    seen = [(e["fence_name"], e["event"]) for e in reversed(r.json()["items"]) if e["fence_type"] == "geofence"]
    assert seen == [("网格 A", "enter"), ("网格 A", "leave"), ("Depot", "enter")]
    assert client.get(f"{API}/tracking/geofence-events", headers=who["tech2"]).json()["total"] == 0
    assert client.delete(f"{API}/tracking/geofences/{depot['id']}", headers=who["admin"]).status_code == 204
    assert client.get(f"{API}/tracking/geofences/{depot['id']}", headers=who["admin"]).status_code == 404


def test_export_delete_and_retention(client: TestClient, world: World, db: Session, clock: FrozenClock) -> None:
    who = Actors(client, world.a)
    tech1 = world.a.tech.id  # type: ignore[union-attr]
    now = clock.now()
    db.commit()
    assert _post(client, who["tech"], [_point(now - timedelta(seconds=10 * i), 42.34 + i * 1e-4)
                                       for i in range(5)]).json()["accepted"] == 5
    r = client.get(f"{API}/tracking/technicians/{tech1}/export", headers=who["admin"])
    assert r.status_code == 200 and len(r.json()["points"]) == 5
    r = client.get(f"{API}/tracking/technicians/{tech1}/export", params={"format": "csv"}, headers=who["admin"])
    assert r.status_code == 200 and r.text.splitlines()[0].startswith("recorded_at,lat,lng") and len(
        r.text.splitlines()) == 6
    assert client.get(f"{API}/tracking/technicians/{tech1}/export", headers=who["dispatcher"]).status_code == 403
    assert client.delete(f"{API}/tracking/technicians/{tech1}/data", headers=who["tech"]).status_code == 403
    # Retention: points older than the limit go on the worker's periodic pass.
    old = now - timedelta(days=91)
    db.add(LocationPoint(org_id=world.a.org.id, technician_id=tech1, device_id="old", recorded_at=old,
                         received_at=old, lat=42.3, lng=-71.0))
    db.commit()
    assert "fieldops.tracking.tasks.tracking_retention" in {name for name, _ in periodic()}
    assert service.purge_expired(db, now, client.app.state.settings) == 1  # type: ignore[attr-defined]
    db.commit()
    assert db.scalar(select(func.count()).select_from(LocationPoint)) == 5
    db.commit()
    r = client.delete(f"{API}/tracking/technicians/{tech1}/data", headers=who["admin"])
    assert r.status_code == 200 and r.json()["points_deleted"] == 5
    assert db.scalar(select(func.count()).select_from(LocationPoint)) == 0
    assert [a.action for a in db.scalars(select(LocationAudit).order_by(LocationAudit.at))] == [
        "export", "export", "delete"]
    db.commit()
    assert client.get(f"{API}/tracking/positions", headers=who["dispatcher"]).json()["items"] == []


def test_timeouts_fire_once(client: TestClient, world: World, db: Session, clock: FrozenClock) -> None:
    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t)
    assert act(client, who["dispatcher"], wo, "assign", {"technician_id": str(t.tech.id)}).status_code == 200  # type: ignore[union-attr]
    settings = client.app.state.settings  # type: ignore[attr-defined]
    assert service.scan_timeouts(db, clock.now(), settings) == 0
    db.commit()
    later = clock.now() + timedelta(minutes=31)
    assert service.scan_timeouts(db, later, settings) == 1
    db.commit()
    assert service.scan_timeouts(db, later + timedelta(minutes=5), settings) == 0
    db.commit()
    alerts = list(db.scalars(select(TrackingAlert)))
    assert [a.kind for a in alerts] == ["not_accepted"]
    events = list(db.scalars(select(OutboxEvent).where(OutboxEvent.type == "work_order.timeout")))
    assert len(events) == 1 and events[0].payload["kind"] == "not_accepted"
    assert events[0].payload["audience"] == "internal" and events[0].payload["work_order_id"] == wo["id"]
    if hasattr(notifications, "notify"):  # the dispatcher is told, once
        told = db.scalar(select(func.count()).select_from(Notification).where(
            Notification.template == "tracking.timeout", Notification.user_id == world.a.users["dispatcher"].id))
        assert told is not None and told >= 1
    db.commit()
    r = client.get(f"{API}/tracking/alerts", headers=who["dispatcher"])
    assert r.status_code == 200 and r.json()["total"] == 1
    assert client.get(f"{API}/tracking/alerts", headers=who["tech"]).status_code == 403
    # A far check-in (over twice the site radius) raises its own alert, once.
    assert act(client, who["tech"], wo, "accept").status_code == 200
    assert act(client, who["tech"], wo, "check-in", {"lat": SITE[0] + 0.01, "lng": SITE[1]}).status_code == 200
    assert service.scan_timeouts(db, later, settings) == 1
    db.commit()
    assert service.scan_timeouts(db, later, settings) == 0
    kinds = sorted(a.kind for a in db.scalars(select(TrackingAlert)))
    assert kinds == ["check_in_far", "not_accepted"]
