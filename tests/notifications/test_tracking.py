"""The customer's tracking link end to end: assign via the API, run the worker, open the link without an
account; tampered and expired links are refused."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from fieldops.notifications.channels import read_mailbox
from fieldops.worker.runner import run_once
from tests.factories.world import World
from tests.work_orders.helpers import API, Actors, act, create_wo

LINK = re.compile(r"http://127\.0\.0\.1:8000/track/([A-Za-z0-9_\-.]+)")


def test_tracking_link_end_to_end(client: TestClient, world: World, app, clock) -> None:  # type: ignore[no-untyped-def]
    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t, contact_phone="+16175550123", contact_name="Ann")
    assert act(client, who["dispatcher"], wo, "assign", {"technician_id": str(t.tech.id)}).status_code == 200
    run_once(app.state.database, clock, app.state.settings)

    mail = read_mailbox(app.state.settings.mailbox_path)
    sms = [m for m in mail if m["channel"] == "sms" and m["to"] == "+16175550123"]
    assert sms, mail
    assert wo["number"] in sms[0]["body"]
    token = LINK.search(sms[0]["body"]).group(1)  # type: ignore[union-attr]
    # the customer's own account and e-mail are told too; the technician hears of the assignment
    assert any(m["channel"] == "email" and m["to"] == t.customer.email for m in mail)  # type: ignore[union-attr]
    assert any(m["channel"] == "email" and m["to"] == t.email("tech") and "New work order" in m["subject"]
               for m in mail)

    r = client.get(f"{API}/track/{token}")  # no Authorization header
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["number"] == wo["number"] and body["status"] == "assigned"
    assert body["status_label"]["zh-CN"] == "待接单"
    assert body["service_type"] == {"en": "AC repair", "zh-CN": "空调维修"}
    assert body["technician"] == "Tech"
    assert [m["key"] for m in body["milestones"]] == ["created", "assigned"]
    text = r.text
    for secret in ("+1617", "AC blows warm air", "labor_cost", "notes", t.customer.name, "Main St"):  # type: ignore[union-attr]
        assert secret not in text

    # the page follows the order
    assert act(client, who["tech"], wo, "accept").status_code == 200
    assert act(client, who["tech"], wo, "depart", {}).status_code == 200
    run_once(app.state.database, clock, app.state.settings)
    mail = read_mailbox(app.state.settings.mailbox_path)
    assert any(m["channel"] == "sms" and "on the way" in m["subject"] for m in mail)
    assert client.get(f"{API}/track/{token}").json()["status"] == "en_route"

    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    r = client.get(f"{API}/track/{tampered}")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    assert "not valid" in r.json()["detail"]

    clock.advance(days=8)
    r = client.get(f"{API}/track/{token}", headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 401 and "过期" in r.json()["detail"]


def test_forged_token_for_another_org_is_refused(client: TestClient, world: World, app, clock) -> None:  # type: ignore[no-untyped-def]
    import jwt

    from fieldops.notifications.tracking import make_token

    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t)
    other = make_token(app.state.settings, work_order_id=wo["id"], org_id=world.b.org.id, now=clock.now())
    assert client.get(f"{API}/track/{other}").status_code == 404
    forged = jwt.encode({"sub": wo["id"], "org": str(t.org.id), "aud": "track", "exp": 4_000_000_000},
                        "not-the-key-of-this-deployment-0123456789", algorithm="HS256")
    assert client.get(f"{API}/track/{forged}").status_code == 401
    access = who["dispatcher"]["Authorization"].split()[1]  # an access token is not a tracking token
    assert client.get(f"{API}/track/{access}").status_code == 401


def test_tracking_link_shows_the_technician_only_on_the_way(client: TestClient, world: World, app, clock) -> None:  # type: ignore[no-untyped-def]
    """On the way: where the technician is (rounded, from a fresh fix) and an ETA from that position; before
    departure and after arrival, no position at all."""
    from datetime import timedelta

    from fieldops.notifications import tracking

    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t)
    assert act(client, who["dispatcher"], wo, "assign", {"technician_id": str(t.tech.id)}).status_code == 200
    assert act(client, who["tech"], wo, "accept").status_code == 200
    settings = app.state.settings
    token = tracking.make_token(settings, work_order_id=wo["id"], org_id=t.org.id, now=clock.now())  # type: ignore[union-attr]
    fix = {"lat": wo["site_lat"] + 0.05, "lng": wo["site_lng"], "accuracy_m": 10,
           "recorded_at": (clock.now() - timedelta(seconds=20)).isoformat()}
    assert client.post(f"{API}/tracking/points", headers=who["tech"],
                       json={"device_id": "p1", "points": [fix]}).status_code == 200
    body = client.get(f"{API}/track/{token}").json()
    assert body["status"] == "accepted" and body["technician_position"] is None

    assert act(client, who["tech"], wo, "depart", {}).status_code == 200
    body = client.get(f"{API}/track/{token}").json()
    pos = body["technician_position"]
    assert pos is not None and abs(pos["lat"] - fix["lat"]) < 1e-4
    # ~5.6 km straight line × 1.3 at 30 km/h ≈ 14-15 minutes from now
    from datetime import datetime
    minutes = (datetime.fromisoformat(body["eta"]) - clock.now()).total_seconds() / 60
    assert 10 < minutes < 20, body["eta"]

    clock.advance(minutes=30)  # the fix is now stale: no position shown, no live ETA
    assert client.get(f"{API}/track/{token}").json()["technician_position"] is None
