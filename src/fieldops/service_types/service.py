"""Use cases of the skill and certificate-type catalogues and the service-type tree.

Other modules call `get_service_type_in_org`, `resolve`, `existing_skill_codes` and
`existing_certificate_type_codes`; they take the organisation, not a request context.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from fieldops.core.auth import Role, require_role, system_principal
from fieldops.core.errors import InvalidInput, conflict
from fieldops.core.web import Ctx, check_if_match
from fieldops.service_types import rules
from fieldops.service_types.models import CertificateType, ServiceType, Skill
from fieldops.service_types.repository import Catalogue, ServiceTypeRepository
from fieldops.service_types.rules import EffectiveServiceType
from fieldops.service_types.schemas import (
    CertificateTypeCreate,
    CertificateTypeUpdate,
    EffectiveRead,
    ServiceTypeCreate,
    ServiceTypeRead,
    ServiceTypeUpdate,
    SkillCreate,
    SkillUpdate,
)

WRITERS = {Role.admin}
DEFAULT_DURATION_MIN = 60
DEFAULT_PRIORITY = "P2"


def _repo(ctx: Ctx) -> ServiceTypeRepository:
    return ServiceTypeRepository(ctx.db, ctx.principal)


def _org_repo(db: Session, org_id: uuid.UUID) -> ServiceTypeRepository:
    return ServiceTypeRepository(db, system_principal(org_id))


# ---- for other modules --------------------------------------------------------------------------

def get_service_type_in_org(db: Session, org_id: uuid.UUID, service_type_id: uuid.UUID) -> ServiceType:
    """The service type if it belongs to the organisation; NotFound("service_type") otherwise."""
    return _org_repo(db, org_id).get(service_type_id)


def resolve(db: Session, org_id: uuid.UUID, service_type_id: uuid.UUID) -> EffectiveServiceType:
    """The service type with inherited requirements applied (what a new work order should copy).

    Raises NotFound("service_type") when it is not in the organisation.
    """
    repo = _org_repo(db, org_id)
    return rules.effective(repo.chain(repo.get(service_type_id)))


def existing_skill_codes(db: Session, org_id: uuid.UUID, codes: Iterable[str]) -> set[str]:
    """Which of `codes` are skills of the organisation (active or not)."""
    return _org_repo(db, org_id).existing_codes(Skill, codes)


def existing_certificate_type_codes(db: Session, org_id: uuid.UUID, codes: Iterable[str]) -> set[str]:
    """Which of `codes` are certificate types of the organisation (active or not)."""
    return _org_repo(db, org_id).existing_codes(CertificateType, codes)


# ---- skills and certificate types ---------------------------------------------------------------

_NOUNS = {
    Skill: ("skill", "skill", "技能"),
    CertificateType: ("certificate_type", "certificate type", "证书类型"),
}


def list_catalogue(ctx: Ctx, model: type[Catalogue], *, q: str | None, active: bool | None, limit: int,
                   offset: int) -> tuple[list[Catalogue], int]:
    """Skills or certificate types of the caller's organisation (any signed-in role)."""
    return _repo(ctx).search_catalogue(model, q=q, active=active, limit=limit, offset=offset)


def get_catalogue(ctx: Ctx, model: type[Catalogue], item_id: uuid.UUID) -> Catalogue:
    """One skill or certificate type of the caller's organisation."""
    return _repo(ctx).get_catalogue(model, item_id, _NOUNS[model][0])


def create_catalogue(ctx: Ctx, model: type[Catalogue],
                     data: SkillCreate | CertificateTypeCreate) -> Catalogue:
    """Admins add a skill or certificate type; its code is unique in the organisation and fixed."""
    require_role(ctx.principal, WRITERS, f"create {_NOUNS[model][1]}s")
    repo = _repo(ctx)
    _, en, zh = _NOUNS[model]
    if repo.catalogue_by_code(model, data.code) is not None:
        raise conflict(f"A {en} with code {data.code!r} already exists.",
                       f"编码为 {data.code} 的{zh}已存在。")
    item = model(org_id=ctx.principal.org_id, code=data.code, name=data.name, name_zh=data.name_zh,
                 active=data.active, created_at=ctx.now, updated_at=ctx.now)
    ctx.db.add(item)
    ctx.db.flush()
    return item


