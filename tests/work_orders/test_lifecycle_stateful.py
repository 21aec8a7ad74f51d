"""Hypothesis stateful test of the lifecycle through the HTTP API.

The reference model below is written independently of fieldops.work_orders.rules: only the allowed
actions may succeed, each applied change adds exactly one audit row (a refused one adds none), and
closed or cancelled orders change only through reopen.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.factories.world import Tenant
from tests.work_orders.helpers import API, Actors, create_wo

ACTIVE = {"assigned", "accepted", "en_route", "on_site", "in_progress"}
TECH_ACTIONS = {"accept", "reject", "depart", "check-in", "start", "complete", "request-transfer"}
BODIES: dict[str, Any] = {
    "assign": lambda t: {"technician_id": str(t.tech.id), "reason": "test"},
    "reject": lambda t: {"reason": "busy"},
    "check-in": lambda t: {"lat": 42.351, "lng": -71.06},
    "complete": lambda t: {"summary": "fixed", "checklist": {"pressure_ok": True}},
    "confirm": lambda t: {"rating": {"attitude": 5, "quality": 5, "speed": 4}},
    "refuse": lambda t: {"reason": "not fixed"},
    "hold": lambda t: {"reason_code": "waiting_parts", "reason": "part on order"},
    "cancel": lambda t: {"reason": "customer called"},
    "reopen": lambda t: {"reason": "came back"},
    "request-transfer": lambda t: {"reason": "too far"},
    "decline-transfer": lambda t: {"reason": "no one else"},
}
ACTOR = {**{a: "tech" for a in TECH_ACTIONS}, "confirm": "customer", "refuse": "customer"}


class Model:
    """What the product promises, as a plain table."""

    def __init__(self) -> None:
        self.status = "new"
        self.assigned = False
        self.before_hold: str | None = None
        self.transfer = False

    def expect(self, action: str) -> str | None:
        s = self.status
        table = {
            "assign": "assigned" if s in {"new", "accepted", "en_route"} else None,
            "accept": "accepted" if s == "assigned" else None,
            "reject": "new" if s == "assigned" else None,
            "depart": "en_route" if s == "accepted" else None,
            "check-in": "on_site" if s in {"accepted", "en_route"} else None,
            "start": "in_progress" if s == "on_site" else None,
            "complete": "awaiting_acceptance" if s == "in_progress" else None,
            "confirm": "completed" if s == "awaiting_acceptance" else None,
            "refuse": "accepted" if s == "awaiting_acceptance" else None,
            "close": "closed" if s == "completed" else None,
            "hold": "on_hold" if s in ACTIVE else None,
            "resume": self.before_hold if s == "on_hold" else None,
            "cancel": "cancelled" if s in ACTIVE | {"new", "on_hold"} else None,
            "reopen": "new" if s in {"closed", "cancelled"} else None,
            "request-transfer": s if s in {"assigned", "accepted", "en_route"} and not self.transfer else None,
            "decline-transfer": s if s in {"assigned", "accepted", "en_route"} and self.transfer else None,
        }
        return table[action]

    def apply(self, action: str, new_status: str) -> None:
        if action == "hold":
            self.before_hold = self.status
        if action in ("assign",):
            self.assigned = True
            self.transfer = False
        if action in ("reject", "reopen"):
            self.assigned = False
        if action == "request-transfer":
            self.transfer = True
        if action == "decline-transfer":
            self.transfer = False
        self.status = new_status


def make_machine(client: TestClient, tenant: Tenant, actors: Actors) -> type[RuleBasedStateMachine]:
    class Lifecycle(RuleBasedStateMachine):
        @initialize()
        def create(self) -> None:
            self.wo = create_wo(client, actors["dispatcher"], tenant)
            self.model = Model()
            self.audit_len = 1

        def _current(self) -> dict[str, Any]:
            r = client.get(f"{API}/work-orders/{self.wo['id']}", headers=actors["dispatcher"])
            assert r.status_code == 200
            return dict(r.json())

        def _audit_len(self) -> int:
            return len(client.get(f"{API}/work-orders/{self.wo['id']}/timeline", headers=actors["dispatcher"]).json())

        @rule(action=st.sampled_from(sorted(set(BODIES) | {"accept", "depart", "start", "close", "resume"})))
        def do(self, action: str) -> None:
            current = self._current()
            role = ACTOR.get(action, "dispatcher")
            body = BODIES[action](tenant) if action in BODIES else None
            r = client.post(
                f"{API}/work-orders/{self.wo['id']}/{action}",
                json=body,
                headers={**actors[role], "If-Match": f'"{current["version"]}"'},
            )
            expected = self.model.expect(action)
            if role == "tech" and not self.model.assigned:
                assert r.status_code == 404, (action, self.model.status, r.text)
                expected = None
            elif expected is None:
                assert r.status_code == 409, (action, self.model.status, r.status_code, r.text)
            else:
                assert r.status_code == 200, (action, self.model.status, r.text)
                assert r.json()["status"] == expected
                self.model.apply(action, expected)
            grown = self._audit_len() - self.audit_len
            assert grown == (0 if expected is None else 1)
            self.audit_len += grown

        @rule(description=st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s and s.strip() != ""))
        def edit(self, description: str) -> None:
            current = self._current()
            r = client.patch(
                f"{API}/work-orders/{self.wo['id']}",
                json={"description": description},
                headers={**actors["dispatcher"], "If-Match": f'"{current["version"]}"'},
            )
            if self.model.status in ("closed", "cancelled"):
                assert r.status_code == 409
            else:
                assert r.status_code == 200, r.text
            new_len = self._audit_len()
            changed = r.status_code == 200 and current["description"] != description.strip()
            assert new_len - self.audit_len == (1 if changed else 0)
            self.audit_len = new_len

        @rule()
        def stale_version_is_refused(self) -> None:
            current = self._current()
            r = client.post(
                f"{API}/work-orders/{self.wo['id']}/cancel",
                json={"reason": "x"},
                headers={**actors["dispatcher"], "If-Match": f'"{current["version"] + 7}"'},
            )
            assert r.status_code == 412

        @invariant()
        def status_matches(self) -> None:
            if hasattr(self, "wo"):
                assert self._current()["status"] == self.model.status

    return Lifecycle


@pytest.mark.slow
def test_lifecycle_state_machine(client: TestClient, db) -> None:  # type: ignore[no-untyped-def]
    from tests.factories.world import make_world

    world = make_world(db)
    actors = Actors(client, world.a)
    machine = make_machine(client, world.a, actors)
    machine.TestCase.settings = settings(
        max_examples=25, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)
    )
    machine.TestCase().runTest()
