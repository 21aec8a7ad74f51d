"""Delivery to local receivers: exact formats, signatures, attempts, retries with backoff, dead channels."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from fieldops.notifications.models import ChannelConfig, Notification, NotificationAttempt, WebhookSubscription
from fieldops.notifications.service import Recipient, new_webhook_secret, notify
from fieldops.worker.runner import deliver_notifications, run_once
from tests.factories.world import World
from tests.notifications.conftest import HttpSink, SmtpServer, free_port
from tests.work_orders.helpers import API


def _configure(db: Session, world: World, clock, config: dict, secrets: dict) -> None:  # type: ignore[no-untyped-def]
    db.add(ChannelConfig(org_id=world.a.org.id, config=config, secrets=secrets, updated_at=clock.now()))
    db.commit()


def _notes(db: Session, **where: object) -> list[Notification]:
    db.expire_all()
    q = select(Notification)
    for k, v in where.items():
        q = q.where(getattr(Notification, k) == v)
    rows = list(db.scalars(q.order_by(Notification.created_at)))
    db.expunge_all()
    db.rollback()  # SQLite: a reader left open would block the worker's next write
    return rows


def test_every_channel_reaches_its_local_receiver(db: Session, world: World, app, clock, sink: HttpSink,  # type: ignore[no-untyped-def]
                                                  smtp: SmtpServer) -> None:
    secret = new_webhook_secret()
    _configure(db, world, clock,
               {"email": {"host": "127.0.0.1", "port": smtp.port, "sender": "ops@acme.test"},
                "sms": {"url": f"{sink.base}/sms", "format": "json"}},
               {"wecom": {"webhook_url": f"{sink.base}/wecom?key=abc"},
                "dingtalk": {"webhook_url": f"{sink.base}/ding?access_token=xyz", "secret": "SECdingsecret"}})
    db.add(WebhookSubscription(org_id=world.a.org.id, url=f"{sink.base}/hook", secret=secret,
                               event_types=["sla.*"], active=True))
    db.add(WebhookSubscription(org_id=world.a.org.id, url=f"{sink.base}/other", secret=new_webhook_secret(),
                               event_types=["work_order.created"], active=True))
    db.commit()
    admin = world.a.users["admin"]
    params = {"number": "WO-1", "title": "Chiller", "target": "arrival", "level": 1,
              "deadline": "2026-11-23T15:00:00+00:00", "minutes": 12}
    notes = notify(db, org_id=world.a.org.id, template="sla.warning", params=params, now=clock.now(),
                   recipients=[Recipient(user_id=admin.id), Recipient(phone="+8613800000000", lang="zh-CN")],
                   channels=["in_app", "email", "sms", "wecom", "dingtalk", "webhook"])
    db.commit()
    assert sorted(n.channel for n in notes) == ["dingtalk", "email", "in_app", "sms", "webhook", "wecom"]

    run_once(app.state.database, clock, app.state.settings)

    assert len(smtp.got) == 1 and smtp.got[0].rcpt_tos == [admin.email]
    assert b"SLA warning" in smtp.got[0].content
    sms = sink.on("/sms")[0].json()
    assert sms["to"] == "+8613800000000" and "剩余 12 分钟" in sms["message"]  # the contact's language
    wecom = sink.on("/wecom")[0]
    assert wecom.query == "key=abc"
    assert wecom.json() == {"msgtype": "markdown", "markdown": {"content": wecom.json()["markdown"]["content"]}}
    assert "WO-1" in wecom.json()["markdown"]["content"]
    ding = sink.on("/ding")[0]
    q = dict(urllib.parse.parse_qsl(ding.query))
    assert q["access_token"] == "xyz"
    expected = base64.b64encode(hmac.new(b"SECdingsecret", f"{q['timestamp']}\nSECdingsecret".encode(),
                                         hashlib.sha256).digest()).decode()
    assert q["sign"] == expected
    assert set(ding.json()) == {"msgtype", "markdown"} and set(ding.json()["markdown"]) == {"title", "text"}
    hook = sink.on("/hook")[0]
    event = Webhook(secret).verify(hook.body, hook.headers)
    assert event["type"] == "sla.warning" and event["data"]["number"] == "WO-1"
    assert not sink.on("/other")  # its filter does not match
    sent = _notes(db, org_id=world.a.org.id)
    assert {n.status for n in sent} == {"sent"}
    attempts = db.scalars(select(NotificationAttempt)).all()
    assert len(attempts) == 5 and all(a.ok for a in attempts)
    assert {a.response_code for a in attempts if a.channel in ("wecom", "dingtalk", "webhook")} == {200}


def test_retries_back_off_then_fail_and_a_dead_channel_blocks_nothing(db: Session, world: World, app, clock,  # type: ignore[no-untyped-def]
                                                                      sink: HttpSink) -> None:
    dead = free_port()
    _configure(db, world, clock, {"email": {"host": "127.0.0.1", "port": dead}},
               {"wecom": {"webhook_url": f"{sink.base}/wecom"}})
    settings = app.state.settings
    settings.notification_max_attempts = 3
    settings.notification_backoff_seconds = 60
    admin = world.a.users["admin"]
    admin_email = admin.email
    for i in range(4):
        notify(db, org_id=world.a.org.id, template="comment.mention", now=clock.now(),
               params={"number": f"WO-{i}", "author": "Dana", "excerpt": "please check"},
               recipients=[Recipient(user_id=admin.id)], channels=["email", "wecom"])
    db.commit()

    deliver_notifications(app.state.database, clock, settings)
    # wecom went out although every e-mail failed
    assert len(sink.on("/wecom")) == 4
    mails = _notes(db, channel="email")
    tried = [n for n in mails if n.attempts == 1]
    assert len(tried) == 3  # the breaker stops after three failures in a row; the fourth waits
    assert all(n.status == "pending" and n.last_error for n in tried)
    assert all(n.next_attempt_at == clock.now() + timedelta(seconds=60) for n in tried)

    deliver_notifications(app.state.database, clock, settings)  # not due yet: only the untried one
    assert sum(n.attempts for n in _notes(db, channel="email")) == 4

    for _ in range(6):
        clock.advance(seconds=250)
        deliver_notifications(app.state.database, clock, settings)
    mails = _notes(db, channel="email")
    assert {n.status for n in mails} == {"failed"} and all(n.attempts == 3 for n in mails)
    assert all(n.recipient == admin_email for n in mails)
    for note in mails:  # every retry waited for its backoff: 60 s, then 120 s
        tries = db.scalars(select(NotificationAttempt).where(NotificationAttempt.notification_id == note.id)
                           .order_by(NotificationAttempt.attempt)).all()
        assert [a.attempt for a in tries] == [1, 2, 3] and not any(a.ok for a in tries)
        assert tries[1].started_at - tries[0].finished_at >= timedelta(seconds=60)
        assert tries[2].started_at - tries[1].finished_at >= timedelta(seconds=120)
        assert "127.0.0.1" in (tries[0].error or "") or tries[0].error


def test_http_errors_are_recorded_with_their_code(db: Session, world: World, app, clock, sink: HttpSink) -> None:  # type: ignore[no-untyped-def]
    sink.routes["/ding"] = (200, b'{"errcode":310000,"errmsg":"sign not match"}')
    sink.routes["/hook"] = (503, b"down")
    _configure(db, world, clock, {}, {"dingtalk": {"webhook_url": f"{sink.base}/ding", "secret": "s"}})
    db.add(WebhookSubscription(org_id=world.a.org.id, url=f"{sink.base}/hook", secret=new_webhook_secret(),
                               event_types=[], active=True))
    db.commit()
    notify(db, org_id=world.a.org.id, template="sla.breached", params={"number": "WO-9"}, recipients=[],
           now=clock.now(), channels=["dingtalk", "webhook"])
    db.commit()
    deliver_notifications(app.state.database, clock, app.state.settings)
    db.expire_all()
    attempts = {a.channel: a for a in db.scalars(select(NotificationAttempt))}
    assert "310000" in (attempts["dingtalk"].error or "")
    assert attempts["webhook"].response_code == 503 and not attempts["webhook"].ok


def test_dedupe_key_and_preferences(db: Session, world: World, app, clock) -> None:  # type: ignore[no-untyped-def]
    from fieldops.notifications.models import NotificationPreference

    tech = world.a.users["tech"]
    db.add(NotificationPreference(user_id=tech.id, org_id=world.a.org.id, lang="zh-CN", channels={"email": False},
                                  groups={"sla": {"sms": True}}, updated_at=clock.now()))
    tech.phone = "+8613900000000"
    db.commit()
    kw = dict(org_id=world.a.org.id, params={"number": "WO-7", "author": "王", "excerpt": "看一下"},
              recipients=[Recipient(user_id=tech.id)], now=clock.now())
    first = notify(db, template="comment.mention", dedupe_key="c1", **kw)  # type: ignore[arg-type]
    again = notify(db, template="comment.mention", dedupe_key="c1", **kw)  # type: ignore[arg-type]
    assert [n.channel for n in first] == ["in_app"] and again == []
    assert "提到了您" in first[0].subject
    sla = notify(db, template="sla.warning", **{**kw, "params": {"number": "WO-7"}})  # type: ignore[arg-type]
    assert sorted(n.channel for n in sla) == ["in_app", "sms"]
    db.commit()
    # the in-app message announced itself for the live bell, without a work_order_id
    from fieldops.core.events import OutboxEvent

    evs = db.scalars(select(OutboxEvent).where(OutboxEvent.type == "notification.created")).all()
    assert len(evs) == 2 and all(e.payload["user_id"] == str(tech.id) and "work_order_id" not in e.payload
                                 for e in evs)


def test_quiet_hours_delay_external_messages(db: Session, world: World, app, clock) -> None:  # type: ignore[no-untyped-def]
    from fieldops.notifications.models import NotificationPreference

    world.a.org.timezone = "America/New_York"
    user = world.a.users["dispatcher"]
    # 14:00Z is 09:00 in Boston: quiet from 08:00 to 10:00
    db.add(NotificationPreference(user_id=user.id, org_id=world.a.org.id, quiet_start="08:00", quiet_end="10:00",
                                  updated_at=clock.now()))
    db.commit()
    notes = notify(db, org_id=world.a.org.id, template="comment.mention", params={}, now=clock.now(),
                   recipients=[Recipient(user_id=user.id)])
    email = next(n for n in notes if n.channel == "email")
    assert email.next_attempt_at == clock.now() + timedelta(hours=1)
    urgent = notify(db, org_id=world.a.org.id, template="sla.breached", params={}, now=clock.now(),
                    recipients=[Recipient(user_id=user.id)])
    assert next(n for n in urgent if n.channel == "email").next_attempt_at == clock.now()


def test_worker_tells_the_desk_about_exceptions(client: TestClient, world: World, app, clock) -> None:  # type: ignore[no-untyped-def]
    from tests.work_orders.helpers import Actors, act, create_wo

    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t)
    act(client, who["dispatcher"], wo, "assign", {"technician_id": str(t.tech.id)})
    r = client.post(f"{API}/work-orders/{wo['id']}/exceptions", headers=who["tech"],
                    json={"kind": "material_shortage", "note": "need a capacitor"})
    assert r.status_code == 201, r.text
    run_once(app.state.database, clock, app.state.settings)
    for role in ("dispatcher", "supervisor"):  # T1's supervisor too
        inbox = client.get(f"{API}/me/notifications", headers=who[role]).json()
        subjects = [n["subject"] for n in inbox["items"]]
        assert any("material shortage" in s for s in subjects), subjects
    agent = client.get(f"{API}/me/notifications", headers=who["agent"]).json()
    assert agent["total"] == 0
