"""Which handlers run for which domain event. Each handler takes (session, event, now) and is idempotent."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from fieldops.core.events import OutboxEvent

Handler = Callable[[Session, OutboxEvent, datetime], None]

# Modules exposing HANDLERS: dict[event type, list[Handler]] and optionally PERIODIC: list[callable].
TASK_MODULES = ["fieldops.work_orders.tasks", "fieldops.dispatch.tasks", "fieldops.sla.tasks",
                "fieldops.notifications.tasks", "fieldops.comments.tasks", "fieldops.live.tasks",
                "fieldops.tracking.tasks"]


def handlers() -> dict[str, list[tuple[str, Handler]]]:
    table: dict[str, list[tuple[str, Handler]]] = {}
    for name in TASK_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not name.startswith(str(exc.name)):
                raise
            continue
        for event_type, funcs in getattr(module, "HANDLERS", {}).items():
            for func in funcs:
                table.setdefault(event_type, []).append((f"{name}.{func.__name__}", func))
    return table


def periodic(attr: str = "PERIODIC") -> list[tuple[str, Callable[..., int]]]:
    """PERIODIC jobs take (session, now, settings) inside one transaction and run every
    `worker_scan_seconds`; TIMERS have the same signature but run on every worker pass (cheap,
    indexed scans for things due now, e.g. SLA escalations); LONG_JOBS take
    (database, clock, settings) and manage their own short transactions (e.g. a solver run)."""
    jobs: list[tuple[str, Callable[..., int]]] = []
    for name in TASK_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not name.startswith(str(exc.name)):
                raise
            continue
        jobs.extend((f"{name}.{f.__name__}", f) for f in getattr(module, attr, []))
    return jobs
