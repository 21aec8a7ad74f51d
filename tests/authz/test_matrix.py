"""Authorization matrix: every /api/v1 route × role × target record, checked against the table below.

The table is the access policy written down; the tests check that the API keeps it.

Callers are the users of organisation A (Acme), one per role: admin, supervisor (territory T1 only),
dispatcher, agent, finance, technician (Tech 1) and customer (Customer 1).

Targets, per row:
  own      a record the caller owns or may legitimately see: the technician's assigned work order and their
           own technician record, the customer's own customer / site / asset / work order, the supervisor's
           territory T1 and the work orders there, the caller's own user. For roles that see the whole
           organisation it is simply a record of it.
  other    a record of the same organisation that is not theirs: Customer 2 (whose site is in T2) and their
           site, asset and work order, which is assigned to Tech 2; territory T2; Tech 2 and their user.
  foreign  the matching record of organisation B (Globex).
  Dispatch records: grab-pool offers (own: an open offer Tech 1 is eligible for; other: one for Tech 2 only),
  day plans (own: T1's, other: T2's) and the dispatch policy of a service type (own: AC repair, other: street
  light), made in the world as the product makes them.
  Rows of collections (lists, plain creates) and of the caller's own session or profile have ONE column.
  Creates under a parent (site, asset, work order, certificate, leave, a territory's day plan, a service type's
  dispatch policy) take the PARENT as the target.

Outcomes: OK = authorized (any status but 401/403/404: 409 and a domain 422 count as authorized),
F = 403 (may see it, may not do this), NF = 404 (does not exist for the caller).
Every request sends a valid body and `If-Match: *`; a 422 with code "validation" fails the test (the
test's body is wrong), as do 401, 405, 412, 428 and any 5xx.

The policy in one paragraph: a technician sees only the work orders assigned to them and their own technician
record (plus the reference data: territories and the catalogue); a customer sees only their own customer, sites,
assets and work orders (plus the catalogue); finance reads work orders and costs but changes nothing (403 on
every write to what it can see); a supervisor's work orders are those of their territories; dispatchers and
agents work across the organisation; admins configure (users, the organisation, territories, skills, certificate
and service types). Admins, supervisors and dispatchers dispatch (a supervisor within their territories), admins
and supervisors set the dispatch policy, only technicians grab from the pool. A record of another organisation
is always 404. A role that may not use a kind of record at all (a technician and customers, a customer and
technicians, either of them and day plans or the dispatch policy) gets 403 for the collection and for its own
organisation's records.

Where the code disagrees with the policy, the cell keeps the policy and is listed in the row's `disputed`
with the reason: those cells run as a separate test item marked xfail(strict=True), so a fix shows up as
an XPASS failure and the entry must then be removed. `python -m tests.authz.test_matrix` prints the table.

The world is built once per package (conftest.py) and shared with the companions that reuse these rows:
test_channels.py (live streams, notifications, webhooks, exports, search, bulk lists), test_fields.py (every
GET response walked for fields the role may not see), test_mass_assignment.py (fields the caller may not set)
and test_audit.py (one audit row per successful change, none per refusal; audit rows are append-only).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import routing
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text, update
from sqlalchemy.orm import Session

from fieldops.core.auth import system_principal
from fieldops.core.clock import FrozenClock
from fieldops.core.web import Ctx
from fieldops.dispatch.models import DispatchPlan
from fieldops.dispatch.service import offer_to_pool
from fieldops.main import create_app
from fieldops.organizations.models import Territory
from fieldops.service_types.models import CertificateType, Skill
from fieldops.settings import Settings
from fieldops.technicians.models import Certificate, Leave
from fieldops.users.models import UserTerritory
from fieldops.work_orders.models import WorkOrder
from tests.conftest import BACKEND, PASSWORD, START, login
from tests.factories.world import BOSTON_BOX, Tenant, add_second_records, make_world
from tests.work_orders.helpers import create_wo

API = "/api/v1"
SECRET = "test-secret-key-0123456789abcdef"  # the key of tests/conftest.py `settings`: tokens cross over
ROLES = ("admin", "supervisor", "dispatcher", "agent", "finance", "technician", "customer")
TARGETS = ("own", "other", "foreign")
LOGIN_KEY = {"technician": "tech", "customer": "customer"}  # Tenant.users key of a role's caller
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)

# ---- the vocabulary of the table ------------------------------------------------------------------

OK, F, NF = "OK", "F", "NF"
# Three-column cells: own / other / foreign.
ALL = "OK/OK/NF"  # any record of the organisation; another organisation's does not exist
MINE = "OK/NF/NF"  # only their own records exist for them
DENY = "F/F/NF"  # sees the organisation's records, but this role may not do this
DENY_MINE = "F/NF/NF"  # sees only their own record, and may not do this to it

# Why a cell is disputed (policy on the left of the table, the code's answer in the reason).
ROLE_FIRST = ("the role check runs before the record is looked up, so a record of another organisation "
              "answers 403 instead of 404")


def policy(default: str, **cells: str) -> dict[str, str]:
    """Each role's cell: `default` unless the role is named (admin=..., technician=..., ...)."""
    unknown = set(cells) - set(ROLES)
    assert not unknown, f"unknown roles {unknown}"
    return {role: cells.get(role, default) for role in ROLES}


POLICY_TYPE_UNCHECKED = ("service_type_id is not looked up: another organisation's service type (like an unknown "
                         "id) answers 200 with the default policy instead of 404 (PUT looks it up: 404)")
SUPERVISOR_PLANS_ELSEWHERE = ("a supervisor may queue the day plan of a territory that is not theirs (202): a plan "
                              "of work orders they cannot see, which its result then lists; policy, as for "
                              "POST /work-orders: 403")
SUPERVISOR_APPLIES_ELSEWHERE = ("a supervisor may apply the day plan of a territory that is not theirs (200): its "
                                "stops are skipped as 'no longer visible', yet the plan is marked applied, so the "
                                "dispatchers can no longer apply it (409); policy: 403")


def role_first(*roles: str) -> dict[tuple[str, str], str]:
    return {(role, "foreign"): ROLE_FIRST for role in roles}


# ---- what a row needs to build its requests -------------------------------------------------------

@dataclass(frozen=True)
class Refs:
    """Ids (strings) of one organisation's records in the world."""

    org: str
    customer: str
    customer2: str
    site: str
    site2: str
    asset: str
    asset2: str
    tech: str
    tech2: str
    territory: str
    territory2: str
    skill: str
    skill2: str
    cert_type: str
    cert_type2: str
    service_type: str
    service_type2: str
    wo: str  # Customer 1, site in T1, assigned to Tech 1
    wo2: str  # Customer 2, site in T2, assigned to Tech 2
    offer: str  # an open grab-pool offer of a new work order at Customer 1's site, for Tech 1
    offer2: str  # one at Customer 2's site, for Tech 2 only
    plan: str  # a queued day plan of T1 (made through the API)
    plan2: str  # a queued day plan of T2
    users: dict[str, str]  # Tenant.users key -> user id


@dataclass(frozen=True)
class WorldTemplate:
    url: str  # database to copy for each test (SQLite file path, or a PostgreSQL database name)
    a: Refs
    b: Refs
    tokens: dict[str, dict[str, str]]  # role -> Authorization header of A's caller; "b.admin" for B
    wo_tech: dict[str, uuid.UUID]  # work order -> its technician (restored before each action)


@dataclass
class Env:
    client: TestClient
    db: Session
    a: Refs
    b: Refs
    tokens: dict[str, dict[str, str]]
    wo_tech: dict[str, uuid.UUID]
    matrix: Any  # Matrix: its `dirty` flag says the next test needs a fresh copy of the world
    extra: dict[str, Any] = field(default_factory=dict)
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def org(self, which: str | None) -> Refs:
        return self.b if which == "foreign" else self.a

    def uniq(self) -> int:
        return next(self.counter)


