from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from fieldops.service_types.rules import check_parent, duplicates, effective, subtree_height


@dataclass
class Node:
    code: str
    required_skills: list[Any] = field(default_factory=list)
    required_certificates: list[Any] = field(default_factory=list)
    checklist_template: list[Any] = field(default_factory=list)
    required_photos: list[Any] = field(default_factory=list)
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    name: str = "n"
    name_zh: str | None = None
    default_duration_min: int = 60
    default_priority: str = "P2"


CHECK = [{"key": "ok", "label": "OK", "label_zh": "好", "type": "bool", "required": True}]


def test_child_inherits_empty_lists_from_nearest_ancestor() -> None:
    root = Node("root", required_skills=[{"skill": "hvac", "min_level": 2}], required_certificates=["epa"],
                checklist_template=CHECK)
    mid = Node("mid", required_certificates=["height"])
    leaf = Node("leaf", default_duration_min=90, default_priority="P1")
    eff = effective([leaf, mid, root])
    assert eff.id == leaf.id and eff.code == "leaf"
    assert eff.default_duration_min == 90 and eff.default_priority == "P1"
    assert eff.required_skills == [{"skill": "hvac", "min_level": 2}]
    assert eff.required_certificates == ["height"]
    assert eff.checklist_template == CHECK
    assert eff.required_photos == []
    assert eff.inherited_from == {"required_skills": root.id, "required_certificates": mid.id,
                                  "checklist_template": root.id}


def test_own_lists_win_and_results_are_copies() -> None:
    root = Node("root", required_skills=[{"skill": "hvac", "min_level": 2}])
    child = Node("child", required_skills=[{"skill": "elec", "min_level": 1}])
    eff = effective([child, root])
    assert eff.required_skills == [{"skill": "elec", "min_level": 1}] and eff.inherited_from == {}
    eff.required_skills[0]["min_level"] = 5
    assert child.required_skills[0]["min_level"] == 1


def test_effective_needs_a_chain() -> None:
    with pytest.raises(ValueError):
        effective([])


def _ids(n: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


def test_check_parent_cycles_and_depth() -> None:
    a, b, c, d, e = _ids(5)
    parents = {a: None, b: a, c: b, d: c, e: None}  # a > b > c > d (4 levels), e alone
    assert check_parent(parents, None, None) is None
    assert check_parent(parents, None, c) is None  # new node at level 4
    problem = check_parent(parents, None, d)
    assert problem is not None and problem.code == "too_deep"
    problem = check_parent(parents, a, d)
    assert problem is not None and problem.code == "cycle"
    problem = check_parent(parents, b, b)
    assert problem is not None and problem.code == "cycle"
    # moving the 3-level subtree under b (b, c, d) below e makes 4 levels: fine; below a deeper node: not
    assert check_parent(parents, b, e) is None
    parents_ext = {**parents, e: a}
    problem = check_parent(parents_ext, b, e)
    assert problem is not None and problem.code == "too_deep"
    assert subtree_height(parents, a) == 4 and subtree_height(parents, d) == 1


def test_duplicates() -> None:
    assert duplicates(["a", "b", "a", "a", "c", "b"]) == ["a", "b"]
    assert duplicates([]) == []
