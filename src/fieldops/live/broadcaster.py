"""One broadcaster per API process: polls live_events once for all of the process's SSE clients and fans
out to bounded in-memory queues.

On PostgreSQL the worker NOTIFYs `fieldops_live` when it stores live events; a listener thread per process wakes
the loop at once (every API process of a cluster gets it), and polling stays on as the fallback.

Correctness of resume + live without loss or duplicates: a stream registers its subscriber BEFORE it reads
its backlog, and the broadcaster takes its list of subscribers AFTER each query. So every event is either in
a stream's backlog or routed to its queue (or both: the stream skips ids it has already sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy.engine import make_url

from fieldops.core.db import Database
from fieldops.live import repository as repo
from fieldops.live import rules, service
from fieldops.live.service import Message
from fieldops.settings import Settings

log = logging.getLogger("fieldops.live")
BATCH = 500
CHANNEL = "fieldops_live"  # the worker's live handler NOTIFYs this channel (fieldops.live.tasks)


class NotifyListener:
    """A thread holding one PostgreSQL connection that LISTENs on CHANNEL and calls `wake` per notification
    (and once after every (re)connect, for anything committed while it was not listening)."""

    def __init__(self, url: str, wake: Callable[[], object]) -> None:
        self.conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.wake = wake
        self.connected = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fieldops-live-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.connected = True
                    self.wake()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.wake()
            except Exception as exc:  # server restarting: poll meanwhile, reconnect in a second
                log.info("live listener disconnected (%s); polling until it reconnects", exc)
            self.connected = False
            self._stop.wait(1.0)


class Subscriber:
    def __init__(self, viewer: rules.LiveViewer, maxsize: int) -> None:
        self.viewer = viewer
        self.queue: asyncio.Queue[Message | None] = asyncio.Queue(maxsize)
        self.dropped = False
        self.position: int | None = None  # set once the stream has read its backlog

    def offer(self, message: Message | None) -> None:
        """Queue a message; a full queue means a slow client: it is dropped (and resumes by Last-Event-ID)."""
        if self.dropped:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class Broadcaster:
    """Polls only while someone listens. After an idle spell it resumes from the lowest position its
    subscribers have read up to (each read its own backlog), so nothing in between is skipped."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database, self.settings = database, settings
        self.subscribers: set[Subscriber] = set()
        self.last_id: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._nudge: asyncio.Event | None = None
        self._listener: NotifyListener | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start polling in the running event loop (idempotent)."""
        loop = asyncio.get_running_loop()
        if self.running and self.loop is loop:
            return
        self.loop, self._stopping, self.last_id = loop, False, None
        self._wake = asyncio.Event()
        self._nudge = asyncio.Event()
        if self._listener is None and self.settings.live_notify and not self.settings.is_sqlite:
            nudge = self._nudge
            self._listener = NotifyListener(self.database.url, lambda: loop.call_soon_threadsafe(nudge.set))
            self._listener.start()
        self._task = loop.create_task(self._run(), name="fieldops-live-broadcaster")

    async def stop(self) -> None:
        self._stopping = True
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        for sub in list(self.subscribers):
            sub.offer(None)  # streams end cleanly
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def subscribe(self, viewer: rules.LiveViewer) -> Subscriber:
        self.start()
        sub = Subscriber(viewer, self.settings.live_queue_size)
        self.subscribers.add(sub)
        if self._wake is not None:
            self._wake.set()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    # ---- the polling loop ----------------------------------------------------------------------------

    def _fetch(self, last_id: int) -> tuple[list[rules.EventFacts], dict[Any, rules.OrderKeys]]:
        with self.database.session() as db:
            events = [service.facts(r) for r in repo.after(db, last_id, BATCH)]
            return events, service.load_orders(db, events) if events else {}

    @staticmethod
    def _route(events: list[rules.EventFacts], orders: dict[Any, rules.OrderKeys],
               subs: list[Subscriber]) -> list[tuple[Subscriber, list[Message]]]:
        by_org: dict[Any, list[rules.EventFacts]] = {}
        for e in events:
            by_org.setdefault(e.org_id, []).append(e)
        out = []
        for sub in subs:
            mine = by_org.get(sub.viewer.org_id)
            if mine:
                msgs = service.route(mine, orders, sub.viewer)
                if msgs:
                    out.append((sub, msgs))
        return out

    async def poll_once(self) -> int:
        """One poll: fetch new events, route them to the current subscribers. Returns how many events."""
        if self.last_id is None:
            positions = [s.position for s in self.subscribers if s.position is not None]
            if not positions:
                return 0
            self.last_id = min(positions)
        events, orders = await asyncio.to_thread(self._fetch, self.last_id)
        if not events:
            return 0
        subs = list(self.subscribers)  # taken after the query: see the module docstring
        if len(subs) > 8:
            routed = await asyncio.to_thread(self._route, events, orders, subs)
        else:
            routed = self._route(events, orders, subs)
        for sub, msgs in routed:
            for m in msgs:
                sub.offer(m)
        self.last_id = events[-1].id
        return len(events)

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            if not self.subscribers:
                self.last_id = None
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._nudge is not None:
                self._nudge.clear()  # a NOTIFY during this poll sets it again: nothing committed meanwhile waits
            try:
                n = await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live poll failed; retrying")
                n = 0
            if n < BATCH:
                await self._idle(self.settings.live_poll_seconds if self.last_id is not None else 0.02)

    async def _idle(self, seconds: float) -> None:
        """Sleep until the next poll; a NOTIFY ends the wait early (then polling is only the fallback)."""
        nudge = self._nudge
        if nudge is None or self._listener is None:
            await asyncio.sleep(seconds)
            return
        if self._listener.connected:
            seconds = max(seconds, 1.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(nudge.wait(), seconds)


def get(app: Any) -> Broadcaster:
    """The process's broadcaster (kept on app.state)."""
    b: Broadcaster | None = getattr(app.state, "live_broadcaster", None)
    if b is None:
        b = Broadcaster(app.state.database, app.state.settings)
        app.state.live_broadcaster = b
    return b


