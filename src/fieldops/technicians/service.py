"""Use cases of technicians: the roster, skills, certificates, weekly shifts, leave and duty status.

Other modules call `get_technician_in_org` and `snapshot`; they take the organisation, not a request.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from fieldops.core.auth import Principal, Role, require_role, system_principal
from fieldops.core.errors import InvalidInput, conflict
from fieldops.core.events import record_event
from fieldops.core.web import Ctx, check_if_match
from fieldops.service_types import service as service_types
from fieldops.technicians import repository as repo
from fieldops.technicians.models import (
    Certificate,
    Leave,
    Shift,
    Technician,
    TechnicianSkill,
    TechnicianTerritory,
)
from fieldops.technicians.repository import TechnicianRepository
from fieldops.technicians.rules import (
    CertificateInfo,
    LeaveSpan,
    ShiftSlot,
    SkillLevel,
    TechnicianSnapshot,
)
from fieldops.technicians.schemas import (
    CertificateCreate,
    CertificateRead,
    DutyStatusUpdate,
    LeaveCreate,
    LeaveRead,
    ShiftIn,
    ShiftRead,
    ShiftsReplace,
    SkillsReplace,
    TechnicianCreate,
    TechnicianDetail,
    TechnicianRead,
    TechnicianSkillIn,
    TechnicianSkillRead,
    TechnicianUpdate,
)
from fieldops.users import service as users
from fieldops.users.schemas import UserCreate

WRITERS = frozenset({Role.admin, Role.supervisor})
SEE_COST = frozenset({Role.admin, Role.supervisor, Role.finance, Role.system})


def _repo(ctx: Ctx) -> TechnicianRepository:
    return TechnicianRepository(ctx.db, ctx.principal)


def _touch(ctx: Ctx, tech: Technician) -> None:
    """Bump the technician's version: its skills, certificates, shifts and leave are part of the record."""
    tech.updated_at = ctx.now
    ctx.db.flush()


def _event(ctx: Ctx, tech: Technician, type_: str, **payload: object) -> None:
    record_event(ctx.db, type=type_, aggregate_type="technician", aggregate_id=tech.id,
                 org_id=tech.org_id, payload={"technician_id": str(tech.id), **payload}, now=ctx.now)


# ---- for other modules --------------------------------------------------------------------------

def get_technician_in_org(db: Session, org_id: uuid.UUID, technician_id: uuid.UUID) -> Technician:
    """The technician if it belongs to the organisation; NotFound("technician") otherwise."""
    return TechnicianRepository(db, system_principal(org_id)).get(technician_id)


def snapshot(db: Session, org_id: uuid.UUID, *, include_inactive: bool = False,
             leave_after: datetime | None = None) -> list[TechnicianSnapshot]:
    """Plain, detached facts about the organisation's (active) technicians for the dispatch engine.

    Leave that ended at or before `leave_after` is left out when it is given.
    """
    tz = repo.org_timezone(db, org_id)
    techs = repo.technicians_of_org(db, org_id, include_inactive)
    certs: dict[uuid.UUID, list[CertificateInfo]] = {}
    for c in repo.children_of_org(db, org_id, Certificate):
        certs.setdefault(c.technician_id, []).append(
            CertificateInfo(c.type_code, c.number, c.issued_on, c.expires_on))
    shifts: dict[uuid.UUID, list[ShiftSlot]] = {}
    for s in repo.children_of_org(db, org_id, Shift):
        shifts.setdefault(s.technician_id, []).append(
            ShiftSlot(s.weekday, s.start_time, s.end_time, s.break_start, s.break_end))
    skills: dict[uuid.UUID, list[SkillLevel]] = {}
    for sk in repo.children_of_org(db, org_id, TechnicianSkill):
        skills.setdefault(sk.technician_id, []).append(SkillLevel(sk.skill_code, sk.level))
    territories: dict[uuid.UUID, set[uuid.UUID]] = {}
    for link in repo.children_of_org(db, org_id, TechnicianTerritory):
        territories.setdefault(link.technician_id, set()).add(link.territory_id)
    leave: dict[uuid.UUID, list[LeaveSpan]] = {}
    for lv in repo.children_of_org(db, org_id, Leave, since=leave_after):
        leave.setdefault(lv.technician_id, []).append(LeaveSpan(lv.start_at, lv.end_at, lv.kind))
    return [
        TechnicianSnapshot(
            id=t.id, code=t.code, name=t.name, user_id=t.user_id, level=t.level, duty_status=t.duty_status,
            active=t.active, timezone=tz, home_lat=t.home_lat, home_lng=t.home_lng,
            territory_ids=frozenset(territories.get(t.id, ())), max_travel_km=t.max_travel_km,
            max_jobs_per_day=t.max_jobs_per_day, max_work_minutes=t.max_work_minutes,
            hourly_cost=float(t.hourly_cost) if t.hourly_cost is not None else None,
            last_lat=t.last_lat, last_lng=t.last_lng, last_seen_at=t.last_seen_at,
            skills=tuple(sorted(skills.get(t.id, []), key=lambda s: s.skill_code)),
            certificates=tuple(certs.get(t.id, [])),
            shifts=tuple(sorted(shifts.get(t.id, []), key=lambda s: (s.weekday, s.start_time))),
            leave=tuple(sorted(leave.get(t.id, []), key=lambda lv: lv.start_at)),
        )
        for t in techs
    ]