Params = dict[str, str]
Target = Callable[[Env, str, str | None], Params]
BodyFn = Callable[[Env, str, str | None, Params], dict[str, Any]]
Prepare = Callable[[Env, str, str | None, Params], Params]
Setup = Callable[[Env], None]


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # as the app declares it, without the /api/v1 prefix
    expect: dict[str, str]  # role -> "OK/NF/NF" (own/other/foreign) or "OK" (one column)
    target: Target | None = None  # path parameters (and a create's parent) per role and target
    body: BodyFn | None = None  # request kwargs: {"json": ...} or {"files": ..., "data": ...}
    prepare: Prepare | None = None  # before each request: fresh children, work-order state
    setup: Setup | None = None  # once per test
    disputed: dict[tuple[str, str], str] = field(default_factory=dict)  # (role, target) -> the code's answer

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    def cells(self) -> list[tuple[str, str | None, str]]:
        out: list[tuple[str, str | None, str]] = []
        for role in ROLES:
            parts = self.expect[role].split("/")
            if self.target is None:
                assert len(parts) == 1, f"{self.id}: a row without a target has one column"
                out.append((role, None, parts[0]))
            else:
                assert len(parts) == 3, f"{self.id}: a row with a target has own/other/foreign"
                out.extend((role, which, cell) for which, cell in zip(TARGETS, parts, strict=True))
        return out


def j(body: Any) -> dict[str, Any]:
    return {"json": body}


def const(body: Any) -> BodyFn:
    return lambda env, role, which, p: j(body)


# ---- targets ----------------------------------------------------------------------------------------

def pick(param: str, mine: str, theirs: str) -> Target:
    """own -> A's `mine`, other -> A's `theirs`, foreign -> B's `mine`, as path parameter `param`."""
    def resolve(env: Env, role: str, which: str | None) -> Params:
        return {param: getattr(env.org(which), theirs if which == "other" else mine)}
    return resolve


CUSTOMER = pick("customer_id", "customer", "customer2")
SITE = pick("site_id", "site", "site2")
ASSET = pick("asset_id", "asset", "asset2")
TECH = pick("technician_id", "tech", "tech2")
TERRITORY = pick("territory_id", "territory", "territory2")
SKILL = pick("skill_id", "skill", "skill2")
CERT_TYPE = pick("certificate_type_id", "cert_type", "cert_type2")
SERVICE_TYPE = pick("service_type_id", "service_type", "service_type2")
WO = pick("work_order_id", "wo", "wo2")
OFFER = pick("offer_id", "offer", "offer2")  # own: an offer Tech 1 may grab; other: one for Tech 2 only
PLAN = pick("plan_id", "plan", "plan2")  # own: T1's day plan; other: T2's


def user_target(env: Env, role: str, which: str | None) -> Params:
    """own: the caller's user; other: Tech 2's user; foreign: B's admin."""
    if which == "own":
        return {"user_id": env.a.users[LOGIN_KEY.get(role, role)]}
    if which == "other":
        return {"user_id": env.a.users["tech2"]}
    return {"user_id": env.b.users["admin"]}


def wo_parent(env: Env, role: str, which: str | None) -> Params:
    """A new work order's customer and site: Customer 1 (T1), Customer 2 (T2), or B's Customer 1."""
    r = env.org(which)
    if which == "other":
        return {"customer_id": r.customer2, "site_id": r.site2, "service_type_id": r.service_type}
    return {"customer_id": r.customer, "site_id": r.site, "service_type_id": r.service_type}


def attachment_target(env: Env, role: str, which: str | None) -> Params:
    p = WO(env, role, which)
    return {**p, "attachment_id": env.extra["attachments"][p["work_order_id"]]}


# ---- per-request preparation ----------------------------------------------------------------------

def fresh_territory(env: Env, role: str, which: str | None, p: Params) -> Params:
    """A new territory per request (retiring is the delete): own ones are the supervisor's."""
    r = env.org(which)
    territory = Territory(org_id=uuid.UUID(r.org), code=f"Z{env.uniq()}", name="Fresh", polygon=BOSTON_BOX)
    env.db.add(territory)
    env.db.flush()
    if which == "own":
        env.db.add(UserTerritory(user_id=uuid.UUID(env.a.users["supervisor"]), territory_id=territory.id))
    env.db.commit()
    return {"territory_id": str(territory.id)}


def fresh_certificate(env: Env, role: str, which: str | None, p: Params) -> Params:
    cert = Certificate(technician_id=uuid.UUID(p["technician_id"]), type_code="epa608", number=f"X-{env.uniq()}")
    env.db.add(cert)
    env.db.commit()
    return {"certificate_id": str(cert.id)}


def fresh_leave(env: Env, role: str, which: str | None, p: Params) -> Params:
    start = START + timedelta(days=200 + env.uniq())
    leave = Leave(technician_id=uuid.UUID(p["technician_id"]), start_at=start, end_at=start + timedelta(hours=8),
                  kind="training")
    env.db.add(leave)
    env.db.commit()
    return {"leave_id": str(leave.id)}


def wo_state(status: str, **fields: Any) -> Prepare:
    """Put the target work order in `status` (with its own technician) so an authorized action can succeed."""
    def prepare(env: Env, role: str, which: str | None, p: Params) -> Params:
        wo_id = p["work_order_id"]
        values: dict[str, Any] = {
            "status": status, "technician_id": env.wo_tech[wo_id], "transfer_requested_at": None,
            "transfer_reason": None, "status_before_hold": None, "held_at": None, "closed_at": None,
            "cancelled_at": None, **fields}
        env.db.execute(update(WorkOrder).where(WorkOrder.id == uuid.UUID(wo_id)).values(**values))
        env.db.commit()
        return {}
    return prepare


def fresh_exception(env: Env, role: str, which: str | None, p: Params) -> Params:
    """A new exception report on the target work order, by an admin of its organisation."""
    who = "b.admin" if which == "foreign" else "admin"
    r = env.client.post(f"{API}/work-orders/{p['work_order_id']}/exceptions", headers=env.tokens[who],
                        json={"kind": "other", "note": "Customer asks for a call"})
    if r.status_code != 201:  # not an assert: a disputed (xfail) row must not swallow a broken arrangement
        pytest.fail(f"could not report an exception to resolve: {r.status_code} {r.text}")
    return {"exception_id": r.json()["id"]}


