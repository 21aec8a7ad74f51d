"""Audit: every mutating route writes one `audit_log` row in the request's own transaction (none when the request
fails), and the application cannot update or delete audit rows (ORM guard and database triggers).

The meta-test walks the authorization matrix: for every POST / PUT / PATCH / DELETE row it makes an authorized
request succeed and a refused one fail, each with its own X-Request-ID, and looks the audit rows up by that id.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import routing
from fastapi.routing import APIRoute
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from fieldops.core import audit
from fieldops.core.audit import AuditImmutable, AuditLog
from fieldops.main import create_app
from fieldops.tracking.models import LocationAudit
from fieldops.users.models import User
from fieldops.work_orders.models import WorkOrderAudit
from tests.authz.test_matrix import (
    API,
    LOGIN_KEY,
    NF,
    OK,
    PUBLIC,
    ROWS,
    Env,
    F,
    Row,
    _settings,
    api_routes,
    request,
)
from tests.conftest import PASSWORD

MUTATING = audit.MUTATING
# Mutating routes that deliberately write no audit row (the route says why, in openapi_extra). Adding one to
# the app without adding it here fails test_not_audited_routes_are_declared.
NOT_AUDITED = {
    ("POST", "/auth/refresh"),
    ("POST", "/sla/preview"),
    ("POST", "/tracking/points"),
}
# Who to try first for a successful request: the caller whose success says the most (a customer's own
# change proves the row carries the customer, not an admin).
ORDER = ("admin", "dispatcher", "supervisor", "agent", "technician", "customer", "finance")


def _reasons() -> dict[tuple[str, str], str]:
    """(method, path without /api/v1) -> the reason of every mutating route marked not audited."""
    app = create_app(_settings("sqlite://", Path("/nonexistent")))
    try:
        out = {}
        for ctx in routing.iter_route_contexts(app.routes):
            route = getattr(ctx, "original_route", ctx)
            if isinstance(route, APIRoute) and audit.NOT_AUDITED in (route.openapi_extra or {}):
                for method in ctx.methods or ():
                    out[(method, ctx.path.removeprefix(API))] = route.openapi_extra[audit.NOT_AUDITED]
        return out
    finally:
        app.state.database.dispose()


def rows_for(env: Env, request_id: str) -> list[AuditLog]:
    """The audit rows of one request, detached (SQLite: the read must not keep the write lock)."""
    env.db.rollback()  # a fresh snapshot: the request committed on its own connection
    found = list(env.db.scalars(select(AuditLog).where(AuditLog.request_id == request_id)))
    env.db.expunge_all()
    env.db.rollback()
    return found


def _cells(row: Row, wanted: set[str]) -> list[tuple[str, str | None]]:
    cells = [(role, which) for role, which, cell in row.cells() if cell in wanted and (role, which) not in
             row.disputed]
    return sorted(cells, key=lambda c: (c[1] not in (None, "own"), ORDER.index(c[0])))


MUTATING_ROWS = [row for row in ROWS if row.method in MUTATING and (row.method, row.path) not in NOT_AUDITED]


@pytest.mark.parametrize("row", MUTATING_ROWS, ids=[row.id for row in MUTATING_ROWS])
def test_a_change_writes_one_audit_row_and_a_refusal_none(env: Env, row: Row) -> None:
    if row.setup:
        env.matrix.dirty = True
        row.setup(env)
    tried = []
    for role, which in _cells(row, {OK}):
        rid = uuid.uuid4().hex
        r = request(env, row, role, which, headers={"X-Request-ID": rid})
        found = rows_for(env, rid)
        if r.status_code >= 400:  # an authorized request may still meet a 409: nothing may be logged for it
            assert found == [], f"{row.id} as {role}: {r.status_code} but audited"
            tried.append(f"{role}/{which}: {r.status_code} {r.text[:120]}")
            continue
        assert len(found) == 1, f"{row.id} as {role} on {which}: {r.status_code}, {len(found)} audit rows"
        entry = found[0]
        params = env.extra["last_params"]
        assert entry.action == f"{row.method} {API}{row.path}"
        assert entry.user_id == uuid.UUID(env.a.users[LOGIN_KEY.get(role, role)])
        assert entry.org_id == uuid.UUID(env.a.org) and entry.role == role
        assert entry.status_code == r.status_code
        ids = [v for k, v in params.items() if k.endswith("_id") and "{" + k + "}" in row.path]
        answer = r.json() if r.headers.get("content-type", "").startswith("application/json") else None
        created = answer.get("id") if isinstance(answer, dict) and r.status_code == 201 else None
        if created is not None:  # a create names what it made
            assert entry.target_id == str(created)
        elif ids:  # else the record in the path
            assert entry.target_id == ids[-1]
        sent = r.request.content
        if r.request.headers.get("content-type", "").startswith("application/json") and sent:
            assert entry.changes["fields"] == sorted(json.loads(sent))
        break
    else:
        pytest.fail(f"{row.id}: no authorized request succeeded, so the audit row was never checked:\n"
                    + "\n".join(tried))

    refused = _cells(row, {F, NF})
    if refused:
        role, which = refused[0]
        rid = uuid.uuid4().hex
        r = request(env, row, role, which, headers={"X-Request-ID": rid})
        assert r.status_code in (403, 404), f"{row.id} as {role} on {which}: {r.status_code}"
        assert rows_for(env, rid) == [], f"{row.id}: a refused request ({r.status_code}) left an audit row"


def test_every_mutating_route_is_audited_or_says_why() -> None:
    """Every POST/PUT/PATCH/DELETE of the API is checked above (a matrix row) or is a public route (checked
    below), and the routes marked not audited are exactly the declared ones, each with a reason."""
    routes = {(m, p) for m, p in api_routes() if m in MUTATING}
    checked = {(r.method, r.path) for r in MUTATING_ROWS} | {k for k in PUBLIC if k[0] in MUTATING}
    assert routes - checked - NOT_AUDITED == set()
    reasons = _reasons()
    assert set(reasons) == NOT_AUDITED, f"routes marked not audited: {sorted(reasons)}"
    assert all(len(why) > 15 for why in reasons.values())


def test_sign_in_is_audited_and_refresh_is_not(env: Env) -> None:
    env.matrix.dirty = True
    rid = uuid.uuid4().hex
    dispatcher = env.db.get(User, uuid.UUID(env.a.users["dispatcher"]))
    assert dispatcher is not None and dispatcher.email
    user = dispatcher.email
    env.db.rollback()  # SQLite: do not hold the lock while the app signs in
    r = env.client.post(f"{API}/auth/login", json={"username": user, "password": PASSWORD},
                        headers={"X-Request-ID": rid})
    assert r.status_code == 200, r.text
    first = r
    (entry,) = rows_for(env, rid)
    assert entry.action == f"POST {API}/auth/login" and entry.changes["fields"] == ["password", "username"]
    assert entry.user_id is None  # signed out when it started; the values sent (the password) are never kept

    bad = uuid.uuid4().hex
    r = env.client.post(f"{API}/auth/login", json={"username": user, "password": "wrong-Pass-2026!"},
                        headers={"X-Request-ID": bad})
    assert r.status_code == 401 and rows_for(env, bad) == []

    again = uuid.uuid4().hex
    r2 = env.client.post(f"{API}/auth/refresh", json={"refresh_token": first.json()["refresh_token"]},
                         headers={"X-Request-ID": again})
    assert r2.status_code == 200, r2.text
    assert rows_for(env, again) == []


def test_the_audit_row_shares_the_change_transaction(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the audit row cannot be written the change is not committed either (and the caller gets a 5xx)."""
    env.matrix.dirty = True

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("audit store down")

    monkeypatch.setattr(audit, "record", broken)
    r = env.client.patch(f"{API}/organizations/current", json={"name": "Never stored"},
                         headers={**env.tokens["admin"], "If-Match": "*"})
    assert r.status_code == 500
    monkeypatch.undo()
    r = env.client.get(f"{API}/organizations/current", headers=env.tokens["admin"])
    assert r.json()["name"] != "Never stored"