def record_position(db: Session, org_id: uuid.UUID, technician_id: uuid.UUID, lat: float, lng: float,
                    at: datetime) -> None:
    """The technician's last known position (dispatch uses it), written by tracking. Not an edit of the
    record: the version (ETag) does not change, and an older fix never replaces a newer one."""
    repo.set_last_position(db, org_id, technician_id, lat, lng, at)


# ---- reading ------------------------------------------------------------------------------------

def _today(ctx: Ctx) -> date:
    return ctx.now.astimezone(ZoneInfo(_repo(ctx).org_timezone())).date()


def to_read(principal: Principal, tech: Technician) -> TechnicianRead:
    """The list view of a technician; the hourly cost only for roles that may see it."""
    return TechnicianRead.model_validate(_read_fields(principal, tech))


def _read_fields(principal: Principal, tech: Technician) -> dict[str, object]:
    fields = {name: getattr(tech, name) for name in TechnicianRead.model_fields if name != "skills"}
    if principal.role not in SEE_COST:
        fields["hourly_cost"] = None
    fields["territory_ids"] = sorted(tech.territory_ids, key=str)
    fields["skills"] = [TechnicianSkillRead(skill=s.skill_code, level=s.level)
                        for s in sorted(tech.skills, key=lambda s: s.skill_code)]
    return fields


def to_detail(ctx: Ctx, tech: Technician) -> TechnicianDetail:
    """The full record: skills, certificates (with `expired` as of today), shifts and upcoming leave."""
    today = _today(ctx)
    return TechnicianDetail.model_validate({
        **_read_fields(ctx.principal, tech),
        "certificates": [_certificate_read(c, today)
                         for c in sorted(tech.certificates, key=lambda c: (c.type_code, str(c.expires_on)))],
        "shifts": [ShiftRead.model_validate(s)
                   for s in sorted(tech.shifts, key=lambda s: (s.weekday, s.start_time))],
        "upcoming_leave": [LeaveRead.model_validate(lv) for lv in _repo(ctx).upcoming_leave(tech, ctx.now)],
    })


def list_technicians(ctx: Ctx, *, q: str | None, territory_id: uuid.UUID | None, skill: str | None,
                     duty_status: str | None, active: bool | None, limit: int,
                     offset: int) -> tuple[list[Technician], int]:
    """Technicians the caller may see (a technician: only themselves; customers: 403)."""
    return _repo(ctx).search(q=q, territory_id=territory_id, skill=skill, duty_status=duty_status,
                           active=active, limit=limit, offset=offset)


def get_technician(ctx: Ctx, technician_id: uuid.UUID) -> Technician:
    """One technician the caller may see."""
    return _repo(ctx).get(technician_id)


def get_my_technician(ctx: Ctx) -> Technician:
    """The caller's own technician record; 404 when the caller is not a technician."""
    return _repo(ctx).get_own()


# ---- validation helpers -------------------------------------------------------------------------

def _check_skill_codes(ctx: Ctx, skills: list[TechnicianSkillIn], field: str = "skills") -> None:
    codes = [s.skill for s in skills]
    known = service_types.existing_skill_codes(ctx.db, ctx.principal.org_id, codes)
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise InvalidInput(f"Unknown skill codes: {', '.join(unknown)}.",
                           f"技能编码不存在：{'、'.join(unknown)}。", field=field)


def _check_certificate_codes(ctx: Ctx, certs: list[CertificateCreate], field: str) -> None:
    codes = [c.type_code for c in certs]
    known = service_types.existing_certificate_type_codes(ctx.db, ctx.principal.org_id, codes)
    unknown = list(dict.fromkeys(c for c in codes if c not in known))
    if unknown:
        raise InvalidInput(f"Unknown certificate type codes: {', '.join(unknown)}.",
                           f"证书类型编码不存在：{'、'.join(unknown)}。", field=field)


