"""Live updates over server-sent events: GET /live/stream (Bearer header, or a one-time ?access_token= ticket
from POST /live/ticket for plain EventSource clients)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse

from fieldops.core.auth import Principal
from fieldops.core.errors import InvalidInput, Unauthorized
from fieldops.core.security import issue_token
from fieldops.core.web import Ctx, TransactionalRoute
from fieldops.live import broadcaster, service
from fieldops.users import service as users
from fieldops.users.deps import get_ctx

router = APIRouter(prefix="/live", tags=["live"], route_class=TransactionalRoute)
stream_router = APIRouter(tags=["live"])  # manages its own short sessions: the stream outlives them


class TicketRead(BaseModel):
    ticket: str
    expires_in: int


@router.post("/ticket", response_model=TicketRead, summary="A one-time, 60-second ticket for ?access_token=")
def live_ticket(ctx: Ctx = Depends(get_ctx)) -> TicketRead:
    ticket, expires_in = service.issue_ticket(ctx)
    return TicketRead(ticket=ticket, expires_in=expires_in)


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _principal(request: Request, bearer: str | None, ticket: str | None) -> Principal:
    app = request.app
    database, settings, now = app.state.database, app.state.settings, app.state.clock.now()
    with database.session() as db:
        if bearer:
            principal = users.authenticate(db, settings, bearer, now)
        elif ticket:
            user_id, session_id = service.redeem_ticket(db, ticket, now)
            token, _ = issue_token(settings.signing_key(), user_id=user_id, session_id=session_id, kind="access",
                                   now=now, ttl=timedelta(seconds=60))
            principal = users.authenticate(db, settings, token, now)
        else:
            raise Unauthorized("unauthorized")
        db.commit()
        return principal


def _last_id(header: str | None, query: int | None) -> int | None:
    if query is not None:
        return query
    if header is None or not header.strip():
        return None
    try:
        value = int(header.strip())
    except ValueError:
        raise InvalidInput("Last-Event-ID must be an event id (an integer).", "Last-Event-ID 必须是整数事件编号。",
                           field="Last-Event-ID")
    if value < 0:
        raise InvalidInput("Last-Event-ID must not be negative.", "Last-Event-ID 不能为负数。", field="Last-Event-ID")
    return value


@stream_router.get("/stream", summary="Server-sent events: the work orders and messages the caller may see",
                   response_class=EventSourceResponse)
async def live_stream(
    request: Request,
    last_event_id: int | None = Query(None, ge=0, le=2**62, description="Resume after this id (or the header)"),
    last_event_id_header: str | None = Header(None, alias="Last-Event-ID", max_length=40),
    access_token: str | None = Query(None, max_length=200, description="A ticket from POST /live/ticket"),
    once: bool = Query(False, description="Send the backlog and `ready`, then close (catch-up only)"),
) -> EventSourceResponse:
    """Every live event has an increasing integer id. Send Last-Event-ID (header or ?last_event_id=) to get
    everything after it that you may see; a `reset` event means the resume point is gone: refetch everything.
    `ready` marks the end of the backlog. Keep-alive comments every FIELDOPS_LIVE_PING_SECONDS."""
    start = _last_id(last_event_id_header, last_event_id)
    principal = await asyncio.to_thread(_principal, request, _bearer(request), access_token)
    b = broadcaster.get(request.app)
    settings = request.app.state.settings
    return EventSourceResponse(broadcaster.stream(b, principal, start, once), ping=settings.live_ping_seconds,
                               send_timeout=30, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


router.include_router(stream_router)
