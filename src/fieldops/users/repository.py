"""Every query of the users module, scoped to the caller's organisation."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from sqlalchemy import column, delete, func, or_, select, table, text
from sqlalchemy.orm import Session

from fieldops.core.auth import Principal
from fieldops.core.errors import InvalidInput, NotFound
from fieldops.users.models import AuthSession, LoginFailure, LoginLock, PasswordResetCode, User, UserTerritory


def find_by_login(db: Session, email: str | None, phone: str | None) -> User | None:
    conds = []
    if email:
        conds.append(func.lower(User.email) == email.lower())
    if phone:
        conds.append(User.phone == phone)
    if not conds:
        return None
    return db.scalars(select(User).where(or_(*conds))).first()


def serialize_on(db: Session, key: str) -> None:
    """Hold a transaction-scoped lock on a throttle key, so concurrent sign-ins of one account are judged one
    after another (PostgreSQL advisory lock; SQLite serializes writers already)."""
    if db.get_bind().dialect.name == "postgresql":
        number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": number})


def get_user_unscoped(db: Session, user_id: uuid.UUID) -> User | None:
    """Only for authentication, before a principal exists."""
    return db.get(User, user_id)


def territory_ids(db: Session, user_id: uuid.UUID) -> list[uuid.UUID]:
    return list(db.scalars(select(UserTerritory.territory_id).where(UserTerritory.user_id == user_id)))


_TERRITORIES = table("territories", column("id"), column("org_id"))


def set_territories(db: Session, user_id: uuid.UUID, ids: list[uuid.UUID], org_id: uuid.UUID) -> None:
    """Replace a user's territories; each must be a territory of their organisation (else 422, not a 500)."""
    wanted = set(ids)
    found = set(db.scalars(select(_TERRITORIES.c.id).where(_TERRITORIES.c.id.in_(wanted),
                                                            _TERRITORIES.c.org_id == org_id))) if wanted else set()
    if found != wanted:
        raise InvalidInput("Some territories do not exist.", "部分区域不存在。", field="territory_ids")
    db.execute(delete(UserTerritory).where(UserTerritory.user_id == user_id))
    for tid in dict.fromkeys(ids):
        db.add(UserTerritory(user_id=user_id, territory_id=tid))
    db.flush()


class UserRepository:
    """Users visible to a principal: admins and managers see their organisation; others only themselves."""

    def __init__(self, db: Session, principal: Principal) -> None:
        self.db, self.p = db, principal

    def _base(self):  # type: ignore[no-untyped-def]
        q = select(User).where(User.org_id == self.p.org_id)
        if self.p.role.value not in ("admin", "supervisor", "dispatcher", "agent", "system"):
            q = q.where(User.id == self.p.user_id)
        return q

    def get(self, user_id: uuid.UUID) -> User:
        user = self.db.scalars(self._base().where(User.id == user_id)).first()
        if user is None:
            raise NotFound("user")
        return user

    def list(self, *, role: str | None, q: str | None, limit: int, offset: int) -> tuple[list[User], int]:
        query = self._base()
        if role:
            query = query.where(User.role == role)
        if q:
            like = f"%{q.lower()}%"
            query = query.where(or_(func.lower(User.name).like(like), func.lower(User.email).like(like),
                                    User.phone.like(like)))
        total = self.db.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.db.scalars(query.order_by(User.created_at, User.id).limit(limit).offset(offset)).all()
        return list(rows), total


# ---- sessions and throttling (not tenant data: keyed by user or login key) ----------------------

def get_session(db: Session, session_id: uuid.UUID) -> AuthSession | None:
    return db.get(AuthSession, session_id)


def revoke_all_sessions(db: Session, user_id: uuid.UUID, now: datetime) -> None:
    for s in db.scalars(select(AuthSession).where(AuthSession.user_id == user_id,
                                                   AuthSession.revoked_at.is_(None))):
        s.revoked_at = now
    db.flush()


def count_failures(db: Session, key: str, since: datetime) -> int:
    return db.scalar(select(func.count()).where(LoginFailure.key == key, LoginFailure.at >= since)) or 0


def clear_failures(db: Session, key: str) -> None:
    db.execute(delete(LoginFailure).where(LoginFailure.key == key))


def get_lock(db: Session, key: str) -> LoginLock | None:
    return db.get(LoginLock, key)


def active_reset_codes(db: Session, user_id: uuid.UUID, now: datetime) -> list[PasswordResetCode]:
    return list(db.scalars(select(PasswordResetCode).where(
        PasswordResetCode.user_id == user_id, PasswordResetCode.used_at.is_(None),
        PasswordResetCode.expires_at > now).order_by(PasswordResetCode.created_at.desc())))
