"""Mass assignment: for every POST / PUT / PATCH route that takes a JSON body, the valid body of the matrix plus
one field the caller may not set (the organisation, customer, technician, status, number, timestamps, role,
version, id, author) is refused with 422 and nothing is stored (no audit row: the request's transaction rolled
back). The version travels only in If-Match. Where a schema legitimately has such a field (the customer of a new
work order or site, the technician of an assignment, a new user's role), the matrix's other/foreign cells
prove a caller cannot point it at what they may not use; the tests at the end repeat the sharpest of those with
a look at what is stored."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, get_args

import pytest
from fastapi import params as params_mod
from fastapi import routing
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import func, select

from fieldops.core.audit import AuditLog
from fieldops.customers.models import Site
from fieldops.main import create_app
from fieldops.work_orders.models import WorkOrder
from tests.authz.test_audit import ORDER, rows_for
from tests.authz.test_matrix import API, LOGIN_KEY, OK, ROWS, Env, Row, _settings, request

FORBIDDEN = ("org_id", "organization_id", "customer_id", "technician_id", "status", "number", "created_at",
             "updated_at", "role", "version", "id", "created_by")


def _values(env: Env) -> dict[str, Any]:
    """What an attacker would write: B's organisation, Customer 2, Tech 2, a closed status, an admin role..."""
    return {"org_id": env.b.org, "organization_id": env.b.org, "customer_id": env.a.customer2,
            "technician_id": env.a.tech2, "status": "closed", "number": "WO-19990101-9999",
            "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z", "role": "admin",
            "version": 99, "id": str(uuid.uuid4()), "created_by": env.a.users["admin"]}


# Forbidden-looking fields a route's schema does take, and why that is right (the matrix's other/foreign cells
# and the tests below check who may point them where). A schema that grows another one fails the test.
DECLARED = {
    ("POST", "/users"): {"role": "admins create users of any role but system"},
    ("PATCH", "/users/{user_id}"): {"role": "admins change a user's role"},
    ("POST", "/sites"): {"customer_id": "the site's customer: a customer only their own (matrix: NF)"},
    ("POST", "/work-orders"): {"customer_id": "the order's customer: a customer only their own (matrix: NF)"},
    ("POST", "/work-orders/{work_order_id}/assign"): {"technician_id": "the managers assign (matrix: F)"},
    ("POST", "/technicians/{technician_id}/certificates"): {"number": "the certificate's own number"},
    ("POST", "/work-orders/{work_order_id}/approve-transfer"): {
        "technician_id": "the managers name the new technician (matrix: F)"},
}


def _model_fields(annotation: Any) -> set[str]:
    for t in (annotation, *get_args(annotation)):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return set(t.model_fields)
    return set()


def _json_bodies() -> dict[tuple[str, str], set[str]]:
    """(method, path) of the routes whose body is JSON (not a form, not absent) -> the body's field names, read
    from the route table of a throw-away app (no database is touched)."""
    app = create_app(_settings("sqlite://", Path("/nonexistent")))
    out: dict[tuple[str, str], set[str]] = {}
    try:
        for ctx in routing.iter_route_contexts(app.routes):
            route = getattr(ctx, "original_route", ctx)
            if not (isinstance(route, APIRoute) and route.body_field is not None and ctx.path.startswith(API)):
                continue
            params = route.dependant.body_params
            if len(params) == 1 and not isinstance(params[0].field_info, params_mod.Form):
                for m in ctx.methods or ():
                    out[(m, ctx.path.removeprefix(API))] = _model_fields(params[0].field_info.annotation)
    finally:
        app.state.database.dispose()
    return out


BODIES = _json_bodies()
WRITES = [row for row in ROWS if row.method in ("POST", "PUT", "PATCH") and row.body is not None]
WRITE_ROWS = [row for row in WRITES if (row.method, row.path) in BODIES]
# Writes whose body is a form (uploads): extra form fields are checked by test_an_upload_ignores_what_it_does_not_take.
FORM_WRITES = {("POST", "/work-orders/{work_order_id}/attachments")}


def test_every_write_without_a_json_body_is_a_known_form() -> None:
    """A new form or body-less write must be looked at (and added to FORM_WRITES with its own check)."""
    assert {(row.method, row.path) for row in WRITES if (row.method, row.path) not in BODIES} == FORM_WRITES


