"""Comments on a work order: internal notes (staff and the assigned technician) and customer-visible chat."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from fieldops.core.db import Base, IdMixin, OrgMixin


class Comment(IdMixin, OrgMixin, Base):
    __tablename__ = "work_order_comments"
    __table_args__ = (
        UniqueConstraint("work_order_id", "seq"),
        Index("ix_work_order_comments_wo_vis_seq", "work_order_id", "visibility", "seq"),
    )

    work_order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("work_orders.id", ondelete="CASCADE"))
    # Position in the order's thread (1, 2, ...): paging and "after" use it, never the clock.
    seq: Mapped[int] = mapped_column(Integer)
    visibility: Mapped[str] = mapped_column(String(16))  # internal | customer
    body: Mapped[str] = mapped_column(Text)
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    author_name: Mapped[str] = mapped_column(String(200))
    author_role: Mapped[str] = mapped_column(String(20))
    mentioned_user_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    attachment_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
