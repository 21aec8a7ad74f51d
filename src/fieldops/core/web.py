"""HTTP plumbing shared by every router: the per-request transaction, context, ETags, idempotency."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio
from fastapi import Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import JSON, Integer, String, UniqueConstraint, Uuid, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from fieldops.core import audit, i18n
from fieldops.core.auth import Principal
from fieldops.core.clock import Clock
from fieldops.core.db import Base, Database, new_id
from fieldops.core.errors import IdempotencyMismatch, InvalidInput, PreconditionFailed, PreconditionRequired
from fieldops.settings import Settings

# Commits and rollbacks get threads of their own: on the shared request pool (40 threads) a commit could queue
# behind handlers that wait for the very row or key lock that commit releases (e.g. 150 requests racing for 50
# Idempotency-Keys), and the process would stall until the pool timeout.
# And at most ADMITTED requests per process run their handler at once (the rest wait without a thread or a
# database connection): FastAPI takes the connection in a dependency on one thread and runs the endpoint on
# another, so without a bound a burst holds more connections than the pool has while waiting for threads.
ADMITTED = 32
_LIMITERS: weakref.WeakKeyDictionary[Any, tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]] = \
    weakref.WeakKeyDictionary()


def _limiters() -> tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]:
    loop = asyncio.get_running_loop()  # one pair per event loop (tests start several)
    pair = _LIMITERS.get(loop)
    if pair is None:
        pair = _LIMITERS[loop] = (anyio.CapacityLimiter(ADMITTED), anyio.CapacityLimiter(64))
    return pair


async def _finish(func: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(func, *args, limiter=_limiters()[1])


class TransactionalRoute(APIRoute):
    """One transaction per request, owned by the edge: commit after the endpoint succeeds, else roll back.

    The commit happens before the response leaves, so a client never sees success for a change that
    failed to commit.
    """

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def transactional(request: Request) -> Response:
            try:
                async with _limiters()[0]:
                    response = await handler(request)
            except BaseException:
                db: Session | None = getattr(request.state, "db", None)
                if db is not None:
                    await _finish(_close, db, False)
                    request.state.db = None
                raise
            db = getattr(request.state, "db", None)
            ok = response.status_code < 400
            entry = self._audit_entry(request, response) if ok and self._audited(request.method) else None
            if db is not None:
                request.state.db = None
                await _finish(_close, db, ok, entry)
            elif entry is not None:  # an endpoint without the request session: the row gets its own
                database: Database = request.app.state.database
                await _finish(_close, database.session(), True, entry)
            return response

        return transactional

    def _audited(self, method: str) -> bool:
        return method in audit.MUTATING and audit.NOT_AUDITED not in (self.openapi_extra or {})

    def _template(self, request: Request) -> str:
        """The route's full path template (this route's own path lacks the prefixes of the routers above it)."""
        path: str = request.scope.get("path", "")
        try:
            concrete = self.path_format.format(**request.path_params)
        except (KeyError, IndexError, ValueError):
            return self.path_format
        return path.removesuffix(concrete) + self.path_format if path.endswith(concrete) else self.path_format

    def _audit_entry(self, request: Request, response: Response) -> dict[str, Any]:
        """What the audit row of this successful change says (written in the request's transaction)."""
        clock: Clock = request.app.state.clock
        form = getattr(request, "_form", None)  # what the endpoint parsed (Starlette keeps it on the request)
        body = getattr(request, "_body", None)
        sent = audit.field_names(body if isinstance(body, bytes) else None,
                                 list(form.keys()) if form is not None else None)
        changes: dict[str, Any] = {"fields": sent}
        if response.headers.get("Idempotent-Replayed"):
            changes["replayed"] = True
        params = dict(request.path_params)
        return {
            "at": clock.now(), "action": f"{request.method} {self._template(request)}",
            "status_code": response.status_code,
            "request_id": request.headers.get("x-request-id") or getattr(request.state, "request_id", None)
            or uuid.uuid4().hex,
            "principal": getattr(request.state, "principal", None), "path_params": params,
            "target_id": audit.target_of(params, getattr(response, "body", None), response.status_code == 201),
            "changes": changes,
        }


def _close(db: Session, commit: bool, audit_entry: dict[str, Any] | None = None) -> None:
    try:
        if commit:
            if audit_entry is not None:
                audit.record(db, **audit_entry)
            db.commit()
        else:
            db.rollback()
    finally:
        db.close()


@dataclass
class Ctx:
    """What a use case needs from its caller: the session, who is acting, when, and in which language."""

    db: Session
    principal: Principal
    now: datetime
    settings: Settings
    lang: str = "en"
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def app_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_db(request: Request) -> Session:
    """The request's session; TransactionalRoute commits or rolls it back."""
    database: Database = request.app.state.database
    db = database.session()
    request.state.db = db
    return db


def request_lang(request: Request) -> str:
    return i18n.negotiate(request.headers.get("accept-language"))


# ---- pagination ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


def page_params(
    limit: int = Query(50, ge=1, le=100, description="Page size (max 100)"),
    offset: int = Query(0, ge=0, le=10_000_000, description="Items to skip"),
) -> PageParams:
    return PageParams(limit, offset)


# ---- optimistic concurrency ---------------------------------------------------------------------

def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, current_version: int) -> None:
    """428 when If-Match is missing, 412 when it names another version."""
    if not if_match:
        raise PreconditionRequired()
    candidates = [v.strip().removeprefix("W/").strip('"') for v in if_match.split(",")]
    if "*" in candidates:
        return
    if str(current_version) not in candidates:
        raise PreconditionFailed(current=current_version)


