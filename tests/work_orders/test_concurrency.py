"""Concurrent changes: one winner, the rest get a clean 409/412; numbers stay unique."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

from fieldops.core.auth import Principal, Role
from fieldops.core.errors import FieldOpsError
from fieldops.core.web import Ctx
from fieldops.work_orders import service
from fieldops.work_orders.schemas import ReasonBody, WorkOrderCreate
from tests.factories.world import Tenant, make_world


def _ctx(app, db, t: Tenant, clock) -> Ctx:  # type: ignore[no-untyped-def]
    user = t.users["dispatcher"]
    p = Principal(user_id=user.id, org_id=t.org.id, role=Role.dispatcher, name="d")
    return Ctx(db=db, principal=p, now=clock.now(), settings=app.state.settings)


def _run(n: int, fn) -> list[str]:  # type: ignore[no-untyped-def]
    results: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def target() -> None:
        barrier.wait()
        try:
            outcome = fn()
        except FieldOpsError as exc:
            outcome = str(exc.status)
        except (StaleDataError, OperationalError) as exc:
            outcome = type(exc).__name__
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=target) for _ in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results


def test_parallel_cancels_one_wins(app, db, clock) -> None:  # type: ignore[no-untyped-def]
    world = make_world(db)
    t = world.a
    database = app.state.database
    with database.session() as s:
        wo = service.create(_ctx(app, s, t, clock), WorkOrderCreate(customer_id=t.customer.id, site_id=t.site.id,
                                                                    service_type_id=t.service_type.id))
        s.commit()
        wo_id, version = wo.id, wo.version

    def cancel() -> str:
        with database.session() as s:
            service.perform(_ctx(app, s, t, clock), wo_id, "cancel", f'"{version}"', ReasonBody(reason="dup"))
            s.commit()
            return "ok"

    results = _run(8, cancel)
    assert results.count("ok") == 1, results
    assert set(results) - {"ok"} <= {"412", "409", "StaleDataError"}, results
    with database.session() as s:
        timeline = service.timeline(_ctx(app, s, t, clock), wo_id)
        assert [row.action for row in timeline] == ["create", "cancel"]


def test_parallel_creates_get_unique_numbers(app, db, clock) -> None:  # type: ignore[no-untyped-def]
    world = make_world(db)
    t = world.a
    database = app.state.database

    def create() -> str:
        with database.session() as s:
            wo = service.create(_ctx(app, s, t, clock), WorkOrderCreate(
                customer_id=t.customer.id, site_id=t.site.id, service_type_id=t.service_type.id,
                description=uuid.uuid4().hex))
            s.commit()
            return wo.number

    numbers = _run(8, create)
    assert len(set(numbers)) == 8, numbers
