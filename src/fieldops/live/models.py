"""Live events (what SSE streams send, kept for resuming) and one-time stream tickets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from fieldops.core.db import Base, IdMixin


class LiveEvent(Base):
    """One deliverable event. The id is the SSE event id: it only grows, and ids become visible in id order
    (the writer serialises inserts), so "everything after N" never skips a late commit."""

    __tablename__ = "live_events"
    # AUTOINCREMENT on SQLite: ids are never reused after a prune (a resuming client would miss them).
    __table_args__ = (Index("ix_live_events_created_at", "created_at"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    org_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    type: Mapped[str] = mapped_column(String(100))
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    audience: Mapped[str | None] = mapped_column(String(20), nullable=True)  # internal | customer | None
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outbox_event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, unique=True)
    created_at: Mapped[datetime]


class LiveTicket(IdMixin, Base):
    """A one-time, 60-second ticket that lets a plain EventSource (no headers) open the stream."""

    __tablename__ = "live_tickets"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    session_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
