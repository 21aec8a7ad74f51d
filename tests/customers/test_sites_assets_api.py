from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tests.customers.conftest import Shop, problem
from tests.factories.base import make_user

API = "/api/v1"


def site_body(shop: Shop, **extra: Any) -> dict[str, Any]:
    return {
        "customer_id": str(shop.customer.id),
        "name": "Branch",
        "address": "5 Beacon St, Boston MA",
        "lat": 42.358,
        "lng": -71.062,
        **extra,
    }


# ---- sites --------------------------------------------------------------------------------------


def test_create_site_fills_territory_and_timezone(shop: Shop) -> None:
    c, agent = shop.client, shop.h("agent")
    r = c.post(f"{API}/sites", json=site_body(shop, contact_phone="617-555-0100"), headers=agent)
    assert r.status_code == 201, r.text
    site = r.json()
    assert site["territory_id"] == str(shop.north.id) and site["timezone"] == "America/New_York"
    assert site["customer_id"] == str(shop.customer.id) and site["contact_phone"] == "+16175550100"
    assert r.headers["ETag"] == '"1"' and r.headers["Location"] == f"/api/v1/sites/{site['id']}"
    south = c.post(f"{API}/sites", json=site_body(shop, lat=42.2), headers=agent).json()
    assert south["territory_id"] == str(shop.south.id)
    nowhere = c.post(
        f"{API}/sites", json=site_body(shop, lat=31.23, lng=121.47, timezone="Asia/Shanghai"), headers=agent
    ).json()
    assert nowhere["territory_id"] is None and nowhere["timezone"] == "Asia/Shanghai"
    # an explicit territory wins over the polygon
    r = c.post(f"{API}/sites", json=site_body(shop, territory_id=str(shop.south.id)), headers=agent)
    assert r.json()["territory_id"] == str(shop.south.id)