def _check_territories(ctx: Ctx, ids: list[uuid.UUID]) -> list[uuid.UUID]:
    unique = list(dict.fromkeys(ids))
    known = _repo(ctx).existing_territory_ids(unique)
    if missing := [str(t) for t in unique if t not in known]:
        raise InvalidInput(f"Unknown territories: {', '.join(missing)}.",
                           f"片区不存在：{'、'.join(missing)}。", field="territory_ids")
    return unique


def _check_code(ctx: Ctx, code: str, own_id: uuid.UUID | None) -> None:
    if _repo(ctx).code_taken(code, own_id):
        raise conflict(f"A technician with code {code!r} already exists.", f"工号 {code} 已存在。")


def _shift(data: ShiftIn) -> Shift:
    return Shift(weekday=data.weekday, start_time=data.start_time, end_time=data.end_time,
                 break_start=data.break_start, break_end=data.break_end)


def _certificate(data: CertificateCreate) -> Certificate:
    return Certificate(type_code=data.type_code, number=data.number, issued_on=data.issued_on,
                       expires_on=data.expires_on)


# ---- writing ------------------------------------------------------------------------------------

def create_technician(ctx: Ctx, data: TechnicianCreate) -> Technician:
    """Admins and supervisors add a technician, optionally with a login, skills, certificates, shifts."""
    require_role(ctx.principal, WRITERS, "create technicians")
    _check_code(ctx, data.code, None)
    territory_ids = _check_territories(ctx, data.territory_ids)
    _check_skill_codes(ctx, data.skills)
    _check_certificate_codes(ctx, data.certificates, "certificates")
    tech = Technician(
        org_id=ctx.principal.org_id, code=data.code, name=data.name, phone=data.phone, level=data.level,
        home_lat=data.home_lat, home_lng=data.home_lng, home_address=data.home_address,
        max_travel_km=data.max_travel_km, max_jobs_per_day=data.max_jobs_per_day,
        max_work_minutes=data.max_work_minutes, duty_status=data.duty_status, hourly_cost=data.hourly_cost,
        active=data.active, created_at=ctx.now, updated_at=ctx.now,
        territories=[TechnicianTerritory(territory_id=t) for t in territory_ids],
        skills=[TechnicianSkill(skill_code=s.skill, level=s.level) for s in data.skills],
        certificates=[_certificate(c) for c in data.certificates],
        shifts=[_shift(s) for s in data.shifts],
    )
    ctx.db.add(tech)
    ctx.db.flush()
    if data.login is not None:
        login = data.login
        phone = login.phone or (data.phone if not login.email else None)
        user = users.create_user(ctx, UserCreate(email=login.email, phone=phone, name=data.name,
                                                 role="technician", password=login.password,
                                                 locale=login.locale), technician_id=tech.id)
        tech.user_id = user.id
        ctx.db.flush()
    _event(ctx, tech, "technician.created")
    return tech


def update_technician(ctx: Ctx, technician_id: uuid.UUID, data: TechnicianUpdate,
                      if_match: str | None) -> Technician:
    """Admins and supervisors change a technician's profile, caps, territories or duty status."""
    tech = _repo(ctx).get(technician_id)
    require_role(ctx.principal, WRITERS, "change technicians")
    check_if_match(if_match, tech.version)
    fields = data.model_dump(exclude_unset=True)
    if "code" in fields:
        _check_code(ctx, fields["code"], tech.id)
    if "territory_ids" in fields:
        wanted = _check_territories(ctx, fields.pop("territory_ids"))
        for link in [t for t in tech.territories if t.territory_id not in wanted]:
            tech.territories.remove(link)
        have = set(tech.territory_ids)
        tech.territories.extend(TechnicianTerritory(territory_id=t) for t in wanted if t not in have)
    old_status = tech.duty_status
    for name, value in fields.items():
        setattr(tech, name, value)
    _touch(ctx, tech)
    _event(ctx, tech, "technician.updated", fields=sorted(data.model_fields_set))
    if tech.duty_status != old_status:
        _event(ctx, tech, "technician.duty_status_changed", duty_status=tech.duty_status)
    return tech


