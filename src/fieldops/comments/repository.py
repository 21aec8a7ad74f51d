"""Every comment query. Callers load the work order through WorkOrderRepository first (visibility)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from fieldops.comments.models import Comment
from fieldops.comments.rules import CUSTOMER
from fieldops.core.errors import NotFound
from fieldops.users.models import User, UserTerritory


class CommentRepository:
    def __init__(self, db: Session) -> None:
        self.db = db

    def _thread(self, work_order_id: uuid.UUID, include_internal: bool) -> Select[Any]:
        q = select(Comment).where(Comment.work_order_id == work_order_id)
        if not include_internal:
            q = q.where(Comment.visibility == CUSTOMER)
        return q

    def next_seq(self, work_order_id: uuid.UUID) -> int:
        last = self.db.scalar(select(func.max(Comment.seq)).where(Comment.work_order_id == work_order_id))
        return int(last or 0) + 1

    def get(self, work_order_id: uuid.UUID, comment_id: uuid.UUID, include_internal: bool) -> Comment:
        q = self._thread(work_order_id, include_internal).where(Comment.id == comment_id)
        c: Comment | None = self.db.scalars(q).first()
        if c is None:
            raise NotFound("comment")
        return c

    def page(self, work_order_id: uuid.UUID, include_internal: bool, after_seq: int, limit: int,
             offset: int) -> tuple[list[Comment], int]:
        q = self._thread(work_order_id, include_internal).where(Comment.seq > after_seq)
        total = self.db.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows: list[Comment] = list(self.db.scalars(q.order_by(Comment.seq).limit(limit).offset(offset)))
        return rows, int(total)


@dataclass(frozen=True)
class Mentionable:
    id: uuid.UUID
    name: str
    email: str | None
    phone: str | None
    role: str
    org_id: uuid.UUID
    technician_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    territory_ids: frozenset[uuid.UUID]


def users_named(db: Session, org_id: uuid.UUID, candidates: list[str], phones: list[str]) -> list[Mentionable]:
    """Active users of the organisation whose display name, e-mail or phone is one of the candidates."""
    if not candidates:
        return []
    conds = [func.lower(User.name).in_(candidates), func.lower(User.email).in_(candidates)]
    if phones:
        conds.append(User.phone.in_(phones))
    users = list(db.scalars(select(User).where(User.org_id == org_id, User.is_active.is_(True), or_(*conds))
                            .limit(200)))
    sup_ids = [u.id for u in users if u.role == "supervisor"]
    territories: dict[uuid.UUID, set[uuid.UUID]] = {}
    if sup_ids:
        for user_id, territory_id in db.execute(select(UserTerritory.user_id, UserTerritory.territory_id)
                                                .where(UserTerritory.user_id.in_(sup_ids))):
            territories.setdefault(user_id, set()).add(territory_id)
    return [Mentionable(u.id, u.name, u.email, u.phone, u.role, u.org_id, u.technician_id, u.customer_id,
                        frozenset(territories.get(u.id, set()))) for u in users]
