"""Fault tests run real processes against a PostgreSQL server of their own (one per module), so they run once,
in the SQLite pass of `make test` (marked nodb: the PostgreSQL pass skips them) and are marked slow."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.harness import Pg, pg_available


@pytest.fixture(scope="module")
def pg() -> Iterator[Pg]:
    if not pg_available():
        pytest.fail("PostgreSQL 15 server binaries are missing: `make test` installs Debian's postgresql")
    server = Pg()
    yield server
    server.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/faults/" in str(item.path):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.nodb)