def _callers(row: Row) -> list[tuple[str, str | None]]:
    """The first role the matrix lets do this (own target), and the customer when they may."""
    ok = [(role, which) for role, which, cell in row.cells()
          if cell == OK and which in (None, "own") and (role, which) not in row.disputed]
    ok.sort(key=lambda c: ORDER.index(c[0]))
    chosen = ok[:1]
    chosen += [c for c in ok[1:] if c[0] == "customer"]
    return chosen


@pytest.mark.parametrize("row", WRITE_ROWS, ids=[row.id for row in WRITE_ROWS])
def test_fields_the_caller_may_not_set_are_refused(env: Env, row: Row) -> None:
    taken = BODIES[(row.method, row.path)] & set(FORBIDDEN)
    declared = DECLARED.get((row.method, row.path), {})
    assert taken == set(declared), f"{row.id}: the schema takes {sorted(taken)}; declared: {sorted(declared)}"
    if row.setup:
        env.matrix.dirty = True
        row.setup(env)
    values = _values(env)
    wrong = []
    callers = _callers(row)
    assert callers, f"{row.id}: nobody may do this?"
    for role, which in callers:
        for name in FORBIDDEN:
            def inject(kwargs: dict[str, Any], name: str = name) -> dict[str, Any]:
                body = kwargs.get("json")
                assert isinstance(body, dict), f"{row.id}: the matrix's body is not a JSON object"
                if name in body or name in declared:
                    raise _Legit()
                return {**kwargs, "json": {**body, name: values[name]}}

            rid = uuid.uuid4().hex
            try:
                r = request(env, row, role, which, headers={"X-Request-ID": rid}, body=inject)
            except _Legit:
                continue
            code = r.json().get("code") if r.status_code == 422 else None
            if r.status_code != 422 or code != "validation":
                wrong.append(f"  {role} sent {name}={values[name]!r}: {r.status_code} {r.text[:200]}")
            elif rows_for(env, rid):
                wrong.append(f"  {role} sent {name}: refused, yet an audit row says the change was committed")
    assert not wrong, f"{row.id} takes fields the caller may not set:\n" + "\n".join(wrong)
    if not (row.prepare or row.setup):
        env.matrix.dirty = False  # every request was refused and rolled back: the world is as built


class _Legit(Exception):
    """The field is part of this route's schema (checked by the matrix and the tests below)."""


def _count(env: Env, model: Any, *where: Any) -> int:
    env.db.rollback()
    n = int(env.db.scalar(select(func.count()).select_from(model).where(*where)) or 0)
    env.db.rollback()
    return n


def test_a_customer_cannot_order_for_another_customer(env: Env) -> None:
    env.matrix.dirty = True
    a = env.a
    before = _count(env, WorkOrder, WorkOrder.customer_id == uuid.UUID(a.customer2))
    for site in (a.site, a.site2):
        r = env.client.post(f"{API}/work-orders", headers=env.tokens["customer"], json={
            "customer_id": a.customer2, "site_id": site, "service_type_id": a.service_type, "description": "x"})
        assert r.status_code in (403, 404, 422), r.text
    # their own customer with Customer 2's site: the site must be theirs too
    r = env.client.post(f"{API}/work-orders", headers=env.tokens["customer"], json={
        "customer_id": a.customer, "site_id": a.site2, "service_type_id": a.service_type, "description": "x"})
    assert r.status_code in (403, 404, 422), r.text
    assert _count(env, WorkOrder, WorkOrder.customer_id == uuid.UUID(a.customer2)) == before
    assert _count(env, WorkOrder, WorkOrder.site_id == uuid.UUID(a.site2),
                  WorkOrder.customer_id == uuid.UUID(a.customer)) == 0


def test_a_customer_cannot_add_a_site_or_asset_to_another_customer(env: Env) -> None:
    env.matrix.dirty = True
    a = env.a
    before = _count(env, Site, Site.customer_id == uuid.UUID(a.customer2))
    r = env.client.post(f"{API}/sites", headers=env.tokens["customer"], json={
        "customer_id": a.customer2, "name": "Mine now", "address": "1 Main St", "lat": 42.36, "lng": -71.06})
    assert r.status_code in (403, 404), r.text
    assert _count(env, Site, Site.customer_id == uuid.UUID(a.customer2)) == before
    r = env.client.post(f"{API}/assets", headers=env.tokens["customer"], json={"site_id": a.site2, "name": "X"})
    assert r.status_code in (403, 404), r.text


