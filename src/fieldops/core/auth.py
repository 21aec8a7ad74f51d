"""Who is calling: roles, the principal of a request, and role checks."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from fieldops.core.errors import Forbidden


class Role(enum.StrEnum):
    admin = "admin"
    supervisor = "supervisor"
    dispatcher = "dispatcher"
    agent = "agent"
    technician = "technician"
    customer = "customer"
    finance = "finance"
    system = "system"


STAFF = frozenset({Role.admin, Role.supervisor, Role.dispatcher, Role.agent, Role.finance})
MANAGERS = frozenset({Role.admin, Role.supervisor, Role.dispatcher})


@dataclass(frozen=True)
class Principal:
    """The signed-in user as every service and repository sees them."""

    user_id: uuid.UUID
    org_id: uuid.UUID
    role: Role
    name: str = ""
    technician_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    territory_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    session_id: uuid.UUID | None = None
    locale: str = "en"

    @property
    def is_system(self) -> bool:
        return self.role == Role.system


SYSTEM_USER_ID = uuid.UUID(int=0)


def system_principal(org_id: uuid.UUID) -> Principal:
    """The worker acts as this principal (auto-confirm, auto-close, relays)."""
    return Principal(user_id=SYSTEM_USER_ID, org_id=org_id, role=Role.system, name="system")


def require_role(principal: Principal, allowed: Iterable[Role], action: str) -> None:
    """Raise 403 unless the principal's role is allowed (system always is)."""
    if principal.role == Role.system:
        return
    if principal.role not in set(allowed):
        raise Forbidden(role=principal.role.value, action=action)