def plan_done(env: Env, role: str, which: str | None, p: Params) -> Params:
    """The target plan as the worker leaves it, so an authorized apply succeeds: done, one stop, the territory's
    work order on the technician it already has (applying it only sets its slot)."""
    r = env.org(which)
    wo, tech = (r.wo2, r.tech2) if which == "other" else (r.wo, r.tech)
    start = START + timedelta(hours=1)
    stop = {"work_order_id": wo, "number": "", "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(), "travel_min": 5.0}
    route = {"technician_id": tech, "technician_name": "", "travel_min": 5.0, "late_s": 0, "stops": [stop]}
    env.db.execute(update(DispatchPlan).where(DispatchPlan.id == uuid.UUID(p["plan_id"])).values(
        status="done", progress=100, result={"routes": [route], "unassigned": []}, finished_at=START,
        applied_at=None))
    env.db.commit()
    return {}


def upload_attachments(env: Env) -> None:
    """One photo on each target work order, uploaded by an admin of its organisation."""
    env.extra["attachments"] = {}
    for wo_id, who in ((env.a.wo, "admin"), (env.a.wo2, "admin"), (env.b.wo, "b.admin")):
        r = env.client.post(f"{API}/work-orders/{wo_id}/attachments", headers=env.tokens[who],
                            files={"file": ("photo.png", PNG, "image/png")}, data={"kind": "photo"})
        if r.status_code != 201:
            pytest.fail(f"could not upload an attachment: {r.status_code} {r.text}")
        env.extra["attachments"][wo_id] = r.json()["id"]


# ---- notifications: a notification per caller, webhook subscriptions ------------------------------

def make_notifications(env: Env) -> None:
    """One in-app notification for each role's caller, one for Tech 2 (other) and one for B's admin (foreign)."""
    from fieldops.notifications.service import Recipient, notify

    def one(refs: Refs, key: str) -> str:
        notes = notify(env.db, org_id=uuid.UUID(refs.org), template="comment.mention", params={}, now=START,
                       recipients=[Recipient(user_id=uuid.UUID(refs.users[key]))], channels=["in_app"])
        return str(notes[0].id)

    env.extra["notes"] = {role: one(env.a, LOGIN_KEY.get(role, role)) for role in ROLES}
    env.extra["notes"]["other"], env.extra["notes"]["foreign"] = one(env.a, "tech2"), one(env.b, "admin")
    env.db.commit()


def note_target(env: Env, role: str, which: str | None) -> Params:
    return {"notification_id": env.extra["notes"][role if which == "own" else str(which)]}


def _webhook(env: Env, refs: Refs) -> str:
    from fieldops.notifications.models import WebhookSubscription
    from fieldops.notifications.service import new_webhook_secret

    hook = WebhookSubscription(org_id=uuid.UUID(refs.org), url="http://127.0.0.1:9/hook", event_types=[],
                               secret=new_webhook_secret(), active=True)
    env.db.add(hook)
    env.db.commit()
    return str(hook.id)


def make_webhooks(env: Env) -> None:
    """Two subscriptions of A (own, other: both the organisation's) and one of B."""
    env.extra["hooks"] = {"own": _webhook(env, env.a), "other": _webhook(env, env.a), "foreign": _webhook(env, env.b)}


def hook_target(env: Env, role: str, which: str | None) -> Params:
    return {"webhook_id": env.extra["hooks"][str(which)]}


def fresh_webhook(env: Env, role: str, which: str | None, p: Params) -> Params:
    return {"webhook_id": _webhook(env, env.org(which))}


# ---- tracking: geofences of each organisation ---------------------------------------------------------

def _fence(env: Env, refs: Refs) -> str:
    from fieldops.tracking.models import Geofence

    fence = Geofence(org_id=uuid.UUID(refs.org), name="Depot", category="service_area", kind="circle", lat=42.35,
                     lng=-71.06, radius_m=100, properties={}, active=True)
    env.db.add(fence)
    env.db.commit()
    return str(fence.id)


def make_fences(env: Env) -> None:
    """A geofence of A (own and other: fences belong to the organisation) and one of B."""
    env.extra["fences"] = {"a": _fence(env, env.a), "b": _fence(env, env.b)}


def fence_target(env: Env, role: str, which: str | None) -> Params:
    return {"geofence_id": env.extra["fences"]["b" if which == "foreign" else "a"]}


def fresh_fence(env: Env, role: str, which: str | None, p: Params) -> Params:
    return {"geofence_id": _fence(env, env.org(which))}


def tracking_batch(env: Env, role: str, which: str | None, p: Params) -> dict[str, Any]:
    at = (START - timedelta(seconds=env.uniq())).isoformat()
    return j({"device_id": "matrix-phone", "points": [{"lat": 42.35, "lng": -71.06, "accuracy_m": 10,
                                                       "recorded_at": at}]})


GEOJSON_IMPORT = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"name": "Grid 1"}, "geometry": BOSTON_BOX}]}


AN_HOUR_AGO = START - timedelta(hours=1)

# ---- request bodies ---------------------------------------------------------------------------------

def new_user(env: Env, role: str, which: str | None, p: Params) -> dict[str, Any]:
    return j({"email": f"new{env.uniq()}@acme.test", "name": "New Agent", "role": "agent",
              "password": "Another-pass-2026!"})


def coded(prefix: str, **extra: Any) -> BodyFn:
    """A create body with a code unique in this test."""
    return lambda env, role, which, p: j({"code": f"{prefix}{env.uniq()}", "name": "New", **extra})


def site_body(env: Env, role: str, which: str | None, p: Params) -> dict[str, Any]:
    return j({"customer_id": p["customer_id"], "name": "Shop", "address": "9 Main St, Boston MA",
              "lat": 42.36, "lng": -71.06})


def asset_body(env: Env, role: str, which: str | None, p: Params) -> dict[str, Any]:
    return j({"site_id": p["site_id"], "name": "Heater"})


def wo_body(env: Env, role: str, which: str | None, p: Params) -> dict[str, Any]:
    return j({**p, "description": "Authorization matrix"})


def leave_body(env: Env, role: str, which: str | None, p: Params) -> dict[str, Any]:
    start = START + timedelta(days=30 + env.uniq())
    return j({"start_at": start.isoformat(), "end_at": (start + timedelta(hours=8)).isoformat()})


def assign_body(env: Env, role: str, which: str | None, p: Params) -> dict[str, Any]:
    return j({"technician_id": env.a.tech, "reason": "closest", "force": False})


def policy_body(env: Env, role: str, which: str | None, p: Params) -> dict[str, Any]:
    """The dispatch policy of the target service type (an override of the organisation's default)."""
    return j({"service_type_id": p["service_type_id"], "mode": "nearest", "use_pool": False,
              "pool_timeout_min": 20})


def policy_query(env: Env, role: str, which: str | None, p: Params) -> dict[str, Any]:
    return {"params": {"service_type_id": p["service_type_id"]}}


def plan_body(env: Env, role: str, which: str | None, p: Params) -> dict[str, Any]:
    return j({"territory_id": p["territory_id"], "time_limit_s": 1, "strategy": "greedy"})


def photo(env: Env, role: str, which: str | None, p: Params) -> dict[str, Any]:
    return {"files": {"file": ("photo.png", PNG, "image/png")}, "data": {"kind": "photo", "label": "before"}}


RENAME = const({"name": "Renamed"})

# ---- SLA: a calendar and a policy per target (own and other in A, foreign in B) ------------------------

def sla_records(env: Env) -> None:
    """An always-open SLA calendar and a policy using it, for each target."""
    from fieldops.sla.models import SlaCalendar, SlaPolicy

    env.extra["sla"] = {}
    for which in TARGETS:
        org_id = uuid.UUID(env.org(which).org)
        cal = SlaCalendar(org_id=org_id, name=f"24/7 {which}", always_open=True, hours={}, custom_days=[])
        env.db.add(cal)
        env.db.flush()
        pol = SlaPolicy(org_id=org_id, name=f"P {which}", calendar_id=cal.id, service_type_ids=[], priorities=[],
                        customer_tiers=[], targets={"response": {"minutes": 60}}, pause_reason_codes=[],
                        ladder=[{"name": "late", "percent": 100}])
        env.db.add(pol)
        env.db.flush()
        env.extra["sla"][which] = {"calendar_id": str(cal.id), "policy_id": str(pol.id)}
    env.db.commit()


def sla_target(param: str) -> Target:
    return lambda env, role, which: {param: env.extra["sla"][which or "own"][param]}


SLA_CALENDAR_BODY = {"name": "Office", "timezone": "America/New_York", "hours": {"mon": [["08:00", "18:00"]]},
                     "holiday_country": "US", "holiday_subdiv": "MA"}
SLA_CONFIG_READ = policy(DENY, admin=ALL, supervisor=ALL, dispatcher=ALL)
SLA_CONFIG_WRITE = policy(DENY, admin=ALL)
SLA_DESK = policy(F, admin=OK, supervisor=OK, dispatcher=OK)


# ---- work-order policy ------------------------------------------------------------------------------

