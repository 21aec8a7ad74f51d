"""Delivery adapters behind one interface.

Every adapter implements `Adapter.deliver(message) -> int | None` (the far end's response code, if any) and
raises `DeliveryError` when the message was not accepted. The local mailbox (log + var/mailbox.jsonl) is the
development default for every external channel; the real ones are e-mail over SMTP and SMS over an HTTP
provider (both through apprise, which can be pointed at any host), WeCom / DingTalk group robots (small
httpx adapters posting to the webhook URL the admin pastes, since apprise hard-codes the public hosts) and
generic signed webhooks (Standard Webhooks signatures).
"""

from __future__ import annotations

import json
import logging
import smtplib
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

import httpx

from fieldops.notifications.rules import dingtalk_sign

log = logging.getLogger("fieldops.notifications")


class Channel(Protocol):
    """The old, minimal sender interface (still accepted everywhere an adapter is)."""

    def send(self, *, channel: str, recipient: str, subject: str, body: str) -> None: ...


@dataclass(frozen=True)
class Message:
    """One rendered message as the worker hands it to an adapter."""

    id: str
    channel: str
    recipient: str
    subject: str
    body: str
    lang: str = "en"
    data: dict[str, Any] = field(default_factory=dict)


class DeliveryError(Exception):
    """The far end refused the message or could not be reached."""

    def __init__(self, message: str, response_code: int | None = None) -> None:
        super().__init__(message)
        self.response_code = response_code


class Adapter(Protocol):
    def deliver(self, message: Message) -> int | None: ...


class LocalMailbox:
    """Development delivery: the server log and a JSON-lines mailbox file under var/."""

    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, *, channel: str, recipient: str, subject: str, body: str) -> None:
        self._write({"channel": channel, "to": recipient, "subject": subject, "body": body})

    def deliver(self, message: Message) -> int | None:
        line: dict[str, Any] = {"channel": message.channel, "to": message.recipient, "subject": message.subject,
                                "body": message.body, "id": message.id}
        if message.channel == "webhook":
            line["event"] = message.data.get("event")
        self._write(line)
        return None

    def _write(self, line: dict[str, Any]) -> None:
        log.info("[%s to %s] %s — %s", line["channel"], line["to"], line["subject"], line["body"])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")


class LegacyAdapter:
    """Wraps an old-style `Channel` (send(...)) as an adapter."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def deliver(self, message: Message) -> int | None:
        self.channel.send(channel=message.channel, recipient=message.recipient, subject=message.subject,
                          body=message.body)
        return None


def as_adapter(obj: Adapter | Channel) -> Adapter:
    return obj if hasattr(obj, "deliver") else LegacyAdapter(obj)  # type: ignore[return-value,arg-type]


def _apprise_notify(url: str, title: str, body: str) -> None:
    import apprise

    app = apprise.Apprise()
    if not app.add(url):
        raise DeliveryError("the channel URL is invalid")
    with apprise.LogCapture(level=logging.WARNING) as logs:
        ok = app.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
        captured = logs.getvalue().strip()
    if not ok:
        raise DeliveryError(captured.splitlines()[-1][:500] if captured else "the channel refused the message")


class AppriseEmail:
    """E-mail over SMTP through apprise's mailto:// (any host and port; insecure, STARTTLS or SSL)."""

    def __init__(self, host: str, port: int, sender: str, username: str = "", password: str = "",
                 security: str = "insecure", timeout: float = 5.0) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.security = security if security in ("insecure", "starttls", "ssl") else "insecure"
        self.timeout = timeout

    def url(self, to: str) -> str:
        q = urllib.parse.quote
        auth = f"{q(self.username, safe='')}:{q(self.password, safe='')}@" if self.username else ""
        scheme = "mailtos" if self.security != "insecure" else "mailto"
        query = urllib.parse.urlencode({"smtp": self.host, "from": self.sender, "to": to, "mode": self.security,
                                        "cto": self.timeout, "rto": self.timeout})
        return f"{scheme}://{auth}{self.host}:{self.port}?{query}"

    def deliver(self, message: Message) -> int | None:
        _apprise_notify(self.url(message.recipient), message.subject, message.body)
        return 250


class SmtpChannel:
    """Plain smtplib sender (kept for callers of the old interface)."""

    def __init__(self, host: str, port: int, sender: str, username: str = "", password: str = "",
                 starttls: bool = False, timeout: float = 10) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout

    def send(self, *, channel: str, recipient: str, subject: str, body: str) -> None:
        if channel != "email":
            raise ValueError(f"SMTP cannot deliver {channel}")
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, recipient, subject
        msg.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(msg)


