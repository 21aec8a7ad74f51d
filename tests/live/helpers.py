"""Reading server-sent events in tests: catch-up requests through the ASGI app, and real streams from a uvicorn
server on 127.0.0.1 in a thread (every read has a timeout, so a test cannot hang)."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi.testclient import TestClient

from fieldops.worker.runner import run_once

API = "/api/v1"


@dataclass
class Sse:
    id: int | None
    event: str
    data: Any


def parse(text: str) -> list[Sse]:
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            fields[name] = fields.get(name, "") + ("\n" if name in fields else "") + value
        if "event" in fields or "data" in fields:
            out.append(Sse(int(fields["id"]) if fields.get("id") else None, fields.get("event", "message"),
                           json.loads(fields["data"]) if fields.get("data") else None))
    return out


def relay(app: Any, clock: Any) -> None:
    """One worker pass: outbox events become live events."""
    run_once(app.state.database, clock, app.state.settings)


def catch_up(client: TestClient, headers: dict[str, str], last_event_id: int | None = None) -> list[Sse]:
    """What a stream resuming after `last_event_id` sends before going live (backlog, reset, ready)."""
    params: dict[str, Any] = {"once": "true"}
    if last_event_id is not None:
        params["last_event_id"] = last_event_id
    r = client.get(f"{API}/live/stream", headers=headers, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    return parse(r.text)


def domain(events: list[Sse]) -> list[Sse]:
    return [e for e in events if e.event not in ("ready", "reset")]


class LiveServer:
    """The app on a uvicorn server in a thread, on a port of its own."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=0.5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


class Stream:
    """An open SSE connection read by a thread into a queue; `take` waits with a timeout."""

    def __init__(self, url: str, headers: dict[str, str], last_event_id: int | None = None) -> None:
        self.events: queue.Queue[Sse | None] = queue.Queue()
        h = dict(headers)
        if last_event_id is not None:
            h["Last-Event-ID"] = str(last_event_id)
        self.client = httpx.Client(timeout=httpx.Timeout(10.0, read=20.0))
        self._cm = self.client.stream("GET", url, headers=h)
        self.response = self._cm.__enter__()
        self.status = self.response.status_code
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        buf = ""
        try:
            for chunk in self.response.iter_text():
                buf += chunk.replace("\r\n", "\n")
                while "\n\n" in buf:
                    block, buf = buf.split("\n\n", 1)
                    for e in parse(block + "\n\n"):
                        self.events.put(e)
        except Exception:
            pass
        finally:
            self.events.put(None)

    def take(self, n: int = 1, timeout: float = 10.0, skip: tuple[str, ...] = ("ready",)) -> list[Sse]:
        """The next `n` events (not counting `skip` types); fewer if the stream ends or time runs out."""
        out: list[Sse] = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                e = self.events.get(timeout=left)
            except queue.Empty:
                break
            if e is None:
                break
            if e.event not in skip:
                out.append(e)
        return out

    def quiet(self, seconds: float = 0.6, skip: tuple[str, ...] = ("ready",)) -> list[Sse]:
        """Whatever arrives in the next `seconds` (to show that nothing does)."""
        return self.take(10_000, timeout=seconds, skip=skip)

    def close(self) -> None:
        try:
            self.response.close()
            self._cm.__exit__(None, None, None)
        except Exception:
            pass
        self.client.close()
        self.thread.join(timeout=0.2)  # a daemon; closing the socket ends it


@contextmanager
def streams(server: LiveServer, headers_by_name: dict[str, dict[str, str]]) -> Iterator[dict[str, Stream]]:
    opened: dict[str, Stream] = {}
    try:
        for name, headers in headers_by_name.items():
            s = Stream(f"{server.url}{API}/live/stream", headers)
            assert s.status == 200
            opened[name] = s
        for name, s in opened.items():  # each is live once `ready` came
            ready = s.take(1, skip=())
            assert ready and ready[0].event == "ready", f"{name}: {ready}"
        yield opened
    finally:
        for s in opened.values():
            s.close()
