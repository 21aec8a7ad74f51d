"""Transactional outbox: domain events written with the change, relayed by the worker after commit."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, Session, mapped_column

from fieldops.core.db import Base

_order_lock = threading.Lock()
_order_last = [0, 0]  # last millisecond, counter within it


def ordered_id() -> uuid.UUID:
    """A time-ordered id (millisecond, then a per-process counter, then random bits): events written in one
    transaction share `occurred_at`, and the relay orders ties by id, so they are relayed in the order written."""
    with _order_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _order_last[0]:
            _order_last[1] += 1
        else:
            _order_last[0], _order_last[1] = ms, 0
        ms, counter = _order_last
    value = (ms << 80) | ((counter & 0xFFFF) << 64) | int.from_bytes(os.urandom(8), "big")
    return uuid.UUID(int=value)


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_pending", "processed_at", "available_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=ordered_id)
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True, nullable=True)
    type: Mapped[str] = mapped_column(String(100))
    aggregate_type: Mapped[str] = mapped_column(String(50))
    aggregate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime]
    available_at: Mapped[datetime]
    processed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class ProcessedEvent(Base):
    """One row per (handler, event): makes every handler idempotent on the event id."""

    __tablename__ = "processed_events"

    handler: Mapped[str] = mapped_column(String(120), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    processed_at: Mapped[datetime]


def record_event(db: Session, *, type: str, aggregate_type: str, aggregate_id: uuid.UUID,
                 org_id: uuid.UUID | None, payload: dict[str, Any], now: datetime) -> OutboxEvent:
    """Add a domain event to the current transaction (it is relayed only if the transaction commits)."""
    event = OutboxEvent(id=ordered_id(), org_id=org_id, type=type, aggregate_type=aggregate_type,
                        aggregate_id=aggregate_id, payload=payload, occurred_at=now, available_at=now)
    db.add(event)
    return event
