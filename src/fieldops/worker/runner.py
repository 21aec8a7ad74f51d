"""The worker: relays outbox events to handlers, delivers notifications, runs periodic scans."""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from fieldops.core.clock import Clock
from fieldops.core.db import Database
from fieldops.core.events import OutboxEvent, ProcessedEvent
from fieldops.notifications import tasks as notification_tasks
from fieldops.notifications.channels import Adapter, Channel, LocalMailbox
from fieldops.notifications.delivery import deliver_round
from fieldops.settings import Settings
from fieldops.worker import registry

log = logging.getLogger("fieldops.worker")


def _claim(db: Session, now: datetime, limit: int) -> list[OutboxEvent]:
    query = (select(OutboxEvent).where(OutboxEvent.processed_at.is_(None), OutboxEvent.available_at <= now)
             .order_by(OutboxEvent.occurred_at, OutboxEvent.id).limit(limit))
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(db.scalars(query))


RELAY_BATCH = 20  # PostgreSQL: events claimed per transaction (SQLite: 1, so API writers never wait long)


def relay_once(database: Database, clock: Clock, limit: int = 50) -> int:
    """Process up to `limit` pending events. Returns how many.

    Events are claimed with SKIP LOCKED (PostgreSQL: up to RELAY_BATCH per transaction, SQLite: one), each runs
    in its own savepoint and its effects commit together with its processed_events rows: a worker killed at any
    moment rolls the whole claim back and another worker takes the events — nothing is lost or done twice."""
    handled = 0
    table = registry.handlers()
    while handled < limit:
        with database.session() as db:
            now = clock.now()
            batch = 1 if db.get_bind().dialect.name == "sqlite" else min(RELAY_BATCH, limit - handled)
            events = _claim(db, now, batch)
            if not events:
                return handled
            for event in events:
                _relay_event(db, table, event, now)
            db.commit()
            handled += len(events)
    return handled


def _relay_event(db: Session, table: dict[str, list[tuple[str, registry.Handler]]], event: OutboxEvent,
                 now: datetime) -> None:
    event_id, event_type = event.id, event.type
    try:
        with db.begin_nested():
            for handler_name, handler in table.get(event_type, []):
                if db.get(ProcessedEvent, (handler_name, event_id)) is not None:
                    continue
                with db.begin_nested():
                    handler(db, event, now)
                    db.add(ProcessedEvent(handler=handler_name, event_id=event_id, processed_at=now))
            event.processed_at = now
            event.attempts += 1
    except Exception as exc:  # a failing handler must not block the queue: its event's work is rolled back
        log.exception("handler failed for event %s (%s)", event_id, event_type)
        event.attempts += 1
        event.last_error = str(exc)[:2000]
        backoff = min(2 ** event.attempts, 600)
        event.available_at = now + timedelta(seconds=backoff)
        if event.attempts >= 10:
            event.processed_at = now  # dead-lettered; last_error says why


def _exclusive(db: Session, name: str) -> bool:
    """PostgreSQL with several workers: one scan of a kind at a time (a transaction-level try-lock; the others
    skip it this round). TIMERS are not serialised: they claim their rows with SKIP LOCKED themselves."""
    if db.get_bind().dialect.name != "postgresql":
        return True
    key = zlib.crc32(name.encode()) | (0x7363 << 32)  # stable across processes (hash() is salted per process)
    return bool(db.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}))


def run_periodic(database: Database, clock: Clock, settings: Settings, attr: str = "PERIODIC") -> int:
    done = 0
    for name, job in registry.periodic(attr):
        with database.session() as db:
            try:
                if attr == "PERIODIC" and not _exclusive(db, name):
                    continue
                done += int(job(db, clock.now(), settings) or 0)
                db.commit()
            except Exception:
                db.rollback()
                log.exception("periodic job %s failed", name)
    return done


def run_long_jobs(database: Database, clock: Clock, settings: Settings) -> int:
    done = 0
    for name, job in registry.periodic("LONG_JOBS"):
        try:
            done += int(job(database, clock, settings) or 0)
        except Exception:
            log.exception("long job %s failed", name)
    return done


def deliver_notifications(database: Database, clock: Clock, settings: Settings,
                          channel: Adapter | Channel | None = None) -> int:
    """One delivery pass; `channel` is the local fallback for channels an organisation has not configured."""
    return deliver_round(database, clock, settings, channel)


def run_once(database: Database, clock: Clock, settings: Settings,
             channel: Adapter | Channel | None = None) -> int:
    """One full pass (tests call this instead of running the loop)."""
    channel = channel or LocalMailbox(settings.mailbox_path)
    notification_tasks.configure(settings)  # tracking links are signed with this deployment's key
    total = 0
    while True:
        n = relay_once(database, clock)
        total += n
        if n == 0:
            break
    total += run_periodic(database, clock, settings, "TIMERS")
    total += run_periodic(database, clock, settings)
    total += run_long_jobs(database, clock, settings)
    while relay_once(database, clock):
        pass
    total += deliver_notifications(database, clock, settings, channel)
    while relay_once(database, clock):  # e.g. notification.created from handlers above
        pass
    return total


def _loop(name: str, stop: threading.Event, idle_wait: float, step: Callable[[], int]) -> None:
    """Run `step` until stopped; wait `idle_wait` seconds after a pass that found nothing to do."""
    while not stop.is_set():
        try:
            busy = step()
        except Exception:
            log.exception("worker %s pass failed; retrying", name)
            busy = 0
        if not busy:
            stop.wait(idle_wait)


def run_forever(settings: Settings, stop: threading.Event | None = None) -> None:
    """The worker process of `fieldops worker`: three loops in threads, so that slow work never delays
    the outbox (live updates, SLA timers):

    - relay: outbox events to handlers, then the due SLA/escalation TIMERS — every `worker_poll_seconds`;
    - delivery: notifications to their channels (SMTP, SMS, robots, webhooks may be slow or down);
    - scans: PERIODIC scans every `worker_scan_seconds` and LONG_JOBS (a day plan may solve for 30 s).
    """
    stop = stop or threading.Event()
    database = Database(settings.database_url)
    clock = Clock()
    channel = LocalMailbox(settings.mailbox_path)
    notification_tasks.configure(settings)
    last_scan = [0.0]

    def relay() -> int:
        return relay_once(database, clock) + run_periodic(database, clock, settings, "TIMERS")

    def deliver() -> int:
        return deliver_notifications(database, clock, settings, channel)

    def scans() -> int:
        busy = run_long_jobs(database, clock, settings)
        if time.monotonic() - last_scan[0] >= settings.worker_scan_seconds:
            run_periodic(database, clock, settings)
            last_scan[0] = time.monotonic()
        return busy

    log.info("worker started")
    threads = [
        threading.Thread(target=_loop, args=(name, stop, settings.worker_poll_seconds, step), name=f"worker-{name}",
                         daemon=True)
        for name, step in (("relay", relay), ("delivery", deliver), ("scans", scans))
    ]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    database.dispose()
    log.info("worker stopped")
