"""Use cases of sign-in, sessions, password policy and user administration."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fieldops.core.auth import Principal, Role, require_role
from fieldops.core.errors import InvalidInput, NotFound, TooManyRequests, Unauthorized, conflict
from fieldops.core.security import (
    check_password_policy,
    decode_token,
    dummy_hash,
    hash_password,
    issue_token,
    one_time_code,
    sha256_hex,
    verify_password,
)
from fieldops.core.web import Ctx, check_if_match
from fieldops.notifications import service as notifications
from fieldops.settings import Settings
from fieldops.users import repository as repo
from fieldops.users.models import AuthSession, LoginFailure, LoginLock, PasswordResetCode, User
from fieldops.users.rules import account_key, address_key, lock_seconds, looks_like_email, normalize_phone
from fieldops.users.schemas import TokenPair, UserCreate, UserRead, UserUpdate


def find_login(db: Session, username: str) -> User | None:
    """The user whose e-mail or phone number is `username`."""
    if looks_like_email(username):
        return repo.find_by_login(db, username.strip(), None)
    phone = normalize_phone(username)
    return repo.find_by_login(db, None, phone) if phone else None


def _check_locks(db: Session, keys: list[str], now: datetime) -> None:
    for key in keys:
        lock = repo.get_lock(db, key)
        if lock and lock.locked_until > now:
            raise TooManyRequests(max(1, math.ceil((lock.locked_until - now).total_seconds())))


def _record_failure(db: Session, settings: Settings, keys: list[tuple[str, int]], now: datetime) -> None:
    since = now - timedelta(minutes=settings.login_window_minutes)
    for key, limit in keys:
        db.add(LoginFailure(key=key, at=now))
        db.flush()
        if repo.count_failures(db, key, since) >= limit:
            lock = repo.get_lock(db, key) or LoginLock(key=key, locked_until=now, strikes=0)
            lock.strikes += 1
            lock.locked_until = now + timedelta(seconds=lock_seconds(settings.login_lockout_seconds,
                                                                     lock.strikes))
            db.add(lock)
            repo.clear_failures(db, key)
    db.flush()


def login(db: Session, settings: Settings, *, username: str, password: str, client_addr: str,
          user_agent: str | None, now: datetime) -> TokenPair:
    """Check the password and open a session; failures count towards the throttle.

    Raises 401 for a wrong name or password (the same answer for both) and 429 while throttled.
    The caller must commit even when this raises, so that failures are counted.
    """
    user = find_login(db, username)
    acct = account_key(str(user.id) if user else username)
    addr = address_key(client_addr)
    # Parallel guesses must not all pass the check before the first failure is counted (nor race on the lock row).
    repo.serialize_on(db, acct)
    repo.serialize_on(db, addr)
    _check_locks(db, [acct, addr], now)
    ok = verify_password(user.password_hash if user else dummy_hash(settings.password_hash_profile), password)
    if not ok or user is None:
        _record_failure(db, settings, [(acct, settings.login_max_failures),
                                       (addr, settings.login_max_failures * 4)], now)
        raise Unauthorized("bad_credentials")
    if not user.is_active:
        raise Unauthorized("account_disabled")
    repo.clear_failures(db, acct)
    lock = repo.get_lock(db, acct)
    if lock:
        db.delete(lock)
    user.last_login_at = now
    return open_session(db, settings, user, client_addr, user_agent, now)


def open_session(db: Session, settings: Settings, user: User, client_addr: str | None,
                  user_agent: str | None, now: datetime) -> TokenPair:
    session = AuthSession(id=uuid.uuid4(), user_id=user.id, refresh_jti="", created_at=now,
                          expires_at=now + timedelta(days=settings.refresh_token_days),
                          client_addr=client_addr, user_agent=(user_agent or "")[:300])
    db.add(session)
    return _issue_pair(settings, session, user.id, now)


def _issue_pair(settings: Settings, session: AuthSession, user_id: uuid.UUID, now: datetime) -> TokenPair:
    key = settings.signing_key()
    ttl = timedelta(minutes=settings.access_token_minutes)
    access, _ = issue_token(key, user_id=user_id, session_id=session.id, kind="access", now=now, ttl=ttl)
    refresh, claims = issue_token(key, user_id=user_id, session_id=session.id, kind="refresh", now=now,
                                  ttl=timedelta(days=settings.refresh_token_days))
    session.refresh_jti = claims.jti
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=int(ttl.total_seconds()))


def refresh(db: Session, settings: Settings, refresh_token: str, now: datetime) -> TokenPair:
    """Rotate the refresh token; a reused (already rotated) token revokes the whole session."""
    claims = decode_token(settings.signing_key(), refresh_token, kind="refresh", now=now)
    session = repo.get_session(db, claims.session_id)
    if session is None or session.revoked_at is not None or session.expires_at <= now:
        raise Unauthorized("invalid_token")
    if session.refresh_jti != claims.jti:
        session.revoked_at = now  # token theft signal: kill the session
        db.flush()
        raise Unauthorized("invalid_token")
    user = repo.get_user_unscoped(db, claims.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("invalid_token")
    return _issue_pair(settings, session, user.id, now)


def authenticate(db: Session, settings: Settings, access_token: str, now: datetime) -> Principal:
    """The principal behind an access token; 401 if invalid, expired, revoked or disabled."""
    claims = decode_token(settings.signing_key(), access_token, kind="access", now=now)
    session = repo.get_session(db, claims.session_id)
    if session is None or session.revoked_at is not None or session.user_id != claims.user_id:
        raise Unauthorized("invalid_token")
    user = repo.get_user_unscoped(db, claims.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("invalid_token")
    role = Role(user.role)
    territories = frozenset(repo.territory_ids(db, user.id)) if role == Role.supervisor else frozenset()
    return Principal(user_id=user.id, org_id=user.org_id, role=role, name=user.name,
                     technician_id=user.technician_id, customer_id=user.customer_id,
                     territory_ids=territories, session_id=session.id, locale=user.locale)


def logout(ctx: Ctx) -> None:
    """Revoke the caller's session: its access and refresh tokens stop working."""
    if ctx.principal.session_id:
        session = repo.get_session(ctx.db, ctx.principal.session_id)
        if session and session.revoked_at is None:
            session.revoked_at = ctx.now
    ctx.db.flush()


