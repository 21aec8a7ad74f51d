from __future__ import annotations

import threading
import uuid
from datetime import date, time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldops.dispatch.models import TechnicianPerformance
from fieldops.service_types.models import ServiceType
from fieldops.technicians.models import Certificate, Shift, Technician, TechnicianSkill
from fieldops.worker.runner import run_once
from tests.factories.base import make_user
from tests.factories.world import World, make_world
from tests.work_orders.helpers import API, Actors, act, create_wo


@pytest.fixture
def world(db: Session) -> World:
    return make_world(db)


def _work(app, clock) -> None:  # type: ignore[no-untyped-def]
    run_once(app.state.database, clock, app.state.settings)


def _get(client: TestClient, who: Actors, wo: dict) -> dict:  # type: ignore[type-arg]
    return client.get(f"{API}/work-orders/{wo['id']}", headers=who["dispatcher"]).json()  # type: ignore[no-any-return]


def test_created_order_is_auto_dispatched_with_an_explanation(client: TestClient, world: World, app, clock) -> None:  # type: ignore[no-untyped-def]
    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["agent"], t, priority="P1")
    _work(app, clock)
    got = _get(client, who, wo)
    assert got["status"] == "assigned" and got["technician_id"] in (str(t.tech.id), str(t.tech2.id))
    assert got["planned_start"] is not None
    decisions = client.get(f"{API}/work-orders/{wo['id']}/dispatch-decisions", headers=who["dispatcher"]).json()
    assert len(decisions) == 1
    d = decisions[0]
    assert d["mode"] == "auto" and d["outcome"] == "assigned" and d["technician_id"] == got["technician_id"]
    chosen = d["explanation"]["chosen"]
    assert chosen["feasible"] and chosen["breakdown"]
    assert d["explanation"]["alternatives"], "the other qualified technician is the runner-up"
    timeline = client.get(f"{API}/work-orders/{wo['id']}/timeline", headers=who["dispatcher"]).json()
    assert timeline[1]["action"] == "assign" and timeline[1]["actor_role"] == "system"
    # the customer cannot read dispatch internals
    assert client.get(f"{API}/work-orders/{wo['id']}/dispatch-decisions", headers=who["customer"]).status_code == 403


def test_nobody_qualified_stays_in_queue_with_reason(client: TestClient, world: World, app, clock, db: Session) -> None:  # type: ignore[no-untyped-def]
    t = world.a
    st = ServiceType(org_id=t.org.id, code="elec", name="Electrical", name_zh="电路", default_duration_min=45,
                     default_priority="P2", required_skills=[{"skill": "electrical", "min_level": 2}],
                     required_certificates=[], checklist_template=[], required_photos=[])
    db.add(st)
    db.commit()
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t, service_type_id=str(st.id))
    _work(app, clock)
    assert _get(client, who, wo)["status"] == "new"
    d = client.get(f"{API}/work-orders/{wo['id']}/dispatch-decisions", headers=who["dispatcher"]).json()[-1]
    assert d["outcome"] == "queue" and "electrical" in (d["reason"] or "")
    rejected = d["explanation"]["rejected"]
    assert {r["technician_id"] for r in rejected} == {str(t.tech.id), str(t.tech2.id)}
    assert all("skill" in r["reasons"] for r in rejected)
    why = client.get(f"{API}/work-orders/{wo['id']}/dispatch-candidates?technician_id={t.tech.id}",
                     headers=who["dispatcher"]).json()
    assert why[0]["feasible"] is False and "skill" in why[0]["reasons"]
    # manual override needs force, and is audited
    body = {"technician_id": str(t.tech.id), "reason": "he is learning"}
    r = client.post(f"{API}/work-orders/{wo['id']}/assign", json=body, headers={**who["dispatcher"], "If-Match": '"1"'})
    assert r.status_code == 422 and "force" in r.json()["detail"]
    r = client.post(f"{API}/work-orders/{wo['id']}/assign", json={**body, "force": True},
                    headers={**who["dispatcher"], "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["technician_id"] == str(t.tech.id)
    rows = client.get(f"{API}/work-orders/{wo['id']}/dispatch-decisions", headers=who["dispatcher"]).json()
    manual = [d for d in rows if d["mode"] == "manual"]
    assert len(manual) == 1 and manual[0]["explanation"]["manual_check"]["feasible"] is False


def test_expired_certificate_rules_a_technician_out(client: TestClient, world: World, app, clock, db: Session) -> None:  # type: ignore[no-untyped-def]
    t = world.a
    st = db.get(ServiceType, t.service_type.id)
    st.required_certificates = ["epa608"]
    cert = db.scalars(select(Certificate).where(Certificate.technician_id == t.tech.id)).one()
    cert.expires_on = date(2026, 1, 1)
    db.commit()
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t)
    _work(app, clock)
    got = _get(client, who, wo)
    assert got["technician_id"] == str(t.tech2.id)
    d = client.get(f"{API}/work-orders/{wo['id']}/dispatch-decisions", headers=who["dispatcher"]).json()[-1]
    rejected = {r["technician_id"]: r for r in d["explanation"]["rejected"]}
    assert "certificate" in rejected[str(t.tech.id)]["reasons"]


def test_reject_redispatches_to_someone_else(client: TestClient, world: World, app, clock) -> None:  # type: ignore[no-untyped-def]
    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t)
    _work(app, clock)
    first = _get(client, who, wo)["technician_id"]
    role = "tech" if first == str(t.tech.id) else "tech2"
    r = act(client, who[role], wo, "reject", {"reason": "van broke down"})
    assert r.status_code == 200
    _work(app, clock)
    second = _get(client, who, wo)
    assert second["status"] == "assigned" and second["technician_id"] not in (None, first)