# Who sees which work order: the desk and finance the organisation's, a supervisor those of their
# territories, a technician those assigned to them, a customer their own.
WO_READ = policy(ALL, supervisor=MINE, technician=MINE, customer=MINE)
MANAGERS = {"admin", "supervisor", "dispatcher"}
DESK = MANAGERS | {"agent"}
TECHNICIAN = {"technician"}  # the assigned technician (their own work order)
CUSTOMER_ROLE = {"customer"}


def wo_write(by: set[str]) -> dict[str, str]:
    """NF where the caller cannot see the work order, else OK for the roles in `by` and F for the others."""
    return {role: "/".join(c if c == NF else (OK if role in by else F) for c in WO_READ[role].split("/"))
            for role in ROLES}


def wo_action(name: str, by: set[str], status: str, body: Any = None, **state: Any) -> Row:
    """A lifecycle action (see wo_write). The work order is put in `status` first, so an authorized action
    succeeds rather than meeting a 409."""
    return Row("POST", f"/work-orders/{{work_order_id}}/{name}", wo_write(by), target=WO,
               body=body if callable(body) else const(body if body is not None else {}),
               prepare=wo_state(status, **state))


# ---- THE TABLE ---------------------------------------------------------------------------------------

ROWS: list[Row] = [
    # The caller's own session and profile: one column, everyone (the caller is the target).
    Row("POST", "/auth/logout", policy(OK)),
    Row("POST", "/auth/password", policy(OK),
        body=const({"current_password": PASSWORD, "new_password": "Another-pass-2026!"})),
    Row("GET", "/auth/me", policy(OK)),
    Row("PATCH", "/auth/me", policy(OK), body=const({"name": "Me Myself"})),

    # Users: admins manage them; the desk (admin, supervisor, dispatcher, agent) sees the organisation's
    # users, everyone else only themselves. Nobody but an admin changes a user (their own name: /auth/me).
    Row("GET", "/users", policy(OK)),
    Row("POST", "/users", policy(F, admin=OK), body=new_user),
    Row("GET", "/users/{user_id}", policy(ALL, finance=MINE, technician=MINE, customer=MINE), target=user_target),
    Row("PATCH", "/users/{user_id}",
        policy(DENY, admin=ALL, finance=DENY_MINE, technician=DENY_MINE, customer=DENY_MINE),
        target=user_target, body=RENAME),
    Row("POST", "/users/{user_id}/unlock",
        policy(DENY, admin=ALL, finance=DENY_MINE, technician=DENY_MINE, customer=DENY_MINE), target=user_target),

    # The organisation: everyone signed in reads it, admins change it.
    Row("GET", "/organizations/current", policy(OK)),
    Row("PATCH", "/organizations/current", policy(F, admin=OK), body=RENAME),

    # Territories: reference data for staff and technicians (a supervisor reads every territory, and works
    # in their own); customers none; admins draw and retire them.
    Row("GET", "/territories", policy(OK, customer=F)),
    Row("POST", "/territories", policy(F, admin=OK), body=coded("N", polygon=BOSTON_BOX)),
    Row("GET", "/territories/{territory_id}", policy(ALL, customer=DENY), target=TERRITORY),
    Row("PATCH", "/territories/{territory_id}", policy(DENY, admin=ALL), target=TERRITORY, body=RENAME),
    Row("DELETE", "/territories/{territory_id}", policy(DENY, admin=ALL), target=TERRITORY,
        prepare=fresh_territory),

    # Customers, sites, assets: staff read all of the organisation's, a customer their own, technicians
    # none (403; they see a site inside their work order). Admins, dispatchers and agents write; a customer
    # writes their own (contact details, their sites and assets); supervisors and finance only read.
    Row("GET", "/customers", policy(OK, technician=F)),
    Row("POST", "/customers", policy(F, admin=OK, dispatcher=OK, agent=OK), body=const({"name": "New Co"})),
    Row("GET", "/customers/{customer_id}", policy(ALL, technician=DENY, customer=MINE), target=CUSTOMER),
    Row("PATCH", "/customers/{customer_id}",
        policy(DENY, admin=ALL, dispatcher=ALL, agent=ALL, customer=MINE), target=CUSTOMER, body=RENAME),
    Row("GET", "/sites", policy(OK, technician=F)),
    Row("POST", "/sites",  # target: the customer the site is for
        policy(DENY, admin=ALL, dispatcher=ALL, agent=ALL, customer=MINE), target=CUSTOMER, body=site_body),
    Row("GET", "/sites/{site_id}", policy(ALL, technician=DENY, customer=MINE), target=SITE),
    Row("PATCH", "/sites/{site_id}",
        policy(DENY, admin=ALL, dispatcher=ALL, agent=ALL, customer=MINE), target=SITE, body=RENAME),
    Row("GET", "/assets", policy(OK, technician=F)),
    Row("POST", "/assets",  # target: the site the asset is at
        policy(DENY, admin=ALL, dispatcher=ALL, agent=ALL, customer=MINE), target=SITE, body=asset_body),
    Row("GET", "/assets/{asset_id}", policy(ALL, technician=DENY, customer=MINE), target=ASSET),
    Row("PATCH", "/assets/{asset_id}",
        policy(DENY, admin=ALL, dispatcher=ALL, agent=ALL, customer=MINE), target=ASSET, body=RENAME),

    # The catalogue (skills, certificate types, service types): everyone reads it, admins write it.
    Row("GET", "/skills", policy(OK)),
    Row("POST", "/skills", policy(F, admin=OK), body=coded("sk")),
    Row("GET", "/skills/{skill_id}", policy(ALL), target=SKILL),
    Row("PATCH", "/skills/{skill_id}", policy(DENY, admin=ALL), target=SKILL, body=RENAME),
    Row("GET", "/certificate-types", policy(OK)),
    Row("POST", "/certificate-types", policy(F, admin=OK), body=coded("ct")),
    Row("GET", "/certificate-types/{certificate_type_id}", policy(ALL), target=CERT_TYPE),
    Row("PATCH", "/certificate-types/{certificate_type_id}", policy(DENY, admin=ALL), target=CERT_TYPE,
        body=RENAME),
    Row("GET", "/service-types", policy(OK)),
    Row("POST", "/service-types", policy(F, admin=OK), body=coded("st")),
    Row("GET", "/service-types/{service_type_id}", policy(ALL), target=SERVICE_TYPE),
    Row("PATCH", "/service-types/{service_type_id}", policy(DENY, admin=ALL), target=SERVICE_TYPE, body=RENAME),

    # Technicians: staff see the roster (a supervisor all of it), a technician only themselves, customers
    # nothing (403). Admins and supervisors manage technicians and their skills, shifts, certificates and
    # leave; a technician only sets their own duty status. /technicians/me is 404 for callers who are not
    # technicians.
    Row("GET", "/technicians", policy(OK, customer=F)),
    Row("POST", "/technicians", policy(F, admin=OK, supervisor=OK), body=coded("NT")),
    Row("GET", "/technicians/me", policy(NF, technician=OK, customer=F)),
    Row("PATCH", "/technicians/me/duty-status", policy(NF, technician=OK, customer=F),
        body=const({"duty_status": "on_break"})),
    Row("GET", "/technicians/{technician_id}", policy(ALL, technician=MINE, customer=DENY), target=TECH),
    *[Row(method, path, policy(DENY, admin=ALL, supervisor=ALL, technician=DENY_MINE), target=TECH, body=body,
          prepare=prepare)
      for method, path, body, prepare in [
          ("PATCH", "/technicians/{technician_id}", RENAME, None),
          ("PUT", "/technicians/{technician_id}/skills", const({"skills": [{"skill": "hvac", "level": 4}]}), None),
          ("PUT", "/technicians/{technician_id}/shifts",
           const({"shifts": [{"weekday": 0, "start_time": "08:00:00", "end_time": "16:00:00"}]}), None),
          ("POST", "/technicians/{technician_id}/certificates", const({"type_code": "epa608", "number": "N1"}),
           None),
          ("DELETE", "/technicians/{technician_id}/certificates/{certificate_id}", None, fresh_certificate),
          ("POST", "/technicians/{technician_id}/leave", leave_body, None),
          ("DELETE", "/technicians/{technician_id}/leave/{leave_id}", None, fresh_leave),
      ]],

    # Work orders: see WO_READ. Creating: the desk and customers (for themselves); a supervisor only in their
    # territories; finance and technicians never. Editing details: the desk; a customer their own while new.
    # Attachments: whoever sees the order, except finance.
    Row("GET", "/work-orders", policy(OK)),
    Row("GET", "/work-orders/export", policy(OK)),
    Row("GET", "/work-orders/map-points", policy(OK)),
    Row("POST", "/work-orders",  # target: the customer and site the order is for
        policy(ALL, supervisor="OK/F/NF", finance=DENY, technician=DENY, customer=MINE), target=wo_parent,
        body=wo_body),
    Row("GET", "/work-orders/{work_order_id}", WO_READ, target=WO),
    Row("PATCH", "/work-orders/{work_order_id}",
        policy(ALL, supervisor=MINE, finance=DENY, technician=DENY_MINE, customer=MINE), target=WO,
        body=const({"description": "More detail"}), prepare=wo_state("new")),
    Row("GET", "/work-orders/{work_order_id}/timeline", WO_READ, target=WO),
    Row("GET", "/work-orders/{work_order_id}/attachments", WO_READ, target=WO),
    Row("POST", "/work-orders/{work_order_id}/attachments", policy(ALL, supervisor=MINE, finance=DENY,
                                                                    technician=MINE, customer=MINE),
        target=WO, body=photo, prepare=wo_state("in_progress")),
    Row("GET", "/work-orders/{work_order_id}/attachments/{attachment_id}/content", WO_READ,
        target=attachment_target, setup=upload_attachments),

    # Exception reports (一键上报): the assigned technician and the desk report on an order they see; the desk
    # (and finance, reading) lists the reports of the orders it sees; the desk resolves them.
    Row("POST", "/work-orders/{work_order_id}/exceptions", wo_write(DESK | TECHNICIAN), target=WO,
        body=const({"kind": "material_shortage", "note": "Need a part"}), prepare=wo_state("in_progress")),
    Row("GET", "/exceptions", policy(OK, technician=F, customer=F)),
    Row("POST", "/exceptions/{exception_id}/resolve", wo_write(DESK), target=WO, prepare=fresh_exception,
        body=const({"resolution": "Part sent"})),

    # Comments (notes and chat on an order): whoever sees the order reads its thread (a customer only the
    # customer-visible comments); the desk, the assigned technician and the order's customer post; finance reads.
    Row("GET", "/work-orders/{work_order_id}/comments", WO_READ, target=WO),
    Row("POST", "/work-orders/{work_order_id}/comments", wo_write(DESK | TECHNICIAN | CUSTOMER_ROLE), target=WO,
        body=const({"body": "Authorization matrix"})),

    # Live updates: every signed-in user has a stream of what they may see (filtered per event; ?once=true
    # sends the backlog and closes, so the matrix can read it), and may take a one-time ticket for it.
    Row("GET", "/live/stream", policy(OK), body=lambda env, role, which, p: {"params": {"once": "true"}}),
    Row("POST", "/live/ticket", policy(OK)),

    # Lifecycle actions: who may act (besides seeing the order); finance never.
    wo_action("assign", MANAGERS, "new", assign_body),
    wo_action("unassign", MANAGERS, "assigned", {"reason": "Re-planning"}),
    wo_action("accept", TECHNICIAN, "assigned"),
    wo_action("reject", TECHNICIAN, "assigned", {"reason": "Too far"}),
    wo_action("depart", TECHNICIAN, "accepted"),
    wo_action("check-in", TECHNICIAN, "en_route", {"lat": 42.351, "lng": -71.06}),
    wo_action("start", TECHNICIAN, "on_site"),
    wo_action("complete", TECHNICIAN, "in_progress", {"summary": "Done", "checklist": {"pressure_ok": True}}),
    wo_action("confirm", DESK | CUSTOMER_ROLE, "awaiting_acceptance"),
    wo_action("refuse", DESK | CUSTOMER_ROLE, "awaiting_acceptance", {"reason": "Still warm"}),
    wo_action("close", MANAGERS, "completed"),
    wo_action("hold", DESK | TECHNICIAN, "in_progress", {"reason_code": "waiting_parts", "reason": "Part ordered"}),
    wo_action("resume", DESK | TECHNICIAN, "on_hold", status_before_hold="in_progress", held_at=AN_HOUR_AGO),
    wo_action("cancel", DESK | CUSTOMER_ROLE, "assigned", {"reason": "Not needed"}),
    wo_action("reopen", DESK, "closed", {"reason": "It came back"}, closed_at=AN_HOUR_AGO),
    wo_action("request-transfer", TECHNICIAN, "accepted", {"reason": "Overbooked"}),
    wo_action("approve-transfer", MANAGERS, "accepted", transfer_requested_at=AN_HOUR_AGO,
              transfer_reason="Overbooked"),
    wo_action("decline-transfer", MANAGERS, "accepted", {"reason": "Please go"},
              transfer_requested_at=AN_HOUR_AGO, transfer_reason="Overbooked"),

    # Dispatch (assign, above, is dispatch.service.manual_assign). The managers dispatch a new order (the engine
    # chooses; a non-new order is 409); the desk sees the candidates; the managers, agents and finance read the
    # decisions of the orders they see.
    Row("POST", "/work-orders/{work_order_id}/dispatch", wo_write(MANAGERS), target=WO,
        body=const({"reason": "Authorization matrix"}), prepare=wo_state("new")),  # its technician still sees it
    Row("GET", "/work-orders/{work_order_id}/dispatch-decisions", wo_write(MANAGERS | {"agent", "finance"}),
        target=WO),
    Row("GET", "/work-orders/{work_order_id}/dispatch-candidates", wo_write(DESK), target=WO),

    # The grab pool (抢单池): managers and agents see every offer, a technician the open offers they may grab;
    # only technicians grab, and an offer they are not eligible for does not exist for them.
    Row("GET", "/dispatch/pool", policy(OK, finance=F, customer=F)),
    Row("POST", "/dispatch/pool/{offer_id}/grab", policy(DENY, technician=MINE), target=OFFER),

    # The dispatch policy, per service type (target): managers, agents and finance read it; admins and
    # supervisors change it.
    Row("GET", "/dispatch/policy", policy(ALL, technician=DENY, customer=DENY), target=SERVICE_TYPE,
        body=policy_query),
    Row("PUT", "/dispatch/policy", policy(DENY, admin=ALL, supervisor=ALL), target=SERVICE_TYPE, body=policy_body),

    # Day plans: the managers plan (a supervisor only their own territories, target: the territory planned) and
    # apply; agents and finance read them too. A supervisor does not see another territory's plan at all.
    Row("GET", "/dispatch/plans", policy(OK, technician=F, customer=F)),
    Row("POST", "/dispatch/plans", policy(DENY, admin=ALL, supervisor="OK/F/NF", dispatcher=ALL), target=TERRITORY,
        body=plan_body),
    Row("GET", "/dispatch/plans/{plan_id}", policy(ALL, supervisor="OK/NF/NF", technician=DENY, customer=DENY),
        target=PLAN),
    Row("POST", "/dispatch/plans/{plan_id}/apply", policy(DENY, admin=ALL, supervisor="OK/NF/NF", dispatcher=ALL),
        target=PLAN, prepare=plan_done),

    # SLA (服务时效): clocks are read like their work orders (a customer sees only deadlines and outcomes of their
    # own); calendars, policies, the preview and holiday lists belong to the managers, and only admins change them.
    Row("GET", "/work-orders/{work_order_id}/sla", WO_READ, target=WO),
    Row("GET", "/sla/clocks", policy(OK, customer=F)),
    Row("GET", "/sla/calendars", SLA_DESK),
    Row("POST", "/sla/calendars", policy(F, admin=OK), body=const(SLA_CALENDAR_BODY)),
    Row("GET", "/sla/calendars/{calendar_id}", SLA_CONFIG_READ, target=sla_target("calendar_id"), setup=sla_records),
    Row("PATCH", "/sla/calendars/{calendar_id}", SLA_CONFIG_WRITE, target=sla_target("calendar_id"),
        setup=sla_records, body=RENAME),
    Row("GET", "/sla/policies", SLA_DESK),
    Row("POST", "/sla/policies", SLA_CONFIG_WRITE, target=sla_target("calendar_id"), setup=sla_records,
        body=lambda env, role, which, p: j({"name": "P", "calendar_id": p["calendar_id"],
                                            "targets": {"response": {"minutes": 30}},
                                            "ladder": [{"name": "late", "percent": 100}]})),
    Row("GET", "/sla/policies/{policy_id}", SLA_CONFIG_READ, target=sla_target("policy_id"), setup=sla_records),
    Row("PATCH", "/sla/policies/{policy_id}", SLA_CONFIG_WRITE, target=sla_target("policy_id"), setup=sla_records,
        body=RENAME),
    Row("POST", "/sla/preview", SLA_DESK, body=const({"start": "2026-11-23T14:00:00Z", "calendar": {
        "always_open": True}, "targets": {"response": {"minutes": 30}}})),
    Row("GET", "/sla/holidays", SLA_DESK,
        body=lambda env, role, which, p: {"params": {"country": "US", "subdiv": "MA", "year": 2026}}),
    # Notifications: everyone has an inbox and preferences of their own (another's notification does not exist
    # for them); admins configure channels and webhooks; admins and dispatchers read the delivery log.
    Row("GET", "/me/notifications", policy(OK)),
    Row("GET", "/me/notifications/unread-count", policy(OK)),
    Row("POST", "/me/notifications/read-all", policy(OK)),
    Row("POST", "/me/notifications/{notification_id}/read", policy(MINE), target=note_target,
        setup=make_notifications),
    Row("GET", "/me/notification-preferences", policy(OK)),
    Row("PUT", "/me/notification-preferences", policy(OK), body=const({"channels": {"sms": False}})),
    Row("GET", "/notifications/channels", policy(F, admin=OK)),
    Row("PUT", "/notifications/channels", policy(F, admin=OK), body=const({"webhook": {"enabled": True}})),
    Row("GET", "/notifications/webhooks", policy(F, admin=OK)),
    Row("POST", "/notifications/webhooks", policy(F, admin=OK), body=const({"url": "http://127.0.0.1:9/hook"})),
    Row("GET", "/notifications/webhooks/{webhook_id}", policy(DENY, admin=ALL), target=hook_target,
        setup=make_webhooks),
    Row("PATCH", "/notifications/webhooks/{webhook_id}", policy(DENY, admin=ALL), target=hook_target,
        setup=make_webhooks, body=const({"description": "ERP"})),
    Row("DELETE", "/notifications/webhooks/{webhook_id}", policy(DENY, admin=ALL), target=hook_target,
        setup=make_webhooks, prepare=fresh_webhook),
    Row("POST", "/notifications/webhooks/{webhook_id}/test", policy(DENY, admin=ALL), target=hook_target,
        setup=make_webhooks),
    Row("GET", "/notifications/deliveries", policy(F, admin=OK, dispatcher=OK)),
    # Tracking: only a technician posts positions (their own device); the desk (admin, supervisor, dispatcher,
    # agent) sees every technician's position, trace and geofence evidence, a technician only their own;
    # customers see the position of the technician of their order only (while en route, else 409); finance
    # reads travelled distances only. Admins export and delete a technician's location data; the managers
    # (admin, supervisor, dispatcher) draw geofences, the desk reads them and the timeout alerts.
    Row("POST", "/tracking/points", policy(F, technician=OK), body=tracking_batch),
    Row("GET", "/tracking/positions", policy(OK, finance=F, customer=F)),
    Row("GET", "/tracking/distances", policy(OK, customer=F)),
    Row("GET", "/tracking/technicians/{technician_id}/trace",
        policy(ALL, finance=DENY, technician=MINE, customer=DENY), target=TECH),
    Row("GET", "/tracking/technicians/{technician_id}/export", policy(DENY, admin=ALL, technician=DENY_MINE),
        target=TECH),
    Row("DELETE", "/tracking/technicians/{technician_id}/data", policy(DENY, admin=ALL, technician=DENY_MINE),
        target=TECH),
    Row("GET", "/tracking/geofences", policy(OK, finance=F, technician=F, customer=F)),
    Row("POST", "/tracking/geofences", policy(F, admin=OK, supervisor=OK, dispatcher=OK),
        body=const({"name": "Depot", "lat": 42.35, "lng": -71.06, "radius_m": 120})),
    Row("POST", "/tracking/geofences/import", policy(F, admin=OK, supervisor=OK, dispatcher=OK),
        body=const(GEOJSON_IMPORT)),
    Row("GET", "/tracking/geofences/{geofence_id}", policy(ALL, finance=DENY, technician=DENY, customer=DENY),
        target=fence_target, setup=make_fences),
    Row("PATCH", "/tracking/geofences/{geofence_id}", policy(DENY, admin=ALL, supervisor=ALL, dispatcher=ALL),
        target=fence_target, setup=make_fences, body=RENAME),
    Row("DELETE", "/tracking/geofences/{geofence_id}", policy(DENY, admin=ALL, supervisor=ALL, dispatcher=ALL),
        target=fence_target, setup=make_fences, prepare=fresh_fence),
    Row("GET", "/tracking/geofence-events", policy(OK, finance=F, customer=F)),
    Row("GET", "/tracking/alerts", policy(OK, finance=F, technician=F, customer=F)),
    Row("GET", "/work-orders/{work_order_id}/technician-position", wo_write(DESK | TECHNICIAN | CUSTOMER_ROLE),
        target=WO, prepare=wo_state("en_route")),
]

