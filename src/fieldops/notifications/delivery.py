"""The worker's delivery loop: claim due messages, send them channel by channel in parallel, record attempts.

A pass has three steps so that no database lock is held while talking to the outside world:
1. claim (one short transaction; FOR UPDATE SKIP LOCKED on PostgreSQL): due rows become `sending` with a
   lease (next_attempt_at in the future), so another worker skips them and a crashed worker's rows come back;
2. send: one thread per delivery group (channel × endpoint, e.g. one SMTP server, one webhook subscriber),
   each with a short per-request timeout, a time budget and a breaker after consecutive failures, so a dead
   endpoint only delays its own messages;
3. record: each group's results are written in their own transaction as soon as that group finishes —
   one NotificationAttempt per try; success → sent, failure → retry with exponential backoff, or failed
   after the maximum number of attempts.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from fieldops.core.clock import Clock
from fieldops.core.db import Database
from fieldops.notifications import repository as repo
from fieldops.notifications.channels import (
    Adapter,
    AppriseEmail,
    AppriseSms,
    Channel,
    DeliveryError,
    DingTalkRobot,
    LocalMailbox,
    Message,
    SignedWebhook,
    WeComRobot,
    as_adapter,
)
from fieldops.notifications.models import Notification, NotificationAttempt, WebhookSubscription
from fieldops.notifications.rules import backoff_seconds
from fieldops.settings import Settings

log = logging.getLogger("fieldops.notifications")
BREAKER_FAILURES = 3  # consecutive failures after which a group's remaining messages wait for the next pass


@dataclass
class Job:
    message: Message
    group: str
    adapter: Adapter | None  # None: cannot be delivered (e.g. the webhook subscription is gone)
    attempts: int
    error: str | None = None
    response_code: int | None = None
    ok: bool = False
    tried: bool = False
    started: datetime | None = None
    finished: datetime | None = None
    duration_ms: int = 0


@dataclass
class Resolver:
    """Builds adapters from an organisation's channel config, the settings' defaults and the local fallback."""

    db: Session
    settings: Settings
    fallback: Adapter
    _cache: dict[tuple[Any, ...], tuple[str, Adapter | None]] = field(default_factory=dict)

    def _org(self, org_id: uuid.UUID | None) -> tuple[dict[str, Any], dict[str, Any]]:
        if org_id is None:
            return {}, {}
        cfg = repo.channel_config(self.db, org_id)
        return (dict(cfg.config or {}), dict(cfg.secrets or {})) if cfg else ({}, {})

    def resolve(self, note: Notification) -> tuple[str, Adapter | None]:
        key: tuple[Any, ...] = (note.org_id, note.channel, note.recipient if note.channel == "webhook" else "")
        if key not in self._cache:
            self._cache[key] = self._build(note)
        return self._cache[key]

    def _build(self, note: Notification) -> tuple[str, Adapter | None]:
        s, timeout = self.settings, self.settings.notification_timeout_seconds
        config, secrets = self._org(note.org_id)
        c: dict[str, Any] = dict(config.get(note.channel) or {})
        sec: dict[str, Any] = dict(secrets.get(note.channel) or {})
        if note.channel == "email":
            if c.get("host"):
                return (f"email:{c['host']}:{c.get('port')}",
                        AppriseEmail(str(c["host"]), int(c.get("port") or 25), str(c.get("sender") or s.smtp_sender),
                                     str(c.get("username") or ""), str(sec.get("password") or ""),
                                     str(c.get("security") or "insecure"), timeout))
            if s.smtp_host:
                return (f"email:{s.smtp_host}:{s.smtp_port}",
                        AppriseEmail(s.smtp_host, s.smtp_port, s.smtp_sender, s.smtp_username, s.smtp_password,
                                     s.smtp_security, timeout))
        elif note.channel == "sms":
            if c.get("url"):
                return (f"sms:{c['url']}", AppriseSms(str(c["url"]), str(c.get("format") or "json"),
                                                      str(sec.get("token") or ""), timeout))
            if s.sms_url:
                return f"sms:{s.sms_url}", AppriseSms(s.sms_url, s.sms_format, s.sms_token, timeout)
        elif note.channel == "wecom":
            if sec.get("webhook_url"):
                return f"wecom:{note.org_id}", WeComRobot(str(sec["webhook_url"]), timeout)
        elif note.channel == "dingtalk":
            if sec.get("webhook_url"):
                return (f"dingtalk:{note.org_id}",
                        DingTalkRobot(str(sec["webhook_url"]), str(sec.get("secret") or ""), timeout))
        elif note.channel == "webhook":
            try:
                hook = self.db.get(WebhookSubscription, uuid.UUID(note.recipient))
            except ValueError:
                hook = None
            if hook is None or hook.org_id != note.org_id:
                return f"webhook:{note.recipient}", None
            return f"webhook:{hook.id}", SignedWebhook(hook.url, hook.secret, timeout)
        return f"local:{note.channel}", self.fallback


def _message(note: Notification) -> Message:
    return Message(id=str(note.id), channel=note.channel, recipient=note.recipient, subject=note.subject,
                   body=note.body, lang=note.lang or "en", data=dict(note.data or {}))


def _send_group(jobs: list[Job], clock: Clock, budget: float) -> list[Job]:
    """Send one group's messages in order; stop at the budget or after a run of failures (rest wait)."""
    t0 = time.monotonic()
    failures = 0
    for job in jobs:
        if time.monotonic() - t0 > budget or failures >= BREAKER_FAILURES:
            break
        job.tried = True
        job.started = clock.now()
        m0 = time.monotonic()
        if job.adapter is None:
            job.error = "the webhook subscription no longer exists"
        else:
            try:
                job.response_code = job.adapter.deliver(job.message)
                job.ok = True
            except DeliveryError as exc:
                job.error, job.response_code = str(exc)[:2000], exc.response_code
            except Exception as exc:  # an adapter bug must not kill the pass
                job.error = f"{type(exc).__name__}: {exc}"[:2000]
        job.duration_ms = int((time.monotonic() - m0) * 1000)
        job.finished = clock.now()
        failures = 0 if job.ok else failures + 1
    return jobs


