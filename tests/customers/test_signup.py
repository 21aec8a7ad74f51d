from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from fieldops.notifications.channels import read_mailbox
from fieldops.worker.runner import run_once
from tests.factories.world import make_tenant


def _code(app, recipient: str) -> str:  # type: ignore[no-untyped-def]
    run_once(app.state.database, app.state.clock, app.state.settings)
    mail = [m for m in read_mailbox(app.state.settings.mailbox_path) if m["to"] == recipient]
    match = re.search(r"\b(\d{6})\b", mail[-1]["body"])
    assert match
    return match.group(1)


def test_customer_signs_up_with_phone_and_books(client: TestClient, db: Session, app) -> None:  # type: ignore[no-untyped-def]
    t = make_tenant(db, "Solo")
    db.commit()
    r = client.post("/api/v1/auth/signup/request", json={"username": "617-555-0188"})
    assert r.status_code == 202, r.text
    code = _code(app, "+16175550188")
    bad = client.post("/api/v1/auth/signup/confirm", json={"username": "+16175550188", "code": "000000",
                                                           "name": "Li Na", "password": "Good-pass-2026!"})
    assert bad.status_code == 422
    weak = client.post("/api/v1/auth/signup/confirm", json={"username": "+16175550188", "code": code,
                                                            "name": "Li Na", "password": "password"})
    assert weak.status_code == 422
    r = client.post("/api/v1/auth/signup/confirm", json={
        "username": "(617) 555-0188", "code": code, "name": "Li Na 李娜", "password": "Good-pass-2026!",
        "locale": "zh-CN", "site": {"address": "1 Main St, Boston", "lat": 42.351, "lng": -71.06}})
    assert r.status_code == 201, r.text
    h = {"Authorization": f"Bearer {r.json()['access_token']}"}
    me = client.get("/api/v1/auth/me", headers=h).json()
    assert me["role"] == "customer" and me["locale"] == "zh-CN" and me["customer_id"]
    sites = client.get("/api/v1/sites", headers=h).json()["items"]
    assert len(sites) == 1 and sites[0]["territory_id"] == str(t.territory.id)
    wo = client.post("/api/v1/work-orders", headers=h, json={"site_id": sites[0]["id"],
                                                              "service_type_id": str(t.service_type.id)})
    assert wo.status_code == 201, wo.text
    again = client.post("/api/v1/auth/signup/confirm", json={"username": "+16175550188", "code": code,
                                                             "name": "X", "password": "Good-pass-2026!"})
    assert again.status_code == 422  # the code is used up


def test_signup_needs_an_organisation_when_there_are_several(client: TestClient, db: Session) -> None:
    a = make_tenant(db, "One")
    make_tenant(db, "Two")
    db.commit()
    r = client.post("/api/v1/auth/signup/request", json={"username": "new@one.test"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "organization"
    r = client.post("/api/v1/auth/signup/request", json={"username": "new@one.test", "organization": a.org.slug})
    assert r.status_code == 202
    assert client.post("/api/v1/auth/signup/request", json={"username": "not a phone"}).status_code == 422