# Routes that take no token (or are not the API's records): not in the matrix, on purpose.
PUBLIC = {
    ("POST", "/auth/login"): "sign in",
    ("POST", "/auth/token"): "sign in (OAuth2 form)",
    ("POST", "/auth/refresh"): "the refresh token is the credential",
    ("GET", "/auth/password-policy"): "shown on the sign-in page",
    ("POST", "/auth/password-reset/request"): "signed out by definition",
    ("POST", "/auth/password-reset/confirm"): "the code is the credential",
    ("POST", "/auth/signup/request"): "customer self sign-up: signed out by definition",
    ("POST", "/auth/signup/confirm"): "customer self sign-up: the code is the credential",
    ("GET", "/health"): "liveness probe",
    ("GET", "/config"): "public client configuration",
    ("GET", "/track/{token}"): "a customer's tracking link: the signed token is the credential",
}


# ---- the world, built once per module and copied for each test --------------------------------------

def _settings(url: str, data_dir: Path) -> Settings:
    # The matrix makes thousands of changing requests as the same few users: no rate limit.
    unlimited = {"rate_limit_per_minute": 0} if "rate_limit_per_minute" in Settings.model_fields else {}
    return Settings(database_url=url, data_dir=data_dir, secret_key=SECRET, password_hash_profile="fast",
                    seed_demo=False, _env_file=None, **unlimited)  # type: ignore[call-arg]