def _record(db: Session, jobs: list[Job], now: datetime, settings: Settings) -> int:
    sent = 0
    notes = {n.id: n for n in db.query(Notification).filter(
        Notification.id.in_([uuid.UUID(j.message.id) for j in jobs]))}
    for job in jobs:
        note = notes.get(uuid.UUID(job.message.id))
        if note is None:
            continue
        if not job.tried:
            note.status, note.next_attempt_at = "pending", now  # not attempted: due again next pass
            continue
        note.attempts = job.attempts + 1
        db.add(NotificationAttempt(notification_id=note.id, attempt=note.attempts, channel=note.channel,
                                   started_at=job.started or now, finished_at=job.finished or now, ok=job.ok,
                                   error=job.error, response_code=job.response_code, duration_ms=job.duration_ms))
        if job.ok:
            note.status, note.sent_at, note.next_attempt_at, note.last_error = "sent", job.finished or now, None, None
            sent += 1
            continue
        note.last_error = job.error
        if job.adapter is None or note.attempts >= settings.notification_max_attempts:
            note.status, note.next_attempt_at = "failed", None
        else:
            note.status = "pending"
            note.next_attempt_at = now + timedelta(
                seconds=backoff_seconds(note.attempts, settings.notification_backoff_seconds))
    db.flush()
    return sent


def claim(db: Session, settings: Settings, fallback: Adapter, now: datetime, limit: int) -> list[Job]:
    """Lease due messages to this worker and resolve each one's adapter (caller commits)."""
    resolver = Resolver(db, settings, fallback)
    lease = now + timedelta(seconds=settings.notification_channel_budget_seconds
                            + 2 * settings.notification_timeout_seconds + 60)
    jobs: list[Job] = []
    for note in repo.claim_due(db, now, limit):
        group, adapter = resolver.resolve(note)
        jobs.append(Job(message=_message(note), group=group, adapter=adapter, attempts=note.attempts))
        note.status, note.next_attempt_at = "sending", lease
    db.flush()
    return jobs


LANE_MIN = 8  # messages per lane before a group is split
LANES_MAX = 4  # parallel sends to one endpoint at most


def _lanes(jobs: list[Job]) -> list[list[Job]]:
    n = max(1, min(LANES_MAX, len(jobs) // LANE_MIN))
    return [jobs[i::n] for i in range(n)]


def deliver_round(database: Database, clock: Clock, settings: Settings, fallback: Adapter | Channel | None = None,
                  limit: int = 500, on_group: Callable[[str, list[Job]], None] | None = None) -> int:
    """One delivery pass (see the module docstring). Returns how many messages were sent."""
    adapter = as_adapter(fallback) if fallback is not None else LocalMailbox(settings.mailbox_path)
    with database.session() as db:
        jobs = claim(db, settings, adapter, clock.now(), limit)
        db.commit()
    if not jobs:
        return 0
    groups: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        groups[job.group].append(job)
    sent = 0
    budget = settings.notification_channel_budget_seconds
    # A big backlog for one endpoint goes out in a few parallel lanes (each with its own breaker); a small one
    # stays in order in one lane.
    lanes = [lane for g in groups.values() for lane in _lanes(g)]
    with ThreadPoolExecutor(max_workers=min(len(lanes), 16), thread_name_prefix="notify") as pool:
        futures = [pool.submit(_send_group, g, clock, budget) for g in lanes]
        for fut in as_completed(futures):
            done = fut.result()
            with database.session() as db:
                sent += _record(db, done, clock.now(), settings)
                db.commit()
            if on_group is not None:
                on_group(done[0].group, done)
    return sent


def deliver_with(db: Session, sender: Adapter | Channel, now: datetime, limit: int = 100,
                 settings: Settings | None = None) -> int:
    """Deliver due messages through one sender, synchronously in the caller's session (tools and tests)."""
    settings = settings or Settings(_env_file=None)  # type: ignore[call-arg]
    adapter = as_adapter(sender)
    jobs = []
    for note in repo.claim_due(db, now, limit):
        jobs.append(Job(message=_message(note), group="all", adapter=adapter, attempts=note.attempts))

    class _Fixed:
        def now(self) -> datetime:
            return now

    _send_group(jobs, _Fixed(), float("inf"))  # type: ignore[arg-type]
    return _record(db, jobs, now, settings)
