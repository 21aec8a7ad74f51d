"""Dispatch endpoints. Manual assignment lives here; the engine-driven parts arrive with the Dispatch issue."""

import uuid

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from fieldops.core.web import Ctx, TransactionalRoute, with_etag
from fieldops.users.deps import get_ctx
from fieldops.work_orders import service as work_orders
from fieldops.work_orders.schemas import AssignBody, WorkOrderRead

router = APIRouter(tags=["dispatch"], route_class=TransactionalRoute)


@router.post("/work-orders/{work_order_id}/assign", response_model=WorkOrderRead,
             summary="Assign or reassign to a technician (派单), with a reason; If-Match required")
def assign(work_order_id: uuid.UUID, body: AssignBody, ctx: Ctx = Depends(get_ctx),
           if_match: str | None = Header(None, alias="If-Match")) -> JSONResponse:
    wo = work_orders.assign(ctx, work_order_id, body.technician_id, body.reason, if_match,
                            data={"mode": "manual"})
    return with_etag(work_orders.to_read(ctx, wo), wo.version)
