"""A small but complete world for cross-module tests: two organisations, every role, records in each."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, time

from sqlalchemy.orm import Session

from fieldops.customers.models import Asset, Customer, Site
from fieldops.organizations.models import Organization, Territory
from fieldops.service_types.models import CertificateType, ServiceType, Skill
from fieldops.technicians.models import Certificate, Shift, Technician, TechnicianSkill
from fieldops.users.models import User, UserTerritory
from tests.factories.base import make_org, make_user

BOSTON_BOX = {"type": "Polygon", "coordinates": [[[-71.2, 42.2], [-70.95, 42.2], [-70.95, 42.45],
                                                  [-71.2, 42.45], [-71.2, 42.2]]]}
OTHER_BOX = {"type": "Polygon", "coordinates": [[[-71.2, 42.0], [-70.95, 42.0], [-70.95, 42.2],
                                                 [-71.2, 42.2], [-71.2, 42.0]]]}


@dataclass
class Tenant:
    org: Organization
    territory: Territory
    other_territory: Territory
    users: dict[str, User] = field(default_factory=dict)
    tech: Technician | None = None
    tech2: Technician | None = None
    customer: Customer | None = None
    customer2: Customer | None = None
    site: Site | None = None
    site2: Site | None = None
    asset: Asset | None = None
    service_type: ServiceType | None = None
    photo_type: ServiceType | None = None

    def email(self, role: str) -> str:
        return str(self.users[role].email)


def make_tenant(db: Session, name: str) -> Tenant:
    org = make_org(db, name)
    terr = Territory(org_id=org.id, code="T1", name=f"{name} North", polygon=BOSTON_BOX)
    terr2 = Territory(org_id=org.id, code="T2", name=f"{name} South", polygon=OTHER_BOX)
    db.add_all([terr, terr2])
    db.flush()
    t = Tenant(org=org, territory=terr, other_territory=terr2)
    slug = name.lower()
    for role in ("admin", "supervisor", "dispatcher", "agent", "finance"):
        t.users[role] = make_user(db, org, role, email=f"{role}@{slug}.test")
    db.add(UserTerritory(user_id=t.users["supervisor"].id, territory_id=terr.id))
    db.add_all([Skill(org_id=org.id, code="hvac", name="HVAC", name_zh="暖通"),
                Skill(org_id=org.id, code="electrical", name="Electrical", name_zh="电工"),
                CertificateType(org_id=org.id, code="epa608", name="EPA 608", name_zh="制冷剂证")])
    st = ServiceType(org_id=org.id, code="ac", name="AC repair", name_zh="空调维修", default_duration_min=60,
                     default_priority="P2", required_skills=[{"skill": "hvac", "min_level": 2}],
                     required_certificates=[], checklist_template=[
                         {"key": "pressure_ok", "label": "Pressure checked", "label_zh": "已检查压力",
                          "type": "bool", "required": True}], required_photos=[])
    photo = ServiceType(org_id=org.id, code="light", name="Street light", name_zh="路灯", default_duration_min=30,
                        default_priority="P1", required_skills=[], required_certificates=[],
                        checklist_template=[], required_photos=[{"key": "after", "label": "After",
                                                                  "label_zh": "修复后"}])
    db.add_all([st, photo])
    db.flush()
    t.service_type, t.photo_type = st, photo
    for n, attr in ((1, "tech"), (2, "tech2")):
        tech = Technician(org_id=org.id, code=f"T{n:02d}", name=f"Tech {n} {name}", level=3, home_lat=42.35,
                          home_lng=-71.06, duty_status="on_duty")
        db.add(tech)
        db.flush()
        db.add(TechnicianSkill(technician_id=tech.id, skill_code="hvac", level=3))
        db.add(Certificate(technician_id=tech.id, type_code="epa608", number=f"EPA-{n}", issued_on=date(2024, 1, 1),
                           expires_on=date(2028, 1, 1)))
        for wd in range(5):
            db.add(Shift(technician_id=tech.id, weekday=wd, start_time=time(8), end_time=time(17),
                         break_start=time(12), break_end=time(13)))
        user = make_user(db, org, "technician", email=f"tech{n}@{slug}.test", technician_id=tech.id)
        tech.user_id = user.id
        t.users[attr] = user
        setattr(t, attr, tech)
    for n, attr in ((1, "customer"), (2, "customer2")):
        cust = Customer(org_id=org.id, code=f"C{n:03d}", kind="person", name=f"Customer {n} {name}",
                        phone="+16175550199", email=f"c{n}@{slug}.test", tier="standard",
                        preferred_technician_ids=[], blocked_technician_ids=[])
        db.add(cust)
        db.flush()
        site = Site(org_id=org.id, customer_id=cust.id, name="Home", address=f"{n} Main St, Boston MA",
                    lat=42.35 + n / 1000, lng=-71.06, territory_id=terr.id if n == 1 else terr2.id,
                    timezone="America/New_York")
        db.add(site)
        db.flush()
        user = make_user(db, org, "customer", email=f"cust{n}@{slug}.test", customer_id=cust.id)
        t.users[attr] = user
        setattr(t, attr, cust)
        setattr(t, "site" if n == 1 else "site2", site)
    t.asset = Asset(org_id=org.id, site_id=t.site.id, customer_id=t.customer.id, name="Split AC",  # type: ignore[union-attr]
                    model="FTXS35", serial_number="SN1")
    db.add(t.asset)
    db.flush()
    return t


@dataclass
class World:
    a: Tenant
    b: Tenant


def make_world(db: Session) -> World:
    w = World(make_tenant(db, "Acme"), make_tenant(db, "Globex"))
    db.commit()
    return w


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def add_second_records(db: Session, world: World) -> dict[str, dict[str, uuid.UUID]]:
    """Per tenant, a second of what the world has only one of: an asset at the second customer's site
    and a second certificate type. Returns their ids by tenant ("a", "b") and name ("asset2", "cert_type2")."""
    out: dict[str, dict[str, uuid.UUID]] = {}
    for key, t in (("a", world.a), ("b", world.b)):
        asset = Asset(org_id=t.org.id, site_id=t.site2.id, customer_id=t.customer2.id,  # type: ignore[union-attr]
                      name="Boiler", model="B-200", serial_number="SN2")
        cert_type = CertificateType(org_id=t.org.id, code="osha10", name="OSHA 10", name_zh="职业安全")
        db.add_all([asset, cert_type])
        db.flush()
        out[key] = {"asset2": asset.id, "cert_type2": cert_type.id}
    db.commit()
    return out
