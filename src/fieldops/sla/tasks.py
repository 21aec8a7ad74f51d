"""Worker side of SLA: work-order events drive the clocks; the timer scan fires due escalation levels."""

from __future__ import annotations

from fieldops.sla.service import MET_TARGET, fire_due, on_work_order_event

EVENTS = ["work_order.created", "work_order.reopened", "work_order.held", "work_order.resumed",
          "work_order.cancelled", "work_order.updated", *MET_TARGET]

HANDLERS = {event: [on_work_order_event] for event in EVENTS}
TIMERS = [fire_due]
