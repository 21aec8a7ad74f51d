"""Queue notifications inside the caller's transaction; the worker delivers them after commit.

`notify(...)` is the one entry point other modules use (see the cross-module contract in the docs):
it renders a template in each recipient's language, picks channels from the recipient's preferences
(or the caller's explicit list), stores in-app messages (and records `notification.created` for the live
bell) and queues one row per recipient × external channel.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from fieldops.core.auth import Role, require_role
from fieldops.core.errors import InvalidInput, NotFound, Unauthorized
from fieldops.core.events import record_event
from fieldops.core.web import Ctx, check_if_match
from fieldops.notifications import repository as repo
from fieldops.notifications import rules, tracking
from fieldops.notifications.channels import Channel
from fieldops.notifications.models import (
    ChannelConfig,
    Notification,
    NotificationAttempt,
    NotificationPreference,
    WebhookSubscription,
)
from fieldops.notifications.schemas import (
    ChannelsRead,
    ChannelState,
    ChannelsUpdate,
    Milestone,
    PreferencesRead,
    PreferencesUpdate,
    TechnicianPosition,
    TrackingRead,
    WebhookCreate,
    WebhookUpdate,
)
from fieldops.notifications.templates import URGENT
from fieldops.settings import Settings
from fieldops.work_orders.rules import STATUS_ZH


@dataclass(frozen=True)
class Recipient:
    """Who to tell: a user account, or a bare e-mail address / phone number (e.g. a site contact)."""

    user_id: uuid.UUID | None = None
    email: str | None = None
    phone: str | None = None
    lang: str | None = None  # "en" | "zh-CN"; defaults to the user's language or the org's
    name: str | None = None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _prefs(row: NotificationPreference | None) -> rules.Prefs:
    if row is None:
        return rules.Prefs()
    return rules.Prefs(channels=dict(row.channels or {}), groups=dict(row.groups or {}),
                       quiet_start=row.quiet_start, quiet_end=row.quiet_end)


def org_defaults(db: Session, org_id: uuid.UUID) -> tuple[str, str]:
    """(language, time zone) of an organisation: settings.locale or en, and its time zone."""
    org = repo.get_org(db, org_id)
    if org is None:
        return "en", "UTC"
    lang = rules.normalize_lang(str((org.settings or {}).get("locale") or "")) or "en"
    return lang, org.timezone or "UTC"


def disabled_channels(db: Session, org_id: uuid.UUID) -> set[str]:
    """External channels the organisation switched off (an unconfigured channel uses the local mailbox)."""
    cfg = repo.channel_config(db, org_id)
    if cfg is None:
        return set()
    return {ch for ch, c in (cfg.config or {}).items() if isinstance(c, dict) and c.get("enabled") is False}


def notify(db: Session, *, org_id: uuid.UUID, template: str, params: dict[str, Any],
           recipients: list[Recipient], now: datetime, work_order_id: uuid.UUID | None = None,
           channels: list[str] | None = None, dedupe_key: str | None = None) -> list[Notification]:
    """Queue one message per recipient × channel inside the caller's transaction (sent after commit by the worker).

    channels=None → the user's preferences for this template (defaults: staff in_app+email, customers sms+email);
    explicit channels e.g. ["in_app", "email", "sms", "wecom", "dingtalk", "webhook"]. dedupe_key makes a repeat
    a no-op. Group robots (wecom, dingtalk) get one message per call, webhooks one per matching subscription.
    """
    params = _jsonable(dict(params))
    org_lang, org_tz = org_defaults(db, org_id)
    off = disabled_channels(db, org_id)
    seen = repo.existing_dedupe(db, org_id, dedupe_key) if dedupe_key else set()
    group = rules.template_group(template)
    user_ids = [r.user_id for r in recipients if r.user_id]
    users = repo.users_by_ids(db, user_ids)
    prefs = repo.prefs_by_users(db, user_ids)
    out: list[Notification] = []
    org_wide_done: set[str] = set()

    def add(channel: str, recipient: str, lang: str, *, user_id: uuid.UUID | None = None,
            due: datetime | None = None, data: dict[str, Any] | None = None) -> Notification | None:
        if (channel, recipient) in seen or (channel != "in_app" and channel in off):
            return None
        seen.add((channel, recipient))
        subject, body = rules.render(template, lang, params)
        in_app = channel == "in_app"
        note = Notification(id=uuid.uuid4(), org_id=org_id, user_id=user_id, channel=channel, recipient=recipient,
                            subject=subject, body=body, status="sent" if in_app else "pending", attempts=0,
                            created_at=now, sent_at=now if in_app else None,
                            next_attempt_at=None if in_app else (due or now), template=template, lang=lang,
                            work_order_id=work_order_id, dedupe_key=dedupe_key,
                            data={"params": params, **(data or {})})
        db.add(note)
        out.append(note)
        if in_app and user_id is not None:
            record_event(db, type="notification.created", aggregate_type="notification", aggregate_id=note.id,
                         org_id=org_id, now=now,
                         payload={"user_id": str(user_id), "notification_id": str(note.id), "title": subject,
                                  "subject": subject, "body": body[:500], "template": template})
        return note

    for r in recipients:
        user = users.get(r.user_id) if r.user_id else None
        if r.user_id and (user is None or user.org_id != org_id or not user.is_active):
            continue  # never message someone outside the organisation
        pref_row = prefs.get(user.id) if user else None
        pref = _prefs(pref_row)
        lang = (rules.normalize_lang(r.lang) or rules.normalize_lang(pref_row.lang if pref_row else None)
                or rules.normalize_lang(user.locale if user else None) or org_lang)
        email = r.email or (user.email if user else None)
        phone = r.phone or (user.phone if user else None)
        if user is not None:
            chosen = rules.choose_channels(channels, group=group, is_customer=user.role == "customer", prefs=pref)
        elif channels is None:
            chosen = [ch for ch, addr in (("sms", phone), ("email", email)) if addr]
        else:
            chosen = [ch for ch in rules.choose_channels(channels, group=group, is_customer=True, prefs=pref)
                      if ch != "in_app"]
        quiet = None
        if template not in URGENT and pref.quiet_start:
            quiet = rules.quiet_until(now, pref.quiet_start, pref.quiet_end, org_tz)
        for ch in chosen:
            if ch == "in_app" and user is not None:
                add("in_app", str(user.id), lang, user_id=user.id)
            elif ch == "email" and email:
                add("email", email, lang, user_id=user.id if user else None, due=quiet)
            elif ch == "sms" and phone:
                add("sms", phone, lang, user_id=user.id if user else None, due=quiet)
            elif ch in ("wecom", "dingtalk") and ch not in org_wide_done:
                org_wide_done.add(ch)
                add(ch, ch, lang)
            elif ch == "webhook" and ch not in org_wide_done:
                org_wide_done.add(ch)
                _queue_webhooks(db, org_id, template, params, now, add, lang, work_order_id)
    if not recipients and channels:
        # Org-wide channels need no person (e.g. "post this to the ops group").
        for ch in channels:
            if ch in ("wecom", "dingtalk"):
                add(ch, ch, org_lang)
            elif ch == "webhook":
                _queue_webhooks(db, org_id, template, params, now, add, org_lang, work_order_id)
    db.flush()
    return out


def _queue_webhooks(db: Session, org_id: uuid.UUID, event_type: str, data: dict[str, Any], now: datetime,
                    add: Any, lang: str, work_order_id: uuid.UUID | None) -> None:
    for hook in repo.active_webhooks(db, org_id):
        if rules.event_matches(hook.event_types or [], event_type):
            add("webhook", str(hook.id), lang,
                data={"event": {"type": event_type, "timestamp": now.isoformat(), "data": data}})


def publish_event(db: Session, *, org_id: uuid.UUID, event_type: str, event_id: uuid.UUID, payload: dict[str, Any],
                  occurred_at: datetime, now: datetime) -> list[Notification]:
    """Queue a domain event for every active webhook subscription whose filters match it (once per event)."""
    out: list[Notification] = []
    key = f"event:{event_id}"
    seen = repo.existing_dedupe(db, org_id, key)
    for hook in repo.active_webhooks(db, org_id):
        if not rules.event_matches(hook.event_types or [], event_type) or ("webhook", str(hook.id)) in seen:
            continue
        body = {"type": event_type, "timestamp": occurred_at.isoformat(), "data": _jsonable(payload)}
        note = Notification(id=uuid.uuid4(), org_id=org_id, channel="webhook", recipient=str(hook.id),
                            subject=event_type, body="", status="pending", attempts=0, created_at=now,
                            next_attempt_at=now, template=event_type, lang="en", dedupe_key=key,
                            work_order_id=_uuid_or_none(payload.get("work_order_id")),
                            data={"event": body, "event_id": str(event_id)})
        db.add(note)
        out.append(note)
    db.flush()
    return out


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def enqueue(db: Session, *, channel: str, recipient: str, subject: str, body: str, now: datetime,
            org_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None) -> Notification:
    """Queue one pre-rendered message (codes for sign-in / sign-up); sent only if the transaction commits."""
    note = Notification(org_id=org_id, user_id=user_id, channel=channel, recipient=recipient, subject=subject[:300],
                        body=body, created_at=now, next_attempt_at=now, status="pending", attempts=0, data={})
    db.add(note)
    return note


def deliver_pending(db: Session, sender: Channel, now: datetime, limit: int = 100) -> int:
    """Send due messages through one sender synchronously (tests and tools; the worker uses delivery.py)."""
    from fieldops.notifications.delivery import deliver_with

    return deliver_with(db, sender, now, limit)


# ==== use cases of the API ===========================================================================

def _inbox(ctx: Ctx) -> repo.InboxRepo:
    return repo.InboxRepo(ctx.db, ctx.principal)


def list_inbox(ctx: Ctx, *, unread: bool, limit: int, offset: int) -> tuple[list[Notification], int, int]:
    """The caller's in-app notifications, newest first, with the unread count."""
    inbox = _inbox(ctx)
    rows, total = inbox.list(unread=unread, limit=limit, offset=offset)
    return rows, total, inbox.unread_count()


