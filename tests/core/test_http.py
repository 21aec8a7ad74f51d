from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from fieldops.core import i18n
from tests.conftest import login
from tests.factories.base import make_org, make_user


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/api/v1/health").json()["status"] == "ok"
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/work-orders" in spec["paths"]
    assert client.get("/api/v1/docs").status_code == 200


def test_unknown_api_path_is_problem_json(client: TestClient) -> None:
    r = client.get("/api/v1/nope", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["title"] == "未找到"


def test_no_token_and_garbage_token(client: TestClient) -> None:
    r = client.get("/api/v1/work-orders")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    r = client.get("/api/v1/work-orders", headers={"Authorization": "Bearer not.a.jwt"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"


def test_expired_access_token(client: TestClient, db: Session, clock) -> None:  # type: ignore[no-untyped-def]
    org = make_org(db)
    make_user(db, org, "dispatcher", email="d@x.test")
    db.commit()
    headers = login(client, "d@x.test")
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    clock.advance(minutes=31)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_body_too_large_is_413(client: TestClient) -> None:
    r = client.post("/api/v1/auth/login", content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"


def test_malformed_json_is_422(client: TestClient) -> None:
    r = client.post("/api/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")


def test_wrong_method_is_problem_json(client: TestClient) -> None:
    r = client.delete("/api/v1/health")
    assert r.status_code in (404, 405) and r.headers["content-type"].startswith("application/problem+json")


def test_accept_language_negotiation() -> None:
    assert i18n.negotiate("zh-CN,zh;q=0.9") == "zh-CN"
    assert i18n.negotiate("en-US,en;q=0.9,zh;q=0.8") == "en"
    assert i18n.negotiate("fr-FR, zh;q=0.5") == "zh-CN"
    assert i18n.negotiate(None) == "en"
    assert i18n.negotiate("de;q=abc") == "en"


def test_password_change_revokes_sessions(client: TestClient, db: Session) -> None:
    org = make_org(db)
    make_user(db, org, "agent", email="a@x.test")
    db.commit()
    h1 = login(client, "a@x.test")
    h2 = login(client, "a@x.test")
    weak = client.post("/api/v1/auth/password", json={"current_password": "Test-pass-2026!", "new_password": "abc"},
                       headers=h1)
    assert weak.status_code == 422 and "8" in weak.json()["detail"]
    r = client.post("/api/v1/auth/password",
                    json={"current_password": "Test-pass-2026!", "new_password": "Another-pass-77#"}, headers=h1)
    assert r.status_code == 200
    assert client.get("/api/v1/auth/me", headers=h1).status_code == 401
    assert client.get("/api/v1/auth/me", headers=h2).status_code == 401
    assert login(client, "a@x.test", "Another-pass-77#")


def test_lock_grows(client: TestClient, db: Session, clock) -> None:  # type: ignore[no-untyped-def]
    org = make_org(db)
    make_user(db, org, "agent", email="g@x.test")
    db.commit()

    def fail_until_locked() -> int:
        for _ in range(6):
            r = client.post("/api/v1/auth/login", json={"username": "g@x.test", "password": "wrong"})
            if r.status_code == 429:
                return int(r.headers["Retry-After"])
        raise AssertionError("never throttled")

    first = fail_until_locked()
    clock.advance(seconds=first + 1)
    second = fail_until_locked()
    assert second > first
    clock.advance(seconds=second + 1)
    assert login(client, "g@x.test")