class AppriseSms:
    """SMS through an HTTP provider: apprise json:// or form:// posting {to, title, message} to the URL."""

    def __init__(self, url: str, fmt: str = "json", token: str = "", timeout: float = 5.0) -> None:
        self.url, self.fmt, self.token, self.timeout = url, fmt if fmt in ("json", "form") else "json", token, timeout

    def apprise_url(self, to: str) -> str:
        parts = urllib.parse.urlsplit(self.url)
        scheme = self.fmt + ("s" if parts.scheme == "https" else "")
        query = dict(urllib.parse.parse_qsl(parts.query))
        query.update({":to": to, "cto": str(self.timeout), "rto": str(self.timeout)})
        if self.token:
            query["+Authorization"] = f"Bearer {self.token}"
        return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path or "/", urllib.parse.urlencode(query), ""))

    def deliver(self, message: Message) -> int | None:
        _apprise_notify(self.apprise_url(message.recipient), message.subject, message.body)
        return 200


_http_lock = threading.Lock()
_http: httpx.Client | None = None


def _client() -> httpx.Client:
    """One pooled HTTP client per process (thread-safe): robots and webhooks reuse their connections."""
    global _http
    with _http_lock:
        if _http is None:
            _http = httpx.Client(limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))
        return _http


def _post_json(url: str, payload: Any, headers: dict[str, str] | None = None, content: bytes | None = None,
               timeout: float = 5.0) -> httpx.Response:
    client = _client()
    try:
        if content is not None:
            resp = client.post(url, content=content, headers=headers, timeout=timeout)
        else:
            resp = client.post(url, json=payload, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}"[:500]) from exc
    if resp.status_code >= 300:
        raise DeliveryError(f"HTTP {resp.status_code}: {resp.text[:300]}", resp.status_code)
    return resp


def _robot_check(resp: httpx.Response) -> int:
    """WeCom and DingTalk answer 200 with {"errcode": N, "errmsg": ...}; non-zero is a refusal."""
    try:
        body = resp.json()
    except ValueError:
        return resp.status_code
    if isinstance(body, dict) and body.get("errcode") not in (None, 0):
        raise DeliveryError(f"errcode {body.get('errcode')}: {body.get('errmsg')}", resp.status_code)
    return resp.status_code


class WeComRobot:
    """A WeCom (企业微信) group robot: {"msgtype":"markdown","markdown":{"content":...}}."""

    def __init__(self, webhook_url: str, timeout: float = 5.0) -> None:
        self.webhook_url, self.timeout = webhook_url, timeout

    @staticmethod
    def payload(message: Message) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": f"**{message.subject}**\n{message.body}"}}

    def deliver(self, message: Message) -> int | None:
        return _robot_check(_post_json(self.webhook_url, self.payload(message), timeout=self.timeout))


class DingTalkRobot:
    """A DingTalk (钉钉) group robot: markdown title/text; with a secret, the timestamp+sign query parameters."""

    def __init__(self, webhook_url: str, secret: str = "", timeout: float = 5.0,
                 wall_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self.webhook_url, self.secret, self.timeout, self.wall_ms = webhook_url, secret, timeout, wall_ms

    @staticmethod
    def payload(message: Message) -> dict[str, Any]:
        return {"msgtype": "markdown",
                "markdown": {"title": message.subject, "text": f"### {message.subject}\n\n{message.body}"}}

    def signed_url(self) -> str:
        if not self.secret:
            return self.webhook_url
        # The robot checks the timestamp against DingTalk's own clock (1 h window): wall time, not domain time.
        ts = self.wall_ms()
        sep = "&" if "?" in self.webhook_url else "?"
        return f"{self.webhook_url}{sep}timestamp={ts}&sign={dingtalk_sign(self.secret, ts)}"

    def deliver(self, message: Message) -> int | None:
        return _robot_check(_post_json(self.signed_url(), self.payload(message), timeout=self.timeout))


class SignedWebhook:
    """A generic webhook signed per Standard Webhooks (webhook-id / webhook-timestamp / webhook-signature)."""

    def __init__(self, url: str, secret: str, timeout: float = 5.0,
                 wall: Callable[[], float] = time.time) -> None:
        self.url, self.secret, self.timeout, self.wall = url, secret, timeout, wall

    def deliver(self, message: Message) -> int | None:
        from standardwebhooks import Webhook

        event = message.data.get("event") or {"type": message.subject, "data": {"body": message.body}}
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        # Receivers compare webhook-timestamp with their own clock (5 min tolerance): wall time, not domain time.
        sent_at = datetime.fromtimestamp(self.wall(), tz=UTC)
        signature = Webhook(self.secret).sign(message.id, sent_at, body)
        headers = {"content-type": "application/json", "webhook-id": message.id,
                   "webhook-timestamp": str(int(sent_at.timestamp())), "webhook-signature": signature,
                   "user-agent": "fieldops-webhooks/1"}
        return _post_json(self.url, None, headers, body.encode(), timeout=self.timeout).status_code


def read_mailbox(path: Path) -> list[dict[str, Any]]:
    """Messages in a local mailbox file, oldest first (used by tests and the dev tools)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
