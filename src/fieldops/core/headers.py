"""Security headers on every response, and a light per-user / per-address request rate limit.

Both are plain ASGI middleware so that streamed responses (the live SSE stream, file downloads) pass through
untouched apart from their headers.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import jwt

from fieldops.core import i18n
from fieldops.core.clock import Clock
from fieldops.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A file the API hands out (attachments, exports) must never run as a page of our origin, whatever is inside it.
DOWNLOAD_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'none'; sandbox; frame-ancestors 'none'"


def tile_source(map_tile_url: str) -> str:
    """The CSP source of the configured Leaflet tile server ('' when none): scheme://host, {s} becoming *."""
    if not map_tile_url:
        return ""
    parts = urlsplit(map_tile_url.replace("{s}", "subdomain-placeholder"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname.replace("subdomain-placeholder", "*")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def content_security_policy(settings: Settings) -> str:
    """The policy of the web app: scripts and styles only from our origin, no inline code, no framing."""
    tiles = tile_source(settings.map_tile_url)
    img = "img-src 'self' data: blob:" + (f" {tiles}" if tiles else "")
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'", img, "font-src 'self' data:",
        "connect-src 'self'", "media-src 'self' blob:", "worker-src 'self' blob:", "frame-ancestors 'none'",
        "object-src 'none'", "base-uri 'self'", "form-action 'self'",
    ])


class SecurityHeaders:
    """Add CSP, nosniff, Referrer-Policy, frame-ancestors/X-Frame-Options and, behind TLS, HSTS."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.trust_proxy = settings.trust_proxy_headers
        self.csp = content_security_policy(settings).encode()
        self.static: list[tuple[bytes, bytes]] = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),  # tracking links carry their token in the path
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"geolocation=(self), camera=(self), microphone=(), payment=(), usb=()"),
        ]

    def _is_https(self, scope: Scope) -> bool:
        if scope.get("scheme") == "https":
            return True
        if self.trust_proxy:
            for name, value in scope.get("headers", []):
                if name == b"x-forwarded-proto":
                    return value.split(b",")[0].strip().lower() == b"https"
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = self._is_https(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in self.static:
                    if name not in present:
                        headers.append((name, value))
                if b"content-security-policy" not in present:
                    disposition = next((v for n, v in headers if n.lower() == b"content-disposition"), b"")
                    csp = DOWNLOAD_CSP.encode() if disposition.startswith(b"attachment") else self.csp
                    headers.append((b"content-security-policy", csp))
                if https:
                    headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class FixedWindowLimiter:
    """In-memory fixed one-minute windows per key (per process; a cluster multiplies the allowance)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._window = -1
        self._counts: dict[str, int] = {}

    def hit(self, key: str, epoch_seconds: float) -> int:
        """Count a request; 0 when allowed, else the seconds until the window ends."""
        window = int(epoch_seconds // 60)
        with self._lock:
            if window != self._window:  # a new minute: forget the old one (keeps memory bounded)
                self._window, self._counts = window, {}
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
        if count <= self.limit:
            return 0
        return max(1, math.ceil((window + 1) * 60 - epoch_seconds))


MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


class RateLimit:
    """429 with Retry-After when a user (or, unsigned, an address) sends too many changing requests a minute.

    The user is read from the bearer token's subject after checking its signature only; the route still
    authenticates it fully. Reads are not limited here (pages poll), sign-in has its own throttle.
    """

    def __init__(self, app: ASGIApp, settings: Settings, clock: Clock) -> None:
        self.app = app
        self.settings = settings
        self.clock = clock
        self.limiter = FixedWindowLimiter(settings.rate_limit_per_minute)

    def _key(self, scope: Scope) -> str:
        auth = b""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                auth = value
                break
        if auth[:7].lower() == b"bearer ":
            try:
                claims = jwt.decode(auth[7:].decode("latin-1").strip(), self.settings.signing_key(),
                                    algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False})
                return f"user:{claims.get('sub')}"
            except jwt.PyJWTError:
                pass
        client = scope.get("client")
        return f"ip:{client[0] if client else 'unknown'}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or self.settings.rate_limit_per_minute <= 0
                or scope.get("method") not in MUTATING or not str(scope.get("path", "")).startswith("/api/")):
            await self.app(scope, receive, send)
            return
        wait = self.limiter.hit(self._key(scope), self.clock.now().timestamp())
        if not wait:
            await self.app(scope, receive, send)
            return
        lang = "en"
        for name, value in scope.get("headers", []):
            if name == b"accept-language":
                lang = i18n.negotiate(value.decode("latin-1"))
        status = 429
        body = json.dumps({
            "type": "/problems/rate_limited", "title": i18n.title(status, lang), "status": status,
            "detail": i18n.render("rate_limited", lang, {"retry_after": wait}), "instance": scope.get("path", ""),
            "code": "rate_limited", "retry_after": wait,
        }, ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(wait).encode())]})
        await send({"type": "http.response.body", "body": body})
