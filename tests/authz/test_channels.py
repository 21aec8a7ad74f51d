"""The second paths to the same data: live streams, notifications (in-app, e-mail, SMS), webhook payloads,
exports, search, and the bulk lists (SLA clocks, exceptions, the pool, positions...). Each must show a caller
no work order the REST detail hides from them, and nothing the field rules keep from them (markers.py).

One activity run feeds them all: the planted markers (costs, an internal note on Customer 1's order, Customer
2's contact data, positions), an internal note that @mentions the customer and Tech 2 (neither may read it),
a trip by Tech 1 (the customer is told, with a tracking link), a change to Customer 2's order, a comment in
organisation B, and a webhook subscription in each organisation; then the worker relays the outbox.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from fieldops.core.clock import FrozenClock
from fieldops.notifications.models import Notification
from fieldops.users.models import User
from fieldops.work_orders.models import WorkOrder
from fieldops.worker.runner import relay_once
from tests.authz.markers import C2_EMAIL, INTERNAL_NOTE, dumps, leaks, plant
from tests.authz.test_matrix import API, LOGIN_KEY, ROLES, ROWS, Env, make_webhooks
from tests.conftest import START
from tests.live.helpers import catch_up, domain

CALLERS = (*ROLES, "b.admin")
INTERNAL_LIVE = {"work_order.exception_reported", "work_order.transfer_requested", "work_order.transfer_declined",
                 "work_order.dispatch_failed", "work_order.pool_expired", "dispatch.offered", "sla.warning",
                 "sla.breached", "sla.escalated", "sla.met", "sla.paused", "sla.resumed", "work_order.timeout"}


def _ok(r: Any) -> Any:
    assert r.status_code < 300, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:300]}"
    return r.json() if "json" in r.headers.get("content-type", "") else r.text


def _activity(env: Env) -> None:
    plant(env)
    make_webhooks(env)
    a, c = env.a, env.client
    customer = env.db.get(User, uuid.UUID(a.users["customer"]))
    tech2 = env.db.get(User, uuid.UUID(a.users["tech2"]))
    assert customer is not None and tech2 is not None
    mention = f"@{customer.email} @{tech2.email} {INTERNAL_NOTE}"
    env.db.rollback()
    _ok(c.post(f"{API}/work-orders/{a.wo}/comments", headers=env.tokens["dispatcher"],
               json={"body": mention, "visibility": "internal"}))
    tech = {**env.tokens["technician"], "If-Match": "*"}
    _ok(c.post(f"{API}/work-orders/{a.wo}/accept", headers=tech, json={}))
    _ok(c.post(f"{API}/work-orders/{a.wo}/depart", headers=tech, json={}))
    _ok(c.patch(f"{API}/work-orders/{a.wo2}", headers={**env.tokens["dispatcher"], "If-Match": "*"},
                json={"description": "Customer 2's order changed"}))
    _ok(c.post(f"{API}/work-orders/{a.wo2}/comments", headers=env.tokens["dispatcher"],
               json={"body": "For Customer 2 only", "visibility": "customer"}))
    _ok(c.post(f"{API}/work-orders/{env.b.wo}/comments", headers=env.tokens["b.admin"],
               json={"body": "Globex internal", "visibility": "internal"}))
    database, clock = env.matrix.app.state.database, FrozenClock(START)
    while relay_once(database, clock):
        pass


def _visible(env: Env, who: str) -> dict[str, str]:
    """id -> number of every work order the REST list shows the caller (the reference for every channel), and
    for a technician the orders the grab pool offers them (the pool's own rule, test_matrix)."""
    out: dict[str, str] = {}
    if who == "technician":
        pool = _ok(env.client.get(f"{API}/dispatch/pool", headers=env.tokens[who]))
        out.update({item["work_order_id"]: item.get("number", "") for item in pool["items"]})
    offset = 0
    while True:
        page = _ok(env.client.get(f"{API}/work-orders", headers=env.tokens[who],
                                  params={"limit": 100, "offset": offset}))
        out.update({item["id"]: item["number"] for item in page["items"]})
        offset += 100
        if offset >= page["total"]:
            return out


def _work_order_ids(body: Any) -> set[str]:
    from tests.authz.markers import walk

    return {str(v) for _, k, v in walk(body) if k == "work_order_id" and v}


def _role_of(who: str) -> str:
    return "admin" if who == "b.admin" else who


def _foreign_leaks(env: Env, who: str, body: Any) -> list[str]:
    if who != "b.admin":
        return leaks(env, who, body)
    text = dumps(body) if not isinstance(body, str) else body
    a = env.a
    return [f"organisation A's {name}" for name, i in (("org", a.org), ("order", a.wo), ("order 2", a.wo2),
                                                         ("customer", a.customer)) if i in text]


@pytest.fixture
def activity(env: Env) -> Env:
    _activity(env)
    return env


def test_live_streams_show_only_what_rest_shows(activity: Env) -> None:
    env = activity
    problems = []
    seen: dict[str, list[Any]] = {}
    for who in CALLERS:
        visible = _visible(env, who)
        events = domain(catch_up(env.client, env.tokens[who], last_event_id=0))
        seen[who] = events
        me = env.b.users["admin"] if who == "b.admin" else env.a.users[LOGIN_KEY.get(who, who)]
        for e in events:
            data = e.data or {}
            wo_id = data.get("work_order_id")
            if wo_id and wo_id not in visible:
                problems.append(f"{who}: {e.event} of work order {wo_id}, which the REST API hides")
            if not wo_id and data.get("user_id") and data["user_id"] != me:
                problems.append(f"{who}: {e.event} addressed to user {data['user_id']}")
            if who == "customer" and (e.event in INTERNAL_LIVE or data.get("audience") in ("internal", "staff")):
                problems.append(f"customer: internal event {e.event}")
            problems += [f"{who}: {e.event}: {x}" for x in _foreign_leaks(env, who, data)]
    assert not problems, "\n".join(problems)
    # controls: the stream is not simply empty
    def types(who: str, wo: str) -> set[str]:
        return {e.event for e in seen[who] if (e.data or {}).get("work_order_id") == wo}

    assert "work_order.departed" in types("customer", env.a.wo)
    assert types("dispatcher", env.a.wo2) and not types("customer", env.a.wo2) and not types("technician", env.a.wo2)
    assert types("b.admin", env.b.wo) and not types("dispatcher", env.b.wo)


def test_notifications_carry_nothing_the_recipient_may_not_see(activity: Env) -> None:
    env = activity
    a = env.a
    env.db.rollback()
    notes = list(env.db.scalars(select(Notification)))
    env.db.expunge_all()
    env.db.rollback()
    by_user = {uuid.UUID(uid): key for key, uid in a.users.items()}
    problems = []
    customer_notes = 0
    customers_orders = set(_visible(env, "customer"))
    orders_customer = {str(wo.id): str(wo.customer_id) for wo in env.db.scalars(select(WorkOrder))}
    env.db.rollback()
    for n in notes:
        content = {"subject": n.subject, "body": n.body, "data": n.data, "recipient": n.recipient}
        if n.channel == "webhook":
            owner = "b.admin" if str(n.org_id) == env.b.org else "admin"
            problems += [f"webhook of {owner}: {x}" for x in _foreign_leaks(env, owner, content)]
            continue
        key = by_user.get(n.user_id) if n.user_id else None
        if n.user_id and str(n.org_id) == a.org and key is None:
            problems.append(f"a notification of A for a user outside A: {n.template}")
        role = {"customer": "customer", "tech": "technician"}.get(key or "")
        if n.user_id is None and n.work_order_id is not None:  # e-mail / SMS to the order's customer contact
            owner = orders_customer.get(str(n.work_order_id))
            if owner == a.customer:
                role = "customer"
            elif owner is not None:  # another customer's message: their own data, but no notes, no costs
                text = f"{n.subject} {n.body} {dumps(n.data)}"
                problems += [f"{owner} ({n.channel} {n.template}): {x}" for x in leaks(env, "customer", text)
                             if "Customer 2" not in x]
        if key == "tech2" and n.work_order_id and str(n.work_order_id) == a.wo:
            problems.append(f"Tech 2 told about Customer 1's order: {n.template}")
        if role == "customer":
            customer_notes += 1
            if n.work_order_id and str(n.work_order_id) not in customers_orders:
                problems.append(f"the customer told about another order: {n.template}")
            if n.template == "comment.mention":
                problems.append("the customer was @mentioned in an internal note they cannot read")
        if role:
            problems += [f"{role} ({n.channel} {n.template}): {x}" for x in leaks(env, role, content)]
    assert customer_notes, "control: the customer was told about the trip"
    assert any(n.channel == "webhook" and str(n.org_id) == a.org for n in notes), "control: A's webhook fired"
    assert any(n.channel == "webhook" and str(n.org_id) == env.b.org for n in notes), "control: B's webhook fired"
    assert not any(n.recipient == C2_EMAIL and str(n.work_order_id) == a.wo for n in notes)
    # and what the inbox API shows each caller
    for who in CALLERS:
        inbox = _ok(env.client.get(f"{API}/me/notifications", headers=env.tokens[who], params={"limit": 100}))
        problems += [f"{who} inbox: {x}" for x in _foreign_leaks(env, who, inbox)]
        visible = _visible(env, who)
        problems += [f"{who} inbox: work order {w} it cannot see" for w in _work_order_ids(inbox) - set(visible)]
    assert not problems, "\n".join(problems)


def test_exports_search_and_bulk_lists_keep_the_scope(activity: Env) -> None:
    env = activity
    a = env.a
    problems = []
    numbers2 = _visible(env, "dispatcher")[a.wo2]
    list_rows = [row for row in ROWS if row.method == "GET" and row.target is None and row.path != "/live/stream"
                 and "export" not in row.path]
    for who in CALLERS:
        visible = _visible(env, who)
        numbers = set(visible.values())
        # exports, CSV and XLSX
        r = env.client.get(f"{API}/work-orders/export", headers=env.tokens[who], params={"format": "csv"})
        assert r.status_code == 200, r.text
        table = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
        header, rows = table[0], table[1:]
        exported = {row[header.index("number")] for row in rows}
        if exported - numbers:
            problems.append(f"{who}: the CSV export lists {sorted(exported - numbers)}")
        problems += [f"{who} CSV: {x}" for x in _foreign_leaks(env, who, r.text)]
        if who == "customer" and any(h.endswith("_cost") for h in header):
            problems.append(f"customer: the CSV export has cost columns {header}")
        r = env.client.get(f"{API}/work-orders/export", headers=env.tokens[who], params={"format": "xlsx"})
        assert r.status_code == 200, r.text
        sheet = load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0]
        cells = [[str(v) if v is not None else "" for v in row] for row in sheet.iter_rows(values_only=True)]
        if {row[0] for row in cells[1:]} - numbers:
            problems.append(f"{who}: the XLSX export lists orders it cannot see")
        if who == "customer" and any(h.endswith("_cost") for h in cells[0]):
            problems.append("customer: the XLSX export has cost columns")
        problems += [f"{who} XLSX: {x}" for x in _foreign_leaks(env, who, "\n".join(",".join(c) for c in cells))]
        # search: Customer 2's order by its number and its customer's name
        for q in (numbers2, "Customer 2"):
            found = _ok(env.client.get(f"{API}/work-orders", headers=env.tokens[who], params={"q": q}))
            hidden = {item["id"] for item in found["items"]} - set(visible)
            if hidden:
                problems.append(f"{who}: searching {q!r} finds orders the list hides: {hidden}")
            if who in ("customer", "technician", "supervisor", "b.admin") and any(
                    item["id"] == a.wo2 for item in found["items"]):
                problems.append(f"{who}: searching {q!r} finds Customer 2's order")
        if who == "customer":
            found = _ok(env.client.get(f"{API}/customers", headers=env.tokens[who], params={"q": "Customer 2"}))
            if any(item["id"] == a.customer2 for item in found["items"]):
                problems.append("customer: searching customers finds Customer 2")
        # bulk and list reads: no work order the caller cannot see, nothing the field rules forbid
        for row in list_rows:
            kwargs = row.body(env, who, None, {}) if row.body else {}
            r = env.client.get(API + row.path, headers=env.tokens[who], **kwargs)
            if r.status_code != 200 or "json" not in r.headers.get("content-type", ""):
                continue
            body = r.json()
            stray = _work_order_ids(body) - set(visible)
            if stray:
                problems.append(f"{who}: {row.path} names work orders it cannot see: {sorted(stray)}")
            problems += [f"{who}: {row.path}: {x}" for x in _foreign_leaks(env, who, body)]
    assert not problems, "\n".join(problems)


def test_no_bulk_route_escapes_the_matrix() -> None:
    """Bulk, batch and import routes are rows of the matrix like any other (and so checked above and by the
    field walker); this names them so a new one is a conscious addition."""
    bulky = {(row.method, row.path) for row in ROWS if any(w in row.path for w in ("bulk", "batch", "import"))}
    assert bulky <= {("POST", "/tracking/geofences/import")}, sorted(bulky)
