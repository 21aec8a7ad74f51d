"""Marked data planted in the authorization world, and a walker that finds it in whatever a caller receives.

Markers: costs on Customer 1's order (the customer's own), an internal note on it, Customer 2's contact data
(phone, e-mail, address, on the customer, their site and their order), each technician's position, and the ids of
organisation B. `leaks(role, body)` names every marker a body shows that the role may not receive.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from fieldops.customers.models import Customer, Site
from fieldops.technicians.models import Technician
from fieldops.tracking.models import TechnicianPosition
from fieldops.work_orders.models import WorkOrder
from tests.authz.test_matrix import API, Env
from tests.conftest import START

COST_KEYS = ("labor_cost", "parts_cost", "travel_cost", "total_cost")
COSTS = {"labor_cost": 111.17, "parts_cost": 222.29, "travel_cost": 333.31}
INTERNAL_NOTE = "INTERNAL-NOTE-7Q3 margin is thin, do not discount"
CUSTOMER_NOTE = "Customer-visible: we are on our way"
C2_PHONE, C2_EMAIL, C2_ADDRESS = "+8613900001111", "c2-private@example.test", "77 Hidden Lane, Boston MA"
C2_SITE_PHONE, C2_WO_PHONE = "+8613900002222", "+8613900003333"
TECH1_AT = (42.311171, -71.022273)  # Tech 1's last fix
TECH2_AT = (42.399973, -71.088871)  # Tech 2's last fix


def plant(env: Env) -> None:
    """Put the markers into the world (through the API where the product would, else directly)."""
    env.matrix.dirty = True
    a = env.a
    desk = {**env.tokens["dispatcher"], "If-Match": "*"}
    r = env.client.patch(f"{API}/work-orders/{a.wo}", headers=desk, json=COSTS)
    assert r.status_code == 200, r.text
    for body, visibility in ((INTERNAL_NOTE, "internal"), (CUSTOMER_NOTE, "customer")):
        r = env.client.post(f"{API}/work-orders/{a.wo}/comments", headers=env.tokens["dispatcher"],
                            json={"body": body, "visibility": visibility})
        assert r.status_code == 201, r.text
    env.db.execute(update(Customer).where(Customer.id == uuid.UUID(a.customer2)).values(
        phone=C2_PHONE, email=C2_EMAIL))
    env.db.execute(update(Site).where(Site.id == uuid.UUID(a.site2)).values(
        address=C2_ADDRESS, contact_phone=C2_SITE_PHONE))
    env.db.execute(update(WorkOrder).where(WorkOrder.id == uuid.UUID(a.wo2)).values(
        site_address=C2_ADDRESS, contact_phone=C2_WO_PHONE))
    for tech, (lat, lng) in ((a.tech, TECH1_AT), (a.tech2, TECH2_AT)):
        env.db.execute(update(Technician).where(Technician.id == uuid.UUID(tech)).values(
            last_lat=lat, last_lng=lng, last_seen_at=START - timedelta(minutes=1)))
    env.db.add(TechnicianPosition(org_id=uuid.UUID(a.org), technician_id=uuid.UUID(a.tech2), device_id="t2",
                                  lat=TECH2_AT[0], lng=TECH2_AT[1], recorded_at=START - timedelta(minutes=1),
                                  received_at=START - timedelta(minutes=1)))
    env.db.commit()
    # Tech 1's phone reports (the trace, distances and the live position come from it).
    points = [{"lat": TECH1_AT[0], "lng": TECH1_AT[1], "accuracy_m": 8,
               "recorded_at": (START - timedelta(seconds=30 - i)).isoformat()} for i in range(2)]
    r = env.client.post(f"{API}/tracking/points", headers=env.tokens["technician"],
                        json={"device_id": "tech1-phone", "points": points})
    assert r.status_code in (200, 201, 202), r.text


def walk(value: Any, path: str = "$") -> Iterator[tuple[str, str | None, Any]]:
    """(path, key, value) of every leaf and every keyed value, depth first."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield f"{path}.{k}", str(k), v
            yield from walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, f"{path}[{i}]")
    else:
        yield path, None, value


def _near(v: Any, target: float) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and abs(float(v) - target) < 1e-6


def leaks(env: Env, role: str, body: Any, *, own_position_ok: bool = False) -> list[str]:
    """Every marker in `body` (parsed JSON, or text) that `role` of organisation A must not receive."""
    found: list[str] = []
    b = env.b
    foreign_ids = {b.org, b.customer, b.customer2, b.site, b.site2, b.tech, b.tech2, b.wo, b.wo2,
                   *b.users.values()}
    text_forbidden = [("organisation B's id", i) for i in foreign_ids]
    if role == "customer":
        text_forbidden.append(("an internal note", INTERNAL_NOTE[:20]))
    if role in ("customer", "technician"):
        text_forbidden += [("Customer 2's phone", C2_PHONE), ("Customer 2's e-mail", C2_EMAIL),
                           ("Customer 2's address", C2_ADDRESS), ("Customer 2's site phone", C2_SITE_PHONE),
                           ("Customer 2's order contact", C2_WO_PHONE)]
    if role == "customer":  # another customer does not exist for them, nor their order or site
        text_forbidden += [("Customer 2's id", env.a.customer2), ("Customer 2's order id", env.a.wo2),
                           ("Customer 2's site id", env.a.site2)]
    if role == "technician":  # nor, for a technician, another technician
        text_forbidden += [("Tech 2's id", env.a.tech2), ("Tech 2's user id", env.a.users["tech2"]),
                           ("Customer 2's order id", env.a.wo2)]
    positions: list[tuple[str, tuple[float, float]]] = []
    if role == "customer":
        positions.append(("Tech 2's position", TECH2_AT))
        if not own_position_ok:
            positions.append(("Tech 1's position", TECH1_AT))
    if role == "technician":
        positions.append(("Tech 2's position", TECH2_AT))

    if isinstance(body, str | bytes):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        found += [f"{what} in the text" for what, s in text_forbidden if s in text]
        if role == "customer":
            found += [f"a cost ({v}) in the text" for v in COSTS.values() if str(v) in text]
        found += [f"{what} in the text" for what, (lat, _) in positions if str(lat) in text]
        return found
    for path, key, value in walk(body):
        if isinstance(value, str):
            found += [f"{what} at {path}" for what, s in text_forbidden if s in value]
        if role == "customer":
            if key is not None and (key in COST_KEYS or key.endswith("_cost")) and value not in (None, 0, "", []):
                found.append(f"a cost field at {path} = {value!r}")
            if any(_near(value, c) for c in (*COSTS.values(), sum(COSTS.values()))):
                found.append(f"a cost value at {path} = {value!r}")
        found += [f"{what} at {path}" for what, (lat, lng) in positions if _near(value, lat) or _near(value, lng)]
    return found


def parse_body(r: Any) -> Any:
    ctype = r.headers.get("content-type", "")
    if "json" in ctype:
        return r.json()
    if ctype.startswith("text/"):
        return r.text
    return None


def dumps(body: Any) -> str:
    return json.dumps(body, default=str)[:300]
