from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldops.core.clock import FrozenClock
from fieldops.core.errors import NotFound
from fieldops.organizations.models import Organization, Territory
from fieldops.technicians import service as tech_service
from fieldops.technicians.models import Technician
from fieldops.users.models import User
from tests.conftest import START, login
from tests.factories.base import make_org, make_user
from tests.factories.organizations import make_territory
from tests.factories.service_types import make_certificate_type, make_skill
from tests.factories.technicians import WEEKDAYS_9_TO_5, make_leave, make_technician, make_technician_login

API = "/api/v1/technicians"
ROLES = ("admin", "supervisor", "dispatcher", "agent", "customer", "finance")


@dataclass
class Env:
    client: TestClient
    org: Organization
    other: Organization
    north: Territory
    south: Territory
    tech: Technician  # has a login: tech@acme.test
    tech2: Technician
    foreign: Technician
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def h(self, role: str, **extra: str) -> dict[str, str]:
        """Headers of the role's user; "tech" is self.tech's login, "other" the other organisation's admin."""
        if role not in self.headers:
            email = {"tech": "tech@acme.test", "other": "admin@globex.test"}.get(role, f"{role}@acme.test")
            self.headers[role] = login(self.client, email)
        return {**self.headers[role], **extra}


@pytest.fixture
def env(client: TestClient, db: Session) -> Env:
    org = make_org(db, "Acme")
    other = make_org(db, "Globex")
    for role in ROLES:
        make_user(db, org, role, email=f"{role}@acme.test")
    make_user(db, other, "admin", email="admin@globex.test")
    north = make_territory(db, org, "N")
    south = make_territory(db, org, "S")
    for code in ("hvac", "elec"):
        make_skill(db, org, code)
    make_skill(db, other, "gas")
    make_certificate_type(db, org, "epa608")
    make_certificate_type(db, org, "height")
    tech = make_technician(db, org, "T01", name="Ann Lee", skills={"hvac": 3}, shifts=WEEKDAYS_9_TO_5,
                           certificates=[("epa608", date(2024, 1, 1), date(2028, 1, 1))], hourly_cost=40,
                           phone="+16175550101", territory_ids=[north.id])
    make_technician_login(db, org, tech, email="tech@acme.test")
    tech2 = make_technician(db, org, "T02", name="Bo Chen", skills={"elec": 2}, duty_status="off_duty")
    foreign = make_technician(db, other, "T01", name="Globex tech")
    db.commit()
    return Env(client, org, other, north, south, tech, tech2, foreign)


NEW_TECH: dict[str, Any] = {
    "code": "T10", "name": "Cai Wen", "phone": "(617) 555-0142", "level": 4,
    "home_lat": 42.35, "home_lng": -71.06, "home_address": "1 Main St",
    "hourly_cost": "55.50", "duty_status": "on_duty",
    "skills": [{"skill": "hvac", "level": 4}, {"skill": "elec", "level": 2}],
    "certificates": [{"type_code": "height", "number": "H-1", "issued_on": "2025-01-01",
                      "expires_on": "2026-01-01"}],
    "shifts": [{"weekday": 0, "start_time": "08:00", "end_time": "17:00", "break_start": "12:00",
                "break_end": "13:00"}],
}


