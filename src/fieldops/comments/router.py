"""Work-order comments: GET/POST /work-orders/{id}/comments."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse

from fieldops.comments import service
from fieldops.comments.schemas import CommentCreate, CommentRead
from fieldops.core.schemas import Page
from fieldops.core.web import Ctx, PageParams, TransactionalRoute, idempotent, page_params
from fieldops.users.deps import get_ctx

router = APIRouter(prefix="/work-orders", tags=["comments"], route_class=TransactionalRoute)


@router.get("/{work_order_id}/comments", response_model=Page[CommentRead],
            summary="The order's comments, oldest first (customers see only customer-visible ones)")
def list_comments(work_order_id: uuid.UUID,
                  after_id: uuid.UUID | None = Query(None, description="Only comments after this one"),
                  page: PageParams = Depends(page_params), ctx: Ctx = Depends(get_ctx)) -> Page[CommentRead]:
    items, total = service.list_comments(ctx, work_order_id, after_id, page.limit, page.offset)
    return Page[CommentRead](items=[service.to_read(c) for c in items], total=total, limit=page.limit,
                             offset=page.offset)


@router.post("/{work_order_id}/comments", response_model=CommentRead, status_code=201,
             summary="Comment on an order (internal note or customer-visible); @mentions notify")
def post_comment(work_order_id: uuid.UUID, body: CommentCreate, ctx: Ctx = Depends(get_ctx),
                 idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> JSONResponse:
    def produce() -> tuple[Any, dict[str, str]]:
        comment = service.post(ctx, work_order_id, body)
        return service.to_read(comment), {"Location": f"/api/v1/work-orders/{work_order_id}/comments"}

    return idempotent(ctx, idempotency_key, f"POST /work-orders/{work_order_id}/comments", body, produce)