def _refs(t: Tenant, extra: dict[str, uuid.UUID], ids: dict[str, str], skills: dict[str, str]) -> Refs:
    assert t.customer and t.customer2 and t.site and t.site2 and t.asset and t.tech and t.tech2
    assert t.service_type and t.photo_type
    return Refs(org=str(t.org.id), customer=str(t.customer.id), customer2=str(t.customer2.id), site=str(t.site.id),
                site2=str(t.site2.id), asset=str(t.asset.id), asset2=str(extra["asset2"]), tech=str(t.tech.id),
                tech2=str(t.tech2.id), territory=str(t.territory.id), territory2=str(t.other_territory.id),
                skill=skills["hvac"], skill2=skills["electrical"], cert_type=skills["epa608"],
                cert_type2=str(extra["cert_type2"]), service_type=str(t.service_type.id),
                service_type2=str(t.photo_type.id), users={key: str(u.id) for key, u in t.users.items()}, **ids)


def _offer(app: Any, db: Session, wo_id: str, eligible: list[str]) -> str:
    """An open grab-pool offer of a new work order, as the dispatcher would make it (system caller)."""
    wo = db.get(WorkOrder, uuid.UUID(wo_id))
    assert wo is not None
    ctx = Ctx(db=db, principal=system_principal(wo.org_id), now=START, settings=app.state.settings)
    offer = offer_to_pool(ctx, wo, eligible, "authorization matrix", timeout_min=24 * 60)
    return str(offer.id)


