"""A test task module: the side effect of every `fault.ping` event is one row in fault_receipts (no unique
key, so a duplicate would show as a second row; the table is made by the test, not by the app's models)."""

from __future__ import annotations

import os
import random
import time
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from fieldops.core.events import OutboxEvent

CREATE_TABLE = ("CREATE TABLE IF NOT EXISTS fault_receipts (n bigserial PRIMARY KEY, event_id uuid NOT NULL, "
                "pid integer NOT NULL, received_at timestamptz NOT NULL DEFAULT now())")


def count_receipt(db: Session, event: OutboxEvent, now: datetime) -> None:
    db.execute(text("INSERT INTO fault_receipts (event_id, pid) VALUES (:e, :p)"), {"e": event.id, "p": os.getpid()})
    time.sleep(random.uniform(0, 0.002))  # widen the window in which a SIGKILL lands mid-transaction


HANDLERS = {"fault.ping": [count_receipt]}
