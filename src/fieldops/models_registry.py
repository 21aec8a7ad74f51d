"""Import every module's models so that metadata (Alembic, tests) sees all tables."""

from __future__ import annotations

import importlib

from fieldops.core.db import Base

MODEL_MODULES = [
    "fieldops.core.events",
    "fieldops.core.web",
    "fieldops.organizations.models",
    "fieldops.users.models",
    "fieldops.notifications.models",
    "fieldops.customers.models",
    "fieldops.service_types.models",
    "fieldops.technicians.models",
    "fieldops.work_orders.models",
    "fieldops.dispatch.models",
    "fieldops.sla.models",
    "fieldops.comments.models",
    "fieldops.live.models",
    "fieldops.tracking.models",
]


def load_all() -> type[Base]:
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not name.startswith(str(exc.name)):
                raise
    return Base