def test_create_with_login_skills_certificates_shifts(client: TestClient, env: Env) -> None:
    body = {**NEW_TECH, "territory_ids": [str(env.north.id), str(env.south.id)],
            "login": {"email": "cai@example.com", "password": "Strong-pass-2026!", "locale": "zh-CN"}}
    r = client.post(API, json=body, headers=env.h("supervisor"))
    assert r.status_code == 201, r.text
    tech = r.json()
    assert r.headers["ETag"] == f'"{tech["version"]}"' and r.headers["Location"].endswith(tech["id"])
    assert tech["phone"] == "+16175550142" and tech["user_id"]
    assert tech["skills"] == [{"skill": "elec", "level": 2}, {"skill": "hvac", "level": 4}]
    assert sorted(tech["territory_ids"]) == sorted([str(env.north.id), str(env.south.id)])
    assert tech["max_travel_km"] == 30 and tech["max_jobs_per_day"] == 8 and tech["max_work_minutes"] == 480
    assert tech["hourly_cost"] == "55.50"
    # the certificate expired before the frozen "today" (2026-11-23)
    assert tech["certificates"][0]["expired"] is True
    assert tech["shifts"][0]["break_start"] == "12:00:00"
    # the login works and knows its technician record
    headers = login(client, "cai@example.com", "Strong-pass-2026!")
    me = client.get(f"{API}/me", headers=headers)
    assert me.status_code == 200 and me.json()["id"] == tech["id"] and me.headers["ETag"]
    assert me.json()["hourly_cost"] is None  # a finance field
    assert client.get("/api/v1/auth/me", headers=headers).json()["role"] == "technician"


def test_login_conflict_rolls_everything_back(client: TestClient, env: Env, db: Session) -> None:
    make_user(db, env.org, "agent", email="taken@example.com")
    db.commit()
    body = {**NEW_TECH, "login": {"email": "taken@example.com", "password": "Strong-pass-2026!"}}
    r = client.post(API, json=body, headers=env.h("admin"))
    assert r.status_code == 409
    weak = client.post(API, json={**NEW_TECH, "login": {"email": "n@example.com", "password": "password"}},
                       headers=env.h("admin"))
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "password"
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Technician).where(Technician.code == "T10")) == 0
    db.rollback()  # end the read: SQLite transactions here take the write lock
    # without e-mail or phone in the login, the technician's phone is the login name
    body = {**NEW_TECH, "login": {"password": "Strong-pass-2026!"}}
    assert client.post(API, json=body, headers=env.h("admin")).status_code == 201
    assert login(client, "+1 617 555 0142", "Strong-pass-2026!")


def test_list_filters(client: TestClient, env: Env, db: Session) -> None:
    make_technician(db, env.org, "T03", name="Old Hand", active=False)
    db.commit()
    h = env.h("dispatcher")

    def codes(**params: Any) -> list[str]:
        r = client.get(API, params=params, headers=h)
        assert r.status_code == 200, r.text
        return [t["code"] for t in r.json()["items"]]

    assert codes() == ["T01", "T02", "T03"]
    assert codes(active="true") == ["T01", "T02"]
    assert codes(q="ann") == ["T01"] and codes(q="t0") == ["T01", "T02", "T03"] and codes(q="%") == []
    assert codes(q="555") == ["T01"]
    assert codes(skill="elec") == ["T02"]
    assert codes(territory_id=str(env.north.id)) == ["T01"]
    assert codes(duty_status="off_duty") == ["T02"]
    assert codes(limit=1, offset=1) == ["T02"]
    assert client.get(API, params={"duty_status": "asleep"}, headers=h).status_code == 422
    listed = client.get(API, headers=h).json()
    assert listed["total"] == 3 and listed["items"][0]["hourly_cost"] is None
    assert listed["items"][0]["skills"] == [{"skill": "hvac", "level": 3}]


