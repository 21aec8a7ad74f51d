"""Clocks driven by work-order events and the durable escalation timers (FrozenClock, run_once)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldops.core.clock import FrozenClock
from fieldops.core.events import OutboxEvent
from fieldops.notifications.models import Notification
from fieldops.sla import service as sla_service
from fieldops.sla.models import SlaClock, SlaEscalation
from fieldops.worker.runner import run_once
from tests.factories.world import make_world
from tests.sla.helpers import API, always_open, make_calendar, make_policy
from tests.work_orders.helpers import Actors, act, create_wo


def _run(app: Any, clock: FrozenClock) -> None:
    run_once(app.state.database, clock, app.state.settings)


def _sla(client: TestClient, h: dict[str, str], wo: dict[str, Any]) -> dict[str, dict[str, Any]]:
    r = client.get(f"{API}/work-orders/{wo['id']}/sla", headers=h)
    assert r.status_code == 200, r.text
    return {c["target"]: c for c in r.json()["clocks"] if not c["replaced"] and c["cycle"] == 0}


def _escalations(app: Any, wo_id: str) -> list[tuple[str, int]]:
    # A fresh session: the `db` fixture's objects (the world) must not be expired and lazily reloaded, which on
    # SQLite would hold the write lock.
    with app.state.database.session() as s:
        rows = s.scalars(select(SlaEscalation).where(SlaEscalation.work_order_id == uuid.UUID(wo_id))
                         .order_by(SlaEscalation.fired_at, SlaEscalation.target, SlaEscalation.level))
        return [(e.target, e.level) for e in rows]


def _all(app: Any, stmt: Any) -> list[Any]:
    with app.state.database.session() as s:
        return list(s.scalars(stmt).all())


def _assign(client: TestClient, a: Actors, wo: dict[str, Any], tech_id: uuid.UUID) -> None:
    """Assign to `tech_id` unless auto-dispatch already did."""
    got = client.get(f"{API}/work-orders/{wo['id']}", headers=a["dispatcher"]).json()
    if got["technician_id"] != str(tech_id) or got["status"] != "assigned":
        r = act(client, a["dispatcher"], wo, "assign", {"technician_id": str(tech_id), "reason": "near"})
        assert r.status_code == 200, r.text


def _adv(clock: FrozenClock, a: Actors, **kw: float) -> None:
    """Move time; tokens expire, so sign in again."""
    clock.advance(**kw)
    a._h.clear()


def _setup(client: TestClient, db: Session) -> tuple[Any, Actors, dict[str, Any]]:
    w = make_world(db)
    a = Actors(client, w.a)
    cal = always_open(client, a["admin"])
    policy = make_policy(client, a["admin"], cal["id"])
    return w, a, policy


def test_clocks_start_on_creation_and_meet_on_accept_check_in_complete(client: TestClient, db: Session, app: Any,
                                                                        clock: FrozenClock) -> None:
    w, a, policy = _setup(client, db)
    wo = create_wo(client, a["dispatcher"], w.a)
    _run(app, clock)
    clocks = _sla(client, a["dispatcher"], wo)
    assert set(clocks) == {"response", "arrival", "resolution"}
    start = clock.now()
    assert clocks["response"]["deadline_at"].startswith((start + timedelta(minutes=60)).strftime("%Y-%m-%dT%H:%M"))
    assert clocks["response"]["status"] == "running" and clocks["response"]["policy_id"] == policy["id"]
    _adv(clock, a, minutes=10)
    _assign(client, a, wo, w.a.tech.id)
    _adv(clock, a, minutes=5)
    assert act(client, a["tech"], wo, "accept").status_code == 200
    _run(app, clock)
    clocks = _sla(client, a["dispatcher"], wo)
    assert clocks["response"]["status"] == "met" and clocks["response"]["on_time"] is True
    assert clocks["arrival"]["status"] == "running"
    # The technician sees the clocks of their own order; a customer only deadlines and outcomes.
    tech_view = _sla(client, a["tech"], wo)
    assert tech_view["response"]["status"] == "met"
    cust = client.get(f"{API}/work-orders/{wo['id']}/sla", headers=a["customer"]).json()["clocks"]
    assert all(c["escalations"] == [] and c["percent_elapsed"] is None for c in cust)
    assert client.get(f"{API}/work-orders/{wo['id']}/sla", headers=a["customer2"]).status_code == 404
    events = _all(app, select(OutboxEvent.type).where(OutboxEvent.type.like("sla.%")))
    assert "sla.met" in events


def test_levels_fire_exactly_once_even_when_several_are_due(client: TestClient, db: Session, app: Any,
                                                            clock: FrozenClock) -> None:
    w, a, _ = _setup(client, db)
    wo = create_wo(client, a["dispatcher"], w.a)
    _run(app, clock)
    _adv(clock, a, minutes=100)  # response: 50 %, 100 %, +5, +30 all due at once; arrival 50 % not yet (120 min)
    _run(app, clock)
    assert _escalations(app, wo["id"]) == [("response", 0), ("response", 1), ("response", 2), ("response", 3)]
    _run(app, clock)
    _run(app, clock)
    assert len(_escalations(app, wo["id"])) == 4
    clocks = _sla(client, a["dispatcher"], wo)
    assert clocks["response"]["status"] == "breached" and clocks["response"]["breached"]
    assert [e["kind"] for e in clocks["response"]["escalations"]] == ["warning", "breach", "escalation", "escalation"]
    types = _all(app, select(OutboxEvent.type).where(OutboxEvent.type.like("sla.%")))
    assert types.count("sla.warning") == 1 and types.count("sla.breached") == 1 and types.count("sla.escalated") == 2
    (payload,) = _all(app, select(OutboxEvent.payload).where(OutboxEvent.type == "sla.breached"))
    assert payload["audience"] == "internal" and payload["work_order_id"] == wo["id"]
    assert payload["target"] == "response" and payload["level"] == 1 and payload["deadline"]
    # Notifications: dispatcher for 50 % and breach; supervisor of T1 for +5; admin for +30.
    notes = _all(app, select(Notification.template).where(Notification.template.like("sla.%")))
    assert set(notes) == {"sla.warning", "sla.breached", "sla.escalated"}
    # Later the arrival levels fire too, each once.
    _adv(clock, a, hours=5)
    _run(app, clock)
    _run(app, clock)
    got = _escalations(app, wo["id"])
    assert len(got) == len(set(got)) == 9  # response 4, arrival 4, resolution 50 %


def test_a_crash_mid_scan_loses_nothing_and_duplicates_nothing(client: TestClient, db: Session, app: Any,
                                                                clock: FrozenClock) -> None:
    w, a, _ = _setup(client, db)
    wos = [create_wo(client, a["dispatcher"], w.a) for _ in range(3)]
    _run(app, clock)
    _adv(clock, a, minutes=40)
    database = app.state.database
    # The worker dies after firing in its transaction but before committing: everything rolls back.
    with database.session() as s:
        assert sla_service.fire_due(s, clock.now(), app.state.settings) == 3
        s.rollback()
    assert all(_escalations(app, wo["id"]) == [] for wo in wos)
    with database.session() as s:
        n_notes = s.scalar(select(func.count()).select_from(Notification))
    # The restarted worker fires them once.
    _run(app, clock)
    _run(app, clock)
    assert all(_escalations(app, wo["id"]) == [("response", 0)] for wo in wos)
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Notification)) > (n_notes or 0)
        # A second scan finds nothing due.
        assert sla_service.fire_due(s, clock.now(), app.state.settings) == 0


def test_hold_pauses_and_resume_extends_by_business_time(client: TestClient, db: Session, app: Any,
                                                         clock: FrozenClock) -> None:
    w, a, policy = _setup(client, db)
    r = client.patch(f"{API}/sla/policies/{policy['id']}", json={"pause_reason_codes": ["waiting_parts"]},
                     headers={**a["admin"], "If-Match": f'"{policy["version"]}"'})
    assert r.status_code == 200, r.text
    wo = create_wo(client, a["dispatcher"], w.a)
    _assign(client, a, wo, w.a.tech.id)
    assert act(client, a["tech"], wo, "accept").status_code == 200
    _run(app, clock)
    before = _sla(client, a["dispatcher"], wo)["resolution"]["deadline_at"]
    _adv(clock, a, minutes=20)
    r = act(client, a["tech"], wo, "hold", {"reason_code": "waiting_parts", "reason": "Part ordered"})
    assert r.status_code == 200, r.text
    _run(app, clock)
    held = _sla(client, a["dispatcher"], wo)
    assert held["resolution"]["status"] == "paused" and held["resolution"]["pause_reason"] == "waiting_parts"
    _adv(clock, a, minutes=90)
    _run(app, clock)  # nothing fires while paused (arrival 50 % would be at 2 h)
    assert _escalations(app, wo["id"]) == []
    assert act(client, a["tech"], wo, "resume").status_code == 200
    _run(app, clock)
    after = _sla(client, a["dispatcher"], wo)["resolution"]
    assert after["status"] == "running" and after["paused_seconds"] == 90 * 60
    assert sla_service.rules.minutes_between(_dt(before), _dt(after["deadline_at"])) == 90
    # Another hold reason does not pause this policy's clocks.
    assert act(client, a["tech"], wo, "hold", {"reason_code": "waiting_customer", "reason": "Away"}).status_code == 200
    _run(app, clock)
    assert _sla(client, a["dispatcher"], wo)["resolution"]["status"] == "running"


def test_cancel_stops_priority_change_rematches_reopen_restarts(client: TestClient, db: Session, app: Any,
                                                               clock: FrozenClock) -> None:
    w, a, general = _setup(client, db)
    cal = always_open(client, a["admin"])
    urgent = make_policy(client, a["admin"], cal["id"], name="P0", priorities=["P0"],
                         targets={"response": {"minutes": 5}, "resolution": {"hours": 4}})
    wo = create_wo(client, a["dispatcher"], w.a, priority="P2")
    _run(app, clock)
    assert _sla(client, a["dispatcher"], wo)["response"]["policy_id"] == general["id"]
    _adv(clock, a, minutes=2)
    v = client.get(f"{API}/work-orders/{wo['id']}", headers=a["dispatcher"]).json()["version"]
    r = client.patch(f"{API}/work-orders/{wo['id']}", json={"priority": "P0"},
                     headers={**a["dispatcher"], "If-Match": f'"{v}"'})
    assert r.status_code == 200, r.text
    _run(app, clock)
    now_clocks = _sla(client, a["dispatcher"], wo)
    assert set(now_clocks) == {"response", "resolution"}
    assert now_clocks["response"]["policy_id"] == urgent["id"]
    assert now_clocks["response"]["started_at"] == _sla_all(client, a, wo)[0]["started_at"]
    assert act(client, a["dispatcher"], wo, "cancel", {"reason": "Duplicate"}).status_code == 200
    _run(app, clock)
    assert {c["status"] for c in _sla(client, a["dispatcher"], wo).values()} == {"stopped"}
    _adv(clock, a, minutes=30)
    _run(app, clock)
    assert _escalations(app, wo["id"]) == []  # stopped clocks never fire
    assert act(client, a["dispatcher"], wo, "reopen", {"reason": "Came back"}).status_code == 200
    _run(app, clock)
    cycles = {c["cycle"] for c in _sla_all(client, a, wo) if c["status"] == "running"}
    assert cycles == {1}


def _sla_all(client: TestClient, a: Actors, wo: dict[str, Any]) -> list[dict[str, Any]]:
    return list(client.get(f"{API}/work-orders/{wo['id']}/sla", headers=a["dispatcher"]).json()["clocks"])


def _dt(s: str) -> Any:
    from datetime import datetime
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_bulk_console_lookup_and_at_risk(client: TestClient, db: Session, app: Any, clock: FrozenClock) -> None:
    w, a, _ = _setup(client, db)
    wos = [create_wo(client, a["dispatcher"], w.a) for _ in range(3)]
    other = create_wo(client, a["dispatcher"], w.a, site_id=str(w.a.site2.id), customer_id=str(w.a.customer2.id))
    _run(app, clock)
    r = client.get(f"{API}/sla/clocks", params={"work_order_id": [wos[0]["id"], wos[1]["id"]]},
                   headers=a["dispatcher"])
    assert r.status_code == 200 and r.json()["total"] == 6
    assert client.get(f"{API}/sla/clocks", params={"at_risk": True}, headers=a["dispatcher"]).json()["total"] == 4
    _adv(clock, a, minutes=200)
    _run(app, clock)
    breached = client.get(f"{API}/sla/clocks", params={"status": "breached"}, headers=a["dispatcher"]).json()
    assert breached["total"] == 4 and all(c["target"] == "response" for c in breached["items"])
    # A supervisor sees only the orders of their territory; a technician only theirs (none); customers 403.
    sup = client.get(f"{API}/sla/clocks", headers=a["supervisor"]).json()
    assert other["id"] not in {c["work_order_id"] for c in sup["items"]} and sup["total"] == 9
    mine = {wo["id"] for wo in [*wos, other] if client.get(f"{API}/work-orders/{wo['id']}", headers=a["dispatcher"])
            .json()["technician_id"] == str(w.a.tech.id)}
    tech = client.get(f"{API}/sla/clocks", params={"limit": 100}, headers=a["tech"]).json()
    assert {c["work_order_id"] for c in tech["items"]} == mine and tech["total"] == 3 * len(mine)
    assert client.get(f"{API}/sla/clocks", headers=a["customer"]).status_code == 403
    bad = client.get(f"{API}/sla/clocks", params={"status": "late"}, headers=a["dispatcher"])
    assert bad.status_code == 422


def test_escalation_actions_raise_priority_and_pool(client: TestClient, db: Session, app: Any,
                                                    clock: FrozenClock) -> None:
    w = make_world(db)
    a = Actors(client, w.a)
    cal = always_open(client, a["admin"])
    make_policy(client, a["admin"], cal["id"], targets={"response": {"minutes": 30}}, ladder=[
        {"name": "raise", "percent": 50, "action": "raise_priority", "recipients": {"dispatchers": True}},
        {"name": "pool", "offset_minutes": 5, "action": "pool", "recipients": {"supervisors": True}},
    ])
    wo = create_wo(client, a["dispatcher"], w.a, priority="P2")
    _assign(client, a, wo, w.a.tech.id)
    _run(app, clock)
    _adv(clock, a, minutes=16)
    _run(app, clock)
    got = client.get(f"{API}/work-orders/{wo['id']}", headers=a["dispatcher"]).json()
    assert got["priority"] == "P1"
    _adv(clock, a, minutes=20)
    _run(app, clock)
    with app.state.database.session() as s:
        esc = {e.name: e for e in s.scalars(select(SlaEscalation))}
        assert esc["raise"].result["ok"] is True, esc["raise"].result
        assert esc["pool"].result["ok"] is True, esc["pool"].result
        # Raising to P1 re-matched the policy (the same one): the clocks were kept.
        assert s.scalar(select(func.count()).select_from(SlaClock)) == 1


def test_no_policy_means_no_clocks(client: TestClient, db: Session, app: Any, clock: FrozenClock) -> None:
    w = make_world(db)
    a = Actors(client, w.a)
    cal = make_calendar(client, a["admin"])
    make_policy(client, a["admin"], cal["id"], priorities=["P0"])
    wo = create_wo(client, a["dispatcher"], w.a, priority="P3")
    _run(app, clock)
    assert _sla(client, a["dispatcher"], wo) == {}


def test_entering_the_site_geofence_meets_the_arrival_target(client: TestClient, db: Session, app: Any,
                                                             clock: FrozenClock) -> None:
    """Arrival is evidence, not a button: the technician's position entering the site's fence meets it, at the
    fix's time; the later check-in changes nothing."""
    w, a, _ = _setup(client, db)
    wo = create_wo(client, a["dispatcher"], w.a)
    _run(app, clock)
    _assign(client, a, wo, w.a.tech.id)
    assert act(client, a["tech"], wo, "accept").status_code == 200
    assert act(client, a["tech"], wo, "depart").status_code == 200
    _adv(clock, a, minutes=20)
    fix_at = clock.now() - timedelta(seconds=30)
    r = client.post(f"{API}/tracking/points", headers=a["tech"], json={"device_id": "phone-1", "points": [
        {"lat": wo["site_lat"], "lng": wo["site_lng"], "accuracy_m": 8, "recorded_at": fix_at.isoformat()}]})
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    _run(app, clock)
    arrival = _sla(client, a["dispatcher"], wo)["arrival"]
    assert arrival["status"] == "met" and arrival["on_time"] is True
    assert arrival["met_at"].startswith(fix_at.strftime("%Y-%m-%dT%H:%M:%S"))
    _adv(clock, a, minutes=5)
    assert act(client, a["tech"], wo, "check-in", {"lat": wo["site_lat"], "lng": wo["site_lng"]}).status_code == 200
    _run(app, clock)
    assert _sla(client, a["dispatcher"], wo)["arrival"]["met_at"] == arrival["met_at"]


