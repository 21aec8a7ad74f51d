"""The live stream's pure visibility predicate and the REST API's SQL scope are the same rule."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldops.core.auth import Principal, Role
from fieldops.work_orders.models import WorkOrder
from fieldops.work_orders.repository import WorkOrderRepository
from fieldops.work_orders.rules import visible_to
from tests.factories.world import World, make_world


@pytest.fixture
def grid(db: Session) -> tuple[World, list[WorkOrder]]:
    """Orders in both organisations for every technician (or none), customer and territory (or none)."""
    w = make_world(db)
    orders = []
    n = 0
    for t in (w.a, w.b):
        for tech in (t.tech, t.tech2, None):
            for cust, site in ((t.customer, t.site), (t.customer2, t.site2)):
                for terr in (t.territory, t.other_territory, None):
                    n += 1
                    wo = WorkOrder(org_id=t.org.id, number=f"WO-P-{n:04d}", channel="api", title="p",
                                   customer_id=cust.id, site_id=site.id,  # type: ignore[union-attr]
                                   service_type_id=t.service_type.id,  # type: ignore[union-attr]
                                   technician_id=tech.id if tech else None,
                                   territory_id=terr.id if terr else None)
                    db.add(wo)
                    orders.append(wo)
    db.commit()
    return w, orders


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_sql_scope_and_predicate_agree(db: Session, grid: tuple[World, list[WorkOrder]], data: st.DataObject) -> None:
    w, orders = grid
    t = data.draw(st.sampled_from([w.a, w.b]), label="tenant")
    pick = lambda xs: data.draw(st.sampled_from(xs))  # noqa: E731
    principal = Principal(
        user_id=uuid.uuid4(), org_id=t.org.id, role=data.draw(st.sampled_from(list(Role)), label="role"),
        technician_id=pick([None, t.tech.id, t.tech2.id, w.b.tech.id]),  # type: ignore[union-attr]
        customer_id=pick([None, t.customer.id, t.customer2.id, w.b.customer.id]),  # type: ignore[union-attr]
        territory_ids=frozenset(data.draw(st.sets(st.sampled_from(
            [t.territory.id, t.other_territory.id, w.b.territory.id])), label="territories")))
    sql = set(db.scalars(WorkOrderRepository(db, principal).scoped().with_only_columns(WorkOrder.id)))
    db.rollback()  # SQLite: reads take the write lock too
    pure = {wo.id for wo in orders
            if visible_to(principal, wo.org_id, wo.technician_id, wo.customer_id, wo.territory_id)}
    assert sql == pure
    assert sql <= {x for x in db.scalars(select(WorkOrder.id).where(WorkOrder.org_id == principal.org_id))}
    db.rollback()
