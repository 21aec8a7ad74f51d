from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from fieldops.notifications.channels import LocalMailbox, read_mailbox
from fieldops.notifications.service import deliver_pending
from tests.conftest import PASSWORD, login
from tests.factories.base import make_org, make_user


def _setup(db: Session):  # type: ignore[no-untyped-def]
    org = make_org(db)
    admin = make_user(db, org, "admin", email="admin@acme.test", phone="+16175550100")
    db.commit()
    return org, admin


def test_login_by_email_and_phone(client: TestClient, db: Session) -> None:
    _setup(db)
    assert login(client, "admin@acme.test")
    assert login(client, "ADMIN@acme.test")
    assert login(client, "(617) 555-0100")
    r = client.get("/api/v1/auth/me", headers=login(client, "+1 617 555 0100"))
    assert r.status_code == 200 and r.json()["role"] == "admin"


def test_bad_password_is_401_problem_json(client: TestClient, db: Session) -> None:
    _setup(db)
    r = client.post("/api/v1/auth/login", json={"username": "admin@acme.test", "password": "nope"},
                    headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"] == "用户名或密码错误。"


def test_throttle_after_five_failures_and_admin_unlock(client: TestClient, db: Session, clock) -> None:  # type: ignore[no-untyped-def]
    org, _admin = _setup(db)
    victim = make_user(db, org, "dispatcher", email="d@acme.test")
    db.commit()
    for _ in range(5):
        assert client.post("/api/v1/auth/login", json={"username": "d@acme.test", "password": "x"}).status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "d@acme.test", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    headers = login(client, "admin@acme.test")
    assert client.post(f"/api/v1/users/{victim.id}/unlock", headers=headers).status_code == 200
    assert login(client, "d@acme.test")


def test_logout_revokes_tokens(client: TestClient, db: Session) -> None:
    _setup(db)
    r = client.post("/api/v1/auth/login", json={"username": "admin@acme.test", "password": PASSWORD})
    tokens = r.json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 200
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401


def test_refresh_rotates_and_detects_reuse(client: TestClient, db: Session) -> None:
    _setup(db)
    tokens = client.post("/api/v1/auth/login", json={"username": "admin@acme.test", "password": PASSWORD}).json()
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401
    # reuse killed the session: the rotated token is dead too
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": r.json()["refresh_token"]}).status_code == 401


def test_password_reset_flow(client: TestClient, db: Session, app) -> None:  # type: ignore[no-untyped-def]
    _setup(db)
    assert client.post("/api/v1/auth/password-reset/request", json={"username": "admin@acme.test"}).status_code == 202
    assert client.post("/api/v1/auth/password-reset/request", json={"username": "ghost@acme.test"}).status_code == 202
    settings = app.state.settings
    with app.state.database.session() as s:
        deliver_pending(s, LocalMailbox(settings.mailbox_path), app.state.clock.now())
        s.commit()
    mail = read_mailbox(settings.mailbox_path)
    assert len(mail) == 1 and mail[0]["to"] == "admin@acme.test"
    code = next(w for w in mail[0]["body"].replace(".", " ").split() if w.isdigit() and len(w) == 6)
    weak = client.post("/api/v1/auth/password-reset/confirm",
                       json={"username": "admin@acme.test", "code": code, "new_password": "password1!"})
    assert weak.status_code == 422
    ok = client.post("/api/v1/auth/password-reset/confirm",
                     json={"username": "admin@acme.test", "code": code, "new_password": "Brand-new-2026#"})
    assert ok.status_code == 200, ok.text
    assert login(client, "admin@acme.test", "Brand-new-2026#")


def test_unknown_fields_and_nul_rejected(client: TestClient, db: Session) -> None:
    r = client.post("/api/v1/auth/login", json={"username": "a", "password": "b", "extra": 1})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "extra"
    r = client.post("/api/v1/auth/login", json={"username": "a\u0000", "password": "b"})
    assert r.status_code == 422


def test_admin_manages_users_with_if_match(client: TestClient, db: Session) -> None:
    _setup(db)
    h = login(client, "admin@acme.test")
    r = client.post("/api/v1/users", headers=h, json={"email": "new@acme.test", "name": "New", "role": "dispatcher",
                                                      "password": "Strong-pass-99!", "phone": "617-555-0177"})
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    assert r.json()["phone"] == "+16175550177"
    dup = client.post("/api/v1/users", headers=h, json={"email": "NEW@acme.test", "name": "Dup", "role": "agent",
                                                        "password": "Strong-pass-99!"})
    assert dup.status_code == 409
    weak = client.post("/api/v1/users", headers=h, json={"email": "w@acme.test", "name": "W", "role": "agent",
                                                         "password": "Password1!"})
    assert weak.status_code == 422 and "common" in weak.json()["detail"]
    got = client.get(f"/api/v1/users/{uid}", headers=h)
    assert got.headers["ETag"] == '"1"'
    assert client.patch(f"/api/v1/users/{uid}", headers=h, json={"role": "agent"}).status_code == 428
    r = client.patch(f"/api/v1/users/{uid}", headers={**h, "If-Match": '"1"'}, json={"is_active": False})
    assert r.status_code == 200 and r.json()["is_active"] is False
    bad = client.post("/api/v1/auth/login", json={"username": "new@acme.test", "password": "Strong-pass-99!"})
    assert bad.status_code == 401
    assert client.post("/api/v1/users", headers=h, json={"email": "x@acme.test", "name": "X", "role": "root",
                                                         "password": "Strong-pass-99!"}).status_code == 422