def test_escalation_reassigns_to_another_technician(client: TestClient, db: Session, app: Any,
                                                    clock: FrozenClock) -> None:
    """Nobody accepted in time: the +5 min level takes the order from the silent technician."""
    w = make_world(db)
    a = Actors(client, w.a)
    cal = always_open(client, a["admin"])
    make_policy(client, a["admin"], cal["id"], targets={"response": {"minutes": 10}}, ladder=[
        {"name": "reassign", "offset_minutes": 5, "action": "reassign", "recipients": {"dispatchers": True}},
    ])
    wo = create_wo(client, a["dispatcher"], w.a, priority="P1")
    _run(app, clock)
    first = client.get(f"{API}/work-orders/{wo['id']}", headers=a["dispatcher"]).json()["technician_id"]
    if first is None:
        _assign(client, a, wo, w.a.tech.id)
        first = str(w.a.tech.id)
    _adv(clock, a, minutes=16)
    _run(app, clock)
    with app.state.database.session() as s:
        esc = s.scalars(select(SlaEscalation).where(SlaEscalation.name == "reassign")).one()
        result = dict(esc.result)
    got = client.get(f"{API}/work-orders/{wo['id']}", headers=a["dispatcher"]).json()
    if result["ok"]:
        assert got["technician_id"] == result["technician_id"] != first
        assert result["previous_technician_id"] == first
    else:  # no one else may take it: the reason is recorded and the order stays where it was
        assert result["reason"] and got["technician_id"] == first
    assert _escalations(app, wo["id"]) == [("response", 0)]
