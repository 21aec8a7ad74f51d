from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldops.core.events import OutboxEvent
from tests.factories.world import World, make_world
from tests.work_orders.helpers import API, Actors, act, create_wo

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def world(db: Session) -> World:
    return make_world(db)


def test_full_lifecycle_as_dispatcher_technician_customer(client: TestClient, world: World, db: Session) -> None:
    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t, priority="P1")
    assert wo["number"].startswith("WO-20261123-") and wo["status"] == "new"
    assert "assign" in client.get(f"{API}/work-orders/{wo['id']}", headers=who["dispatcher"]).json()["allowed_actions"]
    r = client.post(
        f"{API}/work-orders/{wo['id']}/assign",
        json={"technician_id": str(t.tech.id), "reason": "closest"},
        headers={**who["dispatcher"], "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"2"'
    tech = who["tech"]
    assert act(client, tech, wo, "accept").json()["status"] == "accepted"
    assert act(client, tech, wo, "depart").json()["status"] == "en_route"
    r = act(client, tech, wo, "check-in", {"lat": 42.3511, "lng": -71.0601, "accuracy_m": 12})
    assert r.status_code == 200 and r.json()["check_in_distance_m"] < 100
    assert act(client, tech, wo, "start").json()["status"] == "in_progress"
    up = client.post(
        f"{API}/work-orders/{wo['id']}/attachments",
        headers=tech,
        files={"file": ("before.png", PNG, "image/png")},
        data={"kind": "photo", "label": "before"},
    )
    assert up.status_code == 201, up.text
    assert client.get(up.json()["url"], headers=who["customer"]).content == PNG
    missing = act(client, tech, wo, "complete", {"summary": "Recharged"})
    assert missing.status_code == 422 and "pressure_ok" in missing.json()["detail"]
    import base64

    r = act(
        client,
        tech,
        wo,
        "complete",
        {
            "summary": "Recharged refrigerant",
            "checklist": {"pressure_ok": True},
            "parts_used": [{"name": "R410A", "qty": 1.5, "unit_price": 40}],
            "photo_attachment_ids": [up.json()["id"]],
            "signature_png_base64": "data:image/png;base64," + base64.b64encode(PNG).decode(),
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "awaiting_acceptance" and body["signature_attachment_id"] and body["parts_cost"] == 60
    cust = who["customer"]
    r = act(client, cust, wo, "confirm", {"rating": {"attitude": 5, "quality": 4, "speed": 5, "comment": "great"}})
    assert r.status_code == 200 and r.json()["status"] == "completed" and r.json()["rating_quality"] == 4
    assert act(client, cust, wo, "close").status_code == 403
    assert act(client, who["dispatcher"], wo, "close").json()["status"] == "closed"
    # closed is immutable except reopen
    patch = client.patch(
        f"{API}/work-orders/{wo['id']}", json={"description": "x"}, headers={**who["dispatcher"], "If-Match": '"11"'}
    )
    assert patch.status_code in (409, 412)
    timeline = client.get(f"{API}/work-orders/{wo['id']}/timeline", headers=who["dispatcher"]).json()
    actions = [row["action"] for row in timeline]
    assert actions[0] == "create" and actions[-1] == "close" and "attachment_added" in actions
    assert [row["seq"] for row in timeline] == list(range(1, len(timeline) + 1))
    r = act(client, who["dispatcher"], wo, "reopen", {"reason": "leak came back"})
    assert r.status_code == 200 and r.json()["status"] == "new" and r.json()["reopen_count"] == 1


def test_outbox_event_per_change(client: TestClient, world: World, db: Session) -> None:
    import uuid

    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t)
    act(client, who["dispatcher"], wo, "cancel", {"reason": "duplicate"})
    types = db.scalars(
        select(OutboxEvent.type)
        .where(OutboxEvent.aggregate_id == uuid.UUID(wo["id"]))
        .order_by(OutboxEvent.occurred_at)
    ).all()
    assert list(types) == ["work_order.created", "work_order.cancelled"]


def test_reject_transfer_hold_refuse(client: TestClient, world: World) -> None:
    t = world.a
    who = Actors(client, t)
    disp, tech = who["dispatcher"], who["tech"]
    wo = create_wo(client, disp, t)
    act(client, disp, wo, "assign", {"technician_id": str(t.tech.id)})
    assert act(client, tech, wo, "reject").status_code == 422  # reason required
    r = act(client, tech, wo, "reject", {"reason": "no parts in the van"})
    assert r.status_code == 200 and r.json()["status"] == "new" and r.json()["technician_id"] is None
    # the technician no longer sees it
    assert client.get(f"{API}/work-orders/{wo['id']}", headers=tech).status_code == 404
    act(client, disp, wo, "assign", {"technician_id": str(t.tech.id)})
    act(client, tech, wo, "accept")
    r = act(client, tech, wo, "request-transfer", {"reason": "sick"})
    assert r.status_code == 200 and r.json()["transfer_requested_at"]
    assert act(client, tech, wo, "request-transfer", {"reason": "again"}).status_code == 409
    r = act(client, disp, wo, "approve-transfer", {"technician_id": str(t.tech2.id), "reason": "ok"})
    assert r.json()["status"] == "assigned" and r.json()["technician_id"] == str(t.tech2.id)
    tech2 = who["tech2"]
    act(client, tech2, wo, "accept")
    r = act(client, tech2, wo, "hold", {"reason_code": "waiting_parts", "reason": "compressor on order"})
    assert r.json()["status"] == "on_hold"
    r = act(client, disp, wo, "resume")
    assert r.json()["status"] == "accepted"
    act(client, tech2, wo, "check-in", {"lat": 42.36, "lng": -71.06})
    act(client, tech2, wo, "start")
    act(client, tech2, wo, "complete", {"summary": "done", "checklist": {"pressure_ok": True}})
    r = act(client, who["customer"], wo, "refuse", {"reason": "still warm"})
    assert r.json()["status"] == "accepted" and r.json()["rework_count"] == 1


def test_required_photos_enforced(client: TestClient, world: World) -> None:
    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t, service_type_id=str(t.photo_type.id))
    assert wo["priority"] == "P1"  # the service type's default
    act(client, who["dispatcher"], wo, "assign", {"technician_id": str(t.tech.id)})
    for a, b in (("accept", None), ("check-in", {"lat": 42.35, "lng": -71.06}), ("start", None)):
        assert act(client, who["tech"], wo, a, b).status_code == 200
    r = act(client, who["tech"], wo, "complete", {"summary": "lamp replaced"})
    assert r.status_code == 422 and "after" in r.json()["detail"]
    client.post(
        f"{API}/work-orders/{wo['id']}/attachments",
        headers=who["tech"],
        files={"file": ("a.png", PNG, "image/png")},
        data={"kind": "photo", "label": "after"},
    )
    assert act(client, who["tech"], wo, "complete", {"summary": "lamp replaced"}).status_code == 200


def test_if_match_missing_and_stale(client: TestClient, world: World) -> None:
    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t)
    url = f"{API}/work-orders/{wo['id']}"
    assert client.patch(url, json={"priority": "P0"}, headers=who["dispatcher"]).status_code == 428
    r = client.patch(url, json={"priority": "P0"}, headers={**who["dispatcher"], "If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["ETag"] == '"2"'
    stale = client.patch(url, json={"priority": "P1"}, headers={**who["dispatcher"], "If-Match": '"1"'})
    assert stale.status_code == 412 and stale.headers["content-type"].startswith("application/problem+json")
    assert client.post(f"{url}/cancel", json={"reason": "x"}, headers=who["dispatcher"]).status_code == 428


def test_idempotency_key_replay(client: TestClient, world: World) -> None:
    t = world.a
    who = Actors(client, t)
    body = {"customer_id": str(t.customer.id), "site_id": str(t.site.id), "service_type_id": str(t.service_type.id)}
    h = {**who["agent"], "Idempotency-Key": "abc-123"}
    first = client.post(f"{API}/work-orders", json=body, headers=h)
    second = client.post(f"{API}/work-orders", json=body, headers=h)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"] and second.headers.get("Idempotent-Replayed") == "true"
    other = client.post(f"{API}/work-orders", json={**body, "description": "different"}, headers=h)
    assert other.status_code == 422
    assert client.get(f"{API}/work-orders", headers=who["agent"]).json()["total"] == 1
    assert first.json()["channel"] == "phone"


def test_visibility_by_role(client: TestClient, world: World) -> None:
    a, b = world.a, world.b
    wa, wb = Actors(client, a), Actors(client, b)
    mine = create_wo(client, wa["dispatcher"], a)
    other_site = create_wo(client, wa["dispatcher"], a, customer_id=str(a.customer2.id), site_id=str(a.site2.id))
    foreign = create_wo(client, wb["dispatcher"], b)
    act(client, wa["dispatcher"], mine, "assign", {"technician_id": str(a.tech.id)})

    def ids(headers: dict[str, str]) -> set[str]:
        return {w["id"] for w in client.get(f"{API}/work-orders", headers=headers).json()["items"]}

    assert ids(wa["dispatcher"]) == {mine["id"], other_site["id"]}
    assert ids(wa["finance"]) == {mine["id"], other_site["id"]}
    assert ids(wa["tech"]) == {mine["id"]}
    assert ids(wa["tech2"]) == set()
    assert ids(wa["customer"]) == {mine["id"]}
    assert ids(wa["supervisor"]) == {mine["id"]}  # only territory T1
    for role in ("dispatcher", "admin", "customer", "tech"):
        assert client.get(f"{API}/work-orders/{foreign['id']}", headers=wa[role]).status_code == 404
    # finance may read, never change
    r = client.patch(
        f"{API}/work-orders/{mine['id']}", json={"priority": "P0"}, headers={**wa["finance"], "If-Match": '"2"'}
    )
    assert r.status_code == 403
    # customers cannot book for someone else, technicians cannot create
    body = {"customer_id": str(a.customer2.id), "site_id": str(a.site2.id), "service_type_id": str(a.service_type.id)}
    assert client.post(f"{API}/work-orders", json=body, headers=wa["customer"]).status_code == 404
    assert client.post(f"{API}/work-orders", json=body, headers=wa["tech"]).status_code == 403
    # ids of another tenant in a body are 404
    body = {"customer_id": str(b.customer.id), "site_id": str(b.site.id), "service_type_id": str(a.service_type.id)}
    assert client.post(f"{API}/work-orders", json=body, headers=wa["dispatcher"]).status_code == 404


def test_filters_search_sort_and_export(client: TestClient, world: World) -> None:
    t = world.a
    who = Actors(client, t)
    a = create_wo(client, who["dispatcher"], t, priority="P0", description="Water =HYPERLINK(evil)")
    b = create_wo(client, who["dispatcher"], t, priority="P3", title="=cmd|' /C calc'!A0")
    act(client, who["dispatcher"], b, "assign", {"technician_id": str(t.tech.id)})
    h = who["dispatcher"]
    assert client.get(f"{API}/work-orders?priority=P0", headers=h).json()["total"] == 1
    assert client.get(f"{API}/work-orders?status=new,assigned", headers=h).json()["total"] == 2
    assert client.get(f"{API}/work-orders?technician_id={t.tech.id}", headers=h).json()["items"][0]["id"] == b["id"]
    assert client.get(f"{API}/work-orders?q=hyperlink", headers=h).json()["items"][0]["id"] == a["id"]
    assert client.get(f"{API}/work-orders?q={a['number']}", headers=h).json()["total"] == 1
    items = client.get(f"{API}/work-orders?sort=priority", headers=h).json()["items"]
    assert [i["priority"] for i in items] == ["P0", "P3"]
    assert client.get(f"{API}/work-orders?status=bogus", headers=h).status_code == 422
    assert client.get(f"{API}/work-orders?sort=password", headers=h).status_code == 422
    assert client.get(f"{API}/work-orders?created_from=2026-11-23T00:00:00", headers=h).status_code == 422
    assert client.get(f"{API}/work-orders?limit=1000", headers=h).status_code == 422
    csv_r = client.get(f"{API}/work-orders/export?format=csv&priority=P3", headers=h)
    assert csv_r.status_code == 200 and "'=cmd" in csv_r.text and csv_r.text.count("\n") == 2
    x = client.get(f"{API}/work-orders/export?format=xlsx", headers=h)
    ws = load_workbook(io.BytesIO(x.content)).active
    values = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert not any(v.startswith("=") for v in values)
    assert client.get(f"{API}/work-orders/export?format=pdf", headers=h).status_code == 422


BAD_BODIES = [
    ({"site_id": "not-a-uuid"}, 422),
    ({"extra_field": 1}, 422),
    ({"description": "x" * 100_000}, 422),
    ({"description": "nul\u0000byte"}, 422),
    ({"priority": "P9"}, 422),
    ({"window_start": "2026-11-24T09:00:00", "window_end": "2026-11-24T11:00:00"}, 422),
    ({"window_start": "2026-11-24T11:00:00Z", "window_end": "2026-11-24T09:00:00Z"}, 422),
    ({"window_start": "2020-01-01T11:00:00Z", "window_end": "2020-01-01T12:00:00Z"}, 422),
    ({"custom_fields": {"a": {"nested": 1}}}, 422),
    ({"duration_min": "abc"}, 422),
]


@pytest.mark.parametrize(("patch", "status"), BAD_BODIES)
def test_bad_create_bodies(client: TestClient, world: World, patch: dict[str, object], status: int) -> None:
    t = world.a
    who = Actors(client, t)
    body = {"customer_id": str(t.customer.id), "site_id": str(t.site.id), "service_type_id": str(t.service_type.id)}
    body.update(patch)
    r = client.post(f"{API}/work-orders", json=body, headers={**who["dispatcher"], "Accept-Language": "zh-CN"})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"]


def test_bad_check_in_and_attachments(client: TestClient, world: World) -> None:
    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t)
    act(client, who["dispatcher"], wo, "assign", {"technician_id": str(t.tech.id)})
    act(client, who["tech"], wo, "accept")
    assert act(client, who["tech"], wo, "check-in", {"lat": 91, "lng": 0}).status_code == 422
    assert act(client, who["tech"], wo, "check-in", {"lat": "NaN", "lng": 0}).status_code == 422
    r = act(client, who["tech"], wo, "check-in", {"lat": 42.40, "lng": -71.06})
    assert r.status_code == 200 and r.json()["check_in_distance_m"] > 500
    exe = client.post(
        f"{API}/work-orders/{wo['id']}/attachments",
        headers=who["tech"],
        files={"file": ("x.png", b"MZ\x90\x00" + b"\x00" * 100, "image/png")},
    )
    assert exe.status_code == 415
    empty = client.post(
        f"{API}/work-orders/{wo['id']}/attachments", headers=who["tech"], files={"file": ("x.png", b"", "image/png")}
    )
    assert empty.status_code == 422
    assert (
        client.post(
            f"{API}/work-orders/{wo['id']}/attachments",
            headers=who["finance"],
            files={"file": ("x.png", PNG, "image/png")},
        ).status_code
        == 403
    )


def test_auto_confirm_and_close_by_worker(client: TestClient, world: World, app, clock) -> None:  # type: ignore[no-untyped-def]
    from fieldops.worker.runner import run_once

    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t)
    act(client, who["dispatcher"], wo, "assign", {"technician_id": str(t.tech.id)})
    for a, b in (
        ("accept", None),
        ("check-in", {"lat": 42.35, "lng": -71.06}),
        ("start", None),
        ("complete", {"summary": "ok", "checklist": {"pressure_ok": True}}),
    ):
        assert act(client, who["tech"], wo, a, b).status_code == 200
    run_once(app.state.database, clock, app.state.settings)
    assert (
        client.get(f"{API}/work-orders/{wo['id']}", headers=who["dispatcher"]).json()["status"] == "awaiting_acceptance"
    )
    clock.advance(hours=73)
    run_once(app.state.database, clock, app.state.settings)
    who = Actors(client, t)  # the old tokens expired
    assert client.get(f"{API}/work-orders/{wo['id']}", headers=who["dispatcher"]).json()["status"] == "completed"
    clock.advance(hours=25)
    run_once(app.state.database, clock, app.state.settings)
    who = Actors(client, t)
    got = client.get(f"{API}/work-orders/{wo['id']}", headers=who["dispatcher"]).json()
    assert got["status"] == "closed"
    timeline = client.get(f"{API}/work-orders/{wo['id']}/timeline", headers=who["dispatcher"]).json()
    assert timeline[-1]["actor_role"] == "system" and timeline[-2]["actor_role"] == "system"


def test_exception_reports_and_idempotent_actions(client: TestClient, world: World) -> None:
    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t)
    act(client, who["dispatcher"], wo, "assign", {"technician_id": str(t.tech.id)})
    version = client.get(f"{API}/work-orders/{wo['id']}", headers=who["tech"]).json()["version"]
    h = {**who["tech"], "If-Match": f'"{version}"', "Idempotency-Key": "offline-1"}
    first = client.post(f"{API}/work-orders/{wo['id']}/accept", headers=h)
    replay = client.post(f"{API}/work-orders/{wo['id']}/accept", headers=h)
    assert first.status_code == replay.status_code == 200
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json()["version"] == version + 1
    r = client.post(f"{API}/work-orders/{wo['id']}/exceptions", headers=who["tech"],
                    json={"kind": "material_shortage", "note": "no R410A"})
    assert r.status_code == 201, r.text
    assert client.post(f"{API}/work-orders/{wo['id']}/exceptions", headers=who["tech"],
                       json={"kind": "aliens"}).status_code == 422
    listed = client.get(f"{API}/exceptions", headers=who["dispatcher"]).json()
    assert listed["total"] == 1 and listed["items"][0]["work_order_number"] == wo["number"]
    assert client.get(f"{API}/exceptions", headers=who["customer"]).status_code == 403
    done = client.post(f"{API}/exceptions/{r.json()['id']}/resolve", headers=who["dispatcher"],
                       json={"resolution": "parts sent"})
    assert done.status_code == 200 and done.json()["resolved_at"]
    assert client.get(f"{API}/exceptions", headers=who["dispatcher"]).json()["total"] == 0
    other = Actors(client, world.b)
    assert client.post(f"{API}/exceptions/{r.json()['id']}/resolve", headers=other["dispatcher"]).status_code == 404


