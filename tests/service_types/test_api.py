from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from fieldops.core.errors import NotFound
from fieldops.organizations.models import Organization
from fieldops.service_types import service as st_service
from fieldops.service_types.models import ServiceType
from tests.conftest import login
from tests.factories.base import make_org, make_user
from tests.factories.service_types import make_certificate_type, make_service_type, make_skill

API = "/api/v1"
ROLES = ("admin", "supervisor", "dispatcher", "agent", "technician", "customer", "finance")


@dataclass
class Env:
    client: TestClient
    org: Organization
    other: Organization
    root: ServiceType
    child: ServiceType
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def h(self, role: str) -> dict[str, str]:
        """Authorization headers of the role's user ("other": the other organisation's admin)."""
        if role not in self.headers:
            email = "admin@globex.test" if role == "other" else f"{role}@acme.test"
            self.headers[role] = login(self.client, email)
        return self.headers[role]


@pytest.fixture
def env(client: TestClient, db: Session) -> Env:
    org = make_org(db, "Acme")
    other = make_org(db, "Globex")
    for role in ROLES:
        make_user(db, org, role, email=f"{role}@acme.test")
    make_user(db, other, "admin", email="admin@globex.test")
    make_skill(db, org, "hvac", "HVAC", name_zh="暖通")
    make_skill(db, org, "elec", "Electrical")
    make_skill(db, other, "gas", "Gas")
    make_certificate_type(db, org, "epa608", "EPA 608")
    make_certificate_type(db, org, "height", "Working at height")
    root = make_service_type(db, org, "ac", name="AC", required_skills=[{"skill": "hvac", "min_level": 2}],
                             required_certificates=["epa608"], checklist_template=[
                                 {"key": "pressure", "label": "Pressure", "type": "bool", "required": True}],
                             default_duration_min=90, default_priority="P1")
    child = make_service_type(db, org, "ac-split", parent=root, name="Split AC")
    db.commit()
    return Env(client, org, other, root, child)


def _checklist(*keys: str, type_: str = "bool", **extra: Any) -> list[dict[str, Any]]:
    return [{"key": k, "label": k.title(), "type": type_, **extra} for k in keys]


# ---- skills and certificate types --------------------------------------------------------------

