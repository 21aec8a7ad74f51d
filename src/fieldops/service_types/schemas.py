"""Bodies of the skill, certificate-type and service-type endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from fieldops.core.schemas import Code, InModel, LongText, Name, OutModel
from fieldops.service_types.rules import duplicates

Priority = Literal["P0", "P1", "P2", "P3"]
Level = Annotated[int, Field(ge=1, le=5)]
Duration = Annotated[int, Field(ge=1, le=1440, description="Minutes, 1 to 1440")]
OptionLabel = Annotated[str, StringConstraints(min_length=1, max_length=200)]


def _reject_nulls(data: Any, fields: tuple[str, ...]) -> Any:
    """An update may leave a field out, but may not set a required field to null."""
    if isinstance(data, dict):
        for name in fields:
            if name in data and data[name] is None:
                raise ValueError(f"{name} cannot be null")
    return data


# ---- catalogues ---------------------------------------------------------------------------------

class SkillCreate(InModel):
    code: Code
    name: Name
    name_zh: Name | None = None
    active: bool = True


class SkillUpdate(InModel):
    """The code is fixed once created: service types and technicians refer to it."""

    name: Name | None = None
    name_zh: Name | None = None
    active: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _required_not_null(cls, data: Any) -> Any:
        return _reject_nulls(data, ("name", "active"))


class SkillRead(OutModel):
    id: uuid.UUID
    code: str
    name: str
    name_zh: str | None
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class CertificateTypeCreate(SkillCreate):
    pass


class CertificateTypeUpdate(SkillUpdate):
    pass


class CertificateTypeRead(SkillRead):
    pass


# ---- service types ------------------------------------------------------------------------------

class RequiredSkill(InModel):
    skill: Code
    min_level: Level = 1


class ChecklistItem(InModel):
    key: Code
    label: Name
    label_zh: Name | None = None
    type: Literal["bool", "text", "number", "choice"]
    required: bool = False
    options: list[OptionLabel] | None = Field(default=None, max_length=50)

    @model_validator(mode="after")
    def _options_match_type(self) -> ChecklistItem:
        if self.type == "choice":
            if not self.options:
                raise ValueError(f"checklist item {self.key!r} is a choice and needs options")
            if dup := duplicates(self.options):
                raise ValueError(f"checklist item {self.key!r} repeats options {dup}")
        elif self.options:
            raise ValueError(f"checklist item {self.key!r} is not a choice; options are only for choices")
        return self


class PhotoItem(InModel):
    key: Code
    label: Name
    label_zh: Name | None = None


class _Requirements(InModel):
    required_skills: list[RequiredSkill] | None = Field(default=None, max_length=50)
    required_certificates: list[Code] | None = Field(default=None, max_length=50)
    checklist_template: list[ChecklistItem] | None = Field(default=None, max_length=200)
    required_photos: list[PhotoItem] | None = Field(default=None, max_length=50)

    @model_validator(mode="after")
    def _unique_keys(self) -> _Requirements:
        checks = (
            ("required_skills", [s.skill for s in self.required_skills or []]),
            ("required_certificates", list(self.required_certificates or [])),
            ("checklist_template", [c.key for c in self.checklist_template or []]),
            ("required_photos", [p.key for p in self.required_photos or []]),
        )
        for name, keys in checks:
            if dup := duplicates(keys):
                raise ValueError(f"{name} repeats {', '.join(dup)}")
        return self


class ServiceTypeCreate(_Requirements):
    parent_id: uuid.UUID | None = None
    code: Code
    name: Name
    name_zh: Name | None = None
    description: LongText | None = None
    default_duration_min: Duration | None = Field(
        default=None, description="Minutes; taken from the parent (else 60) when left out")
    default_priority: Priority | None = Field(
        default=None, description="Taken from the parent (else P2) when left out")
    active: bool = True


class ServiceTypeUpdate(_Requirements):
    """Fields left out are unchanged; `parent_id: null` moves the type to the top of the tree."""

    parent_id: uuid.UUID | None = None
    code: Code | None = None
    name: Name | None = None
    name_zh: Name | None = None
    description: LongText | None = None
    default_duration_min: Duration | None = None
    default_priority: Priority | None = None
    active: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _required_not_null(cls, data: Any) -> Any:
        return _reject_nulls(data, ("code", "name", "default_duration_min", "default_priority", "active",
                                    "required_skills", "required_certificates", "checklist_template",
                                    "required_photos"))


class EffectiveRead(OutModel):
    """The requirements after inheritance; `inherited_from` names the ancestor of each inherited list."""

    required_skills: list[dict[str, Any]]
    required_certificates: list[str]
    checklist_template: list[dict[str, Any]]
    required_photos: list[dict[str, Any]]
    default_duration_min: int
    default_priority: str
    inherited_from: dict[str, uuid.UUID]


class ServiceTypeRead(OutModel):
    id: uuid.UUID
    parent_id: uuid.UUID | None
    code: str
    name: str
    name_zh: str | None
    description: str | None
    default_duration_min: int
    default_priority: str
    required_skills: list[dict[str, Any]]
    required_certificates: list[str]
    checklist_template: list[dict[str, Any]]
    required_photos: list[dict[str, Any]]
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime
    effective: EffectiveRead | None = None
    children: list[ServiceTypeRead] | None = Field(
        default=None, description="Nested children (only with tree=true)")
