"""Access tokens that must not work: alg=none, forged, expired, revoked, of the wrong kind, of another tenant."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from fieldops.core.clock import FrozenClock
from tests.conftest import PASSWORD, login
from tests.factories.world import World, make_world
from tests.work_orders.helpers import create_wo

API = "/api/v1"
KEY = "test-secret-key-0123456789abcdef"  # tests/conftest.py settings


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def _tokens(client: TestClient, email: str) -> dict[str, Any]:
    r = client.post(f"{API}/auth/login", json={"username": email, "password": PASSWORD})
    assert r.status_code == 200
    return dict(r.json())


def _me(client: TestClient, token: str) -> Any:
    return client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {token}"})


def _assert_rejected(r: Any) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers.get("www-authenticate") == "Bearer"
    assert "Traceback" not in r.text


@pytest.fixture
def world(db) -> World:  # type: ignore[no-untyped-def]
    return make_world(db)


def test_a_valid_token_works(client: TestClient, world: World) -> None:
    pair = _tokens(client, world.a.email("agent"))
    assert _me(client, pair["access_token"]).status_code == 200


def test_forged_tokens_are_rejected(client: TestClient, world: World) -> None:
    pair = _tokens(client, world.a.email("agent"))
    claims = _claims(pair["access_token"])
    header, payload, signature = pair["access_token"].split(".")
    admin_claims = {**claims, "sub": str(world.a.users["admin"].id)}
    forged = {
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "alg_none_upper": f"{_b64({'alg': 'NONE', 'typ': 'JWT'})}.{_b64(admin_claims)}.",
        "wrong_signature": f"{header}.{payload}.{signature[:-4]}AAAA",
        "payload_swapped": f"{header}.{_b64(admin_claims)}.{signature}",
        "other_key": jwt.encode(claims, "another-deployment-secret-0123456789", algorithm="HS256"),
        "hs384_same_key": jwt.encode(claims, KEY, algorithm="HS384"),
        "empty": "",
        "garbage": "not.a.token",
        "nul": "a\x00b",
        "huge": "x" * 5000,
    }
    for name, token in forged.items():
        r = client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {token}"}) if "\x00" not in token \
            else client.get(f"{API}/auth/me", headers={"Authorization": "Bearer a%00b"})
        assert r.status_code == 401, (name, r.text)
    # a refresh token is not an access token, and an access token does not refresh
    _assert_rejected(_me(client, pair["refresh_token"]))
    _assert_rejected(client.post(f"{API}/auth/refresh", json={"refresh_token": pair["access_token"]}))


def test_expired_token_is_rejected(client: TestClient, world: World, clock: FrozenClock) -> None:
    pair = _tokens(client, world.a.email("agent"))
    clock.advance(minutes=31)  # access tokens live 30 minutes
    _assert_rejected(_me(client, pair["access_token"]))
    # a token claiming a later expiry but signed by someone else is still forged
    claims = {**_claims(pair["access_token"]), "exp": int((clock.now() + timedelta(days=1)).timestamp())}
    _assert_rejected(_me(client, jwt.encode(claims, "wrong-key-wrong-key-wrong-key-00", algorithm="HS256")))


def test_logout_revokes_access_and_refresh(client: TestClient, world: World) -> None:
    pair = _tokens(client, world.a.email("agent"))
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    assert client.post(f"{API}/auth/logout", headers=headers).status_code == 200
    _assert_rejected(_me(client, pair["access_token"]))
    _assert_rejected(client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]}))


def test_password_change_revokes_every_session(client: TestClient, world: World) -> None:
    email = world.a.email("agent")
    first, second = _tokens(client, email), _tokens(client, email)
    r = client.post(f"{API}/auth/password", headers={"Authorization": f"Bearer {first['access_token']}"},
                    json={"current_password": PASSWORD, "new_password": "Brand-new-pass-77!"})
    assert r.status_code == 200, r.text
    for pair in (first, second):
        _assert_rejected(_me(client, pair["access_token"]))
        _assert_rejected(client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]}))
    assert client.post(f"{API}/auth/login", json={"username": email, "password": PASSWORD}).status_code == 401
    r = client.post(f"{API}/auth/login", json={"username": email, "password": "Brand-new-pass-77!"})
    assert r.status_code == 200


def test_deactivated_user_token_is_rejected(client: TestClient, world: World) -> None:
    pair = _tokens(client, world.a.email("agent"))
    admin = login(client, world.a.email("admin"))
    uid = world.a.users["agent"].id
    etag = client.get(f"{API}/users/{uid}", headers=admin).headers["etag"]
    r = client.patch(f"{API}/users/{uid}", headers={**admin, "If-Match": etag}, json={"is_active": False})
    assert r.status_code == 200, r.text
    _assert_rejected(_me(client, pair["access_token"]))


def test_reused_refresh_token_kills_the_session(client: TestClient, world: World) -> None:
    pair = _tokens(client, world.a.email("agent"))
    rotated = client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert rotated.status_code == 200
    _assert_rejected(client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]}))
    _assert_rejected(_me(client, rotated.json()["access_token"]))  # theft signal: the whole session is gone


def test_another_tenants_token_sees_nothing_of_ours(client: TestClient, world: World) -> None:
    a_admin = login(client, world.a.email("admin"))
    wo = create_wo(client, a_admin, world.a)
    b_admin = login(client, world.b.email("admin"))
    for path in (f"/work-orders/{wo['id']}", f"/customers/{world.a.customer.id}",  # type: ignore[union-attr]
                 f"/users/{world.a.users['agent'].id}", f"/technicians/{world.a.tech.id}"):  # type: ignore[union-attr]
        r = client.get(f"{API}{path}", headers=b_admin)
        assert r.status_code == 404, (path, r.text)
    r = client.get(f"{API}/work-orders", headers=b_admin)
    assert wo["id"] not in {item["id"] for item in r.json()["items"]}
    # tenant B's token with its subject changed to tenant A's admin is a forgery
    token = b_admin["Authorization"].split()[1]
    forged = {**_claims(token), "sub": str(world.a.users["admin"].id)}
    _assert_rejected(_me(client, jwt.encode(forged, "guess", algorithm="HS256")))
