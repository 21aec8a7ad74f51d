"""Limits answered with a clear 413 / 422 / 429: body size, page size, string lengths, request rates, login."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from fieldops.main import create_app
from tests.conftest import PASSWORD
from tests.security.conftest import Arena

API = "/api/v1"


def _problem(r: object, status: int) -> dict[str, object]:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body: dict[str, object] = r.json()  # type: ignore[attr-defined]
    assert body["detail"] and body["status"] == status
    return body


@pytest.mark.parametrize("limit", ["101", "1000", "0", "-1", "abc"])
def test_page_size_is_bounded(arena: Arena, limit: str) -> None:
    h = arena.headers("admin")
    for path in ("/work-orders", "/customers", "/users", "/technicians"):
        body = _problem(arena.client.get(f"{API}{path}?limit={limit}", headers=h), 422)
        assert "limit" in str(body["detail"])


def test_offset_is_bounded(arena: Arena) -> None:
    _problem(arena.client.get(f"{API}/work-orders?offset=99999999999", headers=arena.headers("admin")), 422)


def test_string_lengths_are_bounded(arena: Arena) -> None:
    h = arena.headers("dispatcher")
    t = arena.world.a
    base = {"customer_id": str(t.customer.id), "site_id": str(t.site.id),  # type: ignore[union-attr]
            "service_type_id": str(t.service_type.id)}  # type: ignore[union-attr]
    for field, value in (("title", "x" * 201), ("description", "x" * 20_001), ("contact_phone", "1" * 33),
                         ("contact_name", "n" * 201)):
        body = _problem(arena.client.post(f"{API}/work-orders", headers=h, json={**base, field: value}), 422)
        assert field in str(body["detail"]) and "at most" in str(body["detail"])
    admin = arena.headers("admin")
    _problem(arena.client.post(f"{API}/customers", headers=admin, json={"name": "c" * 1000, "kind": "person"}), 422)
    _problem(arena.client.get(f"{API}/users?q={'q' * 201}", headers=admin), 422)
    _problem(arena.client.post(f"{API}/auth/login", json={"username": "u" * 300, "password": "p"}), 422)


def test_nul_characters_are_refused(arena: Arena) -> None:
    t = arena.world.a
    body = {"customer_id": str(t.customer.id), "site_id": str(t.site.id),  # type: ignore[union-attr]
            "service_type_id": str(t.service_type.id), "description": "a\x00b"}  # type: ignore[union-attr]
    _problem(arena.client.post(f"{API}/work-orders", headers=arena.headers("dispatcher"), json=body), 422)


def test_request_body_size_is_413(arena: Arena) -> None:
    h = {**arena.headers("admin"), "Content-Type": "application/json"}
    big = b'{"name": "' + b"x" * (arena.settings.max_body_kb * 1024 + 10) + b'"}'
    body = _problem(arena.client.post(f"{API}/customers", headers=h, content=big), 413)
    assert "too large" in str(body["detail"]) and "1024 kB" in str(body["detail"])
    zh = arena.client.post(f"{API}/customers", headers={**h, "Accept-Language": "zh-CN"}, content=big)
    assert "请求内容过大" in zh.json()["detail"]
    # a lying Content-Length is refused too
    _problem(arena.client.post(f"{API}/customers", headers={**h, "Content-Length": "abc"}, content=b"{}"), 413)


@pytest.fixture
def limited(arena: Arena) -> Iterator[TestClient]:
    app = create_app(arena.settings.model_copy(update={"rate_limit_per_minute": 5}), arena.clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    app.state.database.dispose()


def test_changing_requests_per_user_are_rate_limited(arena: Arena, limited: TestClient) -> None:
    h = arena.headers("agent")
    codes = [limited.post(f"{API}/me/notifications/read-all", headers=h).status_code for _ in range(7)]
    assert codes[:5] == [codes[0]] * 5 and codes[0] < 400
    body = _problem(limited.post(f"{API}/me/notifications/read-all", headers=h), 429)
    assert body["code"] == "rate_limited" and "Too many requests" in str(body["detail"])
    r = limited.post(f"{API}/me/notifications/read-all", headers=h)
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # reads are not limited, and another user has their own allowance
    assert limited.get(f"{API}/auth/me", headers=h).status_code == 200
    assert limited.post(f"{API}/me/notifications/read-all", headers=arena.headers("admin")).status_code < 400
    # the next minute starts afresh
    arena.clock.advance(seconds=60)
    assert limited.post(f"{API}/me/notifications/read-all", headers=h).status_code < 400


def test_anonymous_changing_requests_are_limited_per_address(arena: Arena, limited: TestClient) -> None:
    codes = [limited.post(f"{API}/auth/password-reset/request", json={"username": f"x{i}@nowhere.test"}).status_code
             for i in range(6)]
    assert codes[:5] == [202] * 5 and codes[5] == 429
    # a forged token does not buy a fresh allowance
    r = limited.post(f"{API}/auth/password-reset/request", json={"username": "y@nowhere.test"},
                     headers={"Authorization": "Bearer forged.token.value"})
    assert r.status_code == 429


def test_login_is_throttled_per_account_and_per_address(arena: Arena) -> None:
    app = create_app(arena.settings, arena.clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        email = arena.world.b.email("agent")
        codes = [c.post(f"{API}/auth/login", json={"username": email, "password": f"wrong-{i}"}).status_code
                 for i in range(6)]
        assert codes == [401] * 5 + [429]
        r = c.post(f"{API}/auth/login", json={"username": email, "password": PASSWORD})  # even the right password
        body = _problem(r, 429)
        assert int(r.headers["Retry-After"]) >= 1 and "Try again in" in str(body["detail"])
        # per address: many accounts from one address
        codes = [c.post(f"{API}/auth/login", json={"username": f"nobody{i}@x.test", "password": "x"}).status_code
                 for i in range(30)]
        assert 429 in codes and codes.count(401) <= arena.settings.login_max_failures * 4
        assert c.post(f"{API}/auth/login", json={"username": arena.world.b.email("finance"),
                                                  "password": PASSWORD}).status_code == 429
    app.state.database.dispose()
    arena.clock.advance(seconds=3600)
