"""Calendars, policies, preview and holidays through the API: roles, validation (en/zh), If-Match."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories.world import make_world
from tests.sla.helpers import API, LADDER_24_7, make_calendar, make_policy
from tests.work_orders.helpers import Actors


def test_calendar_crud_roles_and_if_match(client: TestClient, db: Session) -> None:
    w = make_world(db)
    a = Actors(client, w.a)
    b = Actors(client, w.b)
    cal = make_calendar(client, a["admin"])
    assert cal["holiday_subdiv"] == "MA"
    for role in ("supervisor", "dispatcher"):
        assert client.get(f"{API}/sla/calendars/{cal['id']}", headers=a[role]).status_code == 200
        r = client.patch(f"{API}/sla/calendars/{cal['id']}", json={"name": "X"}, headers={**a[role], "If-Match": "*"})
        assert r.status_code == 403
    for role in ("technician", "customer", "agent"):
        key = {"technician": "tech"}.get(role, role)
        assert client.get(f"{API}/sla/calendars", headers=a[key]).status_code == 403
    assert client.get(f"{API}/sla/calendars/{cal['id']}", headers=b["admin"]).status_code == 404
    url = f"{API}/sla/calendars/{cal['id']}"
    assert client.patch(url, json={"name": "X"}, headers=a["admin"]).status_code == 428
    assert client.patch(url, json={"name": "X"}, headers={**a["admin"], "If-Match": '"9"'}).status_code == 412
    r = client.patch(url, json={"custom_days": [{"date": "2026-12-24", "hours": [["08:00", "12:00"]]}]},
                     headers={**a["admin"], "If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["ETag"] == '"2"'
    assert client.get(f"{API}/sla/calendars", headers=a["dispatcher"]).json()["total"] == 1


def test_calendar_validation_is_422_in_english_and_chinese(client: TestClient, db: Session) -> None:
    w = make_world(db)
    a = Actors(client, w.a)
    base = {"name": "Bad", "timezone": "America/New_York"}
    bad = [
        ({"hours": {"mon": [["25:00", "26:00"]]}}, "hours.mon[0]"),
        ({"hours": {"mon": [["08:00", "12:00"], ["11:30", "14:00"]]}}, "hours.mon"),
        ({"hours": {"mon": [["08:00", "18:00"]]}, "holiday_country": "ZZ"}, "holiday_country"),
        ({"hours": {"mon": [["08:00", "18:00"]]}, "holiday_country": "US", "holiday_subdiv": "XX"}, "holiday_subdiv"),
        ({"hours": {"mon": [["08:00", "18:00"]]}, "timezone": "Nowhere/City"}, "timezone"),
        ({"hours": {}}, "hours"),
        ({"hours": {"mon": [["08:00", "18:00"]]}, "custom_days": [{"date": "2026-13-01"}]}, "custom_days[0].date"),
    ]
    for extra, field in bad:
        r = client.post(f"{API}/sla/calendars", json={**base, **extra}, headers=a["admin"])
        assert r.status_code == 422, (extra, r.text)
        assert r.json()["errors"][0]["field"] == field
        zh = client.post(f"{API}/sla/calendars", json={**base, **extra},
                         headers={**a["admin"], "Accept-Language": "zh-CN"})
        assert zh.status_code == 422 and any("\u4e00" <= ch <= "\u9fff" for ch in zh.json()["detail"])


def test_policy_crud_and_validation(client: TestClient, db: Session) -> None:
    w = make_world(db)
    a = Actors(client, w.a)
    cal = make_calendar(client, a["admin"])
    p = make_policy(client, a["admin"], cal["id"], priorities=["P1", "P2"], customer_tiers=["vip"],
                    service_type_ids=[str(w.a.service_type.id)])  # type: ignore[union-attr]
    assert client.get(f"{API}/sla/policies/{p['id']}", headers=a["supervisor"]).status_code == 200
    assert client.post(f"{API}/sla/policies", json={"name": "x"}, headers=a["dispatcher"]).status_code in (403, 422)
    cases = [
        ({"ladder": []}, "ladder"),
        ({"targets": {}}, "targets"),
        ({"targets": {"response": {"minutes": 30, "business_days": 2}}}, "targets.response"),
        ({"targets": {"response": {"business_days": 2, "at": "8.30"}}}, "targets.response.at"),
        ({"ladder": [{"name": "x", "percent": 50, "offset_minutes": 5}]}, "ladder[0]"),
        ({"ladder": [{"name": "x", "percent": 50, "targets": ["arrival"]}],
          "targets": {"response": {"minutes": 5}}}, "ladder[0].targets"),
    ]
    for extra, field in cases:
        body = {"name": "P", "calendar_id": cal["id"], "targets": {"response": {"minutes": 60}},
                "ladder": LADDER_24_7, **extra}
        r = client.post(f"{API}/sla/policies", json=body, headers=a["admin"])
        assert r.status_code == 422, (extra, r.text)
        assert r.json()["errors"][0]["field"] == field, r.json()
    body = {"name": "P", "calendar_id": cal["id"], "targets": {"response": {"minutes": 60}}, "ladder": LADDER_24_7,
            "service_type_ids": [str(w.b.service_type.id)]}  # type: ignore[union-attr]
    assert client.post(f"{API}/sla/policies", json=body, headers=a["admin"]).status_code == 404
    r = client.patch(f"{API}/sla/policies/{p['id']}", json={"rank": 5, "ladder": LADDER_24_7[:1]},
                     headers={**a["admin"], "If-Match": f'"{p["version"]}"'})
    assert r.status_code == 200 and r.json()["rank"] == 5 and len(r.json()["ladder"]) == 1


def test_preview_business_hours_and_inline_calendar(client: TestClient, db: Session) -> None:
    w = make_world(db)
    a = Actors(client, w.a)
    cal = make_calendar(client, a["admin"])
    p = make_policy(client, a["admin"], cal["id"], targets={
        "response": {"hours": 2}, "resolution": {"business_days": 3, "at": "17:00", "cutoff": "16:00"}},
        ladder=[{"name": "half", "percent": 50}, {"name": "late", "percent": 100},
                {"name": "-10", "offset_minutes": -10, "targets": ["response"]}])
    # Wednesday before Thanksgiving, 17:00 Boston.
    r = client.post(f"{API}/sla/preview", json={"policy_id": p["id"], "start": "2026-11-25T22:00:00Z"},
                    headers=a["admin"])
    assert r.status_code == 200, r.text
    out = {t["target"]: t for t in r.json()["targets"]}
    assert out["response"]["deadline_local"] == "2026-11-27T09:00:00-05:00"
    assert [lv["name"] for lv in out["response"]["levels"]] == ["half", "-10", "late"]
    # After the 16:00 cutoff: day 0 is Friday; +3 business days -> Wednesday 17:00.
    assert out["resolution"]["deadline_local"] == "2026-12-02T17:00:00-05:00"
    inline = {"start": "2026-02-13T09:00:00Z", "calendar": {
        "timezone": "Asia/Shanghai", "holiday_country": "CN",
        "hours": {d: [["09:00", "12:00"], ["13:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}},
        "targets": {"response": {"hours": 2}}}
    r = client.post(f"{API}/sla/preview", json=inline, headers=a["dispatcher"])
    assert r.status_code == 200, r.text
    assert r.json()["targets"][0]["deadline_local"] == "2026-02-14T10:00:00+08:00"  # 调休 Saturday
    assert client.post(f"{API}/sla/preview", json=inline, headers=a["tech"]).status_code == 403
    r = client.post(f"{API}/sla/preview", json={"start": "2026-02-13T09:00:00Z"}, headers=a["admin"])
    assert r.status_code == 422


def test_holidays_list_china_and_massachusetts(client: TestClient, db: Session) -> None:
    w = make_world(db)
    a = Actors(client, w.a)
    r = client.get(f"{API}/sla/holidays", params={"country": "CN", "year": 2026}, headers=a["admin"])
    assert r.status_code == 200
    items = r.json()["items"]
    workdays = [i["date"] for i in items if i["kind"] == "workday"]
    assert "2026-02-14" in workdays and "2026-10-01" in [i["date"] for i in items if i["kind"] == "holiday"]
    zh = client.get(f"{API}/sla/holidays", params={"country": "CN", "year": 2026},
                    headers={**a["admin"], "Accept-Language": "zh-CN"}).json()["items"]
    assert any(i["name"] == "国庆节" for i in zh)
    ma = client.get(f"{API}/sla/holidays", params={"country": "US", "subdiv": "MA", "year": 2026},
                    headers=a["dispatcher"]).json()["items"]
    assert "Patriots' Day" in {i["name"] for i in ma}
    bad = client.get(f"{API}/sla/holidays", params={"country": "US", "subdiv": "QQ", "year": 2026},
                     headers=a["admin"])
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "holiday_subdiv"
