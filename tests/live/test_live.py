"""Live updates: who receives what (the REST visibility rules, current state), resume by Last-Event-ID,
reset, tickets, and real SSE streams through uvicorn on 127.0.0.1 (timeouts everywhere)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldops.core.events import record_event
from fieldops.live.models import LiveEvent
from fieldops.live.tasks import prune_live_events
from tests.conftest import login
from tests.factories.world import World, make_world
from tests.live.helpers import API, LiveServer, catch_up, domain, parse, relay, streams
from tests.work_orders.helpers import Actors, act, create_wo


@pytest.fixture
def world(db: Session) -> World:
    return make_world(db)


@pytest.fixture
def actors(client: TestClient, world: World) -> Actors:
    return Actors(client, world.a)


def assign(client: TestClient, actors: Actors, wo: dict[str, Any], tech: Any) -> None:
    r = act(client, actors["dispatcher"], wo, "assign", {"technician_id": str(tech.id), "reason": "r", "force": True})
    assert r.status_code == 200, r.text


def orders_seen(events: list[Any]) -> set[str]:
    return {e.data["work_order_id"] for e in domain(events)
            if e.event != "work_order.removed" and e.data.get("work_order_id")}


def test_visibility_matrix(client: TestClient, app: Any, clock: Any, world: World, actors: Actors) -> None:
    a = world.a
    wo1 = create_wo(client, actors["dispatcher"], a)  # Customer 1, T1
    wo2 = create_wo(client, actors["dispatcher"], a, customer_id=str(a.customer2.id),  # type: ignore[union-attr]
                    site_id=str(a.site2.id))  # type: ignore[union-attr]  # Customer 2, T2
    assign(client, actors, wo1, a.tech)
    assign(client, actors, wo2, a.tech2)
    with app.state.database.session() as s:  # the SLA helper's events: internal
        record_event(s, type="sla.warning", aggregate_type="work_order", aggregate_id=uuid.UUID(wo1["id"]),
                     org_id=a.org.id, now=clock.now(),
                     payload={"work_order_id": wo1["id"], "number": wo1["number"], "audience": "internal",
                              "target": "arrival", "minutes": 20})
        s.commit()
    relay(app, clock)
    both = {wo1["id"], wo2["id"]}
    expect = {"admin": both, "dispatcher": both, "agent": both, "finance": both, "supervisor": {wo1["id"]},
              "tech": {wo1["id"]}, "tech2": {wo2["id"]}, "customer": {wo1["id"]}, "customer2": {wo2["id"]}}
    seen = {who: catch_up(client, actors[who], 0) for who in expect}
    for who, ids in expect.items():
        assert orders_seen(seen[who]) == ids, who
    for who in ("dispatcher", "supervisor", "tech"):
        assert "sla.warning" in {e.event for e in seen[who]}, who
    for who in ("customer", "customer2"):
        assert not {e.event for e in seen[who]} & {"sla.warning"}
        for e in domain(seen[who]):  # reasons, actors and desk notes stay inside
            assert not {"reason", "actor_user_id", "audience"} & set(e.data), e
    foreign = login(client, world.b.email("admin"))
    assert domain(catch_up(client, foreign, 0)) == []


def test_a_technician_who_loses_an_order_gets_removed(client: TestClient, app: Any, clock: Any, world: World,
                                                      actors: Actors) -> None:
    wo = create_wo(client, actors["dispatcher"], world.a)
    assign(client, actors, wo, world.a.tech)
    relay(app, clock)
    start = catch_up(client, actors["tech"])[-1].id
    assign(client, actors, wo, world.a.tech2)  # reassigned
    relay(app, clock)
    tech1 = [e for e in domain(catch_up(client, actors["tech"], start)) if e.event != "notification.created"]
    assert [(e.event, e.data) for e in tech1] == [("work_order.removed", {"work_order_id": wo["id"],
                                                                          "status": "removed"})]
    tech2 = domain(catch_up(client, actors["tech2"], start))
    assert [e.event for e in tech2 if e.event != "notification.created"] == ["work_order.assigned"]
    # Current state wins: before the reassignment Tech 1 saw the order's events, now even the old ones say
    # "removed" and Tech 2 sees the whole history.
    assert all(e.event in ("work_order.removed", "notification.created")
               for e in domain(catch_up(client, actors["tech"], 0)))
    assert wo["id"] in orders_seen(catch_up(client, actors["tech2"], 0))


def test_exception_reports_and_in_app_notifications(client: TestClient, app: Any, clock: Any, world: World,
                                                    actors: Actors) -> None:
    wo = create_wo(client, actors["dispatcher"], world.a)
    assign(client, actors, wo, world.a.tech)
    relay(app, clock)
    start = catch_up(client, actors["dispatcher"])[-1].id
    r = client.post(f"{API}/work-orders/{wo['id']}/exceptions", headers=actors["tech"],
                    json={"kind": "material_shortage", "note": "Need a part"})
    assert r.status_code == 201, r.text
    with app.state.database.session() as s:
        record_event(s, type="notification.created", aggregate_type="notification", aggregate_id=uuid.uuid4(),
                     org_id=world.a.org.id, now=clock.now(),
                     payload={"user_id": str(world.a.users["agent"].id), "title": "Hello"})
        s.commit()
    relay(app, clock)
    console = domain(catch_up(client, actors["dispatcher"], start))
    assert "work_order.exception_reported" in [e.event for e in console]
    dispatcher_id = str(world.a.users["dispatcher"].id)
    assert all(e.data["user_id"] == dispatcher_id for e in console if e.event == "notification.created")
    assert "work_order.exception_reported" not in [e.event for e in catch_up(client, actors["customer"], start)]
    agent = [e for e in domain(catch_up(client, actors["agent"], start)) if e.event == "notification.created"]
    assert [e.data["title"] for e in agent] == ["Hello"]


def test_resume_gets_exactly_what_was_missed_then_reset_after_pruning(client: TestClient, app: Any, clock: Any,
                                                                      db: Session, world: World,
                                                                      actors: Actors) -> None:
    h = actors["dispatcher"]
    wo = create_wo(client, h, world.a)
    relay(app, clock)
    seen = catch_up(client, h, 0)
    last = seen[-1].id
    assert seen[-1].event == "ready" and last is not None
    missed = []
    for n in range(3):
        clock.advance(seconds=1)
        r = client.post(f"{API}/work-orders/{wo['id']}/comments", json={"body": f"n{n}"}, headers=h)
        missed.append(r.json()["id"])
    relay(app, clock)
    again = domain(catch_up(client, h, last))
    assert [e.data["comment_id"] for e in again if e.event == "comment.created"] == missed
    ids = [e.id for e in again]
    assert ids == sorted(ids) and all(i is not None and i > last for i in ids)
    assert domain(catch_up(client, h, again[-1].id)) == []  # nothing twice
    r = client.get(f"{API}/live/stream", headers={**h, "Last-Event-ID": str(last)}, params={"once": "true"})
    assert [e.data["comment_id"] for e in domain(parse(r.text)) if e.event == "comment.created"] == missed
    # A week later the old events are pruned: resuming from before them is a reset (refetch everything).
    clock.advance(days=8)
    with app.state.database.session() as s:
        assert prune_live_events(s, clock.now(), app.state.settings) > 0
        s.commit()
        assert s.scalar(select(func.count()).select_from(LiveEvent)) == 0
    h = login(client, world.a.email("dispatcher"))  # the old token expired meanwhile
    events = catch_up(client, h, last)
    assert [e.event for e in events] == ["reset", "ready"]
    assert client.get(f"{API}/live/stream", headers={**h, "Last-Event-ID": "abc"},
                      params={"once": "true"}).status_code == 422


def test_ticket_is_one_time_and_short_lived(client: TestClient, clock: Any, actors: Actors) -> None:
    assert client.get(f"{API}/live/stream", params={"once": "true"}).status_code == 401
    assert client.get(f"{API}/live/stream", params={"once": "true", "access_token": "nope"}).status_code == 401
    r = client.post(f"{API}/live/ticket", headers=actors["tech"])
    assert r.status_code == 200 and r.json()["expires_in"] == 60
    ticket = r.json()["ticket"]
    ok = client.get(f"{API}/live/stream", params={"once": "true", "access_token": ticket})
    assert ok.status_code == 200 and "event: ready" in ok.text
    assert client.get(f"{API}/live/stream", params={"once": "true", "access_token": ticket}).status_code == 401
    late = client.post(f"{API}/live/ticket", headers=actors["tech"]).json()["ticket"]
    clock.advance(seconds=61)
    assert client.get(f"{API}/live/stream", params={"once": "true", "access_token": late}).status_code == 401


def test_real_streams_fan_out_by_visibility_and_resume(app: Any, client: TestClient, clock: Any, world: World,
                                                       actors: Actors) -> None:
    a = world.a
    wo = create_wo(client, actors["dispatcher"], a)
    assign(client, actors, wo, a.tech)
    relay(app, clock)
    app.state.settings.live_poll_seconds = 0.05
    heads = {who: actors[who] for who in ("dispatcher", "tech", "tech2", "customer")}
    heads["foreign"] = login(client, world.b.email("admin"))
    with LiveServer(app) as server, streams(server, heads) as s:
        clock.advance(seconds=1)
        r = client.post(f"{API}/work-orders/{wo['id']}/comments", json={"body": "internal"},
                        headers=actors["dispatcher"])
        assert r.status_code == 201
        clock.advance(seconds=1)
        assert act(client, actors["tech"], wo, "accept").status_code == 200
        relay(app, clock)
        got = {who: s[who].take(2, timeout=10) for who in ("dispatcher", "tech")}
        for who, events in got.items():
            assert [e.event for e in events] == ["comment.created", "work_order.accepted"], who
        customer = s["customer"].take(1, timeout=10)
        assert [e.event for e in customer] == ["work_order.accepted"]  # not the internal note
        assert s["customer"].quiet(0.3) == [] and s["tech2"].quiet(0.3) == [] and s["foreign"].quiet(0.1) == []
        last = got["dispatcher"][0].id
    # Reconnect with Last-Event-ID after the first: exactly the one missed.
    assert [e.event for e in domain(catch_up(client, actors["dispatcher"], last))
            if e.event != "notification.created"] == ["work_order.accepted"]


def test_a_slow_client_is_dropped_and_resumes(app: Any, client: TestClient, clock: Any, world: World,
                                              actors: Actors) -> None:
    app.state.settings.live_queue_size = 2
    app.state.settings.live_poll_seconds = 0.05
    wo = create_wo(client, actors["dispatcher"], world.a)
    relay(app, clock)
    with LiveServer(app) as server, streams(server, {"d": actors["dispatcher"]}) as s:
        b = app.state.live_broadcaster
        sub = next(iter(b.subscribers))
        for n in range(3):  # more than the queue holds, before the stream can read them
            sub.offer(type("M", (), {"id": 10_000 + n, "event": "x", "data": {}})())
        assert sub.dropped
        assert s["d"].take(5, timeout=5) == []  # the stream ended
    assert wo["id"] in orders_seen(catch_up(client, actors["dispatcher"], 0))


@pytest.mark.parametrize("hours", [1])
def test_prune_keeps_recent_rows_and_the_row_cap(app: Any, db: Session, clock: Any, world: World,
                                                 hours: int) -> None:
    from fieldops.live import repository

    for n in range(5):
        repository.append(db, org_id=world.a.org.id, type="t", work_order_id=None, audience=None, user_id=None,
                          payload={"n": n}, outbox_event_id=None, now=clock.now() - timedelta(hours=hours))
    db.commit()
    app.state.settings.live_retention_rows = 3
    prune_live_events(db, clock.now(), app.state.settings)
    db.commit()
    assert [r.payload["n"] for r in db.scalars(select(LiveEvent).order_by(LiveEvent.id))] == [2, 3, 4]
