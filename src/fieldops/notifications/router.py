"""Notifications API: the caller's in-app inbox and preferences, the organisation's channels, webhooks and
delivery log, and the public tracking page of a customer's signed link."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from fieldops.core.clock import Clock
from fieldops.core.schemas import Page
from fieldops.core.web import (
    Ctx,
    PageParams,
    TransactionalRoute,
    app_clock,
    app_settings,
    etag,
    get_db,
    idempotent,
    page_params,
    with_etag,
)
from fieldops.notifications import service
from fieldops.notifications.models import Notification, WebhookSubscription
from fieldops.notifications.schemas import (
    AttemptRead,
    ChannelName,
    ChannelsRead,
    ChannelsUpdate,
    DeliveryRead,
    InboxPage,
    NotificationRead,
    PreferencesRead,
    PreferencesUpdate,
    ReadAllResult,
    TrackingRead,
    UnreadCount,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookTestResult,
    WebhookUpdate,
)
from fieldops.settings import Settings
from fieldops.users.deps import get_ctx

router = APIRouter(tags=["notifications"], route_class=TransactionalRoute)
tracking_router = APIRouter(tags=["tracking"], route_class=TransactionalRoute)

IF_MATCH = Header(None, alias="If-Match")
IDEMPOTENCY_KEY = Header(None, alias="Idempotency-Key")
HOOKS = "/api/v1/notifications/webhooks"


def _note(n: Notification) -> NotificationRead:
    return NotificationRead(id=n.id, template=n.template, subject=n.subject, body=n.body,
                            work_order_id=n.work_order_id, created_at=n.created_at, read_at=n.read_at,
                            read=n.read_at is not None)


# ---- the caller's inbox and preferences ----------------------------------------------------------------

@router.get("/me/notifications", response_model=InboxPage, summary="My in-app notifications, newest first")
def list_my_notifications(ctx: Ctx = Depends(get_ctx), page: PageParams = Depends(page_params),
                          unread: bool = Query(False, description="Only unread ones")) -> InboxPage:
    rows, total, unread_n = service.list_inbox(ctx, unread=unread, limit=page.limit, offset=page.offset)
    return InboxPage(items=[_note(n) for n in rows], total=total, unread=unread_n, limit=page.limit,
                     offset=page.offset)


@router.get("/me/notifications/unread-count", response_model=UnreadCount, summary="My unread count (the bell)")
def my_unread_count(ctx: Ctx = Depends(get_ctx)) -> UnreadCount:
    return UnreadCount(unread=service.unread_count(ctx))


@router.post("/me/notifications/read-all", response_model=ReadAllResult, summary="Mark all my notifications read")
def read_all(ctx: Ctx = Depends(get_ctx)) -> ReadAllResult:
    marked = service.mark_all_read(ctx)
    return ReadAllResult(marked=marked, unread=service.unread_count(ctx))


@router.post("/me/notifications/{notification_id}/read", response_model=NotificationRead,
             summary="Mark one of my notifications read")
def read_one(notification_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> NotificationRead:
    return _note(service.mark_read(ctx, notification_id))


@router.get("/me/notification-preferences", response_model=PreferencesRead, summary="My notification preferences")
def get_my_preferences(ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    prefs = service.get_preferences(ctx)
    return with_etag(prefs, prefs.version)


@router.put("/me/notification-preferences", response_model=PreferencesRead,
            summary="Set my notification preferences (per channel, per template group, quiet hours)")
def put_my_preferences(body: PreferencesUpdate, ctx: Ctx = Depends(get_ctx),
                       if_match: str | None = IF_MATCH) -> JSONResponse:
    prefs = service.put_preferences(ctx, body, if_match)
    return with_etag(prefs, prefs.version)


# ---- organisation configuration (admins) ----------------------------------------------------------------

@router.get("/notifications/channels", response_model=ChannelsRead,
            summary="The organisation's external channels (secrets are never returned)")
def get_channels(ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    out = service.get_channels(ctx)
    return with_etag(out, out.version)


@router.put("/notifications/channels", response_model=ChannelsRead,
            summary="Configure external channels (secrets are write-only)")
def put_channels(body: ChannelsUpdate, ctx: Ctx = Depends(get_ctx), if_match: str | None = IF_MATCH) -> JSONResponse:
    out = service.put_channels(ctx, body, if_match)
    return with_etag(out, out.version)


def _hook(h: WebhookSubscription) -> WebhookRead:
    return WebhookRead(id=h.id, url=h.url, description=h.description, event_types=list(h.event_types or []),
                       active=h.active, created_at=h.created_at, version=h.version)


@router.get("/notifications/webhooks", response_model=Page[WebhookRead], summary="Webhook subscriptions")
def list_webhooks(ctx: Ctx = Depends(get_ctx)) -> Page[WebhookRead]:
    rows = service.list_webhooks(ctx)
    return Page(items=[_hook(h) for h in rows], total=len(rows), limit=len(rows), offset=0)


@router.post("/notifications/webhooks", response_model=WebhookCreated, status_code=201,
             summary="Subscribe an endpoint to events (the signing secret is shown only in this answer)")
def create_webhook(body: WebhookCreate, ctx: Ctx = Depends(get_ctx),
                   idempotency_key: str | None = IDEMPOTENCY_KEY) -> JSONResponse:
    def produce() -> tuple[WebhookCreated, dict[str, str]]:
        hook = service.create_webhook(ctx, body)
        out = WebhookCreated(**_hook(hook).model_dump(), secret=hook.secret)
        return out, {"ETag": etag(hook.version), "Location": f"{HOOKS}/{hook.id}"}

    return idempotent(ctx, idempotency_key, "POST /notifications/webhooks", body.model_dump(mode="json"), produce)


@router.get("/notifications/webhooks/{webhook_id}", response_model=WebhookRead, summary="One webhook subscription")
def get_webhook(webhook_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> JSONResponse:
    hook = service.get_webhook(ctx, webhook_id)
    return with_etag(_hook(hook), hook.version)


@router.patch("/notifications/webhooks/{webhook_id}", response_model=WebhookRead,
              summary="Change a subscription (rotate_secret answers the new secret once)")
def update_webhook(webhook_id: uuid.UUID, body: WebhookUpdate, ctx: Ctx = Depends(get_ctx),
                   if_match: str | None = IF_MATCH) -> JSONResponse:
    hook, secret = service.update_webhook(ctx, webhook_id, body, if_match)
    out: WebhookRead = WebhookCreated(**_hook(hook).model_dump(), secret=secret) if secret else _hook(hook)
    return with_etag(out, hook.version)


@router.delete("/notifications/webhooks/{webhook_id}", status_code=204, summary="Delete a subscription")
def delete_webhook(webhook_id: uuid.UUID, ctx: Ctx = Depends(get_ctx), if_match: str | None = IF_MATCH) -> Response:
    service.delete_webhook(ctx, webhook_id, if_match)
    return Response(status_code=204)


@router.post("/notifications/webhooks/{webhook_id}/test", response_model=WebhookTestResult, status_code=202,
             summary="Queue a signed test event to this subscription (see the delivery log for the outcome)")
def test_webhook(webhook_id: uuid.UUID, ctx: Ctx = Depends(get_ctx)) -> WebhookTestResult:
    note = service.queue_webhook_test(ctx, webhook_id)
    return WebhookTestResult(notification_id=note.id, ok=False, response_code=None, error=None)


@router.get("/notifications/deliveries", response_model=Page[DeliveryRead],
            summary="Delivery log of external messages with every attempt (admins, dispatchers)")
def list_deliveries(
    ctx: Ctx = Depends(get_ctx), page: PageParams = Depends(page_params),
    status: Literal["pending", "sending", "sent", "failed"] | None = Query(None),
    channel: ChannelName | None = Query(None),
    work_order_id: uuid.UUID | None = Query(None),
) -> Page[DeliveryRead]:
    rows, total = service.list_deliveries(ctx, status=status, channel=channel, work_order_id=work_order_id,
                                          limit=page.limit, offset=page.offset)
    items = [DeliveryRead(id=n.id, channel=n.channel, recipient=n.recipient, template=n.template, subject=n.subject,
                          status=n.status, attempts=n.attempts, last_error=n.last_error,
                          work_order_id=n.work_order_id, created_at=n.created_at, sent_at=n.sent_at,
                          next_attempt_at=n.next_attempt_at,
                          attempt_log=[AttemptRead.model_validate(a) for a in atts])
             for n, atts in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


# ---- public tracking (no account) -----------------------------------------------------------------------

@tracking_router.get("/track/{token}", response_model=TrackingRead,
                     summary="A customer's tracking page data (signed, expiring link; no sign-in)")
def track(token: str = Path(..., min_length=10, max_length=2000), db: Session = Depends(get_db),
          settings: Settings = Depends(app_settings), clock: Clock = Depends(app_clock)) -> TrackingRead:
    return service.track(db, settings, token, clock.now())