def test_visibility_by_role(client: TestClient, env: Env) -> None:
    own, other = f"{API}/{env.tech.id}", f"{API}/{env.tech2.id}"
    # a technician sees only their own record
    assert [t["code"] for t in client.get(API, headers=env.h("tech")).json()["items"]] == ["T01"]
    assert client.get(own, headers=env.h("tech")).status_code == 200
    assert client.get(other, headers=env.h("tech")).status_code == 404
    # customers may not look at technicians
    assert client.get(API, headers=env.h("customer")).status_code == 403
    assert client.get(own, headers=env.h("customer")).status_code == 403
    assert client.get(f"{API}/me", headers=env.h("customer")).status_code == 403
    # finance reads, with the cost, but may not write
    r = client.get(own, headers=env.h("finance"))
    assert r.status_code == 200 and r.json()["hourly_cost"] == "40.00"
    etag = r.headers["ETag"]
    r = client.patch(own, json={"level": 5}, headers=env.h("finance", **{"If-Match": etag}))
    assert r.status_code == 403
    assert client.post(API, json=NEW_TECH, headers=env.h("finance")).status_code == 403
    # dispatchers and agents read, without the cost, and may not write
    for role in ("dispatcher", "agent"):
        r = client.get(own, headers=env.h(role))
        assert r.status_code == 200 and r.json()["hourly_cost"] is None
        r = client.patch(own, json={"level": 5}, headers=env.h(role, **{"If-Match": etag}))
        assert r.status_code == 403
    # a technician may not edit even their own profile
    r = client.patch(own, json={"level": 5}, headers=env.h("tech", **{"If-Match": etag}))
    assert r.status_code == 403
    # another organisation: not found, for reads and writes
    assert client.get(own, headers=env.h("other")).status_code == 404
    r = client.patch(own, json={"level": 5}, headers=env.h("other", **{"If-Match": "*"}))
    assert r.status_code == 404
    assert client.put(f"{own}/skills", json={"skills": []},
                      headers=env.h("other", **{"If-Match": "*"})).status_code == 404
    assert [t["code"] for t in client.get(API, headers=env.h("other")).json()["items"]] == ["T01"]
    assert client.get(f"{API}/{env.foreign.id}", headers=env.h("admin")).status_code == 404
    # /me is only for technicians
    assert client.get(f"{API}/me", headers=env.h("admin")).status_code == 404


def test_patch_needs_if_match_and_changes_fields(client: TestClient, env: Env) -> None:
    url = f"{API}/{env.tech.id}"
    admin = env.h("admin")
    etag = client.get(url, headers=admin).headers["ETag"]
    assert client.patch(url, json={"level": 5}, headers=admin).status_code == 428
    assert client.patch(url, json={"level": 5}, headers={**admin, "If-Match": '"99"'}).status_code == 412
    r = client.patch(url, json={"level": 5, "max_travel_km": 12.5, "territory_ids": [str(env.south.id)],
                                "phone": "617-555-0199", "hourly_cost": None},
                     headers={**admin, "If-Match": etag})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["level"] == 5 and body["max_travel_km"] == 12.5 and body["phone"] == "+16175550199"
    assert body["territory_ids"] == [str(env.south.id)] and body["hourly_cost"] is None
    assert r.headers["ETag"] != etag and r.headers["ETag"] == f'"{body["version"]}"'
    assert client.patch(url, json={"level": 4}, headers={**admin, "If-Match": etag}).status_code == 412
    r = client.patch(url, json={"code": "T02"}, headers={**admin, "If-Match": r.headers["ETag"]})
    assert r.status_code == 409