def _one_audit_row(env: Env) -> AuditLog:
    rid = uuid.uuid4().hex
    r = env.client.patch(f"{API}/auth/me", json={"name": "Audited"},
                         headers={**env.tokens["agent"], "If-Match": "*", "X-Request-ID": rid})
    assert r.status_code == 200, r.text
    (entry,) = rows_for(env, rid)
    return entry


def test_the_orm_cannot_change_or_remove_audit_rows(env: Env) -> None:
    env.matrix.dirty = True
    entry = env.db.get(AuditLog, _one_audit_row(env).id)
    assert entry is not None
    entry.action = "forged"
    with pytest.raises(AuditImmutable):
        env.db.flush()
    env.db.rollback()
    env.db.delete(env.db.get(AuditLog, entry.id))
    with pytest.raises(AuditImmutable):
        env.db.flush()
    env.db.rollback()
    for stmt in (update(AuditLog).values(action="forged"), delete(AuditLog),
                 update(WorkOrderAudit).values(reason="forged"), delete(WorkOrderAudit),
                 update(LocationAudit).values(action="forged"), delete(LocationAudit)):
        with pytest.raises(AuditImmutable):
            env.db.execute(stmt)
        env.db.rollback()
    # the demo reset may purge a removed organisation's trails, never the log
    with audit.purging(env.db), pytest.raises(AuditImmutable):
        env.db.execute(delete(AuditLog))
    env.db.rollback()
    assert env.db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.id == entry.id)) == 1


def test_the_database_refuses_raw_updates_and_deletes(env: Env) -> None:
    """Raw SQL skips the ORM: the triggers of the migration refuse it, on SQLite and PostgreSQL."""
    env.matrix.dirty = True
    _one_audit_row(env)
    statements = ["UPDATE audit_log SET action = 'forged'", "DELETE FROM audit_log",
                  "UPDATE work_order_audit SET reason = 'forged'", "UPDATE location_audit SET action = 'forged'"]
    if env.db.bind is not None and env.db.bind.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_log")
    r = env.client.get(f"{API}/tracking/technicians/{env.a.tech}/export", headers=env.tokens["admin"])
    assert r.status_code == 200, r.text  # an export writes a location_audit row
    for table in ("audit_log", "work_order_audit", "location_audit"):  # a trigger fires per row: have some
        assert env.db.scalar(text(f"SELECT count(*) FROM {table}")), table
    env.db.rollback()
    for sql in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            env.db.execute(text(sql))
        env.db.rollback()
    assert env.db.scalar(text("SELECT count(*) FROM audit_log WHERE action = 'forged'")) == 0
