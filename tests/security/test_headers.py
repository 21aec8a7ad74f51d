"""Security headers on every kind of response: API JSON, errors, the SPA, files; HSTS only behind TLS."""

from __future__ import annotations

from fastapi.testclient import TestClient

from fieldops.core.headers import content_security_policy, tile_source
from fieldops.main import create_app
from tests.security.conftest import Arena

API = "/api/v1"
EXPECTED_CSP = ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
                "object-src 'none'", "base-uri 'self'", "connect-src 'self'"]


def _check(r: object, where: str) -> None:
    headers = r.headers  # type: ignore[attr-defined]
    csp = headers.get("content-security-policy", "")
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert "frame-ancestors 'none'" in csp, where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") == "no-referrer", where
    assert headers.get("x-frame-options") == "DENY", where


def test_every_kind_of_response_has_the_headers(arena: Arena) -> None:
    c, h = arena.client, arena.headers("admin")
    responses = {
        "health": c.get(f"{API}/health"),
        "json 200": c.get(f"{API}/work-orders", headers=h),
        "401": c.get(f"{API}/work-orders"),
        "404 api": c.get(f"{API}/nothing-here", headers=h),
        "404 record": c.get(f"{API}/work-orders/00000000-0000-0000-0000-000000000000", headers=h),
        "422": c.get(f"{API}/work-orders?limit=1000", headers=h),
        "413": c.post(f"{API}/customers", headers={**h, "Content-Type": "application/json"},
                      content=b"{" + b" " * (2 * 1024 * 1024) + b"}"),
        "405": c.delete(f"{API}/health"),
        "spa": c.get("/"),
        "spa deep link": c.get("/console/work-orders"),
        "openapi": c.get(f"{API}/openapi.json"),
    }
    for where, r in responses.items():
        _check(r, where)
    for part in EXPECTED_CSP:
        assert part in responses["spa"].headers["content-security-policy"]
    assert "strict-transport-security" not in responses["health"].headers  # plain http


def test_hsts_only_over_https_and_trusted_proxy(arena: Arena) -> None:
    https = TestClient(arena.app, base_url="https://testserver")
    assert "max-age=" in https.get(f"{API}/health").headers["strict-transport-security"]
    # X-Forwarded-Proto is ignored unless the proxy is trusted
    r = arena.client.get(f"{API}/health", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in r.headers
    trusted = create_app(arena.settings.model_copy(update={"trust_proxy_headers": True}), arena.clock)
    with TestClient(trusted) as c:
        assert "strict-transport-security" in c.get(f"{API}/health", headers={"X-Forwarded-Proto": "https"}).headers
        assert "strict-transport-security" not in c.get(f"{API}/health", headers={"X-Forwarded-Proto": "http"}).headers
    trusted.state.database.dispose()


def test_csp_allows_only_the_configured_tile_host(arena: Arena) -> None:
    assert tile_source("") == ""
    assert tile_source("https://{s}.tiles.example/{z}/{x}/{y}.png") == "https://*.tiles.example"
    assert tile_source("javascript:alert(1)") == ""
    csp = content_security_policy(arena.settings.model_copy(update={"map_tile_url": "https://tiles.example/{z}.png"}))
    assert "img-src 'self' data: blob: https://tiles.example" in csp
    assert "unsafe-inline" not in csp