def _build_world(url: str, data_dir: Path) -> tuple[Refs, Refs, dict[str, dict[str, str]], dict[str, uuid.UUID]]:
    app = create_app(_settings(url, data_dir), FrozenClock(START))
    try:
        with TestClient(app) as client:
            db: Session = app.state.database.session()
            try:
                world = make_world(db)
                extra = add_second_records(db, world)
                refs: list[Refs] = []
                wo_tech: dict[str, uuid.UUID] = {}
                for key, t in (("a", world.a), ("b", world.b)):
                    assert t.customer2 and t.site2 and t.tech and t.tech2
                    h = login(client, t.email("dispatcher"))
                    at2 = {"customer_id": str(t.customer2.id), "site_id": str(t.site2.id)}  # Customer 2, T2
                    ids = {"wo": create_wo(client, h, t)["id"], "wo2": create_wo(client, h, t, **at2)["id"]}
                    for wo_id, tech in ((ids["wo"], t.tech), (ids["wo2"], t.tech2)):
                        wo_tech[wo_id] = tech.id
                        db.execute(update(WorkOrder).where(WorkOrder.id == uuid.UUID(wo_id)).values(
                            status="assigned", technician_id=tech.id, assigned_at=START))
                    db.commit()  # SQLite: release the write lock before the next request
                    # The grab pool: new orders offered to Tech 1 and to Tech 2 only. B's offer for its Tech 1 also
                    # names A's Tech 1, so that only the organisation scope keeps A's technician from it.
                    pool_wo = create_wo(client, h, t)["id"]
                    pool_wo2 = create_wo(client, h, t, **at2)["id"]
                    eligible = [str(t.tech.id)] + ([str(world.a.tech.id)] if key == "b" else [])  # type: ignore[union-attr]
                    ids["offer"] = _offer(app, db, pool_wo, eligible)
                    ids["offer2"] = _offer(app, db, pool_wo2, [str(t.tech2.id)])
                    db.commit()
                    # Day plans of T1 and T2, queued through the API (no worker runs: they stay queued).
                    admin = login(client, t.email("admin"))
                    for name, territory in (("plan", t.territory), ("plan2", t.other_territory)):
                        r = client.post(f"{API}/dispatch/plans", headers=admin,
                                        json={"territory_id": str(territory.id), "time_limit_s": 1})
                        assert r.status_code == 202, r.text
                        ids[name] = r.json()["id"]
                    codes = {s.code: str(s.id) for s in db.query(Skill).filter(Skill.org_id == t.org.id)}
                    codes.update({c.code: str(c.id) for c in db.query(CertificateType).filter(
                        CertificateType.org_id == t.org.id)})
                    db.commit()  # SQLite: release the lock before the next request
                    refs.append(_refs(t, extra[key], ids, codes))
                tokens = {role: login(client, world.a.email(LOGIN_KEY.get(role, role))) for role in ROLES}
                tokens["b.admin"] = login(client, world.b.email("admin"))
            finally:
                db.close()
    finally:
        app.state.database.dispose()
    return refs[0], refs[1], tokens, wo_tech


@pytest.fixture(scope="package")
def authz_world(template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorldTemplate]:
    data_dir = tmp_path_factory.mktemp("authz-world")
    if BACKEND == "postgresql":
        name = "authz_" + uuid.uuid4().hex[:12]
        admin = create_engine(f"{template}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} TEMPLATE fieldops_template"))
        try:
            a, b, tokens, wo_tech = _build_world(f"{template}/{name}", data_dir)
            yield WorldTemplate(name, a, b, tokens, wo_tech)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()
    else:
        path = data_dir / "world.db"
        shutil.copy(template, path)
        a, b, tokens, wo_tech = _build_world(f"sqlite:///{path}", data_dir)
        yield WorldTemplate(str(path), a, b, tokens, wo_tech)


class Matrix:
    """One app for the module, on a database that is reset to the world as built before every test that may
    have changed it (tests that only read share it). Creating an app, or a PostgreSQL database, per test
    would cost more than all of a row's requests."""

    client: TestClient
    SNAPSHOT = "authz_snapshot"

    def __init__(self, world: WorldTemplate, base: str, data_dir: Path) -> None:
        self.world = world
        if BACKEND == "postgresql":
            # One copy of the world, with a snapshot of every table in a schema of its own: a reset is one
            # transaction of DELETE + INSERT ... SELECT (a CREATE DATABASE per test takes ~0.5 s).
            self.name = "authz_t_" + uuid.uuid4().hex[:12]
            self.admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
            with self.admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {self.name} TEMPLATE {world.url}"))
            url = f"{base}/{self.name}"
            self.engine = create_engine(url)
            with self.engine.begin() as conn:
                self.tables = [t for t in inspect(conn).get_table_names(schema="public") if t != "alembic_version"]
                conn.execute(text(f"CREATE SCHEMA {self.SNAPSHOT}"))
                for t in self.tables:
                    conn.execute(text(f'CREATE TABLE {self.SNAPSHOT}."{t}" AS TABLE public."{t}"'))
        else:
            self.path = data_dir / "test.db"
            url = f"sqlite:///{self.path}"
            self._copy()
        self.dirty = False
        self.app = create_app(_settings(url, data_dir), FrozenClock(START))

    def _copy(self) -> None:
        for suffix in ("-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        shutil.copy(self.world.url, self.path)
        if Path(f"{self.world.url}-wal").exists():  # not checkpointed: the log is part of the copy
            shutil.copy(f"{self.world.url}-wal", f"{self.path}-wal")

    def restore(self) -> None:
        """Put the world as built back under the app (its connections are closed first)."""
        self.app.state.database.dispose()
        if BACKEND == "postgresql":
            with self.engine.begin() as conn:
                conn.execute(text("SET LOCAL session_replication_role = replica"))  # no FK order to follow
                for t in self.tables:
                    conn.execute(text(f'DELETE FROM public."{t}"'))
                for t in self.tables:
                    conn.execute(text(f'INSERT INTO public."{t}" OVERRIDING SYSTEM VALUE '
                                      f'SELECT * FROM {self.SNAPSHOT}."{t}"'))
        else:
            self._copy()
        self.dirty = False

    def close(self) -> None:
        self.app.state.database.dispose()
        if BACKEND == "postgresql":
            self.engine.dispose()
            with self.admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)"))
            self.admin.dispose()