def change_password(ctx: Ctx, current: str, new: str) -> None:
    """Change the caller's password; every session of theirs is revoked."""
    user = repo.get_user_unscoped(ctx.db, ctx.principal.user_id)
    if user is None:
        raise Unauthorized("invalid_token")
    if not verify_password(user.password_hash, current):
        raise InvalidInput("The current password is wrong.", "当前密码不正确。", field="current_password")
    _set_password(ctx.db, ctx.settings, user, new, ctx.now)


def _set_password(db: Session, settings: Settings, user: User, new: str, now: datetime) -> None:
    check_password_policy(new)
    user.password_hash = hash_password(new, settings.password_hash_profile)
    user.password_changed_at = now
    repo.revoke_all_sessions(db, user.id, now)


def request_password_reset(db: Session, settings: Settings, username: str, now: datetime) -> None:
    """Send a one-time code to the account's e-mail (or phone). Silent when the account is unknown."""
    user = find_login(db, username)
    if user is None or not user.is_active:
        return
    code = one_time_code()
    for old in repo.active_reset_codes(db, user.id, now):
        old.used_at = now  # only the newest code works
    db.add(PasswordResetCode(user_id=user.id, code_hash=sha256_hex(f"{user.id}:{code}"), created_at=now,
                             expires_at=now + timedelta(minutes=settings.reset_code_minutes)))
    minutes = settings.reset_code_minutes
    if user.locale == "zh-CN":
        subject = "fieldops 密码重置验证码"
        body = f"您的验证码是 {code}，{minutes} 分钟内有效。如非本人操作请忽略。"
    else:
        subject = "Your fieldops password reset code"
        body = f"Your code is {code}. It expires in {minutes} minutes. Ignore this if you did not ask."
    channel, recipient = ("email", user.email) if user.email else ("sms", user.phone or "")
    notifications.enqueue(db, channel=channel, recipient=recipient, subject=subject, body=body, now=now,
                          org_id=user.org_id, user_id=user.id)
    db.flush()


def confirm_password_reset(db: Session, settings: Settings, username: str, code: str, new_password: str,
                           now: datetime) -> None:
    """Set a new password with the code; five wrong codes burn it."""
    user = find_login(db, username)
    codes = repo.active_reset_codes(db, user.id, now) if user else []
    if user is None or not codes:
        raise InvalidInput("The code is wrong or has expired. Ask for a new one.",
                           "验证码错误或已过期，请重新获取。", field="code")
    current = codes[0]
    if current.code_hash != sha256_hex(f"{user.id}:{code}"):
        current.attempts += 1
        if current.attempts >= 5:
            current.used_at = now
        db.flush()
        raise InvalidInput("The code is wrong or has expired. Ask for a new one.",
                           "验证码错误或已过期，请重新获取。", field="code")
    _set_password(db, settings, user, new_password, now)
    current.used_at = now
    repo.clear_failures(db, account_key(str(user.id)))
    db.flush()


