"""Worker handlers of the work-orders module."""

from __future__ import annotations

from fieldops.work_orders.service import auto_advance

HANDLERS: dict[str, list] = {}  # type: ignore[type-arg]
PERIODIC = [auto_advance]