def update_catalogue(ctx: Ctx, model: type[Catalogue], item_id: uuid.UUID,
                     data: SkillUpdate | CertificateTypeUpdate, if_match: str | None) -> Catalogue:
    """Admins rename, translate or (de)activate a skill or certificate type."""
    item = _repo(ctx).get_catalogue(model, item_id, _NOUNS[model][0])
    require_role(ctx.principal, WRITERS, f"change {_NOUNS[model][1]}s")
    check_if_match(if_match, item.version)
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(item, name, value)
    item.updated_at = ctx.now
    ctx.db.flush()
    return item


# ---- service types ------------------------------------------------------------------------------

def _check_codes(repo: ServiceTypeRepository, skills: list[dict[str, Any]] | None,
                 certificates: list[str] | None) -> None:
    if skills:
        codes = [s["skill"] for s in skills]
        known = repo.existing_codes(Skill, codes)
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise InvalidInput(f"Unknown skill codes: {', '.join(unknown)}.",
                               f"技能编码不存在：{'、'.join(unknown)}。", field="required_skills")
    if certificates:
        known = repo.existing_codes(CertificateType, certificates)
        unknown = [c for c in certificates if c not in known]
        if unknown:
            raise InvalidInput(f"Unknown certificate type codes: {', '.join(unknown)}.",
                               f"证书类型编码不存在：{'、'.join(unknown)}。", field="required_certificates")


def _check_parent(repo: ServiceTypeRepository, node_id: uuid.UUID | None,
                  parent_id: uuid.UUID | None) -> ServiceType | None:
    if parent_id is None:
        return None
    parent = repo.find(parent_id)
    if parent is None:
        raise InvalidInput("The parent service type does not exist.", "上级服务类型不存在。",
                           field="parent_id")
    problem = rules.check_parent(repo.parents(), node_id, parent_id)
    if problem is not None:
        raise InvalidInput(problem.en, problem.zh, field="parent_id")
    return parent


def _ensure_unique_code(repo: ServiceTypeRepository, code: str, own_id: uuid.UUID | None) -> None:
    other = repo.by_code(code)
    if other is not None and other.id != own_id:
        raise conflict(f"A service type with code {code!r} already exists.",
                       f"编码为 {code} 的服务类型已存在。")


def list_service_types(ctx: Ctx, *, parent_id: uuid.UUID | None, q: str | None, active: bool | None,
                       limit: int, offset: int) -> tuple[list[ServiceType], int]:
    """Service types of the caller's organisation, flat (any signed-in role)."""
    return _repo(ctx).search(parent_id=parent_id, q=q, active=active, limit=limit, offset=offset)


def service_type_tree(ctx: Ctx, *, parent_id: uuid.UUID | None, q: str | None, active: bool | None,
                      limit: int, offset: int) -> tuple[list[ServiceTypeRead], int]:
    """The tree under `parent_id` (or from the roots), nested; the page counts top-level nodes.

    `active` drops the non-matching nodes with their subtrees; `q` keeps the matching nodes and the
    path down to them.
    """
    repo = _repo(ctx)
    if parent_id is not None:
        repo.get(parent_id)
    nodes = repo.all()
    by_id = {n.id: n for n in nodes}
    children: dict[uuid.UUID | None, list[ServiceType]] = {}
    for n in nodes:
        children.setdefault(n.parent_id, []).append(n)
    keep: set[uuid.UUID] | None = None
    if q:
        keep = set()
        for match in repo.matching_ids(q):
            current: uuid.UUID | None = match
            while current is not None and current not in keep:
                keep.add(current)
                current = by_id[current].parent_id

    def visible(node: ServiceType) -> bool:
        return (active is None or node.active is active) and (keep is None or node.id in keep)

    def build(node: ServiceType, depth: int) -> ServiceTypeRead:
        read = ServiceTypeRead.model_validate(node)
        # The depth cap only guards against rows written around the service (the tree has no cycles).
        kids = [c for c in children.get(node.id, []) if visible(c)] if depth < 16 else []
        read.children = [build(c, depth + 1) for c in kids]
        return read

    tops = [n for n in children.get(parent_id, []) if visible(n)]
    return [build(n, 1) for n in tops[offset:offset + limit]], len(tops)


