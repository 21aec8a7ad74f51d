"""The demo seed: a believable organisation, a day of work orders in every state, working logins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point, shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldops.core.db import Database
from fieldops.core.events import OutboxEvent
from fieldops.customers.models import Asset, Customer, Site
from fieldops.demo.accounts import DEMO_PASSWORD, demo_logins
from fieldops.demo.seed import load_sites, seed_demo
from fieldops.organizations.models import Organization, Territory
from fieldops.service_types.models import ServiceType
from fieldops.service_types.schemas import ChecklistItem, PhotoItem, RequiredSkill
from fieldops.service_types.service import resolve
from fieldops.settings import Settings
from fieldops.technicians import rules as tech_rules
from fieldops.technicians.models import Certificate, Leave, Technician
from fieldops.users.models import User, UserTerritory
from fieldops.work_orders.models import Attachment, WorkOrder, WorkOrderAudit
from fieldops.work_orders.rules import Status
from tests.conftest import login

# Seeding a whole organisation four times takes a few seconds each.
pytestmark = pytest.mark.slow

STATUSES = {s.value for s in Status}


@pytest.fixture
def seeded(settings: Settings):  # type: ignore[no-untyped-def]
    before = datetime.now(UTC)
    assert seed_demo(settings) is True
    after = datetime.now(UTC)
    database = Database(settings.database_url)
    with database.session() as db:
        yield db, before, after
    database.dispose()


def test_reference_data(seeded) -> None:  # type: ignore[no-untyped-def]
    db: Session = seeded[0]
    org = db.scalars(select(Organization)).one()
    assert (org.slug, org.timezone, org.settings) == ("demo", "America/New_York", {})
    territories = list(db.scalars(select(Territory)))
    assert len(territories) == 3
    shapes = {t.id: shape(t.polygon) for t in territories}

    users = list(db.scalars(select(User)))
    roles = [u.role for u in users]
    assert len(users) == 75
    assert roles.count("technician") == 20 and roles.count("customer") == 50
    assert sorted(r for r in roles if r not in ("technician", "customer")) == [
        "admin", "agent", "dispatcher", "finance", "supervisor"]
    assert {u.locale for u in users} == {"en", "zh-CN"}
    assert {u.email for u in users} == {email for _role, email, _phone in demo_logins()}

    supervisor = next(u for u in users if u.role == "supervisor")
    scoped = set(db.scalars(select(UserTerritory.territory_id).where(UserTerritory.user_id == supervisor.id)))
    assert len(scoped) == 2
    assert {t.id for t in territories if t.supervisor_user_id == supervisor.id} == scoped

    # Every address of the CSV lies in exactly one territory; every site is in the one containing it.
    for row in load_sites():
        assert sum(g.contains(Point(row.lng, row.lat)) for g in shapes.values()) == 1, row.address
    sites = list(db.scalars(select(Site)))
    assert len(sites) == 50
    for site in sites:
        assert site.territory_id is not None and shapes[site.territory_id].contains(Point(site.lng, site.lat))

    customers = list(db.scalars(select(Customer)))
    assert len(customers) == 50 and {c.kind for c in customers} == {"person", "company"}
    tiers = [c.tier for c in customers]
    assert (tiers.count("vip"), tiers.count("key")) == (5, 3)
    assert any(c.preferred_technician_ids for c in customers) and any(c.blocked_technician_ids for c in customers)
    by_customer = {u.customer_id: u for u in users if u.role == "customer"}
    assert set(by_customer) == {c.id for c in customers}
    assert 25 <= (db.scalar(select(func.count()).select_from(Asset)) or 0) <= 40

    techs = list(db.scalars(select(Technician)))
    assert len(techs) == 20 and sorted(t.code for t in techs) == [f"T{i:02d}" for i in range(1, 21)]
    tech_users = {u.id: u for u in users if u.role == "technician"}
    for tech in techs:
        assert tech.user_id in tech_users and tech_users[tech.user_id].technician_id == tech.id
        assert 2 <= len(tech.skills) <= 3 and tech.shifts and tech.territories
        assert 1 <= tech.level <= 5 and 15 <= tech.max_travel_km <= 30 and tech.hourly_cost
        assert tech.home_lat is not None and tech.home_lng is not None
        home = Point(tech.home_lng, tech.home_lat)
        assert any(shapes[t.territory_id].contains(home) for t in tech.territories)
    assert sum(t.duty_status == "on_duty" for t in techs) >= 15
    sick = [t for t in techs if t.duty_status == "on_leave"]
    assert len(sick) == 1
    assert db.scalars(select(Leave).where(Leave.technician_id == sick[0].id, Leave.kind == "sick")).one()

    today = datetime.now(ZoneInfo("America/New_York")).date()
    certs = list(db.scalars(select(Certificate)))
    expired = [c for c in certs if not c.valid_on(today)]
    assert len([c for c in expired if c.type_code == "electrician_license"]) == 3
    assert any(c.valid_on(today) for c in certs)

    # The service types are valid by the API's own rules, and every leaf has several qualified people.
    types = list(db.scalars(select(ServiceType)))
    assert len(types) >= 15 and len([t for t in types if t.parent_id is None]) == 3
    parents = {t.parent_id for t in types}
    for st in types:
        for item in st.checklist_template:
            ChecklistItem.model_validate(item)
        for photo in st.required_photos:
            PhotoItem.model_validate(photo)
        for req in st.required_skills:
            RequiredSkill.model_validate(req)
        if st.id in parents:
            continue
        eff = resolve(db, org.id, st.id)
        assert eff.required_skills and eff.checklist_template, st.code
        qualified = [t for t in techs if not tech_rules.has_skills(t.skills, eff.required_skills)
                     and not tech_rules.valid_certificates(t.certificates, eff.required_certificates, today)]
        assert len(qualified) >= 3, st.code


def test_a_day_of_work_orders(seeded) -> None:  # type: ignore[no-untyped-def]
    db, before, after = seeded
    orders = list(db.scalars(select(WorkOrder)))
    assert 40 <= len(orders) <= 50
    counts = {s: sum(o.status == s for o in orders) for s in STATUSES}
    assert all(n >= 2 for n in counts.values()), counts
    assert len({o.number for o in orders}) == len(orders)

    org = db.scalars(select(Organization)).one()
    techs = {t.id: t for t in db.scalars(select(Technician))}
    today = before.astimezone(ZoneInfo("America/New_York")).date()
    for wo in orders:
        # Nothing happens in the future, and everything happened in the last hours.
        assert before - timedelta(hours=10, minutes=1) <= wo.created_at <= after
        if wo.status in ("new", "cancelled"):
            continue
        tech = techs[wo.technician_id]  # type: ignore[index]
        eff = resolve(db, org.id, wo.service_type_id)
        assert not tech_rules.has_skills(tech.skills, eff.required_skills), wo.number
        assert not tech_rules.valid_certificates(tech.certificates, eff.required_certificates, today), wo.number
        assert tech.duty_status in ("on_duty", "on_break")
        if wo.checked_in_at is not None:
            assert wo.check_in_distance_m is not None and wo.check_in_distance_m < 150
        if wo.work_completed_at is not None:
            labels = set(db.scalars(select(Attachment.label).where(Attachment.work_order_id == wo.id)))
            assert {p["key"] for p in eff.required_photos} <= labels
            assert wo.work_summary and wo.checklist_results
    assert all(o.rating_quality for o in orders if o.status in ("completed", "closed"))

    audit = list(db.scalars(select(WorkOrderAudit)))
    assert max(a.at for a in audit) <= after
    assert {a.actor_role for a in audit} >= {"dispatcher", "agent", "technician", "customer"}
    assert {"refuse", "reject", "hold", "cancel", "close"} <= {a.action for a in audit}
    events = list(db.scalars(select(OutboxEvent).where(OutboxEvent.aggregate_type == "work_order")))
    assert len(events) >= len(orders) and {e.type for e in events} >= {"work_order.created", "work_order.closed"}
    # Technicians on the road or on site show up on the map.
    busy = {o.technician_id for o in orders if o.status in ("en_route", "on_site", "in_progress")}
    assert busy and all(techs[t].last_lat is not None for t in busy)  # type: ignore[index]


def test_second_run_does_nothing_and_force_reseeds(settings: Settings) -> None:
    assert seed_demo(settings) is True
    assert seed_demo(settings) is False
    assert seed_demo(settings, force=True) is True
    database = Database(settings.database_url)
    with database.session() as db:
        assert db.scalar(select(func.count()).select_from(Organization)) == 1
        assert db.scalar(select(func.count()).select_from(User)) == 75
        assert db.scalar(select(func.count()).select_from(WorkOrder)) == 45
    database.dispose()


def test_demo_logins_work_through_the_api(settings: Settings, client: TestClient) -> None:
    assert seed_demo(settings) is True
    headers = login(client, "dispatcher@demo.fieldops.local", DEMO_PASSWORD)
    me = client.get("/api/v1/auth/me", headers=headers).json()
    assert me["role"] == "dispatcher"
    r = client.get("/api/v1/work-orders", params={"limit": 100}, headers=headers)
    assert r.status_code == 200 and r.json()["total"] == 45
    wo = next(o for o in r.json()["items"] if o["status"] == "closed")
    timeline = client.get(f"/api/v1/work-orders/{wo['id']}/timeline", headers=headers).json()
    assert timeline[0]["action"] == "create" and timeline[-1]["action"] == "close"

    # A technician sees only their own orders; a customer only theirs (phone login works too).
    tech = client.get("/api/v1/work-orders", headers=login(client, "tech1@demo.fieldops.local", DEMO_PASSWORD))
    assert tech.status_code == 200 and 0 < tech.json()["total"] < 45
    cust = client.get("/api/v1/work-orders", headers=login(client, "+16175550311", DEMO_PASSWORD))
    assert cust.status_code == 200
    assert {o["customer_id"] for o in cust.json()["items"]} <= {cust.json()["items"][0]["customer_id"]}
