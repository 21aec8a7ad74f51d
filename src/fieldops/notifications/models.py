"""Notifications: queued/stored messages, their delivery attempts, per-user preferences, org channel
configuration and webhook subscriptions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from fieldops.core.db import Base, IdMixin, OrgMixin, TimestampMixin


class Notification(IdMixin, Base):
    """One message to one recipient on one channel. in_app rows are the bell (read/unread); the others
    are queued and delivered by the worker after the queuing transaction commits."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_due", "status", "next_attempt_at"),
        Index("ix_notifications_inbox", "user_id", "channel", "created_at"),
        Index("ix_notifications_dedupe", "org_id", "dedupe_key"),
    )

    org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True, nullable=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    channel: Mapped[str] = mapped_column(String(20))  # in_app | email | sms | wecom | dingtalk | webhook
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # pending -> sending (claimed) -> sent | failed; in_app rows are stored as sent.
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    template: Mapped[str | None] = mapped_column(String(60), nullable=True)
    lang: Mapped[str] = mapped_column(String(10), default="en")
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Structured data: the template params, the tracking link, a webhook's event payload.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    read_at: Mapped[datetime | None] = mapped_column(nullable=True)


class NotificationAttempt(IdMixin, Base):
    """One try to deliver a notification: when, how it went, what the far end answered."""

    __tablename__ = "notification_attempts"

    notification_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("notifications.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


class NotificationPreference(OrgMixin, Base):
    """A user's notification choices: channels on/off overall and per template group, quiet hours."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    lang: Mapped[str | None] = mapped_column(String(10), nullable=True)
    channels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"sms": false}
    groups: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"sla": {"email": false}}
    quiet_start: Mapped[str | None] = mapped_column(String(5), nullable=True)  # "22:00" local time
    quiet_end: Mapped[str | None] = mapped_column(String(5), nullable=True)
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class ChannelConfig(Base):
    """An organisation's external channel settings; secrets live apart and are never read back."""

    __tablename__ = "notification_channel_configs"

    org_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class WebhookSubscription(IdMixin, OrgMixin, TimestampMixin, Base):
    """A signed webhook endpoint (standardwebhooks) receiving the events its filters match."""

    __tablename__ = "webhook_subscriptions"

    url: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(String(200), default="")
    secret: Mapped[str] = mapped_column(String(200))  # whsec_<base64>; write-only on the API
    event_types: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [] = every event; "work_order.*"
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