def test_a_technician_cannot_assign_or_steer_an_order(env: Env) -> None:
    """Assignment is the managers' (403 to the assigned technician); the detail edit takes no technician."""
    env.matrix.dirty = True
    a = env.a
    h = {**env.tokens["technician"], "If-Match": "*"}
    r = env.client.post(f"{API}/work-orders/{a.wo}/assign", headers=h,
                        json={"technician_id": a.tech, "reason": "me", "force": True})
    assert r.status_code == 403, r.text
    r = env.client.post(f"{API}/work-orders/{a.wo}/approve-transfer", headers=h, json={"technician_id": a.tech})
    assert r.status_code == 403, r.text
    r = env.client.patch(f"{API}/work-orders/{a.wo}", headers=h, json={"technician_id": a.tech2})
    assert r.status_code == 422, r.text
    env.db.rollback()
    wo = env.db.get(WorkOrder, uuid.UUID(a.wo))
    assert wo is not None and str(wo.technician_id) == a.tech
    env.db.rollback()


def test_version_travels_only_in_if_match(env: Env) -> None:
    """A body's version is refused (422); a stale If-Match is 412; a missing one 428."""
    env.matrix.dirty = True
    a, h = env.a, env.tokens["dispatcher"]
    r = env.client.patch(f"{API}/work-orders/{a.wo}", headers={**h, "If-Match": "*"},
                         json={"description": "v", "version": 1})
    assert r.status_code == 422, r.text
    assert env.client.patch(f"{API}/work-orders/{a.wo}", headers={**h, "If-Match": '"9999"'},
                            json={"description": "v"}).status_code == 412
    assert env.client.patch(f"{API}/work-orders/{a.wo}", headers=h, json={"description": "v"}).status_code == 428


def test_an_upload_ignores_what_it_does_not_take(env: Env) -> None:
    """Form uploads: extra form fields are not bound to anything: the attachment is the order's, the uploader is
    the caller, whatever the form says."""
    from tests.authz.test_matrix import PNG

    env.matrix.dirty = True
    a = env.a
    env.client.post(f"{API}/work-orders/{a.wo}/depart", headers={**env.tokens["technician"], "If-Match": "*"})
    r = env.client.post(f"{API}/work-orders/{a.wo}/attachments", headers=env.tokens["dispatcher"],
                        files={"file": ("p.png", PNG, "image/png")},
                        data={"kind": "photo", "work_order_id": a.wo2, "uploaded_by": a.users["admin"],
                              "org_id": env.b.org})
    assert r.status_code in (201, 422), r.text
    if r.status_code == 201:
        body = r.json()
        assert body["work_order_id"] == a.wo and body.get("uploaded_by") in (None, a.users["dispatcher"])
        assert _count(env, AuditLog, AuditLog.target_id == body["id"]) == 1


def test_no_one_becomes_system_and_only_admins_grant_roles(env: Env) -> None:
    env.matrix.dirty = True
    a = env.a
    admin = {**env.tokens["admin"], "If-Match": "*"}
    r = env.client.patch(f"{API}/users/{a.users['tech2']}", headers=admin, json={"role": "system"})
    assert r.status_code == 422, r.text
    r = env.client.post(f"{API}/users", headers=admin, json={"email": "sys@acme.test", "name": "S", "role": "system",
                                                               "password": "Another-pass-2026!"})
    assert r.status_code == 422, r.text
    for role in ("dispatcher", "supervisor", "technician", "customer"):
        r = env.client.patch(f"{API}/users/{a.users[LOGIN_KEY.get(role, role)]}",
                             headers={**env.tokens[role], "If-Match": "*"}, json={"role": "admin"})
        assert r.status_code in (403, 404), f"{role}: {r.status_code} {r.text}"
        r = env.client.patch(f"{API}/auth/me", headers={**env.tokens[role], "If-Match": "*"}, json={"role": "admin"})
        assert r.status_code == 422, f"{role}: {r.status_code} {r.text}"
