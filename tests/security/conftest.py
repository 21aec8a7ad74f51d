"""Fixtures of the security suite: a module-wide arena (one database, one app, the two-tenant world)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from fieldops.core.clock import FrozenClock
from fieldops.main import create_app
from fieldops.settings import Settings
from fieldops.users import service as users
from fieldops.users.models import User
from tests.conftest import BACKEND, START
from tests.factories.world import World, make_world

ROLES = ("admin", "supervisor", "dispatcher", "agent", "finance", "tech", "customer")


@contextmanager
def module_database(template: str, tmp: Path) -> Iterator[str]:
    """A migrated database of its own (a copy of the template), for fixtures wider than one test."""
    if BACKEND == "postgresql":
        name = "s_" + uuid.uuid4().hex[:16]
        admin = create_engine(f"{template}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} TEMPLATE fieldops_template"))
        try:
            yield f"{template}/{name}"
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()
    else:
        target = tmp / "arena.db"
        shutil.copy(template, target)
        yield f"sqlite:///{target}"


def make_settings(url: str, tmp: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = dict(database_url=url, data_dir=tmp / "var", secret_key="test-secret-key-0123456789abcdef",
                                password_hash_profile="fast", seed_demo=False, _env_file=None)
    base.update(overrides)
    return Settings(**base)


@dataclass
class Arena:
    app: FastAPI
    client: TestClient
    world: World
    settings: Settings
    clock: FrozenClock
    tokens: dict[str, str] = field(default_factory=dict)

    def mint(self, role: str, tenant: str = "a") -> str:
        """A fresh access token for a role's user, made directly (no login, so no throttle involved)."""
        t = self.world.a if tenant == "a" else self.world.b
        db = self.app.state.database.session()
        try:
            user = db.get(User, t.users[role].id)
            assert user is not None
            pair = users.open_session(db, self.settings, user, "127.0.0.1", "pytest", self.clock.now())
            db.commit()
        finally:
            db.close()
        self.tokens[f"{tenant}:{role}"] = pair.access_token
        return pair.access_token

    def headers(self, role: str, tenant: str = "a") -> dict[str, str]:
        token = self.tokens.get(f"{tenant}:{role}") or self.mint(role, tenant)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def arena(template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arena]:
    tmp = tmp_path_factory.mktemp("arena")
    with module_database(template, tmp) as url:
        settings = make_settings(url, tmp, rate_limit_per_minute=0)
        clock = FrozenClock(START)
        app = create_app(settings, clock)
        with TestClient(app, raise_server_exceptions=False) as client:
            db = app.state.database.session()
            world = make_world(db)
            db.close()
            yield Arena(app, client, world, settings, clock)
        app.state.database.dispose()
