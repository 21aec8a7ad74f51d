"""Every query of the notifications module, scoped by organisation (and by user for the inbox)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from fieldops.core.auth import Principal
from fieldops.core.errors import NotFound
from fieldops.notifications.models import (
    ChannelConfig,
    Notification,
    NotificationAttempt,
    NotificationPreference,
    WebhookSubscription,
)
from fieldops.organizations.models import Organization
from fieldops.service_types.models import ServiceType
from fieldops.technicians.models import Technician
from fieldops.users.models import User, UserTerritory
from fieldops.work_orders.models import WorkOrder

# ---- lookups used while queuing (no principal: the caller already decided who is told) ------------

def get_user(db: Session, user_id: uuid.UUID) -> User | None:
    return db.get(User, user_id)


def users_by_ids(db: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, User]:
    if not ids:
        return {}
    return {u.id: u for u in db.scalars(select(User).where(User.id.in_(list(set(ids)))))}


def prefs_by_users(db: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, NotificationPreference]:
    if not ids:
        return {}
    rows = db.scalars(select(NotificationPreference).where(NotificationPreference.user_id.in_(list(set(ids)))))
    return {p.user_id: p for p in rows}


def get_org(db: Session, org_id: uuid.UUID) -> Organization | None:
    return db.get(Organization, org_id)


def channel_config(db: Session, org_id: uuid.UUID) -> ChannelConfig | None:
    return db.get(ChannelConfig, org_id)


def existing_dedupe(db: Session, org_id: uuid.UUID, dedupe_key: str) -> set[tuple[str, str]]:
    rows = db.execute(select(Notification.channel, Notification.recipient)
                      .where(Notification.org_id == org_id, Notification.dedupe_key == dedupe_key))
    return {(c, r) for c, r in rows}


def active_webhooks(db: Session, org_id: uuid.UUID) -> list[WebhookSubscription]:
    return list(db.scalars(select(WebhookSubscription).where(WebhookSubscription.org_id == org_id,
                                                             WebhookSubscription.active.is_(True))))


def users_with_roles(db: Session, org_id: uuid.UUID, roles: Sequence[str]) -> list[User]:
    return list(db.scalars(select(User).where(User.org_id == org_id, User.role.in_(list(roles)),
                                              User.is_active.is_(True)).order_by(User.created_at)))


def territory_supervisors(db: Session, org_id: uuid.UUID, territory_id: uuid.UUID) -> list[User]:
    return list(db.scalars(select(User).join(UserTerritory, UserTerritory.user_id == User.id)
                           .where(User.org_id == org_id, User.role == "supervisor", User.is_active.is_(True),
                                  UserTerritory.territory_id == territory_id).order_by(User.created_at)))


def customer_users(db: Session, org_id: uuid.UUID, customer_id: uuid.UUID) -> list[User]:
    return list(db.scalars(select(User).where(User.org_id == org_id, User.customer_id == customer_id,
                                              User.is_active.is_(True))))


def technician_users(db: Session, org_id: uuid.UUID, technician_id: uuid.UUID) -> list[User]:
    return list(db.scalars(select(User).where(User.org_id == org_id, User.technician_id == technician_id,
                                              User.is_active.is_(True))))


# ---- the worker's delivery queue --------------------------------------------------------------------

def claim_due(db: Session, now: datetime, limit: int) -> list[Notification]:
    """Due external messages (pending, or a 'sending' lease that expired because a worker died)."""
    query = (select(Notification)
             .where(Notification.status.in_(("pending", "sending")),
                    or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now))
             .order_by(Notification.next_attempt_at, Notification.created_at).limit(limit))
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(db.scalars(query))


# ---- the caller's own inbox -------------------------------------------------------------------------

class InboxRepo:
    """The in-app notifications of the signed-in user (nobody else's are ever visible)."""

    def __init__(self, db: Session, principal: Principal) -> None:
        self.db, self.principal = db, principal

    def _base(self):  # type: ignore[no-untyped-def]
        return select(Notification).where(Notification.user_id == self.principal.user_id,
                                          Notification.org_id == self.principal.org_id,
                                          Notification.channel == "in_app")

    def list(self, *, unread: bool, limit: int, offset: int) -> tuple[list[Notification], int]:
        query = self._base()
        if unread:
            query = query.where(Notification.read_at.is_(None))
        total = self.db.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.db.scalars(query.order_by(Notification.created_at.desc(), Notification.id.desc())
                               .limit(limit).offset(offset))
        return list(rows), total

    def unread_count(self) -> int:
        query = self._base().where(Notification.read_at.is_(None))
        return self.db.scalar(select(func.count()).select_from(query.subquery())) or 0

    def get(self, notification_id: uuid.UUID) -> Notification:
        note = self.db.scalar(self._base().where(Notification.id == notification_id))
        if note is None:
            raise NotFound("notification")
        return note

    def mark_all_read(self, now: datetime) -> int:
        result = self.db.execute(
            update(Notification)
            .where(Notification.user_id == self.principal.user_id, Notification.org_id == self.principal.org_id,
                   Notification.channel == "in_app", Notification.read_at.is_(None))
            .values(read_at=now).execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0)

    def prefs(self) -> NotificationPreference | None:
        return self.db.get(NotificationPreference, self.principal.user_id)


class AdminRepo:
    """Organisation-wide notification records for admins / dispatchers (scoped to their organisation)."""

    def __init__(self, db: Session, principal: Principal) -> None:
        self.db, self.principal = db, principal

    def webhooks(self) -> list[WebhookSubscription]:
        return list(self.db.scalars(select(WebhookSubscription)
                                    .where(WebhookSubscription.org_id == self.principal.org_id)
                                    .order_by(WebhookSubscription.created_at, WebhookSubscription.id)))

    def webhook(self, webhook_id: uuid.UUID) -> WebhookSubscription:
        hook = self.db.get(WebhookSubscription, webhook_id)
        if hook is None or hook.org_id != self.principal.org_id:
            raise NotFound("webhook")
        return hook

    def deliveries(self, *, status: str | None, channel: str | None, work_order_id: uuid.UUID | None,
                   limit: int, offset: int) -> tuple[list[Notification], int]:
        query = select(Notification).where(Notification.org_id == self.principal.org_id,
                                           Notification.channel != "in_app")
        if status:
            query = query.where(Notification.status == status)
        if channel:
            query = query.where(Notification.channel == channel)
        if work_order_id:
            query = query.where(Notification.work_order_id == work_order_id)
        total = self.db.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.db.scalars(query.order_by(Notification.created_at.desc(), Notification.id.desc())
                               .limit(limit).offset(offset))
        return list(rows), total

    def attempts(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[NotificationAttempt]]:
        out: dict[uuid.UUID, list[NotificationAttempt]] = {i: [] for i in ids}
        if ids:
            for a in self.db.scalars(select(NotificationAttempt)
                                     .where(NotificationAttempt.notification_id.in_(list(ids)))
                                     .order_by(NotificationAttempt.attempt)):
                out[a.notification_id].append(a)
        return out


def tracking_view(db: Session, work_order_id: uuid.UUID, org_id: uuid.UUID,
                  ) -> tuple[WorkOrder, Technician | None, str | None, str | None] | None:
    """The work order a tracking token names (same organisation), its technician, and the service type's names."""
    wo = db.get(WorkOrder, work_order_id)
    if wo is None or wo.org_id != org_id:
        return None
    tech = db.get(Technician, wo.technician_id) if wo.technician_id else None
    st = db.get(ServiceType, wo.service_type_id)
    return wo, tech, st.name if st else None, st.name_zh if st else None