def with_etag(model: BaseModel, version: int, status_code: int = 200) -> JSONResponse:
    return JSONResponse(jsonable_encoder(model), status_code=status_code, headers={"ETag": etag(version)})


# ---- idempotency --------------------------------------------------------------------------------

class IdempotencyRecord(Base):
    """The first answer to a create, keyed by (user, key); a retry gets it back unchanged."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    key: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer, default=0)
    body: Mapped[Any] = mapped_column(JSON, nullable=True)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]


def _hash_payload(payload: Any) -> str:
    data = jsonable_encoder(payload)
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def idempotent(ctx: Ctx, key: str | None, scope: str, payload: Any,
               produce: Callable[[], tuple[Any, dict[str, str]]], status_code: int = 201) -> JSONResponse:
    """Run `produce` once per Idempotency-Key; a retry with the same key returns the stored answer.

    The record is inserted before the work runs, so a concurrent duplicate waits on the unique key
    (PostgreSQL) or the write lock (SQLite) and then replays the winner's answer.
    """
    if key is None:
        body, headers = produce()
        return JSONResponse(jsonable_encoder(body), status_code=status_code, headers=headers)
    if not (1 <= len(key) <= 200) or "\x00" in key:
        raise InvalidInput("Idempotency-Key must be 1 to 200 characters.",
                           "Idempotency-Key 长度须为 1 到 200 个字符。", field="Idempotency-Key")
    request_hash = _hash_payload({"scope": scope, "payload": payload})
    existing = _find_record(ctx.db, ctx.principal.user_id, key)
    if existing is None:
        record = IdempotencyRecord(user_id=ctx.principal.user_id, key=key, scope=scope,
                                   request_hash=request_hash, created_at=ctx.now)
        try:
            with ctx.db.begin_nested():
                ctx.db.add(record)
                ctx.db.flush()
        except IntegrityError:
            existing = _find_record(ctx.db, ctx.principal.user_id, key)
            if existing is None:  # pragma: no cover - vanished between insert and read
                raise
        else:
            body, headers = produce()
            record.status_code = status_code
            record.body = jsonable_encoder(body)
            record.headers = headers
            return JSONResponse(record.body, status_code=status_code, headers=headers)
    if existing.request_hash != request_hash:
        raise IdempotencyMismatch()
    headers = dict(existing.headers or {})
    headers["Idempotent-Replayed"] = "true"
    return JSONResponse(existing.body, status_code=existing.status_code or status_code, headers=headers)


def _find_record(db: Session, user_id: uuid.UUID, key: str) -> IdempotencyRecord | None:
    return db.scalars(
        select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
    ).first()