def unread_count(ctx: Ctx) -> int:
    return _inbox(ctx).unread_count()


def mark_read(ctx: Ctx, notification_id: uuid.UUID) -> Notification:
    """Mark one of the caller's in-app notifications read (idempotent); another's is 404."""
    note = _inbox(ctx).get(notification_id)
    if note.read_at is None:
        note.read_at = ctx.now
        ctx.db.flush()
    return note


def mark_all_read(ctx: Ctx) -> int:
    marked = _inbox(ctx).mark_all_read(ctx.now)
    ctx.db.flush()
    return marked


def _is_customer(ctx: Ctx) -> bool:
    return ctx.principal.role == Role.customer


def get_preferences(ctx: Ctx) -> PreferencesRead:
    """The caller's effective notification preferences (defaults filled in)."""
    row = _inbox(ctx).prefs()
    defaults = rules.default_channels(_is_customer(ctx))
    stored = dict(row.channels or {}) if row else {}
    return PreferencesRead(
        lang=row.lang if row else None,
        channels={ch: bool(stored.get(ch, ch in defaults)) for ch in rules.PERSONAL},
        groups={g: {k: bool(v) for k, v in c.items()} for g, c in (row.groups or {}).items()} if row else {},
        quiet_start=row.quiet_start if row else None, quiet_end=row.quiet_end if row else None,
        defaults=list(defaults), version=row.version if row else 0)