def test_replace_skills_and_shifts(client: TestClient, env: Env) -> None:
    url = f"{API}/{env.tech.id}"
    sup = env.h("supervisor")
    etag = client.get(url, headers=sup).headers["ETag"]
    assert client.put(f"{url}/skills", json={"skills": []}, headers=sup).status_code == 428
    r = client.put(f"{url}/skills", json={"skills": [{"skill": "elec", "level": 5}, {"skill": "hvac"}]},
                   headers={**sup, "If-Match": etag})
    assert r.status_code == 200, r.text
    assert r.json()["skills"] == [{"skill": "elec", "level": 5}, {"skill": "hvac", "level": 1}]
    etag2 = r.headers["ETag"]
    assert etag2 != etag
    r = client.put(f"{url}/skills", json={"skills": [{"skill": "plumbing", "level": 1}]},
                   headers={**sup, "If-Match": etag2})
    assert r.status_code == 422 and "plumbing" in r.json()["detail"]
    r = client.put(f"{url}/skills", json={"skills": [{"skill": "gas", "level": 1}]},  # another org's skill
                   headers={**sup, "If-Match": etag2})
    assert r.status_code == 422
    r = client.put(f"{url}/skills", json={"skills": [{"skill": "elec", "level": 6}]},
                   headers={**sup, "If-Match": etag2})
    assert r.status_code == 422

    shifts = {"shifts": [{"weekday": 5, "start_time": "10:00", "end_time": "14:00"},
                         {"weekday": 6, "start_time": "10:00", "end_time": "14:00", "break_start": "12:00",
                          "break_end": "12:30"}]}
    assert client.put(f"{url}/shifts", json=shifts, headers={**sup, "If-Match": etag}).status_code == 412
    r = client.put(f"{url}/shifts", json=shifts, headers={**sup, "If-Match": etag2})
    assert r.status_code == 200
    assert [(s["weekday"], s["start_time"]) for s in r.json()["shifts"]] == [(5, "10:00:00"), (6, "10:00:00")]
    bad = {"shifts": [{"weekday": 1, "start_time": "09:00", "end_time": "17:00", "break_start": "17:30",
                       "break_end": "18:00"}]}
    r = client.put(f"{url}/shifts", json=bad, headers={**sup, "If-Match": r.headers["ETag"]})
    assert r.status_code == 422 and "inside the shift" in r.text
    for wrong in ({"weekday": 1, "start_time": "17:00", "end_time": "09:00"},
                  {"weekday": 1, "start_time": "09:00+02:00", "end_time": "17:00"},
                  {"weekday": 7, "start_time": "09:00", "end_time": "17:00"}):
        r = client.put(f"{url}/shifts", json={"shifts": [wrong]}, headers={**sup, "If-Match": "*"})
        assert r.status_code == 422, wrong
    tech_h = env.h("tech", **{"If-Match": "*"})
    assert client.put(f"{url}/shifts", json={"shifts": []}, headers=tech_h).status_code == 403


def test_certificates_add_delete_and_expiry(client: TestClient, env: Env, clock: FrozenClock) -> None:
    url = f"{API}/{env.tech.id}"
    admin = env.h("admin")
    before = client.get(url, headers=admin)
    r = client.post(f"{url}/certificates", json={"type_code": "height", "number": "WAH-9",
                                                 "issued_on": "2026-01-01", "expires_on": "2026-11-23"},
                    headers=admin)
    assert r.status_code == 201, r.text
    cert = r.json()
    assert cert["expired"] is False and r.headers["Location"].endswith(cert["id"])
    detail = client.get(url, headers=admin)
    assert detail.headers["ETag"] != before.headers["ETag"]
    assert {c["type_code"]: c["expired"] for c in detail.json()["certificates"]} == {
        "epa608": False, "height": False}
    clock.advance(hours=16)  # 01:00 the next day in New York: the expiry day has passed
    env.headers.clear()  # the access tokens expired meanwhile
    admin = env.h("admin")
    detail = client.get(url, headers=admin).json()
    assert {c["type_code"]: c["expired"] for c in detail["certificates"]} == {"epa608": False, "height": True}
    for bad in ({"type_code": "nope"}, {"type_code": "height", "issued_on": "2026-02-01",
                                        "expires_on": "2026-01-01"},
                {"type_code": "height", "number": "x" * 101}, {"type_code": "height", "extra": True}):
        assert client.post(f"{url}/certificates", json=bad, headers=admin).status_code == 422, bad
    assert client.post(f"{url}/certificates", json={"type_code": "height"},
                       headers=env.h("tech")).status_code == 403
    assert client.delete(f"{url}/certificates/{cert['id']}", headers=env.h("dispatcher")).status_code == 403
    assert client.delete(f"{url}/certificates/{cert['id']}", headers=env.h("other")).status_code == 404
    assert client.delete(f"{url}/certificates/{cert['id']}", headers=admin).status_code == 204
    assert client.delete(f"{url}/certificates/{cert['id']}", headers=admin).status_code == 404
    assert [c["type_code"] for c in client.get(url, headers=admin).json()["certificates"]] == ["epa608"]