@pytest.fixture(scope="package")
def matrix(authz_world: WorldTemplate, template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    m = Matrix(authz_world, template, tmp_path_factory.mktemp("authz-test"))
    try:
        with TestClient(m.app, raise_server_exceptions=False) as client:
            m.client = client
            yield m
    finally:
        m.close()


@pytest.fixture
def env(matrix: Matrix) -> Iterator[Env]:
    """The world as it was built: a fresh copy unless the tests before only read."""
    if matrix.dirty:
        matrix.restore()
    w = matrix.world
    db: Session = matrix.app.state.database.session()
    try:
        yield Env(matrix.client, db, w.a, w.b, w.tokens, w.wo_tech, matrix)
    finally:
        db.close()


# ---- running a row ------------------------------------------------------------------------------------

VERBOSE = os.environ.get("FIELDOPS_AUTHZ_VERBOSE") == "1"


def request(env: Env, row: Row, role: str, which: str | None, headers: dict[str, str] | None = None,
            body: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Any:
    """The row's request as `role` on `which`; `body` may rewrite the request kwargs (the mass-assignment test),
    and the path parameters used are left in `env.extra["last_params"]`."""
    if row.method != "GET" or row.prepare or row.setup:
        env.matrix.dirty = True
    p = row.target(env, role, which) if row.target else {}
    if row.prepare:
        p.update(row.prepare(env, role, which, p))
    kwargs = row.body(env, role, which, p) if row.body else {}
    if body is not None:
        kwargs = body(kwargs)
    env.extra["last_params"] = p
    sent = {**env.tokens[role], **(headers or {})}
    if row.method != "GET":
        sent["If-Match"] = "*"
    return env.client.request(row.method, API + row.path.format(**p), headers=sent, **kwargs)


def outcome(row: Row, role: str, which: str | None, r: Any) -> str:
    """OK, F or NF; anything that says the test itself is wrong fails the test outright."""
    where = f"{row.id} as {role} on {which or 'the collection'}"
    if VERBOSE:
        print(f"{r.status_code} {where}")
    code = r.json().get("code") if r.headers.get("content-type", "") == "application/problem+json" else None
    if r.status_code == 422 and code == "validation":
        pytest.fail(f"{where}: the test's request body is invalid: {r.text}")
    if r.status_code in (401, 405, 412, 428) or r.status_code >= 500:
        pytest.fail(f"{where}: unexpected {r.status_code}: {r.text[:500]}")
    return {403: F, 404: NF}.get(r.status_code, OK)


def check(env: Env, row: Row, cells: list[tuple[str, str | None, str]]) -> None:
    if row.setup:
        env.matrix.dirty = True
        row.setup(env)
    wrong = []
    for role, which, expected in cells:
        r = request(env, row, role, which)
        got = outcome(row, role, which, r)
        if got != expected:
            wrong.append(f"  {role:<10} {which or '-':<7} expected {expected:<2} got {got} ({r.status_code}): "
                         f"{r.text[:160]}")
    assert not wrong, f"{row.id}: the policy says otherwise for\n" + "\n".join(wrong)


def _cases() -> list[Any]:
    cases = []
    for row in ROWS:
        cells = row.cells()
        unknown = set(row.disputed) - {(role, which) for role, which, _ in cells}
        assert not unknown, f"{row.id}: disputed cells {unknown} are not in the row"
        agreed = [c for c in cells if (c[0], c[1]) not in row.disputed]
        disputed = [c for c in cells if (c[0], c[1]) in row.disputed]
        cases.append(pytest.param(row, agreed, id=row.id))
        if disputed:
            reason = "; ".join(sorted({f"{role}/{which}: {why}" for (role, which), why in row.disputed.items()}))
            cases.append(pytest.param(row, disputed, id=f"{row.id} [disputed]", marks=pytest.mark.xfail(
                strict=True, raises=AssertionError, reason=reason)))
    return cases


@pytest.mark.parametrize(("row", "cells"), _cases())
def test_route_matrix(env: Env, row: Row, cells: list[tuple[str, str | None, str]]) -> None:
    check(env, row, cells)


def test_anonymous_callers_get_401_everywhere_but_public(env: Env) -> None:
    """Without a token every matrix route answers 401, before any body or record is looked at."""
    env.matrix.dirty = True
    wrong = []
    for row in ROWS:
        path = re.sub(r"\{[^}]+\}", lambda m: str(uuid.uuid4()), row.path)
        r = env.client.request(row.method, API + path, headers={"If-Match": "*"})
        if r.status_code != 401:
            wrong.append(f"{row.id}: {r.status_code}")
    assert not wrong, "\n".join(wrong)


def test_public_routes_need_no_token(env: Env) -> None:
    """Sent without a token (and without a body), a public route never asks for one."""
    env.matrix.dirty = True
    for method, path in PUBLIC:
        r = env.client.request(method, API + path)
        code = r.json().get("code") if r.status_code >= 400 else None
        assert r.status_code < 500 and code != "unauthorized", f"{method} {path}: {r.status_code} {r.text}"


def test_pool_lists_only_what_the_caller_may_grab(env: Env) -> None:
    """The pool's list keeps the grab rule: Tech 1 sees the one offer they are eligible for (not Tech 2's, not
    B's that names them too); the desk sees every offer of its organisation, none of B's."""
    def listed(who: str) -> set[str]:
        r = env.client.get(f"{API}/dispatch/pool", headers=env.tokens[who])
        assert r.status_code == 200, r.text
        return {item["id"] for item in r.json()["items"]}

    assert listed("technician") == {env.a.offer}
    assert listed("dispatcher") == listed("agent") == {env.a.offer, env.a.offer2}
    assert listed("b.admin") == {env.b.offer, env.b.offer2}


# ---- the meta-test: every route has a row, every row a route ------------------------------------------

def api_routes() -> set[tuple[str, str]]:
    """(method, path without /api/v1) of every APIRoute the app serves under /api/v1."""
    app = create_app(_settings("sqlite://", Path("/nonexistent")))
    try:
        found: set[tuple[str, str]] = set()
        iterate = getattr(routing, "iter_route_contexts", None)  # FastAPI ≥ 0.160 nests included routers
        contexts = list(iterate(app.routes)) if iterate else app.routes
        for route in contexts:
            original = getattr(route, "original_route", route)
            path: str | None = getattr(route, "path", None)
            if isinstance(original, APIRoute) and path and path.startswith(API + "/"):
                found.update((method, path.removeprefix(API)) for method in getattr(route, "methods", None) or ())
        return found
    finally:
        app.state.database.dispose()


def test_every_route_has_a_row() -> None:
    routes = api_routes()
    rows = [(r.method, r.path) for r in ROWS]
    duplicates = {key for key in rows if rows.count(key) > 1}
    missing = sorted(routes - set(rows) - set(PUBLIC))
    stale = sorted((set(rows) | set(PUBLIC)) - routes)
    assert not duplicates, f"rows declared twice: {sorted(duplicates)}"
    assert not missing, "routes without a row in the authorization matrix (add one to ROWS):\n" + "\n".join(
        f"  {m} {p}" for m, p in missing)
    assert not stale, "rows (or PUBLIC entries) whose route does not exist:\n" + "\n".join(
        f"  {m} {p}" for m, p in stale)


# ---- the table as text ----------------------------------------------------------------------------------

def render() -> str:
    """The declared table, one line per route (own/other/foreign, or one column), disputes marked with *."""
    width = max(len(row.id) for row in ROWS) + 2
    lines = [f"{'route':<{width}}" + "".join(f"{role:<12}" for role in ROLES)]
    for row in ROWS:
        cells = []
        for role in ROLES:
            parts = row.expect[role].split("/")
            if row.target is not None:
                parts = [c + ("*" if (role, w) in row.disputed else "") for c, w in zip(parts, TARGETS, strict=True)]
            cells.append("/".join(parts))
        lines.append(f"{row.id:<{width}}" + "".join(f"{c:<12}" for c in cells).rstrip())
    lines.append(f"\n{len(ROWS)} rows; public (no token): " + ", ".join(f"{m} {p}" for m, p in PUBLIC))
    return "\n".join(lines)


if __name__ == "__main__":
    print(render())
