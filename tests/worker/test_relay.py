from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldops.core.events import OutboxEvent, ProcessedEvent, record_event
from fieldops.worker import registry
from fieldops.worker.runner import relay_once


def test_handlers_run_once_per_event_and_failures_retry(app, clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls: list[uuid.UUID] = []
    failures = {"left": 1}

    def good(db: Session, event: OutboxEvent, now: datetime) -> None:
        calls.append(event.id)

    def flaky(db: Session, event: OutboxEvent, now: datetime) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("receiver down")

    monkeypatch.setattr(registry, "handlers", lambda: {"thing.happened": [("good", good), ("flaky", flaky)]})
    database = app.state.database
    with database.session() as s:
        record_event(s, type="thing.happened", aggregate_type="thing", aggregate_id=uuid.uuid4(), org_id=None,
                     payload={}, now=clock.now())
        s.commit()
    relay_once(database, clock)
    with database.session() as s:
        event = s.scalars(select(OutboxEvent)).one()
        assert event.processed_at is None and event.attempts == 1 and "receiver down" in (event.last_error or "")
    assert len(calls) == 1  # rolled back with the failure, so it must run again
    clock.advance(seconds=5)
    relay_once(database, clock)
    with database.session() as s:
        event = s.scalars(select(OutboxEvent)).one()
        assert event.processed_at is not None
        assert s.scalar(select(func.count()).select_from(ProcessedEvent)) == 2
    assert len(calls) == 2
    relay_once(database, clock)  # nothing left: no duplicate side effects
    assert len(calls) == 2


def test_rolled_back_change_records_no_event(app, clock) -> None:  # type: ignore[no-untyped-def]
    database = app.state.database
    with database.session() as s:
        record_event(s, type="x", aggregate_type="x", aggregate_id=uuid.uuid4(), org_id=None, payload={},
                     now=clock.now())
        s.rollback()
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxEvent)) == 0