# ---- administration -----------------------------------------------------------------------------

def to_read(db: Session, user: User) -> UserRead:
    read = UserRead.model_validate(user)
    read.territory_ids = repo.territory_ids(db, user.id)
    return read


def create_user(ctx: Ctx, data: UserCreate, *, technician_id: uuid.UUID | None = None,
                customer_id: uuid.UUID | None = None) -> User:
    """Create a login in the caller's organisation (admins; other modules when linking a person)."""
    if technician_id is None and customer_id is None:
        require_role(ctx.principal, {Role.admin}, "create users")
    if not data.email and not data.phone:
        raise InvalidInput("Give an e-mail address or a phone number to sign in with.",
                           "请至少填写邮箱或手机号作为登录名。", field="email")
    check_password_policy(data.password)
    _ensure_unique_login(ctx.db, data.email, data.phone, None)
    user = User(org_id=ctx.principal.org_id, email=str(data.email).lower() if data.email else None,
                phone=data.phone, name=data.name, role=data.role, locale=data.locale,
                password_hash=hash_password(data.password, ctx.settings.password_hash_profile),
                technician_id=technician_id, customer_id=customer_id, password_changed_at=ctx.now)
    ctx.db.add(user)
    try:
        ctx.db.flush()
    except IntegrityError:
        raise conflict("That e-mail address or phone number is already in use.", "该邮箱或手机号已被使用。")
    if data.territory_ids:
        repo.set_territories(ctx.db, user.id, data.territory_ids, user.org_id)
    return user


def _ensure_unique_login(db: Session, email: str | None, phone: str | None, own_id: uuid.UUID | None) -> None:
    if email:
        other = repo.find_by_login(db, str(email), None)
        if other and other.id != own_id:
            raise conflict("That e-mail address is already in use.", "该邮箱已被使用。")
    if phone:
        other = repo.find_by_login(db, None, phone)
        if other and other.id != own_id:
            raise conflict("That phone number is already in use.", "该手机号已被使用。")


def update_user(ctx: Ctx, user_id: uuid.UUID, data: UserUpdate, if_match: str | None = None) -> User:
    """Admins change a user's role, names, login, status or territories. Deactivation revokes sessions."""
    user = UserRepository(ctx).get(user_id)
    require_role(ctx.principal, {Role.admin}, "change users")
    check_if_match(if_match, user.version)
    fields = data.model_dump(exclude_unset=True)
    if fields.get("is_active") is False and user.id == ctx.principal.user_id:
        raise conflict("You cannot deactivate yourself.", "不能停用自己的账号。")
    _ensure_unique_login(ctx.db, fields.get("email"), fields.get("phone"), user.id)
    territory_ids = fields.pop("territory_ids", None)
    for name, value in fields.items():
        if value is None and name in ("name", "role", "locale", "is_active"):
            continue
        setattr(user, name, str(value).lower() if name == "email" and value else value)
    if fields.get("is_active") is False:
        repo.revoke_all_sessions(ctx.db, user.id, ctx.now)
    if territory_ids is not None:
        repo.set_territories(ctx.db, user.id, territory_ids, user.org_id)
    ctx.db.flush()
    return user


def unlock_user(ctx: Ctx, user_id: uuid.UUID) -> None:
    """Admins lift a login throttle on an account."""
    user = UserRepository(ctx).get(user_id)
    require_role(ctx.principal, {Role.admin}, "unlock accounts")
    key = account_key(str(user.id))
    repo.clear_failures(ctx.db, key)
    lock = repo.get_lock(ctx.db, key)
    if lock:
        ctx.db.delete(lock)
    ctx.db.flush()


def UserRepository(ctx: Ctx) -> repo.UserRepository:
    return repo.UserRepository(ctx.db, ctx.principal)


def get_user(ctx: Ctx, user_id: uuid.UUID) -> User:
    return UserRepository(ctx).get(user_id)


def list_users(ctx: Ctx, *, role: str | None, q: str | None, limit: int, offset: int) -> tuple[list[User], int]:
    return UserRepository(ctx).list(role=role, q=q, limit=limit, offset=offset)


def update_me(ctx: Ctx, name: str | None, locale: str | None) -> User:
    user = repo.get_user_unscoped(ctx.db, ctx.principal.user_id)
    if user is None:
        raise NotFound("user")
    if name:
        user.name = name
    if locale:
        user.locale = locale
    ctx.db.flush()
    return user


def get_user_self(ctx: Ctx) -> User:
    user = repo.get_user_unscoped(ctx.db, ctx.principal.user_id)
    if user is None:
        raise NotFound("user")
    return user