def test_skill_crud_with_etags(client: TestClient, env: Env) -> None:
    admin = env.h("admin")
    r = client.post(f"{API}/skills", json={"code": "plumb", "name": "Plumbing", "name_zh": "水管"},
                    headers=admin)
    assert r.status_code == 201, r.text
    skill = r.json()
    assert r.headers["ETag"] == '"1"' and r.headers["Location"].endswith(skill["id"])
    r = client.get(f"{API}/skills/{skill['id']}", headers=admin)
    assert r.status_code == 200 and r.headers["ETag"] == '"1"' and r.json()["name_zh"] == "水管"

    url = f"{API}/skills/{skill['id']}"
    assert client.patch(url, json={"name": "Pipes"}, headers=admin).status_code == 428
    assert client.patch(url, json={"name": "Pipes"}, headers={**admin, "If-Match": '"7"'}).status_code == 412
    r = client.patch(url, json={"name": "Pipes", "active": False}, headers={**admin, "If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["ETag"] == '"2"' and r.json()["active"] is False
    # the code is fixed: other records refer to it
    assert client.patch(url, json={"code": "x"}, headers={**admin, "If-Match": '"2"'}).status_code == 422
    assert client.patch(url, json={"name": None}, headers={**admin, "If-Match": '"2"'}).status_code == 422

    dup = client.post(f"{API}/skills", json={"code": "hvac", "name": "Again"}, headers=admin)
    assert dup.status_code == 409

    page = client.get(f"{API}/skills", params={"active": "true"}, headers=env.h("customer")).json()
    assert [s["code"] for s in page["items"]] == ["elec", "hvac"] and page["total"] == 2
    page = client.get(f"{API}/skills", params={"q": "暖"}, headers=admin).json()
    assert [s["code"] for s in page["items"]] == ["hvac"]


def test_catalogue_roles_and_tenancy(client: TestClient, env: Env) -> None:
    for role in ("dispatcher", "technician", "customer", "finance"):
        r = client.post(f"{API}/skills", json={"code": "x", "name": "X"}, headers=env.h(role))
        assert r.status_code == 403, role
        r = client.post(f"{API}/certificate-types", json={"code": "x", "name": "X"}, headers=env.h(role))
        assert r.status_code == 403, role
    hvac = client.get(f"{API}/skills", params={"q": "hvac"}, headers=env.h("admin")).json()["items"][0]
    r = client.patch(f"{API}/skills/{hvac['id']}", json={"name": "N"},
                     headers={**env.h("finance"), "If-Match": '"1"'})
    assert r.status_code == 403
    # another organisation sees neither the list entries nor the record
    assert client.get(f"{API}/skills/{hvac['id']}", headers=env.h("other")).status_code == 404
    assert [s["code"] for s in client.get(f"{API}/skills", headers=env.h("other")).json()["items"]] == ["gas"]
    r = client.patch(f"{API}/skills/{hvac['id']}", json={"name": "N"},
                     headers={**env.h("other"), "If-Match": "*"})
    assert r.status_code == 404
    assert client.get(f"{API}/skills").status_code == 401


def test_certificate_types(client: TestClient, env: Env) -> None:
    admin = env.h("admin")
    r = client.post(f"{API}/certificate-types", json={"code": "elec-lic", "name": "Electrician licence",
                                                      "name_zh": "电工证"}, headers=admin)
    assert r.status_code == 201, r.text
    ct = r.json()
    r = client.get(f"{API}/certificate-types/{ct['id']}", headers=env.h("technician"))
    assert r.status_code == 200 and r.headers["ETag"] == '"1"'
    r = client.patch(f"{API}/certificate-types/{ct['id']}", json={"name_zh": "低压电工证"},
                     headers={**admin, "If-Match": r.headers["ETag"]})
    assert r.status_code == 200 and r.json()["name_zh"] == "低压电工证" and r.json()["version"] == 2
    codes = [c["code"] for c in client.get(f"{API}/certificate-types", headers=admin).json()["items"]]
    assert codes == ["elec-lic", "epa608", "height"]
    r = client.get(f"{API}/certificate-types/{ct['id']}", headers=env.h("other"), )
    assert r.status_code == 404 and r.json()["detail"] == "Certificate type was not found."


# ---- service types ------------------------------------------------------------------------------

def test_create_child_inherits_and_get_shows_effective(client: TestClient, env: Env) -> None:
    admin = env.h("admin")
    r = client.post(f"{API}/service-types", json={"parent_id": str(env.child.id), "code": "ac-split-gas",
                                                   "name": "Gas refill", "name_zh": "加氟",
                                                   "required_photos": [{"key": "gauge", "label": "Gauge"}]},
                    headers=admin)
    assert r.status_code == 201, r.text
    body = r.json()
    # omitted duration and priority come from the parent (which took them from the root's factory values)
    assert body["default_duration_min"] == 60 and body["default_priority"] == "P2"
    eff = body["effective"]
    assert eff["required_skills"] == [{"skill": "hvac", "min_level": 2}]
    assert eff["required_certificates"] == ["epa608"]
    assert [c["key"] for c in eff["checklist_template"]] == ["pressure"]
    assert eff["required_photos"] == [{"key": "gauge", "label": "Gauge", "label_zh": None}]
    assert body["required_photos"] == eff["required_photos"]
    assert eff["inherited_from"] == {"required_skills": str(env.root.id),
                                     "required_certificates": str(env.root.id),
                                     "checklist_template": str(env.root.id)}
    assert body["required_skills"] == []

    r = client.get(f"{API}/service-types/{env.child.id}", headers=env.h("customer"))
    assert r.status_code == 200 and r.headers["ETag"] == '"1"'
    assert r.json()["effective"]["required_skills"] == [{"skill": "hvac", "min_level": 2}]

    # giving the child its own list overrides the parent's
    r = client.patch(f"{API}/service-types/{env.child.id}",
                     json={"required_skills": [{"skill": "elec", "min_level": 3}]},
                     headers={**admin, "If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["ETag"] == '"2"'
    assert r.json()["effective"]["required_skills"] == [{"skill": "elec", "min_level": 3}]
    assert "required_skills" not in r.json()["effective"]["inherited_from"]


def test_list_filters_and_tree(client: TestClient, env: Env, db: Session) -> None:
    grand = make_service_type(db, env.org, "ac-split-clean", parent=env.child, name="Cleaning")
    make_service_type(db, env.org, "light", name="Street light", name_zh="路灯")
    make_service_type(db, env.org, "old", name="Retired", active=False)
    make_service_type(db, env.other, "theirs")
    db.commit()
    h = env.h("technician")
    flat = client.get(f"{API}/service-types", headers=h).json()
    assert flat["total"] == 5 and [i["code"] for i in flat["items"]] == [
        "ac", "ac-split", "ac-split-clean", "light", "old"]
    assert all(i["children"] is None for i in flat["items"])
    kids = client.get(f"{API}/service-types", params={"parent_id": str(env.root.id)}, headers=h).json()
    assert [i["code"] for i in kids["items"]] == ["ac-split"]
    assert [i["code"] for i in client.get(f"{API}/service-types", params={"q": "路灯"},
                                          headers=h).json()["items"]] == ["light"]
    assert [i["code"] for i in client.get(f"{API}/service-types", params={"active": "false"},
                                          headers=h).json()["items"]] == ["old"]

    tree = client.get(f"{API}/service-types", params={"tree": "true", "active": "true"}, headers=h).json()
    assert tree["total"] == 2
    ac, light = tree["items"]
    assert ac["code"] == "ac" and light["children"] == []
    assert ac["children"][0]["code"] == "ac-split"
    assert ac["children"][0]["children"][0]["id"] == str(grand.id)
    # a search keeps the path down to the matches
    tree = client.get(f"{API}/service-types", params={"tree": "true", "q": "clean"}, headers=h).json()
    assert tree["total"] == 1
    node = tree["items"][0]
    assert [node["code"], node["children"][0]["code"], node["children"][0]["children"][0]["code"]] == [
        "ac", "ac-split", "ac-split-clean"]
    sub = client.get(f"{API}/service-types", params={"tree": "true", "parent_id": str(env.root.id)},
                     headers=h).json()
    assert [i["code"] for i in sub["items"]] == ["ac-split"] and sub["items"][0]["children"][0]["code"] == (
        "ac-split-clean")


def test_tree_rules_cycle_and_depth(client: TestClient, env: Env, db: Session) -> None:
    admin = env.h("admin")
    level3 = make_service_type(db, env.org, "l3", parent=env.child)
    level4 = make_service_type(db, env.org, "l4", parent=level3)
    db.commit()
    # the root under its own grandchild: a cycle
    r = client.patch(f"{API}/service-types/{env.root.id}", json={"parent_id": str(level4.id)},
                     headers={**admin, "If-Match": '"1"'})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "parent_id"
    r = client.patch(f"{API}/service-types/{env.root.id}", json={"parent_id": str(env.root.id)},
                     headers={**admin, "If-Match": '"1"'})
    assert r.status_code == 422
    # a fifth level is refused, on create and on a move
    r = client.post(f"{API}/service-types", json={"parent_id": str(level4.id), "code": "l5", "name": "L5"},
                    headers=admin)
    assert r.status_code == 422 and "4 levels" in r.json()["detail"]
    lone = client.post(f"{API}/service-types", json={"code": "lone", "name": "Lone"}, headers=admin).json()
    r = client.patch(f"{API}/service-types/{lone['id']}", json={"parent_id": str(level4.id)},
                     headers={**admin, "If-Match": '"1"'})
    assert r.status_code == 422
    # moving to the top is fine, and a parent from another organisation does not exist
    r = client.patch(f"{API}/service-types/{level3.id}", json={"parent_id": None},
                     headers={**admin, "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["parent_id"] is None
    theirs = make_service_type(db, env.other, "theirs")
    db.commit()
    r = client.post(f"{API}/service-types", json={"parent_id": str(theirs.id), "code": "x", "name": "X"},
                    headers=admin)
    assert r.status_code == 422


BAD_BODIES: list[dict[str, Any]] = [
    {"code": "x", "name": "X", "surprise": 1},
    {"code": "x", "name": "X" * 100_000},
    {"code": "x", "name": "X\u0000"},
    {"code": "bad code!", "name": "X"},
    {"code": "x", "name": "X", "default_duration_min": 0},
    {"code": "x", "name": "X", "default_duration_min": 1441},
    {"code": "x", "name": "X", "default_priority": "P4"},
    {"code": "x", "name": "X", "required_skills": [{"skill": "hvac", "min_level": 6}]},
    {"code": "x", "name": "X", "required_skills": [{"skill": "hvac"}, {"skill": "hvac", "min_level": 2}]},
    {"code": "x", "name": "X", "required_skills": [{"skill": "nope", "min_level": 1}]},
    {"code": "x", "name": "X", "required_skills": [{"skill": "gas", "min_level": 1}]},  # another org's
    {"code": "x", "name": "X", "required_certificates": ["nope"]},
    {"code": "x", "name": "X", "checklist_template": _checklist("a", "a")},
    {"code": "x", "name": "X", "checklist_template": _checklist("a", type_="choice")},
    {"code": "x", "name": "X", "checklist_template": _checklist("a", type_="choice", options=["y", "y"])},
    {"code": "x", "name": "X", "checklist_template": _checklist("a", options=["y"])},
    {"code": "x", "name": "X", "checklist_template": _checklist("a", type_="date")},
    {"code": "x", "name": "X", "checklist_template": [{"key": "a", "label": "A", "type": "bool", "x": 1}]},
    {"code": "x", "name": "X", "required_photos": [{"key": "a", "label": "A"}, {"key": "a", "label": "B"}]},
]


def test_bad_service_type_input_is_422(client: TestClient, env: Env) -> None:
    # one test over many bodies: each case only needs a request, not a fresh database
    for body in BAD_BODIES:
        r = client.post(f"{API}/service-types", json=body, headers=env.h("admin"))
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = client.patch(f"{API}/service-types/{env.root.id}", json={"required_skills": [{"skill": "nope"}]},
                     headers={**env.h("admin"), "If-Match": '"1"'})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "required_skills"
    assert client.get(f"{API}/service-types", headers=env.h("admin")).json()["total"] == 2


def test_valid_checklist_and_duplicate_code(client: TestClient, env: Env) -> None:
    admin = env.h("admin")
    body = {"code": "inspect", "name": "Inspection", "default_duration_min": 1440, "default_priority": "P0",
            "checklist_template": [
                {"key": "result", "label": "Result", "label_zh": "结果", "type": "choice", "required": True,
                 "options": ["pass", "fail"]},
                {"key": "notes", "label": "Notes", "type": "text"},
                {"key": "reading", "label": "Reading", "type": "number"}],
            "required_certificates": ["height", "epa608"]}
    r = client.post(f"{API}/service-types", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["checklist_template"][0]["options"] == ["pass", "fail"]
    assert client.post(f"{API}/service-types", json={"code": "inspect", "name": "Again"},
                       headers=admin).status_code == 409
    r = client.patch(f"{API}/service-types/{env.child.id}", json={"code": "inspect"},
                     headers={**admin, "If-Match": '"1"'})
    assert r.status_code == 409


def test_service_type_roles_and_tenancy(client: TestClient, env: Env) -> None:
    url = f"{API}/service-types/{env.root.id}"
    for role in ("dispatcher", "technician", "customer", "finance"):
        assert client.get(url, headers=env.h(role)).status_code == 200, role
        r = client.patch(url, json={"name": "N"}, headers={**env.h(role), "If-Match": '"1"'})
        assert r.status_code == 403, role
        assert client.post(f"{API}/service-types", json={"code": "n", "name": "N"},
                           headers=env.h(role)).status_code == 403
    assert client.get(url, headers=env.h("other")).status_code == 404
    r = client.patch(url, json={"name": "N"}, headers={**env.h("other"), "If-Match": '"1"'})
    assert r.status_code == 404
    assert client.get(f"{API}/service-types", headers=env.h("other")).json()["total"] == 0
    admin = env.h("admin")
    assert client.patch(url, json={"name": "N"}, headers=admin).status_code == 428
    assert client.patch(url, json={"name": "N"}, headers={**admin, "If-Match": '"2"'}).status_code == 412
    r = client.patch(url, json={"name": "N", "default_duration_min": None},
                     headers={**admin, "If-Match": '"1"'})
    assert r.status_code == 422


def test_idempotent_create_replays(client: TestClient, env: Env) -> None:
    headers = {**env.h("admin"), "Idempotency-Key": "st-create-1"}
    body = {"code": "boiler", "name": "Boiler service"}
    first = client.post(f"{API}/service-types", json=body, headers=headers)
    again = client.post(f"{API}/service-types", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    listed = client.get(f"{API}/service-types", params={"q": "boiler"}, headers=env.h("admin")).json()
    assert listed["total"] == 1
    reused = client.post(f"{API}/service-types", json={**body, "name": "Other"}, headers=headers)
    assert reused.status_code == 422
    skill_headers = {**env.h("admin"), "Idempotency-Key": "skill-1"}
    a = client.post(f"{API}/skills", json={"code": "weld", "name": "Welding"}, headers=skill_headers)
    b = client.post(f"{API}/skills", json={"code": "weld", "name": "Welding"}, headers=skill_headers)
    assert a.status_code == b.status_code == 201 and a.json()["id"] == b.json()["id"]


def test_resolve_and_get_in_org_for_other_modules(env: Env, db: Session) -> None:
    grand = make_service_type(db, env.org, "deep", parent=env.child,
                              required_photos=[{"key": "p", "label": "P"}])
    db.commit()
    eff = st_service.resolve(db, env.org.id, grand.id)
    assert eff.id == grand.id and eff.code == "deep"
    assert eff.required_skills == [{"skill": "hvac", "min_level": 2}]
    assert eff.required_certificates == ["epa608"] and eff.required_photos == [{"key": "p", "label": "P"}]
    assert eff.inherited_from["required_skills"] == env.root.id
    assert st_service.get_service_type_in_org(db, env.org.id, env.child.id).code == "ac-split"
    with pytest.raises(NotFound):
        st_service.resolve(db, env.other.id, grand.id)
    with pytest.raises(NotFound):
        st_service.get_service_type_in_org(db, env.other.id, env.root.id)
    assert st_service.existing_skill_codes(db, env.org.id, ["hvac", "gas", "x"]) == {"hvac"}
    assert st_service.existing_certificate_type_codes(db, env.org.id, ["height"]) == {"height"}
