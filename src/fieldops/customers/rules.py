"""Pure rules of customers, sites and assets: who may change which fields. No I/O."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

# Fields a customer may change on their own customer record (contact details only).
CUSTOMER_SELF_FIELDS = frozenset({"name", "phone", "email"})


def forbidden_self_fields(fields: Iterable[str]) -> list[str]:
    """The fields of a customer-record change that the customer themselves may not make."""
    return sorted(set(fields) - CUSTOMER_SELF_FIELDS)


def technician_list(ids: Iterable[uuid.UUID]) -> list[str]:
    """Technician ids as stored: strings, duplicates dropped, order kept."""
    return [str(i) for i in dict.fromkeys(ids)]


def overlapping(preferred: Iterable[str], blocked: Iterable[str]) -> list[str]:
    """Technicians that are both preferred and blocked (a contradiction)."""
    blocked_set = set(blocked)
    return [t for t in preferred if t in blocked_set]


def default_customer_code(customer_id: uuid.UUID) -> str:
    """A code for a customer created without one."""
    return "C-" + customer_id.hex[:10].upper()