def put_preferences(ctx: Ctx, body: PreferencesUpdate, if_match: str | None) -> PreferencesRead:
    """Replace the caller's preferences (If-Match optional: only the caller writes them)."""
    row = _inbox(ctx).prefs()
    if if_match:
        check_if_match(if_match, row.version if row else 0)
    if row is None:
        row = NotificationPreference(user_id=ctx.principal.user_id, org_id=ctx.principal.org_id,
                                     updated_at=ctx.now)
        ctx.db.add(row)
    row.lang = body.lang
    row.channels = {str(k): v for k, v in body.channels.items()}
    row.groups = {str(g): {str(k): v for k, v in c.items()} for g, c in body.groups.items()}
    row.quiet_start, row.quiet_end = body.quiet_start, body.quiet_end
    row.updated_at = ctx.now
    ctx.db.flush()
    return get_preferences(ctx)


# ---- organisation channel configuration --------------------------------------------------------------

SECRET_FIELDS = {"email": ("password",), "sms": ("token",), "wecom": ("webhook_url",),
                 "dingtalk": ("webhook_url", "secret")}


def _require_admin(ctx: Ctx, action: str) -> None:
    require_role(ctx.principal, {Role.admin}, action)


def get_channels(ctx: Ctx) -> ChannelsRead:
    """Each external channel: enabled, where it delivers now, its settings; secrets only as 'set'."""
    _require_admin(ctx, "view notification channels")
    cfg = repo.channel_config(ctx.db, ctx.principal.org_id)
    config = dict(cfg.config or {}) if cfg else {}
    secrets = dict(cfg.secrets or {}) if cfg else {}
    s = ctx.settings
    out: dict[str, ChannelState] = {}
    for ch in rules.EXTERNAL:
        c = dict(config.get(ch) or {})
        sec = {k for k, v in dict(secrets.get(ch) or {}).items() if v}
        enabled = c.pop("enabled", True) is not False
        if ch == "email":
            mode = "configured" if c.get("host") else ("settings" if s.smtp_host else "local")
        elif ch == "sms":
            mode = "configured" if c.get("url") else ("settings" if s.sms_url else "local")
        elif ch in ("wecom", "dingtalk"):
            mode = "configured" if "webhook_url" in sec else "local"
        else:
            mode = "configured"
        out[ch] = ChannelState(enabled=enabled, mode=mode, settings=c, secrets_set=sorted(sec))  # type: ignore[arg-type]
    return ChannelsRead(channels=out, version=cfg.version if cfg else 0)


