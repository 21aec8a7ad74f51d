"""One dispatch decision through the service: snapshot from the database + engine + persist + assign.

The Boston day (200 / 20 and 1,000 / 60) is loaded into a fresh SQLite database: technicians with their
shifts and skills, one site per request, and the day's jobs as work orders already assigned in the order a
greedy fill gave (as at 07:00 on 2015-03-18). Then the instance's urgent job and 30 more like it are created
and dispatched one by one with `dispatch.service.dispatch_now`, each committed, timing the dispatch call.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.dispatch_one import DAY, at, load, new_urgent_jobs
from bench.report import pct, write_section
from fieldops.core.auth import Principal, Role
from fieldops.core.db import Database
from fieldops.core.migrate import upgrade
from fieldops.customers.models import Customer, Site
from fieldops.dispatch import service as dispatch
from fieldops.engine.dispatch import dispatch_many
from fieldops.engine.model import Policy, Problem
from fieldops.organizations.models import Organization
from fieldops.service_types.models import ServiceType, Skill
from fieldops.settings import Settings
from fieldops.technicians.models import Shift, Technician, TechnicianSkill
from fieldops.users.models import User
from fieldops.work_orders import service as work_orders
from fieldops.work_orders.models import WorkOrder
from fieldops.work_orders.schemas import WorkOrderCreate

TZ = ZoneInfo("America/New_York")
NEW = 30


def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def build(db_url: str, name: str) -> tuple[uuid.UUID, Principal, dict[str, uuid.UUID], dict[str, uuid.UUID], dict]:  # type: ignore[type-arg]
    jobs, techs, raw = load(name)
    database = Database(db_url)
    with database.session() as s:
        org = Organization(name="Bench", slug=f"bench-{uuid.uuid4().hex[:6]}", timezone="America/New_York", settings={})
        s.add(org)
        s.flush()
        user = User(org_id=org.id, email=f"d-{org.slug}@bench.test", name="Dispatcher", role="dispatcher",
                    password_hash="x", locale="en")
        s.add(user)
        for code in raw["skills"]:
            s.add(Skill(org_id=org.id, code=code, name=code))
        types: dict[tuple[str, int], uuid.UUID] = {}
        for j in raw["jobs"] + [raw["urgent_insert"]]:
            key = (j["skill"], int(j["service_min"]))
            if key not in types:
                st = ServiceType(org_id=org.id, code=f"{key[0]}-{key[1]}", name=f"{key[0]} {key[1]} min",
                                 default_duration_min=key[1], default_priority="P2",
                                 required_skills=[{"skill": key[0], "min_level": 1}], required_certificates=[],
                                 checklist_template=[], required_photos=[])
                s.add(st)
                s.flush()
                types[key] = st.id
        tech_ids: dict[str, uuid.UUID] = {}
        weekday = date.fromisoformat(DAY).weekday()
        for t in raw["technicians"]:
            row = Technician(org_id=org.id, code=t["id"], name=t["id"], level=3, home_lat=t["home_lat"],
                             home_lng=t["home_lon"], max_travel_km=100, max_jobs_per_day=99, max_work_minutes=600,
                             duty_status="on_duty")
            s.add(row)
            s.flush()
            tech_ids[t["id"]] = row.id
            for code in t["skills"]:
                s.add(TechnicianSkill(technician_id=row.id, skill_code=code, level=1))
            h1, m1 = (int(x) for x in t["shift"][0].split(":"))
            h2, m2 = (int(x) for x in t["shift"][1].split(":"))
            s.add(Shift(technician_id=row.id, weekday=weekday, start_time=dtime(h1, m1), end_time=dtime(h2, m2)))
        cust = Customer(org_id=org.id, code="CITY", kind="company", name="City of Boston", tier="standard",
                        preferred_technician_ids=[], blocked_technician_ids=[])
        s.add(cust)
        s.flush()
        sites: dict[str, uuid.UUID] = {}
        for j in raw["jobs"] + [raw["urgent_insert"]]:
            site = Site(org_id=org.id, customer_id=cust.id, name=str(j["id"]), address=j["type"], lat=j["lat"],
                        lng=j["lon"], timezone="America/New_York")
            s.add(site)
            s.flush()
            sites[str(j["id"])] = site.id
        # the day so far: a greedy fill, stored as assigned work orders with their planned slots
        decisions, _, _ = dispatch_many(Problem(jobs=[], technicians=techs, now=at("07:00"),
                                                policy=Policy(mode="optimized", allow_evict=False)), jobs)
        by_id = {str(j["id"]): j for j in raw["jobs"]}
        for n, d in enumerate(decisions):
            if d.technician_id is None or d.start is None:
                continue
            j = by_id[d.job_id]
            start = _dt(d.start)
            s.add(WorkOrder(org_id=org.id, number=f"WO-B-{n:05d}", channel="import", status="assigned",
                            priority="P1" if j["priority"] == "high" else "P2", title=j["type"], description="",
                            customer_id=cust.id, site_id=sites[d.job_id], service_type_id=types[(j["skill"],
                                                                                               int(j["service_min"]))],
                            technician_id=tech_ids[d.technician_id], customer_name=cust.name,
                            site_address=j["type"], site_lat=j["lat"], site_lng=j["lon"],
                            window_start=_dt(at(j["window"][0])), window_end=_dt(at(j["window"][1])),
                            duration_min=int(j["service_min"]), planned_start=start,
                            planned_end=start + timedelta(minutes=int(j["service_min"])), route_seq=d.position,
                            assigned_at=_dt(at("06:30")), created_at=_dt(at("06:00")), updated_at=_dt(at("06:00")),
                            required_tools=[], required_parts=[], custom_fields={}, checklist_results={},
                            parts_used=[], rejected_technician_ids=[], version=1))
        s.commit()
        principal = Principal(user_id=user.id, org_id=org.id, role=Role.dispatcher, name="Dispatcher")
        org_id = org.id
    database.dispose()
    return org_id, principal, {f"{k[0]}|{k[1]}": v for k, v in types.items()}, sites, raw


def measure(name: str, label: str) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="fieldops-bench-dsp-"))
    try:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        settings = Settings(database_url=url, data_dir=tmp, secret_key="x" * 40, _env_file=None)  # type: ignore[call-arg]
        _org_id, principal, types, _sites, raw = build(url, name)
        database = Database(url)
        new = new_urgent_jobs(raw, NEW)
        lat: list[float] = []
        outcomes: dict[str, int] = {}
        raw_jobs = {str(j["id"]): j for j in raw["jobs"]} | {str(raw["urgent_insert"]["id"]): raw["urgent_insert"]}
        for i, job in enumerate(new):
            base = raw_jobs.get(job.id) or next(j for j in raw["jobs"] if abs(j["lat"] - job.lat) < 1e-9
                                               and abs(j["lon"] - job.lng) < 1e-9)
            now = _dt(at("07:00")) + timedelta(minutes=i)
            with database.session() as s:
                from fieldops.core.web import Ctx

                ctx = Ctx(db=s, principal=principal, now=now, settings=settings)
                site = s.scalars(__import__("sqlalchemy").select(Site).where(Site.name == str(base["id"]))).first()
                assert site is not None
                wo = work_orders.create(ctx, WorkOrderCreate(
                    customer_id=site.customer_id, site_id=site.id, priority="P0",
                    service_type_id=types[f"{base['skill']}|{int(base['service_min'])}"],
                    window_start=_dt(job.windows[0].start), window_end=_dt(job.windows[0].end + job.duration_s)))
                s.commit()
                wo_id, version = wo.id, wo.version
            with database.session() as s:
                ctx = Ctx(db=s, principal=principal, now=now, settings=settings)
                t0 = time.perf_counter()
                decision = dispatch.dispatch_now(ctx, wo_id, f'"{version}"')
                s.commit()
                lat.append(time.perf_counter() - t0)
                outcomes[decision.outcome] = outcomes.get(decision.outcome, 0) + 1
        database.dispose()
        row = {"label": label, "p50": pct(lat, 50) * 1000, "p95": pct(lat, 95) * 1000, "outcomes": outcomes,
               "n": len(lat)}
        print(f"  {label}: p50 {row['p50']:.0f} ms, p95 {row['p95']:.0f} ms, {outcomes}", flush=True)
        return row
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    rows = [measure("boston_200j_20t.json", "200 / 20"), measure("boston_1000j_60t.json", "1,000 / 60")]
    lines = ["## One dispatch decision through the service (snapshot + engine + persist + assign)", "",
             f"SQLite, one process. The Boston day loaded as work orders already assigned by a greedy fill; then "
             f"{NEW + 1} new urgent (P0) orders like the instance's `urgent_insert` are created and dispatched one by "
             "one with `dispatch.service.dispatch_now` (load the technicians, their shifts and routes from the "
             "database, decide, store the decision with its explanation, assign, commit).", "",
             "| open jobs / technicians | decisions | p50 ms | p95 ms | outcomes |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['label']} | {r['n']} | {r['p50']:.0f} | {r['p95']:.0f} | {r['outcomes']} |")
    write_section("dispatch_service", "\n".join(lines))


if __name__ == "__main__":
    main()