def test_leave_add_delete_and_upcoming(client: TestClient, env: Env, db: Session) -> None:
    make_leave(db, env.tech, START - timedelta(days=10), START - timedelta(days=5), reason="past")
    db.commit()
    url = f"{API}/{env.tech.id}"
    sup = env.h("supervisor")
    body = {"start_at": "2026-12-01T00:00:00-05:00", "end_at": "2026-12-05T00:00:00-05:00",
            "kind": "vacation", "reason": "Family trip"}
    r = client.post(f"{url}/leave", json=body, headers={**sup, "Idempotency-Key": "leave-1"})
    assert r.status_code == 201, r.text
    leave = r.json()
    assert leave["start_at"] == "2026-12-01T05:00:00Z"
    again = client.post(f"{url}/leave", json=body, headers={**sup, "Idempotency-Key": "leave-1"})
    assert again.json()["id"] == leave["id"]
    overlapping = {**body, "start_at": "2026-12-04T00:00:00-05:00", "end_at": "2026-12-06T00:00:00-05:00"}
    assert client.post(f"{url}/leave", json=overlapping, headers=sup).status_code == 409
    detail = client.get(url, headers=env.h("tech")).json()
    assert [lv["id"] for lv in detail["upcoming_leave"]] == [leave["id"]]  # past leave is not upcoming
    for bad in ({**body, "end_at": body["start_at"]}, {**body, "start_at": "2026-12-01T00:00:00"},
                {**body, "kind": "holiday"}, {**body, "end_at": "2028-12-05T00:00:00Z"},
                {**body, "reason": "x\u0000"}):
        assert client.post(f"{url}/leave", json=bad, headers=sup).status_code == 422, bad
    assert client.post(f"{url}/leave", json=body, headers=env.h("tech")).status_code == 403
    assert client.delete(f"{url}/leave/{leave['id']}", headers=sup).status_code == 204
    assert client.get(url, headers=sup).json()["upcoming_leave"] == []
    assert client.delete(f"{API}/{env.tech2.id}/leave/{leave['id']}", headers=sup).status_code == 404


def test_duty_status_by_the_technician(client: TestClient, env: Env) -> None:
    me = client.get(f"{API}/me", headers=env.h("tech"))
    assert me.json()["duty_status"] == "on_duty"
    url = f"{API}/me/duty-status"
    assert client.patch(url, json={"duty_status": "on_break"}, headers=env.h("tech")).status_code == 428
    r = client.patch(url, json={"duty_status": "on_break"},
                     headers=env.h("tech", **{"If-Match": me.headers["ETag"]}))
    assert r.status_code == 200 and r.json()["duty_status"] == "on_break"
    assert r.headers["ETag"] != me.headers["ETag"]
    r2 = client.patch(url, json={"duty_status": "off_duty"},
                      headers=env.h("tech", **{"If-Match": me.headers["ETag"]}))
    assert r2.status_code == 412
    assert client.patch(url, json={"duty_status": "sleeping"},
                        headers=env.h("tech", **{"If-Match": "*"})).status_code == 422
    # not a technician: nothing of their own to change
    assert client.patch(url, json={"duty_status": "on_duty"},
                        headers=env.h("admin", **{"If-Match": "*"})).status_code == 404
    assert client.get(API, params={"duty_status": "on_break"}, headers=env.h("admin")).json()["total"] == 1


def test_idempotent_create_replays(client: TestClient, env: Env, db: Session) -> None:
    headers = env.h("admin", **{"Idempotency-Key": "tech-create-1"})
    body = {**NEW_TECH, "login": {"email": "cai@example.com", "password": "Strong-pass-2026!"}}
    first = client.post(API, json=body, headers=headers)
    again = client.post(API, json=body, headers=headers)
    assert first.status_code == again.status_code == 201, first.text
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Technician).where(Technician.code == "T10")) == 1
    assert db.scalar(select(func.count()).select_from(User).where(User.email == "cai@example.com")) == 1


