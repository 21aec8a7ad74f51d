"""Comments on work orders: post (with @mentions that notify) and read, under the order's visibility.

A customer never gets an internal note: not in the list, not on the live stream (the outbox event is marked
audience "internal" and carries no text), and never as a mention notification.
"""

from __future__ import annotations

import uuid
from typing import Any

from fieldops.comments import rules
from fieldops.comments.models import Comment
from fieldops.comments.repository import CommentRepository, Mentionable, users_named
from fieldops.comments.rules import CommentRuleError
from fieldops.comments.schemas import CommentCreate, CommentRead
from fieldops.core.auth import Role
from fieldops.core.errors import Forbidden, InvalidInput
from fieldops.core.events import record_event
from fieldops.core.web import Ctx
from fieldops.notifications import service as notifications
from fieldops.work_orders.models import WorkOrder
from fieldops.work_orders.repository import WorkOrderRepository
from fieldops.work_orders.rules import visible_to


def _orders(ctx: Ctx) -> WorkOrderRepository:
    return WorkOrderRepository(ctx.db, ctx.principal)


def _sees_internal(ctx: Ctx) -> bool:
    return ctx.principal.role != Role.customer


def _mentioned(ctx: Ctx, wo: WorkOrder, text: str, visibility: str) -> list[Mentionable]:
    """Users the text @mentions who may read this comment: same organisation, can see the order (the REST
    rule), and not a customer when the note is internal. Anyone else is silently not mentioned."""
    spans = rules.mention_spans(text)
    if not spans:
        return []
    cands = rules.all_candidates(spans)
    phones = sorted({v for c in cands if rules.phone_key(c) for v in (c, "+" + rules.phone_key(c)[4:],
                                                                      rules.phone_key(c)[4:])})
    # Only people who may read this comment count; among them a name shared by two is ambiguous (use the login).
    users = [u for u in users_named(ctx.db, wo.org_id, cands, phones)
             if u.id != ctx.principal.user_id
             and not (visibility == rules.INTERNAL and u.role == "customer")
             and visible_to(u, wo.org_id, wo.technician_id, wo.customer_id, wo.territory_id)]
    index: dict[str, str] = {}
    ambiguous: set[str] = set()
    by_id = {str(u.id): u for u in users}
    for u in users:
        for key in (u.name.lower(), (u.email or "").lower(), rules.phone_key(u.phone or "")):
            if key and index.setdefault(key, str(u.id)) != str(u.id):
                ambiguous.add(key)
    for key in ambiguous:
        index.pop(key, None)
    return [by_id[key] for key in rules.resolve_mentions(spans, index)]


def _payload(wo: WorkOrder, comment: Comment) -> dict[str, Any]:
    base: dict[str, Any] = {
        "work_order_id": str(wo.id), "number": wo.number, "status": wo.status, "priority": wo.priority,
        "technician_id": str(wo.technician_id) if wo.technician_id else None, "customer_id": str(wo.customer_id),
        "territory_id": str(wo.territory_id) if wo.territory_id else None,
        "comment_id": str(comment.id), "seq": comment.seq, "visibility": comment.visibility,
        "author_name": comment.author_name, "author_role": comment.author_role,
        "created_at": comment.created_at.isoformat(),
    }
    if comment.visibility == rules.INTERNAL:
        base["audience"] = "internal"  # no text: readers fetch it through the API, which checks who asks
    else:
        base["audience"] = "customer"
        base["body"] = comment.body
    return base


def post(ctx: Ctx, work_order_id: uuid.UUID, data: CommentCreate) -> Comment:
    """Add a comment to a work order the caller can see (404 otherwise; 403 for finance)."""
    p = ctx.principal
    wo = _orders(ctx).get(work_order_id, for_update=True)  # also serialises the thread's numbering
    if not rules.may_post(p.role.value):
        raise Forbidden(role=p.role.value, action="comment on work orders")
    try:
        visibility = rules.visibility_for(p.role.value, data.visibility)
    except CommentRuleError as err:
        raise InvalidInput(err.en, err.zh, field=err.field)
    if data.attachment_ids:
        known = {a.id for a in _orders(ctx).attachments(wo)}
        if any(a not in known for a in data.attachment_ids):
            raise InvalidInput("An attachment does not belong to this work order.", "附件不属于此工单。",
                               field="attachment_ids")
    repo = CommentRepository(ctx.db)
    comment = Comment(id=uuid.uuid4(), org_id=wo.org_id, work_order_id=wo.id, seq=repo.next_seq(wo.id),
                      visibility=visibility, body=data.body,
                      author_user_id=None if p.is_system else p.user_id, author_name=p.name or p.role.value,
                      author_role=p.role.value, attachment_ids=[str(a) for a in dict.fromkeys(data.attachment_ids)],
                      mentioned_user_ids=[], created_at=ctx.now)
    mentioned = _mentioned(ctx, wo, data.body, visibility)
    comment.mentioned_user_ids = [str(u.id) for u in mentioned]
    ctx.db.add(comment)
    ctx.db.flush()
    record_event(ctx.db, type="comment.created", aggregate_type="work_order", aggregate_id=wo.id, org_id=wo.org_id,
                 payload=_payload(wo, comment), now=ctx.now)
    if mentioned:
        notifications.notify(
            ctx.db, org_id=wo.org_id, template="comment.mention",
            params={"number": wo.number, "author": comment.author_name, "excerpt": rules.excerpt(data.body)},
            recipients=[notifications.Recipient(user_id=u.id, name=u.name) for u in mentioned], now=ctx.now,
            work_order_id=wo.id, dedupe_key=f"comment.mention:{comment.id}")
    return comment


def list_comments(ctx: Ctx, work_order_id: uuid.UUID, after_id: uuid.UUID | None, limit: int,
                  offset: int) -> tuple[list[Comment], int]:
    """The thread oldest first (customers: only customer-visible comments); after_id continues after a
    comment the caller has (as a cursor), with limit/offset paging on top."""
    wo = _orders(ctx).get(work_order_id)
    repo = CommentRepository(ctx.db)
    internal = _sees_internal(ctx)
    after_seq = repo.get(wo.id, after_id, internal).seq if after_id is not None else 0
    return repo.page(wo.id, internal, after_seq, limit, offset)


def to_read(comment: Comment) -> CommentRead:
    return CommentRead.model_validate(comment)
