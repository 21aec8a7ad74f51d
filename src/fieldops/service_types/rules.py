"""Pure rules of service types: inheritance down the tree, and what makes a parent link valid.

No I/O: callers pass the records (or plain objects with the same attributes) they loaded.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

MAX_DEPTH = 4  # levels in the tree: a root is level 1
PRIORITIES = ("P0", "P1", "P2", "P3")
# Requirements a child with an empty list of its own takes from its nearest ancestor that has one.
INHERITED = ("required_skills", "required_certificates", "checklist_template", "required_photos")


class ServiceTypeLike(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def name_zh(self) -> str | None: ...
    @property
    def default_duration_min(self) -> int: ...
    @property
    def default_priority(self) -> str: ...
    @property
    def required_skills(self) -> list[Any]: ...
    @property
    def required_certificates(self) -> list[Any]: ...
    @property
    def checklist_template(self) -> list[Any]: ...
    @property
    def required_photos(self) -> list[Any]: ...


@dataclass(frozen=True)
class EffectiveServiceType:
    """What a service type actually requires once inheritance is applied (what work orders copy)."""

    id: uuid.UUID
    code: str
    name: str
    name_zh: str | None
    default_duration_min: int
    default_priority: str
    required_skills: list[dict[str, Any]]
    required_certificates: list[str]
    checklist_template: list[dict[str, Any]]
    required_photos: list[dict[str, Any]]
    # requirement field -> id of the ancestor it was taken from (absent when the type has its own)
    inherited_from: dict[str, uuid.UUID] = field(default_factory=dict)


def effective(service_type_chain: Sequence[ServiceTypeLike]) -> EffectiveServiceType:
    """Resolve inheritance along a chain ordered from the service type itself up to its root.

    Each of the requirement lists (skills, certificates, checklist, photos) comes from the first
    member of the chain whose list is non-empty; name, duration and priority are the type's own.
    The lists are deep copies, so callers may keep or change them freely.
    """
    if not service_type_chain:
        raise ValueError("effective() needs at least the service type itself")
    own = service_type_chain[0]
    values: dict[str, list[Any]] = {}
    inherited_from: dict[str, uuid.UUID] = {}
    for name in INHERITED:
        values[name] = []
        for member in service_type_chain:
            value = getattr(member, name) or []
            if value:
                values[name] = copy.deepcopy(list(value))
                if member is not own:
                    inherited_from[name] = member.id
                break
    return EffectiveServiceType(
        id=own.id, code=own.code, name=own.name, name_zh=own.name_zh,
        default_duration_min=own.default_duration_min, default_priority=own.default_priority,
        required_skills=values["required_skills"], required_certificates=values["required_certificates"],
        checklist_template=values["checklist_template"], required_photos=values["required_photos"],
        inherited_from=inherited_from,
    )


def ancestors(parents: Mapping[uuid.UUID, uuid.UUID | None], node_id: uuid.UUID) -> list[uuid.UUID]:
    """Ids from `node_id` up to its root (inclusive), stopping if a cycle is met."""
    chain: list[uuid.UUID] = []
    current: uuid.UUID | None = node_id
    while current is not None and current not in chain:
        chain.append(current)
        current = parents.get(current)
    return chain


def subtree_height(parents: Mapping[uuid.UUID, uuid.UUID | None], node_id: uuid.UUID) -> int:
    """Levels in the subtree under `node_id`, counting the node itself (a leaf is 1)."""
    children: dict[uuid.UUID, list[uuid.UUID]] = {}
    for child, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    height, frontier, seen = 0, [node_id], {node_id}
    while frontier:
        height += 1
        nxt = []
        for n in frontier:
            for c in children.get(n, []):
                if c not in seen:
                    seen.add(c)
                    nxt.append(c)
        frontier = nxt
    return height


@dataclass(frozen=True)
class ParentProblem:
    code: str  # "cycle" | "too_deep"
    en: str
    zh: str


def check_parent(parents: Mapping[uuid.UUID, uuid.UUID | None], node_id: uuid.UUID | None,
                 new_parent_id: uuid.UUID | None, max_depth: int = MAX_DEPTH) -> ParentProblem | None:
    """Whether `node_id` (None for a new node) may hang under `new_parent_id`.

    `parents` maps every existing node of the organisation to its parent. Returns the problem, or None.
    """
    if new_parent_id is None:
        return None
    chain = ancestors(parents, new_parent_id)
    if node_id is not None and node_id in chain:
        return ParentProblem("cycle", "A service type cannot be placed under itself or one of its children.",
                             "服务类型不能挂在自身或其下级之下。")
    height = subtree_height(parents, node_id) if node_id is not None else 1
    if len(chain) + height > max_depth:
        return ParentProblem("too_deep", f"Service types nest at most {max_depth} levels deep.",
                             f"服务类型最多嵌套 {max_depth} 层。")
    return None


def duplicates(values: Sequence[str]) -> list[str]:
    """Values that occur more than once, in first-seen order."""
    seen: set[str] = set()
    dup: list[str] = []
    for v in values:
        if v in seen and v not in dup:
            dup.append(v)
        seen.add(v)
    return dup
