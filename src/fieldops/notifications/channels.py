"""Delivery channels behind one interface: a real SMTP sender and a local development mailbox."""

from __future__ import annotations

import json
import logging
import smtplib
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

log = logging.getLogger("fieldops.notifications")


class Channel(Protocol):
    def send(self, *, channel: str, recipient: str, subject: str, body: str) -> None: ...


class LocalMailbox:
    """Development delivery: the server log and a JSON-lines mailbox file under var/."""

    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, *, channel: str, recipient: str, subject: str, body: str) -> None:
        log.info("[%s to %s] %s — %s", channel, recipient, subject, body)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"channel": channel, "to": recipient, "subject": subject, "body": body},
                          ensure_ascii=False)
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


class SmtpChannel:
    """Real e-mail delivery through an SMTP server (host, port, optional STARTTLS and login)."""

    def __init__(self, host: str, port: int, sender: str, username: str = "", password: str = "",
                 starttls: bool = False) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls = username, password, starttls

    def send(self, *, channel: str, recipient: str, subject: str, body: str) -> None:
        if channel != "email":
            raise ValueError(f"SMTP cannot deliver {channel}")
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, recipient, subject
        msg.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(msg)


def read_mailbox(path: Path) -> list[dict[str, str]]:
    """Messages in a local mailbox file, oldest first (used by tests and the dev tools)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
