"""Comments on work orders: who posts and reads what, paging, @mentions, and that a customer never gets an
internal note (API list, live stream, notifications)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldops.notifications import service as notifications
from fieldops.notifications.models import Notification
from tests.conftest import login
from tests.factories.world import World, make_world
from tests.live.helpers import catch_up, domain, relay
from tests.work_orders.helpers import Actors, act, create_wo

API = "/api/v1"


@pytest.fixture
def world(db: Session) -> World:
    return make_world(db)


@pytest.fixture
def actors(client: TestClient, world: World) -> Actors:
    return Actors(client, world.a)


@pytest.fixture
def wo(client: TestClient, world: World, actors: Actors) -> dict[str, Any]:
    """Customer 1's order, assigned to Tech 1."""
    order = create_wo(client, actors["dispatcher"], world.a)
    r = act(client, actors["dispatcher"], order, "assign",
            {"technician_id": str(world.a.tech.id), "reason": "closest", "force": True})  # type: ignore[union-attr]
    assert r.status_code == 200, r.text
    return order


def post(client: TestClient, headers: dict[str, str], wo: dict[str, Any], body: str, **extra: Any) -> Any:
    return client.post(f"{API}/work-orders/{wo['id']}/comments", json={"body": body, **extra}, headers=headers)


def thread(client: TestClient, headers: dict[str, str], wo: dict[str, Any], **params: Any) -> Any:
    return client.get(f"{API}/work-orders/{wo['id']}/comments", headers=headers, params=params)