async def shutdown(app: Any) -> None:
    b: Broadcaster | None = getattr(app.state, "live_broadcaster", None)
    if b is not None:
        await b.stop()


def sse(message: Message) -> dict[str, Any]:
    return {"id": str(message.id), "event": message.event,
            "data": json.dumps(message.data, ensure_ascii=False, separators=(",", ":"))}


async def stream(broadcaster: Broadcaster, viewer: rules.LiveViewer, last_event_id: int | None,
                 once: bool) -> AsyncIterator[dict[str, Any]]:
    """The SSE messages of one connection: the backlog after `last_event_id` (or a reset), `ready`, then live
    events as they come. `once` ends after `ready` (catch-up only, for polling clients and tests)."""
    sub = broadcaster.subscribe(viewer)
    try:
        database, settings = broadcaster.database, broadcaster.settings

        def _catch_up() -> service.CatchUp:
            with database.session() as db:
                return service.catch_up(db, viewer, last_event_id, settings.live_backlog_max)

        caught = await asyncio.to_thread(_catch_up)
        floor = caught.position
        sub.position = floor
        if caught.reset:
            yield {"id": str(floor), "event": "reset",
                   "data": json.dumps({"last_event_id": floor, "reason": "resume point no longer available"})}
        for m in caught.messages:
            yield sse(m)
        yield {"id": str(floor), "event": "ready", "data": json.dumps({"last_event_id": floor})}
        if once:
            return
        while True:
            message = await sub.queue.get()
            if message is None:
                return  # dropped (too slow) or shutting down: the client resumes with Last-Event-ID
            if message.id <= floor:
                continue
            floor = message.id
            yield sse(message)
    finally:
        broadcaster.unsubscribe(sub)
