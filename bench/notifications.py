"""Notification throughput and delivery latency through the worker to local receivers.

A fresh SQLite database with one organisation and N staff users. For each channel (in_app; e-mail over SMTP
to an aiosmtpd server; signed webhooks to a local HTTP sink) we queue N messages with `notify` (committed
in batches of 100, timing the queueing) and then run worker delivery passes until all are sent (timing the
delivery). Latency is per message: from the commit of its batch to the moment its attempt finished (the
in-app channel is stored at queue time, so its latency is the relay of `notification.created` by the worker).
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from bench.report import pct, write_section
from fieldops.core.clock import Clock
from fieldops.core.db import Database
from fieldops.core.events import OutboxEvent
from fieldops.core.migrate import upgrade
from fieldops.notifications.delivery import deliver_round
from fieldops.notifications.models import ChannelConfig, Notification, WebhookSubscription
from fieldops.notifications.service import Recipient, new_webhook_secret, notify
from fieldops.organizations.models import Organization
from fieldops.settings import Settings
from fieldops.users.models import User
from fieldops.worker.runner import relay_once

N = 1000
BATCH = 100


class _Smtp:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sink() -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _measure(database: Database, settings: Settings, org_id: uuid.UUID, users: list[uuid.UUID], channel: str,
             ) -> dict[str, float]:
    clock = Clock()
    committed: dict[uuid.UUID, float] = {}
    t0 = time.perf_counter()
    for start in range(0, N, BATCH):
        with database.session() as db:
            ids = []
            for i in range(start, min(start + BATCH, N)):
                notes = notify(db, org_id=org_id, template="comment.mention", now=clock.now(),
                               params={"number": f"WO-{i}", "author": "Bench", "excerpt": "hello"},
                               recipients=[Recipient(user_id=users[i % len(users)])] if channel != "webhook" else [],
                               channels=[channel])
                ids += [n.id for n in notes]
            db.commit()
            stamp = time.perf_counter()
            committed.update({i: stamp for i in ids})
    queued_s = time.perf_counter() - t0
    done: dict[uuid.UUID, float] = {}
    t1 = time.perf_counter()
    if channel == "in_app":
        while relay_once(database, clock, limit=200):
            pass
        end = time.perf_counter()
        done = {i: end for i in committed}  # relayed in order; an upper bound per message
    else:
        def on_group(group: str, jobs: list[Any]) -> None:
            stamp = time.perf_counter()
            for job in jobs:
                if job.ok:
                    done[uuid.UUID(job.message.id)] = stamp

        while len(done) < len(committed):
            if not deliver_round(database, clock, settings, limit=200, on_group=on_group):
                break
    deliver_s = time.perf_counter() - t1
    with database.session() as db:
        sent = db.scalar(select(func.count()).select_from(Notification).where(
            Notification.channel == channel, Notification.status == "sent")) or 0
    lat = sorted((done[i] - committed[i]) * 1000 for i in done)
    return {"n": len(committed), "sent": sent, "queue_rate": len(committed) / queued_s,
            "deliver_rate": len(done) / deliver_s if deliver_s else 0.0, "p50": pct(lat, 50), "p95": pct(lat, 95)}


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="fieldops-bench-notify-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    smtp_handler = _Smtp()
    smtp_port = _free_port()
    controller = Controller(smtp_handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    sink = _sink()
    settings = Settings(database_url=url, data_dir=tmp, secret_key="bench-secret-key-0123456789abcdef",
                        _env_file=None)  # type: ignore[call-arg]
    database = Database(url)
    now = datetime.now(UTC)
    with database.session() as db:
        org = Organization(name="Bench", slug=f"bench-{uuid.uuid4().hex[:6]}", timezone="UTC", settings={})
        db.add(org)
        db.flush()
        users = [User(org_id=org.id, email=f"u{i}@bench.test", name=f"User {i}", role="dispatcher",
                      password_hash="x", locale="en" if i % 2 else "zh-CN") for i in range(50)]
        db.add_all(users)
        db.add(ChannelConfig(org_id=org.id, config={"email": {"host": "127.0.0.1", "port": smtp_port}},
                             secrets={}, updated_at=now))
        db.add(WebhookSubscription(org_id=org.id, url=f"http://127.0.0.1:{sink.server_address[1]}/hook",
                                   secret=new_webhook_secret(), event_types=[], active=True))
        db.commit()
        org_id, user_ids = org.id, [u.id for u in users]
    rows = []
    try:
        for channel, label in (("in_app", "in-app (stored + live event relayed)"),
                               ("email", "e-mail via SMTP (apprise → aiosmtpd)"),
                               ("webhook", "signed webhook (→ local HTTP sink)")):
            r = _measure(database, settings, org_id, user_ids, channel)
            rows.append(f"| {label} | {r['n']} | {r['sent']} | {r['queue_rate']:.0f} | {r['deliver_rate']:.0f} | "
                        f"{r['p50']:.0f} | {r['p95']:.0f} |")
            print(rows[-1], flush=True)
        with database.session() as db:
            relayed = db.scalar(select(func.count()).select_from(OutboxEvent).where(
                OutboxEvent.type == "notification.created")) or 0
    finally:
        controller.stop()
        sink.shutdown()
        database.dispose()
    body = "\n".join([
        "## Notifications: queue and deliver",
        "",
        f"{N} messages per channel queued with `notify` (batches of {BATCH}, each committed) into SQLite, then "
        "delivered by worker passes (`deliver_round`, 200 per claim; one thread per delivery group). "
        "Latency: from the batch's commit to the message's delivery (in-app: to the relay of its "
        f"`notification.created` event, {relayed} relayed). Local receivers only.",
        "",
        "| channel | messages | sent | queued / s | delivered / s | latency p50 (ms) | latency p95 (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
    ])
    write_section("notifications", body)


if __name__ == "__main__":
    main()
