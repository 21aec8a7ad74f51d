from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from fieldops.core.errors import NotFound
from fieldops.customers import service
from tests.conftest import login
from tests.customers.conftest import Shop

API = "/api/v1"


def test_create_customer_with_portal_login(shop: Shop) -> None:
    c = shop.client
    body = {
        "code": "ACME-7",
        "kind": "company",
        "name": "Initech",
        "phone": "(617) 555-0177",
        "email": "Ops@Initech.example",
        "tier": "key",
        "notes": "Gate code 1234",
        "preferred_technician_ids": ["00000000-0000-0000-0000-000000000001"] * 2,
        "login": {"email": "boss@initech.example", "password": "Initech-pass-2026!", "locale": "zh-CN"},
    }
    r = c.post(f"{API}/customers", json=body, headers=shop.h("agent"))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["phone"] == "+16175550177" and created["email"] == "ops@initech.example"
    assert created["tier"] == "key" and created["active"] is True and created["version"] == 1
    assert created["preferred_technician_ids"] == ["00000000-0000-0000-0000-000000000001"]
    assert r.headers["ETag"] == '"1"' and r.headers["Location"] == f"/api/v1/customers/{created['id']}"
    # the portal user signs in and sees exactly this customer
    portal = login(c, "boss@initech.example", "Initech-pass-2026!")
    me = c.get(f"{API}/auth/me", headers=portal).json()
    assert me["role"] == "customer" and me["customer_id"] == created["id"] and me["locale"] == "zh-CN"
    mine = c.get(f"{API}/customers", headers=portal).json()
    assert [x["id"] for x in mine["items"]] == [created["id"]] and mine["total"] == 1


def test_generated_code_and_code_conflict(shop: Shop) -> None:
    r = shop.client.post(f"{API}/customers", json={"name": "No Code Ltd"}, headers=shop.h("dispatcher"))
    assert r.status_code == 201 and r.json()["code"].startswith("C-") and r.json()["kind"] == "company"
    r = shop.client.post(f"{API}/customers", json={"name": "Dup", "code": "jane"}, headers=shop.h("admin"))
    assert r.status_code == 409
    # the same code in another organisation does not count
    r = shop.client.post(f"{API}/customers", json={"name": "Dup", "code": "BOB"}, headers=shop.h("foreign"))
    assert r.status_code == 201


def test_bad_login_rolls_back_the_customer(shop: Shop) -> None:
    body = {"name": "Weak", "code": "WEAK", "login": {"email": "w@example.com", "password": "password"}}
    r = shop.client.post(f"{API}/customers", json=body, headers=shop.h("admin"))
    assert r.status_code == 422 and "password" in problem_of(r)
    login_body = {"email": "taken@example.com", "password": "Good-pass-2026!"}
    ok = shop.client.post(f"{API}/customers", json={"name": "First", "login": login_body}, headers=shop.h("admin"))
    assert ok.status_code == 201
    body["login"] = login_body
    assert shop.client.post(f"{API}/customers", json=body, headers=shop.h("admin")).status_code == 409
    r = shop.client.get(f"{API}/customers?q=weak", headers=shop.h("admin"))
    assert r.json()["total"] == 0


def problem_of(r: Any) -> str:
    return str(r.json()["detail"]).lower()


def test_list_filters(shop: Shop) -> None:
    c, admin = shop.client, shop.h("admin")
    assert c.get(f"{API}/customers", headers=admin).json()["total"] == 2
    assert [x["code"] for x in c.get(f"{API}/customers?q=JAN", headers=admin).json()["items"]] == ["JANE"]
    assert [x["code"] for x in c.get(f"{API}/customers?q=555-0123", headers=admin).json()["items"]] == []
    assert [x["code"] for x in c.get(f"{API}/customers?q=5550123", headers=admin).json()["items"]] == ["JANE"]
    assert c.get(f"{API}/customers?q=%25", headers=admin).json()["total"] == 0  # % is literal
    assert [x["code"] for x in c.get(f"{API}/customers?tier=vip", headers=admin).json()["items"]] == ["BOB"]
    assert c.get(f"{API}/customers?active=false", headers=admin).json()["total"] == 0
    page = c.get(f"{API}/customers?limit=1&offset=1", headers=admin).json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["limit"] == 1 and page["offset"] == 1
    assert c.get(f"{API}/customers?tier=gold", headers=admin).status_code == 422
    assert c.get(f"{API}/customers?q=a%00b", headers=admin).status_code == 422
    assert c.get(f"{API}/customers?limit=1000", headers=admin).status_code == 422