def test_bad_input_is_422(client: TestClient, env: Env) -> None:
    admin = env.h("admin")
    bad_bodies: list[dict[str, Any]] = [
        {**NEW_TECH, "surprise": 1},
        {**NEW_TECH, "name": "x" * 100_000},
        {**NEW_TECH, "home_address": "x" * 100_000},
        {**NEW_TECH, "name": "Cai\u0000Wen"},
        {**NEW_TECH, "level": 6},
        {**NEW_TECH, "level": 0},
        {**NEW_TECH, "phone": "12"},
        {**NEW_TECH, "home_lat": 91},
        {**NEW_TECH, "home_lng": None},
        {**NEW_TECH, "hourly_cost": -1},
        {**NEW_TECH, "hourly_cost": "1.234"},
        {**NEW_TECH, "max_jobs_per_day": 0},
        {**NEW_TECH, "duty_status": "asleep"},
        {**NEW_TECH, "skills": [{"skill": "hvac", "level": 9}]},
        {**NEW_TECH, "skills": [{"skill": "plumbing", "level": 1}]},
        {**NEW_TECH, "skills": [{"skill": "hvac"}, {"skill": "hvac", "level": 2}]},
        {**NEW_TECH, "certificates": [{"type_code": "nope"}]},
        {**NEW_TECH, "territory_ids": ["00000000-0000-0000-0000-000000000001"]},
        {**NEW_TECH, "shifts": [{"weekday": 0, "start_time": "08:00", "end_time": "17:00",
                                 "break_start": "07:00", "break_end": "08:30"}]},
        {**NEW_TECH, "login": {"password": "Strong-pass-2026!", "role": "admin"}},
    ]
    for body in bad_bodies:
        r = client.post(API, json=body, headers=admin)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    url = f"{API}/{env.tech.id}"
    for patch in ({"level": None}, {"name": None}, {"user_id": None}, {"last_lat": 1.0}, {"home_lat": 42.0}):
        r = client.patch(url, json=patch, headers={**admin, "If-Match": "*"})
        assert r.status_code == 422, (patch, r.text)
    # territories of another organisation do not exist here
    theirs = client.post(API, json={**NEW_TECH, "territory_ids": [str(env.north.id)]}, headers=env.h("other"))
    assert theirs.status_code == 422
    assert client.post(API, json={"code": "T01", "name": "Dup"}, headers=admin).status_code == 409


def test_service_functions_for_other_modules(env: Env, db: Session) -> None:
    make_leave(db, env.tech, START + timedelta(days=1), START + timedelta(days=2))
    make_leave(db, env.tech, START - timedelta(days=3), START - timedelta(days=2))
    make_technician(db, env.org, "T09", active=False)
    db.commit()
    assert tech_service.get_technician_in_org(db, env.org.id, env.tech.id).code == "T01"
    with pytest.raises(NotFound):
        tech_service.get_technician_in_org(db, env.other.id, env.tech.id)
    snaps = tech_service.snapshot(db, env.org.id, leave_after=START)
    assert [s.code for s in snaps] == ["T01", "T02"]
    ann = snaps[0]
    assert ann.timezone == "America/New_York" and ann.territory_ids == frozenset({env.north.id})
    assert ann.hourly_cost == 40.0 and ann.max_travel_km == 30 and ann.user_id is not None
    assert [(s.skill_code, s.level) for s in ann.skills] == [("hvac", 3)]
    assert len(ann.shifts) == 5 and ann.shifts[0].start_time == time(9)
    assert len(ann.leave) == 1
    assert ann.is_on_shift(START + timedelta(hours=1))  # Monday 10:00 in New York
    assert not ann.is_on_shift(START + timedelta(days=1, hours=1))  # on leave on Tuesday
    assert ann.missing_skills([{"skill": "hvac", "min_level": 4}]) == ["hvac"]
    assert ann.missing_certificates(["epa608", "height"], date(2026, 11, 23)) == ["height"]
    assert ann.missing_certificates(["epa608"], date(2028, 1, 2)) == ["epa608"]
    assert len(tech_service.snapshot(db, env.org.id, include_inactive=True)) == 3
    assert len(tech_service.snapshot(db, env.org.id)[0].leave) == 2
    assert [s.code for s in tech_service.snapshot(db, env.other.id)] == ["T01"]
    assert datetime(2026, 11, 23, 15, tzinfo=UTC) == START + timedelta(hours=1)
