"""Shortcuts for driving work orders through the API in tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import login
from tests.factories.world import Tenant

API = "/api/v1"


class Actors:
    """Signed-in headers for every role of a tenant (logins are cached per test)."""

    def __init__(self, client: TestClient, tenant: Tenant) -> None:
        self.client, self.t = client, tenant
        self._h: dict[str, dict[str, str]] = {}

    def __getitem__(self, role: str) -> dict[str, str]:
        if role not in self._h:
            self._h[role] = login(self.client, str(self.t.users[role].email))
        return self._h[role]


def create_wo(client: TestClient, headers: dict[str, str], t: Tenant, **extra: Any) -> dict[str, Any]:
    body = {"customer_id": str(t.customer.id), "site_id": str(t.site.id),  # type: ignore[union-attr]
            "service_type_id": str(t.service_type.id), "description": "AC blows warm air"}  # type: ignore[union-attr]
    body.update(extra)
    r = client.post(f"{API}/work-orders", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def act(client: TestClient, headers: dict[str, str], wo: dict[str, Any], action: str, body: Any = None,
        version: int | None = None) -> Any:
    v = version if version is not None else client.get(f"{API}/work-orders/{wo['id']}", headers=headers).json().get(
        "version", 0)
    return client.post(f"{API}/work-orders/{wo['id']}/{action}", json=body,
                       headers={**headers, "If-Match": f'"{v}"'})
