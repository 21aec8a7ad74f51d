from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from fieldops.core.errors import NotFound
from fieldops.organizations import service
from tests.conftest import login
from tests.factories.base import make_org, make_user
from tests.factories.organizations import BOSTON, SOUTH, box, make_territory

API = "/api/v1"


@pytest.fixture
def acme(db: Session) -> dict[str, Any]:
    org = make_org(db, "Acme")
    users = {
        role: make_user(db, org, role, email=f"{role}@acme.test")
        for role in ("admin", "supervisor", "dispatcher", "agent", "finance", "technician", "customer")
    }
    other = make_org(db, "Globex")
    users["other_admin"] = make_user(db, other, "admin", email="admin@globex.test")
    users["other_supervisor"] = make_user(db, other, "supervisor", email="supervisor@globex.test")
    north = make_territory(db, org, "N", "North", BOSTON)
    foreign = make_territory(db, other, "N", "Globex North", BOSTON)
    db.commit()
    return {"org": org, "users": users, "north": north, "foreign": foreign, "other": other}


def h(client: TestClient, role: str, **extra: str) -> dict[str, str]:
    email = "admin@globex.test" if role == "other_admin" else f"{role}@acme.test"
    return {**login(client, email), **extra}


def test_current_org_readable_by_everyone(client: TestClient, acme: dict[str, Any]) -> None:
    for role in ("customer", "technician"):
        r = client.get(f"{API}/organizations/current", headers=h(client, role))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["name"] == "Acme" and body["timezone"] == "America/New_York"
        assert body["settings"] == {} and body["effective_settings"]["auto_confirm_hours"] == 72
        assert r.headers["ETag"] == f'"{body["version"]}"'
    assert client.get(f"{API}/organizations/current").status_code == 401


def test_patch_current_org(client: TestClient, acme: dict[str, Any]) -> None:
    admin = h(client, "admin")
    url = f"{API}/organizations/current"
    etag = client.get(url, headers=admin).headers["ETag"]
    body = {"name": "Acme Field", "timezone": "Asia/Shanghai", "settings": {"auto_confirm_hours": 48}}
    assert client.patch(url, json=body, headers=admin).status_code == 428
    assert client.patch(url, json=body, headers={**admin, "If-Match": '"99"'}).status_code == 412
    assert client.patch(url, json=body, headers={**h(client, "dispatcher"), "If-Match": etag}).status_code == 403
    r = client.patch(url, json=body, headers={**admin, "If-Match": etag})
    assert r.status_code == 200, r.text
    assert r.json()["timezone"] == "Asia/Shanghai" and r.json()["settings"] == {"auto_confirm_hours": 48}
    assert r.json()["effective_settings"]["auto_confirm_hours"] == 48
    new_etag = r.headers["ETag"]
    assert new_etag != etag
    # the stale version is refused now; a null setting goes back to the default
    assert client.patch(url, json={"name": "X"}, headers={**admin, "If-Match": etag}).status_code == 412
    r = client.patch(
        url,
        json={"settings": {"auto_confirm_hours": None, "reopen_window_days": 7}},
        headers={**admin, "If-Match": new_etag},
    )
    assert r.status_code == 200 and r.json()["settings"] == {"reopen_window_days": 7}


BAD_ORG_CHANGES: list[dict[str, Any]] = [
    {"timezone": "Mars/Olympus"},
    {"settings": {"auto_close_hours": -1}},
    {"settings": {"auto_close_hours": 0}},
    {"settings": {"colour": "red"}},
    {"name": "x" * 100_000},
    {"name": "a\u0000b"},
    {"slug": "new"},
]


def test_patch_current_org_bad_input(client: TestClient, acme: dict[str, Any]) -> None:
    headers = h(client, "admin", **{"If-Match": "*"})
    for body in BAD_ORG_CHANGES:
        r = client.patch(f"{API}/organizations/current", json=body, headers=headers)
        assert r.status_code == 422, (body, r.text)


def test_invalid_timezone_message_in_both_languages(client: TestClient, acme: dict[str, Any]) -> None:
    headers = h(client, "admin", **{"If-Match": "*"})
    r = client.patch(f"{API}/organizations/current", json={"timezone": "Mars/Olympus"}, headers=headers)
    assert "not a known time zone" in r.json()["detail"] and r.json()["errors"][0]["field"] == "timezone"
    r = client.patch(
        f"{API}/organizations/current",
        json={"timezone": "Mars/Olympus"},
        headers={**headers, "Accept-Language": "zh-CN"},
    )
    assert "不是有效的时区" in r.json()["detail"]