def test_customer_cannot_self_declare_emergency(client: TestClient, world: World) -> None:
    t = world.a
    who = Actors(client, t)
    body = {"site_id": str(t.site.id), "service_type_id": str(t.service_type.id), "priority": "P0"}
    r = client.post(f"{API}/work-orders", json=body, headers=who["customer"])
    assert r.status_code == 201 and r.json()["priority"] == "P1" and r.json()["channel"] == "portal"


def test_upload_replay_and_localised_field_errors(client: TestClient, world: World) -> None:
    t = world.a
    who = Actors(client, t)
    wo = create_wo(client, who["dispatcher"], t)
    h = {**who["dispatcher"], "Idempotency-Key": "photo-1"}
    files = {"file": ("a.png", PNG, "image/png")}
    first = client.post(f"{API}/work-orders/{wo['id']}/attachments", headers=h, files=files, data={"kind": "photo"})
    again = client.post(f"{API}/work-orders/{wo['id']}/attachments", headers=h, files=files, data={"kind": "photo"})
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    assert len(client.get(f"{API}/work-orders/{wo['id']}/attachments", headers=h).json()) == 1
    act(client, who["dispatcher"], wo, "assign", {"technician_id": str(t.tech.id)})
    got = client.get(f"{API}/work-orders/{wo['id']}", headers=who["customer"]).json()
    assert got["technician_name"] == t.tech.name
    listed = client.get(f"{API}/work-orders", headers=who["dispatcher"]).json()["items"][0]
    assert listed["technician_name"] == t.tech.name
    bad = client.post(f"{API}/work-orders", headers={**who["dispatcher"], "Accept-Language": "zh-CN"},
                      json={"site_id": str(t.site.id), "service_type_id": str(t.service_type.id)})
    assert bad.status_code == 422 and bad.json()["errors"][0]["message"] == "请选择客户（customer_id）。"


def test_spa_cache_headers(client: TestClient) -> None:
    assert client.get("/assets/does-not-exist.js").status_code == 404


def test_map_points_are_every_visible_order(client: TestClient, world: World) -> None:
    t = world.a
    who = Actors(client, t)
    for i in range(3):
        create_wo(client, who["dispatcher"], t, priority="P1" if i else "P3")
    r = client.get(f"{API}/work-orders/map-points?priority=P1", headers=who["dispatcher"])
    assert r.status_code == 200 and r.json()["total"] == 2 and not r.json()["truncated"]
    assert r.json()["items"][0]["lat"] is not None
    assert client.get(f"{API}/work-orders/map-points", headers=who["tech"]).json()["total"] == 0
    other = Actors(client, world.b)
    assert client.get(f"{API}/work-orders/map-points", headers=other["dispatcher"]).json()["total"] == 0