def test_get_and_patch_with_etag(shop: Shop) -> None:
    c, agent = shop.client, shop.h("agent")
    url = f"{API}/customers/{shop.customer.id}"
    r = c.get(url, headers=agent)
    assert r.status_code == 200 and r.headers["ETag"] == '"1"' and r.json()["code"] == "JANE"
    change = {
        "tier": "vip",
        "notes": "Prefers mornings",
        "blocked_technician_ids": ["00000000-0000-0000-0000-000000000002"],
    }
    assert c.patch(url, json=change, headers=agent).status_code == 428
    assert c.patch(url, json=change, headers={**agent, "If-Match": '"5"'}).status_code == 412
    r = c.patch(url, json=change, headers={**agent, "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["tier"] == "vip" and r.headers["ETag"] == '"2"'
    assert c.patch(url, json={"tier": "key"}, headers={**agent, "If-Match": '"1"'}).status_code == 412
    # a technician both preferred and blocked is a contradiction
    r = c.patch(
        url,
        json={"preferred_technician_ids": ["00000000-0000-0000-0000-000000000002"]},
        headers={**agent, "If-Match": '"2"'},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "blocked_technician_ids"
    r = c.patch(url, json={"name": None}, headers={**agent, "If-Match": '"2"'})
    assert r.status_code == 422
    r = c.patch(url, json={"code": "BOB"}, headers={**agent, "If-Match": '"2"'})
    assert r.status_code == 409
    r = c.patch(url, json={"active": False}, headers={**agent, "If-Match": '"2"'})
    assert r.status_code == 200 and r.json()["active"] is False
    assert c.get(f"{API}/customers?active=false", headers=agent).json()["total"] == 1


def test_customer_sees_and_changes_only_their_own(shop: Shop) -> None:
    c, me = shop.client, shop.h("customer")
    listed = c.get(f"{API}/customers", headers=me).json()
    assert [x["id"] for x in listed["items"]] == [str(shop.customer.id)]
    assert c.get(f"{API}/customers/{shop.other_customer.id}", headers=me).status_code == 404
    assert (
        c.patch(
            f"{API}/customers/{shop.other_customer.id}",
            json={"name": "Mine"},
            headers={**me, "If-Match": "*"},
        ).status_code
        == 404
    )
    url = f"{API}/customers/{shop.customer.id}"
    r = c.patch(
        url,
        json={"phone": "+86 138 0013 8000", "email": "JANE@new.example", "name": "Jane D."},
        headers={**me, "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["phone"] == "+8613800138000" and r.json()["email"] == "jane@new.example"
    for forbidden in (
        {"tier": "key"},
        {"code": "J2"},
        {"preferred_technician_ids": []},
        {"blocked_technician_ids": []},
        {"name": "ok", "notes": "no"},
    ):
        r = c.patch(url, json=forbidden, headers={**me, "If-Match": "*"})
        assert r.status_code == 403, forbidden
    assert c.post(f"{API}/customers", json={"name": "Sneaky"}, headers=me).status_code == 403


@pytest.mark.parametrize("role", ["supervisor", "finance"])
def test_read_only_roles(shop: Shop, role: str) -> None:
    c, headers = shop.client, shop.h(role)
    assert c.get(f"{API}/customers", headers=headers).json()["total"] == 2
    assert c.get(f"{API}/customers/{shop.customer.id}", headers=headers).status_code == 200
    assert c.post(f"{API}/customers", json={"name": "New"}, headers=headers).status_code == 403
    r = c.patch(f"{API}/customers/{shop.customer.id}", json={"name": "X"}, headers={**headers, "If-Match": '"1"'})
    assert r.status_code == 403


def test_technician_gets_403(shop: Shop) -> None:
    c, tech = shop.client, shop.h("technician")
    for path in ("/customers", f"/customers/{shop.customer.id}"):
        r = c.get(API + path, headers=tech)
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    assert c.post(f"{API}/customers", json={"name": "T"}, headers=tech).status_code == 403


def test_other_org_is_404(shop: Shop) -> None:
    c, admin = shop.client, shop.h("admin")
    url = f"{API}/customers/{shop.foreign_customer.id}"
    assert c.get(url, headers=admin).status_code == 404
    assert c.patch(url, json={"name": "X"}, headers={**admin, "If-Match": "*"}).status_code == 404
    codes = [x["code"] for x in c.get(f"{API}/customers", headers=shop.h("foreign")).json()["items"]]
    assert codes == ["JANE"]  # Globex's own JANE only


def test_idempotent_create(shop: Shop) -> None:
    c = shop.client
    headers = shop.h("agent", **{"Idempotency-Key": "cust-42"})
    body = {"name": "Once Only", "code": "ONCE"}
    first = c.post(f"{API}/customers", json=body, headers=headers)
    again = c.post(f"{API}/customers", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["ETag"] == first.headers["ETag"]
    assert c.get(f"{API}/customers?q=once", headers=headers).json()["total"] == 1
    assert c.post(f"{API}/customers", json={**body, "name": "Twice"}, headers=headers).status_code == 422


BAD_CUSTOMERS: list[dict[str, Any]] = [
    {"name": "A", "unknown": 1},
    {"name": "x" * 100_000},
    {"name": "A", "notes": "x" * 100_000},
    {"name": "A\u0000B"},
    {"name": "A", "phone": "12"},
    {"name": "A", "phone": "not a phone"},
    {"name": "A", "email": "nope"},
    {"name": "A", "kind": "robot"},
    {"name": "A", "tier": "gold"},
    {"name": "A", "code": "has space"},
    {"name": "A", "preferred_technician_ids": ["x"]},
    {
        "name": "A",
        "preferred_technician_ids": ["00000000-0000-0000-0000-000000000003"],
        "blocked_technician_ids": ["00000000-0000-0000-0000-000000000003"],
    },
    {"name": "A", "login": {"password": "Good-pass-2026!"}},
    {"name": "A", "login": {"email": "a@example.com", "password": "Good-pass-2026!", "role": "admin"}},
    {},
]


def test_bad_customer_input(shop: Shop) -> None:
    headers = shop.h("admin")
    for body in BAD_CUSTOMERS:
        r = shop.client.post(f"{API}/customers", json=body, headers=headers)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert shop.client.get(f"{API}/customers", headers=headers).json()["total"] == 2


def test_bad_phone_message_in_chinese(shop: Shop) -> None:
    r = shop.client.post(
        f"{API}/customers",
        json={"name": "A", "phone": "12"},
        headers=shop.h("admin", **{"Accept-Language": "zh-CN"}),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "phone"
    assert "取值无效" in r.json()["detail"]


def test_service_lookups(shop: Shop, db: Session) -> None:
    org = shop.org
    assert service.get_customer_in_org(db, org.id, shop.customer.id).code == "JANE"
    assert service.get_site_in_org(db, org.id, shop.site.id).customer_id == shop.customer.id
    assert service.get_asset_in_org(db, org.id, shop.asset.id).site_id == shop.site.id
    for func, record_id in (
        (service.get_customer_in_org, shop.foreign_customer.id),
        (service.get_site_in_org, shop.foreign_site.id),
        (service.get_asset_in_org, shop.foreign_asset.id),
    ):
        with pytest.raises(NotFound):
            func(db, org.id, record_id)
