"""Test fixtures: a migrated database per test (SQLite copy or PostgreSQL template), an app, a clock.

FIELDOPS_TEST_DB=postgresql runs the same suite on a PostgreSQL server that this run starts and stops.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from fieldops.core.clock import FrozenClock
from fieldops.core.db import Database
from fieldops.core.migrate import upgrade
from fieldops.main import create_app
from fieldops.settings import Settings

BACKEND = os.environ.get("FIELDOPS_TEST_DB", "sqlite")
START = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 09:00 in Boston
PASSWORD = "Test-pass-2026!"


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database to copy for each test."""
    if BACKEND == "postgresql":
        from tests.pg_server import PgServer

        server = PgServer()
        base = server.start()
        admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE fieldops_template"))
        upgrade(f"{base}/fieldops_template")
        os.environ["FIELDOPS_TEST_PG_BASE"] = base
        yield base
        admin.dispose()
        server.stop()
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        upgrade(f"sqlite:///{path}")
        yield str(path)


@pytest.fixture
def database_url(template: str, tmp_path: Path) -> Iterator[str]:
    if BACKEND == "postgresql":
        name = "t_" + uuid.uuid4().hex[:16]
        admin = create_engine(f"{template}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} TEMPLATE fieldops_template"))
        yield f"{template}/{name}"
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
    else:
        target = tmp_path / "test.db"
        shutil.copy(template, target)
        yield f"sqlite:///{target}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path / "var", secret_key="test-secret-key-0123456789abcdef",
                    password_hash_profile="fast", seed_demo=False, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def app(settings: Settings, clock: FrozenClock):  # type: ignore[no-untyped-def]
    application = create_app(settings, clock)
    yield application
    application.state.database.dispose()


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def db(app) -> Iterator[Session]:  # type: ignore[no-untyped-def]
    """A session on the test database for arranging data; commit what you add."""
    database: Database = app.state.database
    session = database.session()
    yield session
    session.close()


def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Authorization headers for a user."""
    r = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that never touch the database (pure rules, the engine, the browser walk on its own server)
    carry the `nodb` mark: the PostgreSQL pass of `make test` skips them instead of repeating them."""
    for item in items:
        path = str(item.path)
        if "/tests/engine/" in path or "/tests/e2e/" in path or path.endswith("test_rules.py") \
                or path.endswith("test_readme.py"):
            item.add_marker(pytest.mark.nodb)