def replace_skills(ctx: Ctx, technician_id: uuid.UUID, data: SkillsReplace,
                   if_match: str | None) -> Technician:
    """Replace the technician's skills with the given list (admins and supervisors)."""
    tech = _repo(ctx).get(technician_id)
    require_role(ctx.principal, WRITERS, "change technicians' skills")
    check_if_match(if_match, tech.version)
    _check_skill_codes(ctx, data.skills)
    current = {s.skill_code: s for s in tech.skills}
    wanted = {s.skill: s.level for s in data.skills}
    for code, row in current.items():
        if code not in wanted:
            tech.skills.remove(row)
    for code, level in wanted.items():
        if code in current:
            current[code].level = level
        else:
            tech.skills.append(TechnicianSkill(skill_code=code, level=level))
    _touch(ctx, tech)
    return tech


def replace_shifts(ctx: Ctx, technician_id: uuid.UUID, data: ShiftsReplace,
                   if_match: str | None) -> Technician:
    """Replace the weekly shift pattern (admins and supervisors)."""
    tech = _repo(ctx).get(technician_id)
    require_role(ctx.principal, WRITERS, "change technicians' shifts")
    check_if_match(if_match, tech.version)
    tech.shifts.clear()
    ctx.db.flush()
    tech.shifts.extend(_shift(s) for s in data.shifts)
    _touch(ctx, tech)
    return tech


def add_certificate(ctx: Ctx, technician_id: uuid.UUID,
                    data: CertificateCreate) -> tuple[Technician, Certificate]:
    """Record a certificate the technician holds (admins and supervisors)."""
    tech = _repo(ctx).get(technician_id)
    require_role(ctx.principal, WRITERS, "change technicians' certificates")
    _check_certificate_codes(ctx, [data], "type_code")
    cert = _certificate(data)
    cert.created_at = cert.updated_at = ctx.now
    tech.certificates.append(cert)
    _touch(ctx, tech)
    return tech, cert


def certificate_read(ctx: Ctx, cert: Certificate) -> CertificateRead:
    """A certificate as the API shows it, `expired` as of today in the organisation's zone."""
    return _certificate_read(cert, _today(ctx))


def _certificate_read(cert: Certificate, today: date) -> CertificateRead:
    return CertificateRead(id=cert.id, type_code=cert.type_code, number=cert.number, issued_on=cert.issued_on,
                           expires_on=cert.expires_on, expired=not cert.valid_on(today),
                           created_at=cert.created_at)


def delete_certificate(ctx: Ctx, technician_id: uuid.UUID, certificate_id: uuid.UUID) -> None:
    """Remove a certificate (admins and supervisors)."""
    repository = _repo(ctx)
    tech = repository.get(technician_id)
    cert = repository.certificate(tech, certificate_id)
    require_role(ctx.principal, WRITERS, "change technicians' certificates")
    tech.certificates.remove(cert)
    _touch(ctx, tech)


def add_leave(ctx: Ctx, technician_id: uuid.UUID, data: LeaveCreate) -> tuple[Technician, Leave]:
    """Record leave; it may not overlap other leave of the technician (409)."""
    repository = _repo(ctx)
    tech = repository.get(technician_id)
    require_role(ctx.principal, WRITERS, "record technicians' leave")
    if repository.overlapping_leave(tech, data.start_at, data.end_at) is not None:
        raise conflict("This leave overlaps leave already recorded.", "该请假与已登记的请假时间重叠。")
    leave = Leave(start_at=data.start_at, end_at=data.end_at, kind=data.kind, reason=data.reason,
                  created_at=ctx.now, updated_at=ctx.now)
    tech.leaves.append(leave)
    _touch(ctx, tech)
    _event(ctx, tech, "technician.leave_added", leave_id=str(leave.id), start_at=leave.start_at.isoformat(),
           end_at=leave.end_at.isoformat())
    return tech, leave


def delete_leave(ctx: Ctx, technician_id: uuid.UUID, leave_id: uuid.UUID) -> None:
    """Cancel recorded leave (admins and supervisors)."""
    repository = _repo(ctx)
    tech = repository.get(technician_id)
    leave = repository.leave(tech, leave_id)
    require_role(ctx.principal, WRITERS, "record technicians' leave")
    tech.leaves.remove(leave)
    _touch(ctx, tech)


def set_my_duty_status(ctx: Ctx, data: DutyStatusUpdate, if_match: str | None) -> Technician:
    """A technician goes on or off duty, or on a break (their own record only)."""
    tech = get_my_technician(ctx)
    check_if_match(if_match, tech.version)
    if tech.duty_status != data.duty_status:
        tech.duty_status = data.duty_status
        _touch(ctx, tech)
        _event(ctx, tech, "technician.duty_status_changed", duty_status=tech.duty_status)
    return tech


def names(db: Session, org_id: uuid.UUID, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Display names of the given technicians of the organisation (for work-order lists)."""
    return repo.names_of(db, org_id, {i for i in ids if i is not None})