def put_channels(ctx: Ctx, body: ChannelsUpdate, if_match: str | None) -> ChannelsRead:
    """Change the named channels; secrets are write-only (kept when omitted, cleared via clear_secrets)."""
    _require_admin(ctx, "configure notification channels")
    cfg = repo.channel_config(ctx.db, ctx.principal.org_id)
    check_if_match(if_match, cfg.version if cfg else 0)
    if cfg is None:
        cfg = ChannelConfig(org_id=ctx.principal.org_id, config={}, secrets={}, updated_at=ctx.now)
        ctx.db.add(cfg)
    config = {k: dict(v) for k, v in (cfg.config or {}).items()}
    secrets = {k: dict(v) for k, v in (cfg.secrets or {}).items()}
    for ch in rules.EXTERNAL:
        part = getattr(body, ch)
        if part is None:
            continue
        data = part.model_dump()
        sec = secrets.setdefault(ch, {})
        for name in SECRET_FIELDS.get(ch, ()):
            value = data.pop(name, None)
            if value:
                sec[name] = value
        config[ch] = {k: v for k, v in data.items() if v is not None}
    for item in body.clear_secrets:
        ch, name = item.split(".", 1)
        if name not in SECRET_FIELDS.get(ch, ()):
            raise InvalidInput(f"{item} is not a secret of a channel.", f"{item} 不是渠道的密钥字段。",
                               field="clear_secrets")
        secrets.get(ch, {}).pop(name, None)
    cfg.config, cfg.secrets, cfg.updated_at = config, secrets, ctx.now
    ctx.db.flush()
    return get_channels(ctx)


# ---- webhook subscriptions ---------------------------------------------------------------------------

def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _check_secret(value: str) -> None:
    try:
        Webhook(value)
    except Exception as exc:
        raise InvalidInput("The secret must be whsec_ followed by base64 (at least 24 bytes).",
                           "密钥须为 whsec_ 加 base64 编码（至少 24 字节）。", field="secret") from exc


def list_webhooks(ctx: Ctx) -> list[WebhookSubscription]:
    _require_admin(ctx, "view webhooks")
    return repo.AdminRepo(ctx.db, ctx.principal).webhooks()


def get_webhook(ctx: Ctx, webhook_id: uuid.UUID) -> WebhookSubscription:
    hook = repo.AdminRepo(ctx.db, ctx.principal).webhook(webhook_id)
    _require_admin(ctx, "view webhooks")
    return hook


def create_webhook(ctx: Ctx, body: WebhookCreate) -> WebhookSubscription:
    """Subscribe an endpoint to events (a secret is generated unless given; it is shown only now)."""
    _require_admin(ctx, "create webhooks")
    secret = body.secret or new_webhook_secret()
    _check_secret(secret)
    hook = WebhookSubscription(org_id=ctx.principal.org_id, url=body.url, description=body.description,
                               event_types=list(body.event_types), secret=secret, active=body.active,
                               created_at=ctx.now, updated_at=ctx.now)
    ctx.db.add(hook)
    ctx.db.flush()
    return hook


def update_webhook(ctx: Ctx, webhook_id: uuid.UUID, body: WebhookUpdate, if_match: str | None,
                   ) -> tuple[WebhookSubscription, str | None]:
    hook = repo.AdminRepo(ctx.db, ctx.principal).webhook(webhook_id)
    _require_admin(ctx, "change webhooks")
    check_if_match(if_match, hook.version)
    for name in ("url", "description", "event_types", "active"):
        value = getattr(body, name)
        if value is not None:
            setattr(hook, name, list(value) if name == "event_types" else value)
    secret = None
    if body.rotate_secret:
        secret = hook.secret = new_webhook_secret()
    hook.updated_at = ctx.now
    ctx.db.flush()
    return hook, secret


def delete_webhook(ctx: Ctx, webhook_id: uuid.UUID, if_match: str | None) -> None:
    hook = repo.AdminRepo(ctx.db, ctx.principal).webhook(webhook_id)
    _require_admin(ctx, "delete webhooks")
    check_if_match(if_match, hook.version)
    ctx.db.delete(hook)
    ctx.db.flush()


