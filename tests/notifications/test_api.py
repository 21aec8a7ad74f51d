"""The notifications API: inbox and unread counts, preferences, channel config (secrets write-only),
webhook subscriptions with a signed test event, and the delivery log."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from fieldops.notifications.service import Recipient, notify
from fieldops.worker.runner import run_once
from tests.factories.world import World
from tests.notifications.conftest import HttpSink
from tests.work_orders.helpers import API, Actors


def test_inbox_read_unread_and_isolation(client: TestClient, world: World, db: Session, clock) -> None:  # type: ignore[no-untyped-def]
    who = Actors(client, world.a)
    tech_id = world.a.users["tech"].id
    for i in range(3):
        notify(db, org_id=world.a.org.id, template="comment.mention", now=clock.now(),
               params={"number": f"WO-{i}", "author": "Dana", "excerpt": "x"}, recipients=[Recipient(user_id=tech_id)],
               channels=["in_app"])
    db.commit()
    page = client.get(f"{API}/me/notifications", headers=who["tech"]).json()
    assert page["total"] == 3 and page["unread"] == 3
    assert page["items"][0]["subject"].startswith("Dana mentioned you")
    first = page["items"][0]["id"]
    assert client.post(f"{API}/me/notifications/{first}/read", headers=who["tech"]).json()["read"] is True
    assert client.get(f"{API}/me/notifications/unread-count", headers=who["tech"]).json() == {"unread": 2}
    assert client.get(f"{API}/me/notifications?unread=true", headers=who["tech"]).json()["total"] == 2
    # someone else's notification does not exist for you
    assert client.post(f"{API}/me/notifications/{first}/read", headers=who["dispatcher"]).status_code == 404
    assert client.post(f"{API}/me/notifications/read-all", headers=who["tech"]).json() == {"marked": 2, "unread": 0}


def test_preferences_round_trip(client: TestClient, world: World) -> None:
    who = Actors(client, world.a)
    got = client.get(f"{API}/me/notification-preferences", headers=who["customer"])
    assert got.json()["channels"] == {"in_app": False, "email": True, "sms": True}
    body = {"lang": "zh-CN", "channels": {"sms": False}, "groups": {"work_order": {"in_app": True}},
            "quiet_start": "22:00", "quiet_end": "07:00"}
    r = client.put(f"{API}/me/notification-preferences", json=body, headers=who["customer"])
    assert r.status_code == 200, r.text
    assert r.json()["channels"]["sms"] is False and r.json()["groups"] == {"work_order": {"in_app": True}}
    bad = client.put(f"{API}/me/notification-preferences", json={"quiet_start": "25:00", "quiet_end": "07:00"},
                     headers=who["customer"])
    assert bad.status_code == 422
    stale = client.put(f"{API}/me/notification-preferences", json=body, headers={**who["customer"], "If-Match": '"0"'})
    assert stale.status_code == 412


def test_channel_config_keeps_secrets_write_only(client: TestClient, world: World) -> None:
    who = Actors(client, world.a)
    got = client.get(f"{API}/notifications/channels", headers=who["admin"])
    assert got.status_code == 200 and got.json()["channels"]["email"]["mode"] == "local"
    body = {"email": {"host": "127.0.0.1", "port": 2525, "password": "hunter2-secret"},
            "dingtalk": {"webhook_url": "http://127.0.0.1:9/robot/send?access_token=tok-123", "secret": "SECabc"}}
    r = client.put(f"{API}/notifications/channels", json=body,
                   headers={**who["admin"], "If-Match": got.headers["ETag"]})
    assert r.status_code == 200, r.text
    for text in (r.text, client.get(f"{API}/notifications/channels", headers=who["admin"]).text):
        assert "hunter2" not in text and "tok-123" not in text and "SECabc" not in text
    out = r.json()["channels"]
    assert out["email"]["mode"] == "configured" and out["email"]["secrets_set"] == ["password"]
    assert out["dingtalk"]["secrets_set"] == ["secret", "webhook_url"]
    r = client.put(f"{API}/notifications/channels", json={"clear_secrets": ["dingtalk.secret"]},
                   headers={**who["admin"], "If-Match": r.headers["ETag"]})
    assert r.json()["channels"]["dingtalk"]["secrets_set"] == ["webhook_url"]
    assert client.put(f"{API}/notifications/channels", json={}, headers=who["admin"]).status_code == 428
    assert client.get(f"{API}/notifications/channels", headers=who["dispatcher"]).status_code == 403


def test_webhook_crud_test_event_and_delivery_log(client: TestClient, world: World, app, clock,  # type: ignore[no-untyped-def]
                                                  sink: HttpSink) -> None:
    who = Actors(client, world.a)
    r = client.post(f"{API}/notifications/webhooks", headers=who["admin"],
                    json={"url": f"{sink.base}/hook", "event_types": ["work_order.*"], "description": "ERP"})
    assert r.status_code == 201, r.text
    hook = r.json()
    secret = hook["secret"]
    assert secret.startswith("whsec_")
    got = client.get(f"{API}/notifications/webhooks/{hook['id']}", headers=who["admin"])
    assert "secret" not in got.json()
    assert client.post(f"{API}/notifications/webhooks/{hook['id']}/test", headers=who["admin"]).status_code == 202
    # a work-order event matching the filter goes out too
    from tests.work_orders.helpers import create_wo

    create_wo(client, who["dispatcher"], world.a)
    run_once(app.state.database, clock, app.state.settings)
    events = [Webhook(secret).verify(rec.body, rec.headers) for rec in sink.on("/hook")]
    assert {e["type"] for e in events} >= {"webhook.test", "work_order.created"}
    log = client.get(f"{API}/notifications/deliveries?channel=webhook", headers=who["dispatcher"]).json()
    assert log["total"] >= 2 and all(d["status"] == "sent" for d in log["items"])
    assert log["items"][0]["attempt_log"][0]["ok"] is True
    assert client.get(f"{API}/notifications/deliveries", headers=who["tech"]).status_code == 403
    # other organisations cannot see it
    other = Actors(client, world.b)
    assert client.get(f"{API}/notifications/webhooks/{hook['id']}", headers=other["admin"]).status_code == 404
    r = client.patch(f"{API}/notifications/webhooks/{hook['id']}", json={"rotate_secret": True, "active": False},
                     headers={**who["admin"], "If-Match": got.headers["ETag"]})
    assert r.status_code == 200 and r.json()["secret"] != secret and r.json()["active"] is False
    r = client.delete(f"{API}/notifications/webhooks/{hook['id']}", headers={**who["admin"], "If-Match": "*"})
    assert r.status_code == 204
    bad = client.post(f"{API}/notifications/webhooks", headers=who["admin"], json={"url": "ftp://x"})
    assert bad.status_code == 422
