"""Field-level leaks: every GET route of the matrix, as every role, on every target the role may see, walked
recursively for data the role must not receive (see markers.py): costs, internal notes and technicians'
positions for customers (Tech 1's only on their own en-route order's technician-position), another customer's
contact data for customers and technicians, another technician's position for technicians, and organisation
B's ids for everyone in A."""

from __future__ import annotations

import pytest

from tests.authz.markers import dumps, leaks, parse_body, plant
from tests.authz.test_matrix import NF, OK, ROLES, ROWS, Env, request

GET_ROWS = [row for row in ROWS if row.method == "GET"]
OWN_POSITION = "/work-orders/{work_order_id}/technician-position"
SETUPS = list(dict.fromkeys(row.setup for row in GET_ROWS if row.setup))


@pytest.mark.parametrize("role", ROLES)
def test_no_response_carries_what_the_role_may_not_see(env: Env, role: str) -> None:
    plant(env)
    for setup in SETUPS:
        setup(env)
    problems: list[str] = []
    walked = 0
    for row in GET_ROWS:
        for cell_role, which, expected in row.cells():
            if cell_role != role or expected == NF or (role, which) in row.disputed:
                continue
            r = request(env, row, role, which)
            if expected == OK and r.status_code >= 400 and r.status_code not in (409,):
                problems.append(f"{row.id} on {which}: expected to be readable, got {r.status_code}")
                continue
            body = parse_body(r)
            if body is None:
                continue
            walked += 1
            own_position = row.path == OWN_POSITION and which == "own"
            for leak in leaks(env, role, body, own_position_ok=own_position):
                problems.append(f"{row.id} on {which or '-'}: {leak}  [{dumps(body)}]")
    assert walked >= 10
    assert not problems, f"{role} receives:\n" + "\n".join(problems)


def test_the_markers_are_there_to_find(env: Env) -> None:
    """The walker's control: the desk does receive each marker, so its absence above means something."""
    plant(env)
    a, h = env.a, env.tokens["dispatcher"]

    def seen(path: str, role: str = "customer", headers: dict[str, str] = h) -> list[str]:
        r = env.client.get(f"/api/v1{path}", headers=headers)
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"
        return leaks(env, role, r.json())

    assert any("cost" in x for x in seen(f"/work-orders/{a.wo}"))
    assert any("cost" in x for x in seen(f"/work-orders/{a.wo}/timeline"))
    assert any("internal note" in x for x in seen(f"/work-orders/{a.wo}/comments"))
    assert any("Customer 2's phone" in x for x in seen(f"/customers/{a.customer2}", "technician"))
    assert any("Customer 2's address" in x for x in seen(f"/sites/{a.site2}", "technician"))
    positions = seen("/tracking/positions")
    assert any("Tech 1's position" in x for x in positions) and any("Tech 2's position" in x for x in positions)