def queue_webhook_test(ctx: Ctx, webhook_id: uuid.UUID) -> Notification:
    """Queue a signed `webhook.test` event for one subscription (the worker sends it)."""
    hook = repo.AdminRepo(ctx.db, ctx.principal).webhook(webhook_id)
    _require_admin(ctx, "test webhooks")
    event = {"type": "webhook.test", "timestamp": ctx.now.isoformat(),
             "data": {"webhook_id": str(hook.id), "message": "fieldops test event"}}
    note = Notification(id=uuid.uuid4(), org_id=hook.org_id, channel="webhook", recipient=str(hook.id),
                        subject="webhook.test", body="", status="pending", attempts=0, created_at=ctx.now,
                        next_attempt_at=ctx.now, template="webhook.test", lang="en", data={"event": event})
    ctx.db.add(note)
    ctx.db.flush()
    return note


# ---- delivery log --------------------------------------------------------------------------------------

def list_deliveries(ctx: Ctx, *, status: str | None, channel: str | None, work_order_id: uuid.UUID | None,
                    limit: int, offset: int) -> tuple[list[tuple[Notification, list[NotificationAttempt]]], int]:
    """Queued external messages of the organisation with their attempts (admins and dispatchers)."""
    require_role(ctx.principal, {Role.admin, Role.dispatcher}, "view the notification delivery log")
    admin = repo.AdminRepo(ctx.db, ctx.principal)
    rows, total = admin.deliveries(status=status, channel=channel, work_order_id=work_order_id, limit=limit,
                                   offset=offset)
    attempts = admin.attempts([n.id for n in rows])
    return [(n, attempts.get(n.id, [])) for n in rows], total


# ---- public tracking -----------------------------------------------------------------------------------

MILESTONES = (
    ("created", "created_at", "Request received", "已受理"),
    ("assigned", "assigned_at", "Technician assigned", "已派单"),
    ("accepted", "accepted_at", "Accepted by the technician", "技术员已接单"),
    ("en_route", "departed_at", "On the way", "技术员已出发"),
    ("on_site", "checked_in_at", "Arrived on site", "已到场"),
    ("in_progress", "started_at", "Work started", "开始服务"),
    ("work_completed", "work_completed_at", "Work completed", "已完工"),
    ("confirmed", "confirmed_at", "Confirmed", "已验收"),
    ("closed", "closed_at", "Closed", "已关闭"),
    ("cancelled", "cancelled_at", "Cancelled", "已取消"),
)


def track(db: Session, settings: Settings, token: str, now: datetime) -> TrackingRead:
    """What a customer's tracking link shows: progress only — nothing internal (no notes, costs, phones)."""
    try:
        claims = tracking.read_token(settings, token, now)
    except tracking.TrackTokenError as exc:
        raise Unauthorized(f"tracking_link_{exc.reason}") from exc
    view = repo.tracking_view(db, claims.work_order_id, claims.org_id)
    if view is None:
        raise NotFound("tracking_link")
    wo, tech, st_name, st_name_zh = view
    tech_name = tech.name if tech else None
    milestones = [Milestone(key=key, label={"en": en, "zh-CN": zh}, at=getattr(wo, attr))
                  for key, attr, en, zh in MILESTONES if getattr(wo, attr) is not None]
    milestones.sort(key=lambda m: m.at)
    first = tech_name.split()[0] if tech_name and " " in tech_name.strip() else tech_name
    eta = None
    position = None
    if wo.status in ("assigned", "accepted", "en_route"):
        eta = wo.planned_start or wo.window_start
    if wo.status == "en_route" and tech is not None:
        # On the way to this customer: where the technician is and when they should arrive (fresh fixes only).
        eta = rules.live_eta(now, tech.last_lat, tech.last_lng, tech.last_seen_at, wo.site_lat, wo.site_lng) or eta
        if rules.position_is_fresh(tech.last_seen_at, now) and tech.last_lat is not None \
                and tech.last_lng is not None:
            position = TechnicianPosition(lat=round(tech.last_lat, 5), lng=round(tech.last_lng, 5),
                                          at=tech.last_seen_at)  # type: ignore[arg-type]
    exp = tracking.expires_at(settings, token)
    return TrackingRead(number=wo.number, status=wo.status,
                        status_label={"en": wo.status.replace("_", " "), "zh-CN": STATUS_ZH.get(wo.status, wo.status)},
                        service_type={"en": st_name or "", "zh-CN": st_name_zh or st_name or ""},
                        technician=first or None, eta=eta, window_start=wo.window_start, window_end=wo.window_end,
                        milestones=milestones, expires_at=exp, technician_position=position)
