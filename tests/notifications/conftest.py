"""Local receivers for delivery tests: an SMTP server (aiosmtpd) and an HTTP sink, both on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session

from tests.factories.world import World, make_world


@pytest.fixture
def world(db: Session) -> World:
    return make_world(db)


@dataclass
class Received:
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpSink:
    """Records every POST; `status`/`reply` say what it answers (per path prefix if set in `routes`)."""

    server: ThreadingHTTPServer | None = None
    got: list[Received] = field(default_factory=list)
    routes: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def on(self, path: str) -> list[Received]:
        return [r for r in self.got if r.path == path]


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    state = HttpSink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers.get("content-length") or 0)
            path, _, query = self.path.partition("?")
            state.got.append(Received(path, query, {k.lower(): v for k, v in self.headers.items()},
                                      self.rfile.read(n)))
            code, reply = state.routes.get(path, (200, b'{"errcode":0,"errmsg":"ok"}'))
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    state.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=state.server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.server.shutdown()
    state.server.server_close()


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


class _SmtpHandler:
    def __init__(self) -> None:
        self.got: list[Mail] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.got.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpServer:
    port: int
    handler: _SmtpHandler

    @property
    def got(self) -> list[Mail]:
        return self.handler.got


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    handler = _SmtpHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield SmtpServer(port, handler)
    controller.stop()