def bodies(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [c["body"] for c in r.json()["items"]]


def test_staff_technician_and_customer_talk_and_customers_never_see_internal_notes(
        client: TestClient, actors: Actors, wo: dict[str, Any]) -> None:
    r = post(client, actors["dispatcher"], wo, "Gate code is 4411, customer is difficult")
    assert r.status_code == 201, r.text
    assert r.json()["visibility"] == "internal" and r.json()["seq"] == 1  # staff default: internal
    assert post(client, actors["tech"], wo, "On my way", visibility="customer").status_code == 201
    r = post(client, actors["customer"], wo, "Please call before arriving")
    assert r.status_code == 201 and r.json()["visibility"] == "customer"
    assert post(client, actors["customer"], wo, "secret?", visibility="internal").status_code == 422
    assert post(client, actors["agent"], wo, "Internal follow-up", visibility="internal").status_code == 201

    everyone = ["Gate code is 4411, customer is difficult", "On my way", "Please call before arriving",
                "Internal follow-up"]
    for role in ("dispatcher", "admin", "agent", "finance", "supervisor", "tech"):
        assert bodies(thread(client, actors[role], wo)) == everyone, role
    customer_view = thread(client, actors["customer"], wo)
    assert bodies(customer_view) == ["On my way", "Please call before arriving"]
    assert customer_view.json()["total"] == 2
    assert "4411" not in customer_view.text


def test_who_may_post_and_see(client: TestClient, world: World, actors: Actors, wo: dict[str, Any]) -> None:
    assert post(client, actors["finance"], wo, "costs look high").status_code == 403
    for role in ("tech2", "customer2"):  # cannot see the order: it does not exist for them
        assert post(client, actors[role], wo, "hello").status_code == 404
        assert thread(client, actors[role], wo).status_code == 404
    foreign = login(client, world.b.email("admin"))
    assert post(client, foreign, wo, "hello").status_code == 404
    assert thread(client, foreign, wo).status_code == 404
    assert client.get(f"{API}/work-orders/{wo['id']}/comments").status_code == 401


def test_bad_input_is_a_problem_not_a_500(client: TestClient, actors: Actors, wo: dict[str, Any]) -> None:
    h = actors["dispatcher"]
    for body in ({"body": ""}, {"body": "x" * 5001}, {"body": "nul \x00 here"}, {"body": "ok", "visibility": "x"},
                 {"body": "ok", "extra": 1}, {"body": "ok", "attachment_ids": ["not-a-uuid"]}):
        r = client.post(f"{API}/work-orders/{wo['id']}/comments", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    r = post(client, h, wo, "see photo", attachment_ids=["00000000-0000-0000-0000-000000000001"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "attachment_ids"
    r = client.get(f"{API}/work-orders/{wo['id']}/comments", headers={**h, "Accept-Language": "zh-CN"},
                   params={"after_id": "00000000-0000-0000-0000-000000000001"})
    assert r.status_code == 404 and "评论" in r.json()["detail"]


def test_paging_after_a_comment_and_idempotent_retry(client: TestClient, actors: Actors, wo: dict[str, Any]) -> None:
    h = actors["dispatcher"]
    ids = [post(client, h, wo, f"note {n}").json()["id"] for n in range(5)]
    assert bodies(thread(client, h, wo, limit=2)) == ["note 0", "note 1"]
    assert bodies(thread(client, h, wo, limit=2, offset=2)) == ["note 2", "note 3"]
    r = thread(client, h, wo, after_id=ids[2])
    assert bodies(r) == ["note 3", "note 4"] and r.json()["total"] == 2
    internal_id = ids[0]
    assert thread(client, actors["customer"], wo, after_id=internal_id).status_code == 404  # not theirs to know
    key = {**h, "Idempotency-Key": "c-1"}
    first = client.post(f"{API}/work-orders/{wo['id']}/comments", json={"body": "once"}, headers=key)
    again = client.post(f"{API}/work-orders/{wo['id']}/comments", json={"body": "once"}, headers=key)
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    assert bodies(thread(client, h, wo)).count("once") == 1


def test_mentions_notify_those_who_may_read_and_never_a_customer_for_internal_notes(
        client: TestClient, world: World, actors: Actors, wo: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(notifications, "notify", lambda db, **kw: calls.append(kw) or [])
    a = world.a
    tech, cust, cust2, sup = a.users["tech"], a.users["customer"], a.users["customer2"], a.users["supervisor"]
    tech2 = a.users["tech2"]
    text = (f"@{tech.email} please check, cc @{sup.name}, @{cust.email} @{cust2.email} @{tech2.email} "
            f"@{world.b.email('admin')} @nobody")
    r = post(client, actors["dispatcher"], wo, text)  # internal
    assert r.status_code == 201, r.text
    assert set(r.json()["mentioned_user_ids"]) == {str(tech.id), str(sup.id)}
    assert len(calls) == 1
    call = calls[0]
    assert call["template"] == "comment.mention" and call["params"]["number"] == wo["number"]
    assert {x.user_id for x in call["recipients"]} == {tech.id, sup.id}
    customers = {u.id for u in a.users.values() if u.role == "customer"}
    assert not any(x.user_id in customers or x.email or x.phone for x in call["recipients"])

    calls.clear()
    r = post(client, actors["tech"], wo, f"Hi @{cust.email}, arriving at 3pm", visibility="customer")
    assert r.json()["mentioned_user_ids"] == [str(cust.id)]
    assert [x.user_id for x in calls[0]["recipients"]] == [cust.id]
    calls.clear()
    post(client, actors["dispatcher"], wo, "no mentions here, mail me at x@y.test")
    assert calls == []


def test_mention_by_display_name_queues_the_in_app_notification(client: TestClient, db: Session, world: World,
                                                                actors: Actors, wo: dict[str, Any]) -> None:
    sup = world.a.users["supervisor"]
    r = post(client, actors["dispatcher"], wo, f"@{sup.name}: can you approve the overtime?")
    assert r.json()["mentioned_user_ids"] == [str(sup.id)]
    notes = list(db.scalars(select(Notification).where(Notification.user_id == sup.id)))
    assert notes and all(n.work_order_id is None or str(n.work_order_id) == wo["id"] for n in notes)
    assert not list(db.scalars(select(Notification).where(Notification.user_id == world.a.users["customer"].id,
                                                          Notification.template == "comment.mention")))


def test_internal_notes_never_reach_the_customers_live_stream(client: TestClient, app: Any, clock: Any,
                                                               actors: Actors, wo: dict[str, Any]) -> None:
    relay(app, clock)
    start = catch_up(client, actors["customer"])[-1].id
    post(client, actors["dispatcher"], wo, "INTERNAL: the customer owes us money")
    clock.advance(seconds=1)  # the relay orders events by time (then id)
    post(client, actors["tech"], wo, "Arriving in 10 minutes", visibility="customer")
    relay(app, clock)
    staff = [e for e in domain(catch_up(client, actors["dispatcher"], start)) if e.event == "comment.created"]
    assert [e.data["visibility"] for e in staff] == ["internal", "customer"]
    assert "body" not in staff[0].data  # internal text is fetched through the API, never carried in events
    mine = domain(catch_up(client, actors["customer"], start))
    assert [(e.event, e.data.get("body")) for e in mine] == [("comment.created", "Arriving in 10 minutes")]
    assert all("owes" not in str(e.data) for e in mine)
    tech = [e.data["visibility"] for e in domain(catch_up(client, actors["tech"], start))
            if e.event == "comment.created"]
    assert tech == ["internal", "customer"]
