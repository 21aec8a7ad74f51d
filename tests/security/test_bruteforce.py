"""Brute force: 200 parallel wrong passwords on one account. The throttle holds, and the answers do not reveal
whether the account exists (the timing difference is measured by `make bench`, bench/security.py)."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient

from fieldops.main import create_app
from tests.conftest import PASSWORD
from tests.security.conftest import Arena

API = "/api/v1"
ATTEMPTS = 200
THREADS = 16


def _storm(client: TestClient, username: str) -> list[Any]:
    def attempt(i: int) -> Any:
        return client.post(f"{API}/auth/login", json={"username": username, "password": f"Wrong-guess-{i}!"})

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(attempt, range(ATTEMPTS)))


def _shape(r: Any) -> tuple[int, str, str]:
    body = r.json()
    return r.status_code, body["code"], body["detail"]


def test_parallel_wrong_passwords_are_throttled(arena: Arena) -> None:
    app = create_app(arena.settings, arena.clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        email = arena.world.a.email("finance")
        answers = _storm(client, email)
        codes = Counter(r.status_code for r in answers)
        assert set(codes) <= {401, 429}, codes
        # the throttle holds: only the allowed failures were judged before the lock, the rest waited
        assert codes[401] <= arena.settings.login_max_failures, codes
        assert codes[429] >= ATTEMPTS - arena.settings.login_max_failures
        assert all(int(r.headers["Retry-After"]) >= 1 for r in answers if r.status_code == 429)
        # while locked, even the right password is refused
        right = client.post(f"{API}/auth/login", json={"username": email, "password": PASSWORD})
        assert right.status_code == 429
        print(f"\nbrute force: {ATTEMPTS} attempts in {THREADS} threads -> {dict(codes)}")
    app.state.database.dispose()


def test_known_and_unknown_accounts_answer_alike(arena: Arena) -> None:
    known, unknown = arena.world.b.email("dispatcher"), "no-such-user@globex.test"
    for a, b in ((known, unknown), ("+16175550100", "+16175550199")):
        app = create_app(arena.settings, arena.clock)  # a fresh address throttle for each pair
        with TestClient(app, raise_server_exceptions=False) as client:
            first = [client.post(f"{API}/auth/login", json={"username": u, "password": "Wrong-1!"}) for u in (a, b)]
            assert _shape(first[0]) == _shape(first[1])
            assert first[0].headers.get("www-authenticate") == first[1].headers.get("www-authenticate")
            # and once throttled, both throttle alike (same status, same message, same Retry-After)
            for u in (a, b):
                for i in range(arena.settings.login_max_failures):
                    client.post(f"{API}/auth/login", json={"username": u, "password": f"Wrong-{i}!"})
            locked = [client.post(f"{API}/auth/login", json={"username": u, "password": "x"}) for u in (a, b)]
            assert _shape(locked[0]) == _shape(locked[1])
            assert locked[0].headers["Retry-After"] == locked[1].headers["Retry-After"]
        app.state.database.dispose()
        arena.clock.advance(hours=2)
    # password reset does not reveal it either
    r1 = arena.client.post(f"{API}/auth/password-reset/request", json={"username": known})
    r2 = arena.client.post(f"{API}/auth/password-reset/request", json={"username": unknown})
    assert (r1.status_code, r1.json()) == (r2.status_code, r2.json())