def test_dispatch_now_endpoint_and_policy(client: TestClient, world: World, app, clock) -> None:  # type: ignore[no-untyped-def]
    t = world.a
    who = Actors(client, t)
    pol = client.get(f"{API}/dispatch/policy", headers=who["dispatcher"])
    assert pol.status_code == 200 and pol.json()["mode"] == "best_score"
    body = {**pol.json(), "auto_dispatch": False, "mode": "nearest"}
    for key in ("id", "version"):
        body.pop(key, None)
    assert client.put(f"{API}/dispatch/policy", json=body, headers=who["dispatcher"]).status_code == 403
    saved = client.put(f"{API}/dispatch/policy", json=body, headers=who["admin"])
    assert saved.status_code == 200, saved.text
    again = client.put(f"{API}/dispatch/policy", json=body, headers=who["admin"])
    assert again.status_code == 428
    wo = create_wo(client, who["dispatcher"], t)
    _work(app, clock)
    assert _get(client, who, wo)["status"] == "new"  # auto-dispatch switched off
    r = client.post(f"{API}/work-orders/{wo['id']}/dispatch", headers={**who["dispatcher"], "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "assigned" and r.json()["explanation"]["mode"] == "nearest"
    again = client.post(f"{API}/work-orders/{wo['id']}/dispatch", headers={**who["dispatcher"], "If-Match": "*"})
    assert again.status_code == 409


def test_grab_pool_first_grab_wins(client: TestClient, world: World, app, clock) -> None:  # type: ignore[no-untyped-def]
    t = world.a
    who = Actors(client, t)
    body = {"mode": "best_score", "use_pool": True, "pool_timeout_min": 10}
    assert client.put(f"{API}/dispatch/policy", json=body, headers=who["admin"]).status_code == 200
    wo = create_wo(client, who["dispatcher"], t)
    _work(app, clock)
    assert _get(client, who, wo)["status"] == "new"
    offers = client.get(f"{API}/dispatch/pool", headers=who["tech"]).json()
    assert offers["total"] == 1 and offers["items"][0]["work_order_number"] == wo["number"]
    assert client.get(f"{API}/dispatch/pool", headers=who["customer"]).status_code == 403
    offer_id = offers["items"][0]["id"]
    results: list[int] = []

    def grab(headers: dict[str, str]) -> None:
        results.append(client.post(f"{API}/dispatch/pool/{offer_id}/grab", headers=headers).status_code)

    threads = [threading.Thread(target=grab, args=(who[r],)) for r in ("tech", "tech2", "tech", "tech2")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == [200, 409, 409, 409], results
    got = _get(client, who, wo)
    assert got["status"] == "assigned"
    assert client.post(f"{API}/dispatch/pool/{offer_id}/grab", headers=who["dispatcher"]).status_code == 403


def test_pool_expiry_falls_back_to_auto_dispatch(client: TestClient, world: World, app, clock, db: Session) -> None:  # type: ignore[no-untyped-def]
    t = world.a
    who = Actors(client, t)
    # tech2 is off duty today and tech already has a full day: nobody fits, the job goes to the pool
    tech = db.get(Technician, t.tech.id)
    tech.max_jobs_per_day = 0
    db.get(Technician, t.tech2.id).duty_status = "off_duty"
    db.commit()
    wo = create_wo(client, who["dispatcher"], t)
    _work(app, clock)
    d = client.get(f"{API}/work-orders/{wo['id']}/dispatch-decisions", headers=who["dispatcher"]).json()[-1]
    assert d["outcome"] == "pool", d
    tech = db.get(Technician, t.tech.id)
    db.refresh(tech)
    tech.max_jobs_per_day = 8
    db.commit()
    clock.advance(minutes=20)
    _work(app, clock)
    who = Actors(client, t)
    assert _get(client, who, wo)["technician_id"] == str(t.tech.id)


def test_plan_the_day_and_apply(client: TestClient, world: World, app, clock, db: Session) -> None:  # type: ignore[no-untyped-def]
    t = world.a
    who = Actors(client, t)
    policy = {"mode": "best_score", "auto_dispatch": False}
    assert client.put(f"{API}/dispatch/policy", json=policy, headers=who["admin"]).status_code == 200
    orders = [create_wo(client, who["dispatcher"], t, description=f"job {i}") for i in range(6)]
    r = client.post(f"{API}/dispatch/plans", json={"time_limit_s": 1}, headers=who["dispatcher"])
    assert r.status_code == 202, r.text
    plan_id = r.json()["id"]
    assert r.json()["status"] == "queued"
    _work(app, clock)
    plan = client.get(f"{API}/dispatch/plans/{plan_id}", headers=who["dispatcher"])
    body = plan.json()
    assert body["status"] == "done", body
    planned = {s["work_order_id"] for route in body["result"]["routes"] for s in route["stops"]}
    assert planned == {o["id"] for o in orders}
    assert body["summary"]["after"]["served"] == 6 and "before" in body["summary"]
    applied = client.post(f"{API}/dispatch/plans/{plan_id}/apply", headers={**who["dispatcher"],
                                                                              "If-Match": plan.headers["ETag"]})
    assert applied.status_code == 200, applied.text
    assert applied.json()["assigned"] == 6
    for o in orders:
        got = _get(client, who, o)
        assert got["status"] == "assigned" and got["planned_start"] and got["route_seq"] is not None
    again = client.post(f"{API}/dispatch/plans/{plan_id}/apply", headers={**who["dispatcher"], "If-Match": "*"})
    assert again.status_code == 409
    assert client.post(f"{API}/dispatch/plans", json={"time_limit_s": 1}, headers=who["tech"]).status_code == 403


def test_learning_from_closed_orders(client: TestClient, world: World, app, clock, db: Session) -> None:  # type: ignore[no-untyped-def]
    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t)
    act(client, who["dispatcher"], wo, "assign", {"technician_id": str(t.tech.id)})
    for a, b in (("accept", None), ("check-in", {"lat": 42.351, "lng": -71.06}), ("start", None)):
        assert act(client, who["tech"], wo, a, b).status_code == 200
    clock.advance(minutes=90)
    who = Actors(client, t)
    act(client, who["tech"], wo, "complete", {"summary": "ok", "checklist": {"pressure_ok": True}})
    act(client, who["customer"], wo, "confirm", {"rating": {"attitude": 5, "quality": 4, "speed": 3}})
    act(client, who["dispatcher"], wo, "close")
    _work(app, clock)
    perf = db.scalars(select(TechnicianPerformance)).one()
    assert perf.jobs == 1 and perf.duration_ratio == pytest.approx(1.5) and perf.rating == pytest.approx(4.0)


def test_unknown_and_foreign_ids(client: TestClient, world: World) -> None:
    who = Actors(client, world.a)
    other = Actors(client, world.b)
    wo = create_wo(client, who["dispatcher"], world.a)
    assert client.post(f"{API}/work-orders/{wo['id']}/dispatch", headers={**other["dispatcher"], "If-Match": "*"}
                       ).status_code == 404
    r = client.post(f"{API}/work-orders/{wo['id']}/assign", headers={**who["dispatcher"], "If-Match": "*"},
                    json={"technician_id": str(world.b.tech.id)})
    assert r.status_code == 404
    assert client.get(f"{API}/dispatch/plans/{uuid.uuid4()}", headers=who["dispatcher"]).status_code == 404


_unused = (Shift, TechnicianSkill, make_user, time)


def test_sick_technician_jobs_move_to_someone_else(client: TestClient, world: World, app, clock) -> None:  # type: ignore[no-untyped-def]
    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t, window_start="2026-11-23T16:00:00Z",
                   window_end="2026-11-23T20:00:00Z")
    act(client, who["dispatcher"], wo, "assign", {"technician_id": str(t.tech.id), "reason": "regular"})
    assert _get(client, who, wo)["technician_id"] == str(t.tech.id)
    r = client.post(f"{API}/technicians/{t.tech.id}/leave", headers={**who["supervisor"], "If-Match": "*"},
                    json={"start_at": "2026-11-23T13:00:00Z", "end_at": "2026-11-24T23:00:00Z", "kind": "sick",
                          "reason": "flu"})
    assert r.status_code in (200, 201), r.text
    _work(app, clock)
    got = _get(client, who, wo)
    assert got["status"] == "assigned" and got["technician_id"] == str(t.tech2.id)
    modes = [d["mode"] for d in client.get(f"{API}/work-orders/{wo['id']}/dispatch-decisions",
                                           headers=who["dispatcher"]).json()]
    assert "replan" in modes and modes.count("auto") == 1