def test_territory_crud(client: TestClient, acme: dict[str, Any]) -> None:
    admin = h(client, "admin")
    sup = acme["users"]["supervisor"]
    r = client.post(
        f"{API}/territories",
        headers=admin,
        json={"code": "S", "name": "South", "polygon": SOUTH, "supervisor_user_id": str(sup.id)},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["supervisor_user_id"] == str(sup.id) and created["active"] is True
    assert r.headers["Location"].endswith(created["id"]) and r.headers["ETag"] == '"1"'
    url = f"{API}/territories/{created['id']}"

    r = client.get(url, headers=h(client, "technician"))
    assert r.status_code == 200 and r.headers["ETag"] == '"1"' and r.json()["polygon"] == SOUTH

    assert client.patch(url, json={"name": "Southside"}, headers=admin).status_code == 428
    assert client.patch(url, json={"name": "Southside"}, headers={**admin, "If-Match": '"7"'}).status_code == 412
    r = client.patch(
        url,
        json={"name": "Southside", "supervisor_user_id": None, "polygon": box(-71.3, 42, -71, 42.3)},
        headers={**admin, "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Southside" and r.json()["supervisor_user_id"] is None
    assert r.headers["ETag"] == '"2"'

    listed = client.get(f"{API}/territories", headers=h(client, "dispatcher")).json()
    assert [t["code"] for t in listed["items"]] == ["N", "S"] and listed["total"] == 2

    assert client.delete(url, headers=h(client, "dispatcher")).status_code == 403
    assert client.delete(url, headers={**admin, "If-Match": '"1"'}).status_code == 412
    assert client.delete(url, headers=admin).status_code == 204
    assert client.delete(url, headers=admin).status_code == 204  # retiring twice is harmless
    listed = client.get(f"{API}/territories", headers=admin).json()
    assert [t["code"] for t in listed["items"]] == ["N"]
    everything = client.get(f"{API}/territories?include_inactive=true&with_polygon=false", headers=admin).json()
    assert {t["code"]: t["active"] for t in everything["items"]} == {"N": True, "S": False}
    assert all(t["polygon"] is None for t in everything["items"])
    assert client.get(url, headers=admin).json()["active"] is False
    # a retired code stays taken; bringing the territory back works
    r = client.post(f"{API}/territories", headers=admin, json={"code": "S", "name": "Again", "polygon": SOUTH})
    assert r.status_code == 409
    r = client.patch(url, json={"active": True}, headers={**admin, "If-Match": "*"})
    assert r.status_code == 200 and r.json()["active"] is True


def test_territory_roles(client: TestClient, acme: dict[str, Any]) -> None:
    north = acme["north"]
    for role in ("admin", "supervisor", "dispatcher", "agent", "finance", "technician"):
        assert client.get(f"{API}/territories", headers=h(client, role)).status_code == 200, role
    customer = h(client, "customer")
    assert client.get(f"{API}/territories", headers=customer).status_code == 403
    assert client.get(f"{API}/territories/{north.id}", headers=customer).status_code == 403
    body = {"code": "X", "name": "X", "polygon": SOUTH}
    for role in ("supervisor", "dispatcher", "finance", "technician", "customer"):
        assert client.post(f"{API}/territories", json=body, headers=h(client, role)).status_code == 403, role
    for role in ("dispatcher", "supervisor"):
        r = client.patch(
            f"{API}/territories/{north.id}", json={"name": "Y"}, headers=h(client, role, **{"If-Match": "*"})
        )
        assert r.status_code == 403


def test_other_org_territory_is_404(client: TestClient, acme: dict[str, Any]) -> None:
    foreign = acme["foreign"]
    admin = h(client, "admin")
    assert client.get(f"{API}/territories/{foreign.id}", headers=admin).status_code == 404
    assert (
        client.patch(
            f"{API}/territories/{foreign.id}", json={"name": "Mine"}, headers={**admin, "If-Match": "*"}
        ).status_code
        == 404
    )
    assert client.delete(f"{API}/territories/{foreign.id}", headers=admin).status_code == 404
    codes = [t["code"] for t in client.get(f"{API}/territories", headers=admin).json()["items"]]
    assert codes == ["N"]


BAD_POLYGONS: list[tuple[Any, str, str]] = [
    (
        {"type": "Polygon", "coordinates": [[[-71, 42], [-70, 42], [-70, 43], [-71, 43]]]},
        "not closed",
        "未闭合",
    ),
    (
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
        "not a valid area",
        "有效的区域",
    ),
    (
        {"type": "Polygon", "coordinates": [[[-71, 95], [-70, 42], [-70, 43], [-71, 95]]]},
        "latitude 95",
        "纬度 95",
    ),
    (
        {"type": "Polygon", "coordinates": [[[-200, 42], [-70, 42], [-70, 43], [-200, 42]]]},
        "longitude -200",
        "经度 -200",
    ),
    ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "MultiPolygon", "MultiPolygon"),
    ({"type": "Polygon", "coordinates": "x"}, "linear rings", "闭合环"),
]


def test_invalid_polygons_are_422_in_both_languages(client: TestClient, acme: dict[str, Any]) -> None:
    admin = h(client, "admin")
    for polygon, en, zh in BAD_POLYGONS:
        body = {"code": "BAD", "name": "Bad", "polygon": polygon}
        r = client.post(f"{API}/territories", json=body, headers=admin)
        assert r.status_code == 422 and en in r.json()["detail"], r.text
        assert r.json()["errors"][0]["field"] == "polygon"
        r = client.post(f"{API}/territories", json=body, headers={**admin, "Accept-Language": "zh-CN"})
        assert r.status_code == 422 and zh in r.json()["detail"], r.text


def test_too_many_points_is_422(client: TestClient, acme: dict[str, Any]) -> None:
    ring = [[-71 + i / 10_000, 42.0] for i in range(5_001)] + [[-71, 42.5], [-71, 42.0]]
    r = client.post(
        f"{API}/territories",
        json={"code": "BIG", "name": "Big", "polygon": {"type": "Polygon", "coordinates": [ring]}},
        headers=h(client, "admin"),
    )
    assert r.status_code == 422 and "5000" in r.json()["detail"]


BAD_TERRITORIES: list[dict[str, Any]] = [
    {"code": "A", "name": "A", "polygon": SOUTH, "colour": "red"},
    {"code": "A B", "name": "A", "polygon": SOUTH},
    {"code": "A", "name": "x" * 100_000, "polygon": SOUTH},
    {"code": "A", "name": "A\u0000", "polygon": SOUTH},
    {"code": "A", "name": "A"},
    {"code": "A", "name": "A", "polygon": SOUTH, "supervisor_user_id": "not-a-uuid"},
]


def test_territory_bad_input(client: TestClient, acme: dict[str, Any]) -> None:
    headers = h(client, "admin")
    for body in BAD_TERRITORIES:
        r = client.post(f"{API}/territories", json=body, headers=headers)
        assert r.status_code == 422, (body, r.text)


def test_supervisor_must_be_a_supervisor_of_the_org(client: TestClient, acme: dict[str, Any]) -> None:
    admin = h(client, "admin")
    for user in (acme["users"]["dispatcher"], acme["users"]["other_supervisor"]):
        r = client.post(
            f"{API}/territories",
            headers=admin,
            json={"code": "S", "name": "S", "polygon": SOUTH, "supervisor_user_id": str(user.id)},
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "supervisor_user_id"
    r = client.patch(
        f"{API}/territories/{acme['north'].id}",
        headers={**admin, "If-Match": "*"},
        json={"supervisor_user_id": str(acme["users"]["dispatcher"].id)},
    )
    assert r.status_code == 422


def test_create_territory_is_idempotent(client: TestClient, acme: dict[str, Any]) -> None:
    headers = h(client, "admin", **{"Idempotency-Key": "terr-1"})
    body = {"code": "S", "name": "South", "polygon": SOUTH}
    first = client.post(f"{API}/territories", json=body, headers=headers)
    again = client.post(f"{API}/territories", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert client.get(f"{API}/territories", headers=headers).json()["total"] == 2
    changed = client.post(f"{API}/territories", json={**body, "name": "Other"}, headers=headers)
    assert changed.status_code == 422


def test_service_lookups(db: Session, acme: dict[str, Any]) -> None:
    org, north, foreign = acme["org"], acme["north"], acme["foreign"]
    assert service.get_org(db, org.id).name == "Acme"
    assert service.get_territory_in_org(db, org.id, north.id).code == "N"
    with pytest.raises(NotFound):
        service.get_territory_in_org(db, org.id, foreign.id)
    assert service.locate_territory(db, org.id, 42.36, -71.06) == north.id
    assert service.locate_territory(db, org.id, 42.2, -71.06) is None
    north.active = False
    db.flush()
    assert service.locate_territory(db, org.id, 42.36, -71.06) is None
    with pytest.raises(NotFound):
        service.get_territory_in_org(db, org.id, north.id, active_only=True)