def test_retired_territory_is_not_used(shop: Shop) -> None:
    c, admin = shop.client, shop.h("admin")
    assert c.delete(f"{API}/territories/{shop.north.id}", headers=admin).status_code == 204
    r = c.post(f"{API}/sites", json=site_body(shop), headers=admin)
    assert r.status_code == 201 and r.json()["territory_id"] is None
    r = c.post(f"{API}/sites", json=site_body(shop, territory_id=str(shop.north.id)), headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "territory_id"


def test_moving_a_site_relocates_its_territory(shop: Shop) -> None:
    c, agent = shop.client, shop.h("agent")
    url = f"{API}/sites/{shop.site.id}"
    r = c.get(url, headers=agent)
    assert r.status_code == 200 and r.headers["ETag"] == '"1"' and r.json()["territory_id"] == str(shop.north.id)
    assert c.patch(url, json={"lat": 42.2}, headers=agent).status_code == 428
    assert c.patch(url, json={"lat": 42.2}, headers={**agent, "If-Match": '"9"'}).status_code == 412
    r = c.patch(url, json={"lat": 42.2}, headers={**agent, "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["territory_id"] == str(shop.south.id) and r.headers["ETag"] == '"2"'
    # a territory sent with the move is kept; null means "find it again"
    r = c.patch(url, json={"lat": 42.36, "territory_id": str(shop.south.id)}, headers={**agent, "If-Match": '"2"'})
    assert r.json()["territory_id"] == str(shop.south.id)
    r = c.patch(url, json={"territory_id": None}, headers={**agent, "If-Match": '"3"'})
    assert r.json()["territory_id"] == str(shop.north.id)
    # other fields leave the territory alone
    r = c.patch(
        url,
        json={"access_notes": "Ring twice", "timezone": "America/Chicago"},
        headers={**agent, "If-Match": '"4"'},
    )
    assert r.status_code == 200 and r.json()["territory_id"] == str(shop.north.id)
    assert r.json()["timezone"] == "America/Chicago"


def test_site_lists_and_filters(shop: Shop) -> None:
    c, admin = shop.client, shop.h("admin")
    assert c.get(f"{API}/sites", headers=admin).json()["total"] == 2
    by_customer = c.get(f"{API}/sites?customer_id={shop.other_customer.id}", headers=admin).json()
    assert [s["name"] for s in by_customer["items"]] == ["Warehouse"]
    by_territory = c.get(f"{API}/sites?territory_id={shop.north.id}", headers=admin).json()
    assert [s["id"] for s in by_territory["items"]] == [str(shop.site.id)]
    assert c.get(f"{API}/sites?q=wareh", headers=admin).json()["total"] == 1
    assert c.get(f"{API}/sites?q=main%20st", headers=admin).json()["total"] == 2
    assert c.get(f"{API}/sites?customer_id=nope", headers=admin).status_code == 422


def test_customer_manages_own_sites(shop: Shop) -> None:
    c, me = shop.client, shop.h("customer")
    listed = c.get(f"{API}/sites", headers=me).json()
    assert [s["id"] for s in listed["items"]] == [str(shop.site.id)]
    assert c.get(f"{API}/sites/{shop.other_site.id}", headers=me).status_code == 404
    assert c.get(f"{API}/sites?customer_id={shop.other_customer.id}", headers=me).json()["total"] == 0
    body = site_body(shop)
    del body["customer_id"]  # defaults to their own
    r = c.post(f"{API}/sites", json=body, headers=me)
    assert r.status_code == 201 and r.json()["customer_id"] == str(shop.customer.id)
    assert r.json()["territory_id"] == str(shop.north.id)
    r = c.post(f"{API}/sites", json=site_body(shop, customer_id=str(shop.other_customer.id)), headers=me)
    assert r.status_code == 404
    r = c.post(f"{API}/sites", json=site_body(shop, territory_id=str(shop.south.id)), headers=me)
    assert r.status_code == 403
    r = c.patch(f"{API}/sites/{shop.site.id}", json={"contact_name": "Jane"}, headers={**me, "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["contact_name"] == "Jane"
    r = c.patch(f"{API}/sites/{shop.other_site.id}", json={"name": "Mine"}, headers={**me, "If-Match": "*"})
    assert r.status_code == 404


def test_customer_without_record_sees_nothing(shop: Shop, db: Session) -> None:
    make_user(db, shop.org, "customer", email="orphan@acme.test")
    db.commit()
    headers = shop.h("orphan")
    assert shop.client.get(f"{API}/sites", headers=headers).json()["total"] == 0
    assert shop.client.get(f"{API}/customers", headers=headers).json()["total"] == 0
    body = site_body(shop)
    del body["customer_id"]
    assert shop.client.post(f"{API}/sites", json=body, headers=headers).status_code == 422


def test_site_roles_and_other_org(shop: Shop) -> None:
    c = shop.client
    tech = shop.h("technician")
    assert c.get(f"{API}/sites", headers=tech).status_code == 403
    assert c.get(f"{API}/sites/{shop.site.id}", headers=tech).status_code == 403
    for role in ("supervisor", "finance"):
        headers = shop.h(role)
        assert c.get(f"{API}/sites/{shop.site.id}", headers=headers).status_code == 200
        assert c.post(f"{API}/sites", json=site_body(shop), headers=headers).status_code == 403
        r = c.patch(f"{API}/sites/{shop.site.id}", json={"name": "X"}, headers={**headers, "If-Match": '"1"'})
        assert r.status_code == 403
    admin = shop.h("admin")
    assert c.get(f"{API}/sites/{shop.foreign_site.id}", headers=admin).status_code == 404
    assert (
        c.patch(
            f"{API}/sites/{shop.foreign_site.id}", json={"name": "X"}, headers={**admin, "If-Match": "*"}
        ).status_code
        == 404
    )
    r = c.post(f"{API}/sites", json=site_body(shop, customer_id=str(shop.foreign_customer.id)), headers=admin)
    assert r.status_code == 404
    # another organisation's territory cannot be borrowed
    foreign_terr = c.post(
        f"{API}/territories",
        headers=shop.h("foreign"),
        json={
            "code": "G",
            "name": "G",
            "polygon": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]},
        },
    ).json()
    r = c.post(f"{API}/sites", json=site_body(shop, territory_id=foreign_terr["id"]), headers=admin)
    assert r.status_code == 422


BAD_SITES: list[tuple[dict[str, Any], str]] = [
    ({"lat": 90.5}, "lat"),
    ({"lat": -91}, "lat"),
    ({"lng": 180.01}, "lng"),
    ({"lng": "east"}, "lng"),
    ({"lat": None}, "lat"),
    ({"timezone": "Europe/Atlantis"}, "timezone"),
    ({"contact_phone": "555"}, "contact_phone"),
    ({"address": "x" * 100_000}, "address"),
    ({"access_notes": "bad\u0000"}, ""),
    ({"color": "red"}, "color"),
    ({"customer_id": None}, "customer_id"),
]


def test_bad_site_input(shop: Shop) -> None:
    headers = shop.h("agent")
    for change, field in BAD_SITES:
        r = shop.client.post(f"{API}/sites", json=site_body(shop, **change), headers=headers)
        assert r.status_code == 422, (change, r.text)
        if field:
            assert field in {e["field"] for e in r.json()["errors"]}, r.json()


def test_bad_site_patch(shop: Shop) -> None:
    url = f"{API}/sites/{shop.site.id}"
    headers = shop.h("agent", **{"If-Match": "*"})
    for change in (
        {"lat": None},
        {"lng": 200},
        {"name": None},
        {"customer_id": str(shop.other_customer.id)},
        {"timezone": "Nowhere/Else"},
    ):
        assert shop.client.patch(url, json=change, headers=headers).status_code == 422, change
    r = shop.client.patch(url, json={"timezone": "Nowhere/Else"}, headers={**headers, "Accept-Language": "zh-CN"})
    assert "不是有效的时区" in problem(r)


def test_inactive_customer_gets_no_new_sites(shop: Shop) -> None:
    c, admin = shop.client, shop.h("admin")
    c.patch(f"{API}/customers/{shop.customer.id}", json={"active": False}, headers={**admin, "If-Match": "*"})
    assert c.post(f"{API}/sites", json=site_body(shop), headers=admin).status_code == 409


def test_idempotent_site_create(shop: Shop) -> None:
    headers = shop.h("dispatcher", **{"Idempotency-Key": "site-1"})
    first = shop.client.post(f"{API}/sites", json=site_body(shop), headers=headers)
    again = shop.client.post(f"{API}/sites", json=site_body(shop), headers=headers)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert shop.client.get(f"{API}/sites?q=branch", headers=headers).json()["total"] == 1


# ---- assets -------------------------------------------------------------------------------------


def test_asset_crud(shop: Shop) -> None:
    c, agent = shop.client, shop.h("agent")
    body = {
        "site_id": str(shop.site.id),
        "name": "Chiller",
        "model": "CH-9",
        "serial_number": "SN-77",
        "manufacturer": "Carrier",
        "install_date": "2024-03-01",
        "warranty_until": "2029-03-01",
    }
    r = c.post(f"{API}/assets", json=body, headers=agent)
    assert r.status_code == 201, r.text
    asset = r.json()
    assert asset["customer_id"] == str(shop.customer.id) and asset["install_date"] == "2024-03-01"
    assert r.headers["Location"] == f"/api/v1/assets/{asset['id']}"
    url = f"{API}/assets/{asset['id']}"
    r = c.get(url, headers=agent)
    assert r.status_code == 200 and r.headers["ETag"] == '"1"' and r.json()["serial_number"] == "SN-77"
    assert c.patch(url, json={"notes": "x"}, headers=agent).status_code == 428
    assert c.patch(url, json={"notes": "x"}, headers={**agent, "If-Match": '"2"'}).status_code == 412
    # moving the asset to another customer's site moves its customer too
    r = c.patch(url, json={"site_id": str(shop.other_site.id), "notes": "moved"}, headers={**agent, "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["customer_id"] == str(shop.other_customer.id)
    assert r.headers["ETag"] == '"2"'
    listed = c.get(f"{API}/assets?customer_id={shop.other_customer.id}", headers=agent).json()
    assert [a["name"] for a in listed["items"]] == ["Chiller"]
    assert [a["name"] for a in c.get(f"{API}/assets?site_id={shop.site.id}", headers=agent).json()["items"]] == [
        "Boiler"
    ]
    assert c.get(f"{API}/assets?q=sn-7", headers=agent).json()["total"] == 1
    assert c.get(f"{API}/assets?q=carr", headers=agent).json()["total"] == 1


def test_customer_assets(shop: Shop) -> None:
    c, me = shop.client, shop.h("customer")
    listed = c.get(f"{API}/assets", headers=me).json()
    assert [a["id"] for a in listed["items"]] == [str(shop.asset.id)]
    r = c.post(f"{API}/assets", json={"site_id": str(shop.site.id), "name": "Water heater"}, headers=me)
    assert r.status_code == 201 and r.json()["customer_id"] == str(shop.customer.id)
    assert (
        c.post(f"{API}/assets", json={"site_id": str(shop.other_site.id), "name": "X"}, headers=me).status_code == 404
    )
    r = c.patch(f"{API}/assets/{shop.asset.id}", json={"notes": "Noisy"}, headers={**me, "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["notes"] == "Noisy"
    r = c.patch(
        f"{API}/assets/{shop.asset.id}",
        json={"site_id": str(shop.other_site.id)},
        headers={**me, "If-Match": "*"},
    )
    assert r.status_code == 404


def test_asset_roles_and_other_org(shop: Shop) -> None:
    c = shop.client
    tech = shop.h("technician")
    assert c.get(f"{API}/assets", headers=tech).status_code == 403
    assert c.get(f"{API}/assets/{shop.asset.id}", headers=tech).status_code == 403
    for role in ("finance", "supervisor"):
        headers = shop.h(role)
        assert c.get(f"{API}/assets", headers=headers).json()["total"] == 1
        assert (
            c.post(f"{API}/assets", json={"site_id": str(shop.site.id), "name": "X"}, headers=headers).status_code
            == 403
        )
        r = c.patch(f"{API}/assets/{shop.asset.id}", json={"name": "Y"}, headers={**headers, "If-Match": '"1"'})
        assert r.status_code == 403
    admin = shop.h("admin")
    assert c.get(f"{API}/assets/{shop.foreign_asset.id}", headers=admin).status_code == 404
    assert (
        c.post(f"{API}/assets", json={"site_id": str(shop.foreign_site.id), "name": "X"}, headers=admin).status_code
        == 404
    )
    r = c.patch(
        f"{API}/assets/{shop.asset.id}",
        json={"site_id": str(shop.foreign_site.id)},
        headers={**admin, "If-Match": "*"},
    )
    assert r.status_code == 404


BAD_ASSETS: list[dict[str, Any]] = [
    {"name": "X", "site_id": None},
    {"name": "X", "site_id": "nope"},
    {"name": "X", "install_date": "yesterday"},
    {"name": "X", "install_date": "2024-02-30"},
    {"name": "X", "serial_number": "s" * 100_000},
    {"name": "X\u0000"},
    {"name": "X", "colour": "red"},
]


def test_bad_asset_input(shop: Shop) -> None:
    headers = shop.h("agent")
    for change in BAD_ASSETS:
        body = {"site_id": str(shop.site.id), **change}
        r = shop.client.post(f"{API}/assets", json=body, headers=headers)
        assert r.status_code == 422, (change, r.text)


def test_idempotent_asset_create_and_inactive_site(shop: Shop) -> None:
    c = shop.client
    headers = shop.h("agent", **{"Idempotency-Key": "asset-1"})
    body = {"site_id": str(shop.site.id), "name": "Pump"}
    first, again = (c.post(f"{API}/assets", json=body, headers=headers) for _ in range(2))
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert c.get(f"{API}/assets?q=pump", headers=headers).json()["total"] == 1
    c.patch(f"{API}/sites/{shop.site.id}", json={"active": False}, headers={**headers, "If-Match": "*"})
    r = c.post(f"{API}/assets", json={**body, "name": "Fan"}, headers=shop.h("agent"))
    assert r.status_code == 409
