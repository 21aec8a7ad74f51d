"""Request and response bodies of work-order comments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from fieldops.core.schemas import InModel, OutModel

MAX_BODY = 5000
CommentText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY)]


class CommentCreate(InModel):
    body: CommentText = Field(description="The text (1 to 5,000 characters); @Name or @login mentions a colleague")
    visibility: Literal["internal", "customer"] | None = Field(
        None, description="internal: staff and the assigned technician; customer: the customer sees it too. "
        "Default: internal for staff and technicians; customers always post customer-visible comments")
    attachment_ids: list[uuid.UUID] = Field(default_factory=list, max_length=10,
                                            description="Attachments of this work order to point at")


class CommentRead(OutModel):
    id: uuid.UUID
    work_order_id: uuid.UUID
    seq: int
    visibility: str
    body: str
    author_user_id: uuid.UUID | None
    author_name: str
    author_role: str
    mentioned_user_ids: list[uuid.UUID]
    attachment_ids: list[uuid.UUID]
    created_at: datetime