def get_service_type(ctx: Ctx, service_type_id: uuid.UUID) -> ServiceType:
    """One service type of the caller's organisation."""
    return _repo(ctx).get(service_type_id)


def to_read(ctx: Ctx, service_type: ServiceType, *, with_effective: bool = False) -> ServiceTypeRead:
    read = ServiceTypeRead.model_validate(service_type)
    if with_effective:
        eff = rules.effective(_repo(ctx).chain(service_type))
        read.effective = EffectiveRead(
            required_skills=eff.required_skills, required_certificates=eff.required_certificates,
            checklist_template=eff.checklist_template, required_photos=eff.required_photos,
            default_duration_min=eff.default_duration_min, default_priority=eff.default_priority,
            inherited_from=eff.inherited_from)
    return read


def _requirements(data: ServiceTypeCreate | ServiceTypeUpdate) -> dict[str, list[Any]]:
    """The requirement lists the body sets, each item with every key (defaults filled in)."""
    out: dict[str, list[Any]] = {}
    for name in rules.INHERITED:
        if name in data.model_fields_set:
            items = getattr(data, name) or []
            out[name] = [i.model_dump() if hasattr(i, "model_dump") else i for i in items]
    return out


def create_service_type(ctx: Ctx, data: ServiceTypeCreate) -> ServiceType:
    """Admins add a service type; omitted duration and priority are taken from the parent."""
    require_role(ctx.principal, WRITERS, "create service types")
    repo = _repo(ctx)
    parent = _check_parent(repo, None, data.parent_id)
    _ensure_unique_code(repo, data.code, None)
    reqs = _requirements(data)
    _check_codes(repo, reqs.get("required_skills"), reqs.get("required_certificates"))
    duration = data.default_duration_min or (parent.default_duration_min if parent else DEFAULT_DURATION_MIN)
    priority = data.default_priority or (parent.default_priority if parent else DEFAULT_PRIORITY)
    service_type = ServiceType(
        org_id=ctx.principal.org_id, parent_id=data.parent_id, code=data.code, name=data.name,
        name_zh=data.name_zh, description=data.description, default_duration_min=duration,
        default_priority=priority, active=data.active,
        required_skills=reqs.get("required_skills", []),
        required_certificates=reqs.get("required_certificates", []),
        checklist_template=reqs.get("checklist_template", []),
        required_photos=reqs.get("required_photos", []), created_at=ctx.now, updated_at=ctx.now,
    )
    ctx.db.add(service_type)
    ctx.db.flush()
    return service_type


def update_service_type(ctx: Ctx, service_type_id: uuid.UUID, data: ServiceTypeUpdate,
                        if_match: str | None) -> ServiceType:
    """Admins change a service type; moving it checks the tree stays acyclic and at most 4 deep."""
    repo = _repo(ctx)
    service_type = repo.get(service_type_id)
    require_role(ctx.principal, WRITERS, "change service types")
    check_if_match(if_match, service_type.version)
    fields = data.model_dump(exclude_unset=True, exclude=set(rules.INHERITED))
    if "parent_id" in fields and fields["parent_id"] != service_type.parent_id:
        _check_parent(repo, service_type.id, fields["parent_id"])
    if "code" in fields:
        _ensure_unique_code(repo, fields["code"], service_type.id)
    reqs = _requirements(data)
    _check_codes(repo, reqs.get("required_skills"), reqs.get("required_certificates"))
    for name, value in {**fields, **reqs}.items():
        setattr(service_type, name, value)
    service_type.updated_at = ctx.now
    ctx.db.flush()
    return service_type
