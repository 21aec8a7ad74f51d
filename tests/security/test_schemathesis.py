"""Property-based fuzzing of every operation in the OpenAPI document, as every role (Schemathesis 4).

For each role of organisation A and each operation, a bounded number of generated requests is sent in-process.
Half of the examples use real ids of the caller's world in the path (so bodies reach the services), half use
generated ones. Every response must: not be a 5xx, match the documented status codes, content type and schema,
and when it is an error be an RFC 9457 problem+json document without a stack trace.

The bounded run is part of `make test`; `make bench-security` runs the same with more examples
(FIELDOPS_FUZZ_EXAMPLES) and writes the counts to docs/benchmarks.md.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import ASGIClient
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.security.conftest import ROLES, Arena
from tests.work_orders.helpers import create_wo

EXAMPLES = int(os.environ.get("FIELDOPS_FUZZ_EXAMPLES", "2"))  # per operation and role (half with real ids)
ADMIN_EXAMPLES = int(os.environ.get("FIELDOPS_FUZZ_ADMIN_EXAMPLES", str(EXAMPLES + 2)))

# Operations left out of the fuzz run, each for a reason.
EXCLUDED = {
    # An endless SSE stream: fuzzing would wait for ever. Its ticket endpoint is fuzzed; the stream's access rules
    # have their own tests in tests/live.
    ("GET", "/api/v1/live/stream"),
}
# Operations that end or rotate the caller's session: the caller gets a new token after each of them.
SESSION_CHANGING = ("/api/v1/auth/logout", "/api/v1/auth/password", "/api/v1/users/")

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

LEAK_MARKERS = ("Traceback (most recent call last)", 'File "/', "sqlalchemy.exc", "psycopg.", "sqlite3.")


@dataclass
class Tally:
    requests: int = 0
    operations: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def problem_check(response: Any, label: str) -> str | None:
    """An error is problem+json with type/title/status/detail; no answer carries a stack trace or driver text."""
    text = response.text
    for marker in LEAK_MARKERS:
        if marker in text:
            return f"{label}: response leaks internals ({marker!r}): {text[:300]}"
    if response.status_code >= 400:
        ctype = response.headers.get("content-type", "")
        ctype = ctype[0] if isinstance(ctype, list) else ctype  # Schemathesis keeps a list per header
        if not ctype.startswith("application/problem+json"):
            return f"{label}: error {response.status_code} is {ctype!r}, not problem+json: {text[:200]}"
        body = response.json()
        missing = {"type", "title", "status", "detail"} - set(body)
        if missing or body.get("status") != response.status_code:
            return f"{label}: malformed problem document {body}"
    return None


def known_ids(arena: Arena) -> dict[str, str]:
    """Real ids of organisation A, by path-parameter name."""
    t = arena.world.a
    wo = create_wo(arena.client, arena.headers("dispatcher"), t, title="Fuzz target", contact_name="Pat")
    ids: dict[str, Any] = {
        "work_order_id": wo["id"], "customer_id": t.customer.id, "site_id": t.site.id,  # type: ignore[union-attr]
        "asset_id": t.asset.id, "technician_id": t.tech.id, "territory_id": t.territory.id,  # type: ignore[union-attr]
        "user_id": t.users["agent"].id, "service_type_id": t.service_type.id,  # type: ignore[union-attr]
    }
    return {k: str(v) for k, v in ids.items()}


def operations(schema: Any) -> Iterator[Any]:
    for result in schema.get_all_operations():
        op = result.ok()
        if (op.method.upper(), op.path) in EXCLUDED:
            continue
        yield op


def fuzz_role(arena: Arena, schema: Any, role: str, examples: int, ids: dict[str, str],
              tally: Tally, keep_going: Callable[[], bool] = lambda: True) -> None:
    session = ASGIClient(arena.app)
    for op in operations(schema):
        if not keep_going():
            break
        fuzz_operation(arena, session, role, op, examples, ids, tally)
    session.close()


def fuzz_operation(arena: Arena, session: Any, role: str, op: Any, examples: int, ids: dict[str, str],
                   tally: Tally) -> None:
    label_base = f"{role} {op.method.upper()} {op.path}"
    real = {name: ids[name] for name in ids if f"{{{name}}}" in op.path}
    strategies = [op.as_strategy()]
    if real:
        strategies.append(op.as_strategy(path_parameters=real))
    tally.operations += 1

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(strategies))
    def run(case: Any) -> None:
        headers = arena.headers(role)
        response = case.call(session=session, headers=headers)
        tally.requests += 1
        tally.statuses[response.status_code] += 1
        label = f"{label_base} -> {response.status_code}"
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # collect every failure, report them together
            tally.failures.append(f"{label}: {str(exc)[:1500]}")
        leak = problem_check(response, label)
        if leak:
            tally.failures.append(leak)
        if op.path.startswith(SESSION_CHANGING) and op.method.upper() != "GET":
            arena.mint(role)

    run()


@pytest.fixture(scope="module")
def schema(arena: Arena) -> Any:
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", arena.app)


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_fuzz_every_operation_as_role(arena: Arena, schema: Any, role: str) -> None:
    ids = known_ids(arena)
    tally = Tally()
    fuzz_role(arena, schema, role, ADMIN_EXAMPLES if role == "admin" else EXAMPLES, ids, tally)
    print(f"\nschemathesis {role}: {tally.operations} operations, {tally.requests} requests, "
          f"statuses {dict(sorted(tally.statuses.items()))}")
    assert tally.operations > 100
    assert not tally.failures, f"{len(tally.failures)} failures:\n" + "\n\n".join(tally.failures[:15])


def test_fuzz_anonymous_is_401_or_public(arena: Arena, schema: Any) -> None:
    """Without a token, every non-public operation answers 401 problem+json; none answers 5xx."""
    session = ASGIClient(arena.app)
    public = ("/api/v1/auth/", "/api/v1/health", "/api/v1/config", "/api/v1/track/")
    failures = []
    for op in operations(schema):
        path = op.path
        for name in op.path_parameters:
            path = path.replace(f"{{{name.name}}}", str(uuid.uuid4()))
        r = session.request(op.method.upper(), path, json={} if op.method.upper() != "GET" else None)
        if r.status_code >= 500 or problem_check(r, path):
            failures.append(f"{op.method} {path}: {r.status_code} {r.text[:200]}")
        if not path.startswith(public) and r.status_code != 401:
            failures.append(f"{op.method} {path}: {r.status_code} without a token")
    assert not failures, "\n".join(failures)
