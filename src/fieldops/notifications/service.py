"""Queue notifications inside the caller's transaction; deliver them from the worker."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldops.notifications.channels import Channel
from fieldops.notifications.models import Notification


def enqueue(db: Session, *, channel: str, recipient: str, subject: str, body: str, now: datetime,
            org_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None) -> Notification:
    """Queue one message; it is sent only if the surrounding transaction commits."""
    note = Notification(org_id=org_id, user_id=user_id, channel=channel, recipient=recipient,
                        subject=subject, body=body, created_at=now)
    db.add(note)
    return note


def deliver_pending(db: Session, sender: Channel, now: datetime, limit: int = 100) -> int:
    """Send queued messages; failures are retried up to 5 times. Returns how many were sent."""
    query = select(Notification).where(Notification.status == "pending").order_by(Notification.created_at)
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    sent = 0
    for note in db.scalars(query.limit(limit)).all():
        note.attempts += 1
        try:
            sender.send(channel=note.channel, recipient=note.recipient, subject=note.subject, body=note.body)
        except Exception as exc:
            note.last_error = str(exc)[:2000]
            if note.attempts >= 5:
                note.status = "failed"
            continue
        note.status = "sent"
        note.sent_at = now
        sent += 1
    db.flush()
    return sent
