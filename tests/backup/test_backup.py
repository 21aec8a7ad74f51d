"""Backup and restore round trip (SQLite online backup / pg_dump + pg_restore), attachments included: the copy
restored into a fresh database has the same rows and the same attachment bytes, and verify catches tampering."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from fieldops import backup as bk
from fieldops.settings import Settings
from tests.conftest import BACKEND
from tests.factories.world import make_world
from tests.work_orders.helpers import API, Actors, create_wo


def _fresh_url(tmp_path: Path) -> str:
    if BACKEND == "postgresql":
        return f"{os.environ['FIELDOPS_TEST_PG_BASE']}/r_{uuid.uuid4().hex[:12]}"  # restore creates it
    return f"sqlite:///{tmp_path / 'restored.db'}"


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return bk.row_counts(conn)
    finally:
        engine.dispose()


def _drop(url: str) -> None:
    if BACKEND != "postgresql":
        return
    base, name = url.rsplit("/", 1)
    engine = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    engine.dispose()


def _arrange(client: TestClient, db: Session) -> list[bytes]:
    world = make_world(db)
    who = Actors(client, world.a)
    blobs = []
    for i in range(3):
        wo = create_wo(client, who["dispatcher"], world.a, description=f"backup {i}")
        blob = f"service report {i}: {os.urandom(16).hex()}\n".encode()
        r = client.post(f"{API}/work-orders/{wo['id']}/attachments", headers=who["dispatcher"],
                        files={"file": (f"report{i}.txt", blob, "text/plain")}, data={"kind": "file"})
        assert r.status_code == 201, r.text
        blobs.append(blob)
    return blobs


def test_backup_restore_round_trip(client: TestClient, db: Session, settings: Settings, tmp_path: Path) -> None:
    blobs = _arrange(client, db)
    target = tmp_path / "backup"
    manifest = bk.backup(settings.database_url, settings.attachments_root, target)
    assert manifest["kind"] == ("postgresql" if BACKEND == "postgresql" else "sqlite")
    assert manifest["tables"]["attachments"] == 3 and len(manifest["attachments"]) == 3
    assert bk.verify(target).ok

    url = _fresh_url(tmp_path)
    root = tmp_path / "restored-attachments"
    try:
        result = bk.restore(target, url, root)
        assert result.ok, result.problems
        assert result.checked["attachment_rows"] == 3
        assert _counts(url) == _counts(settings.database_url) == manifest["tables"]
        restored = sorted(p.read_bytes() for p in root.rglob("*") if p.is_file())
        assert restored == sorted(blobs)
        # a second restore into the now non-empty database is refused without --force
        with pytest.raises(FileExistsError):
            bk.restore(target, url, root)
    finally:
        _drop(url)


def test_verify_catches_a_changed_or_missing_attachment(client: TestClient, db: Session, settings: Settings,
                                                         tmp_path: Path) -> None:
    _arrange(client, db)
    target = tmp_path / "backup"
    bk.backup(settings.database_url, settings.attachments_root, target)
    files = sorted(p for p in (target / "attachments").rglob("*") if p.is_file())
    files[0].write_bytes(b"tampered")
    files[1].unlink()
    result = bk.verify(target)
    assert not result.ok and len(result.problems) == 2, result.problems
    with pytest.raises(ValueError):
        bk.restore(target, _fresh_url(tmp_path), tmp_path / "r")


def test_cli_backup_and_verify(client: TestClient, db: Session, settings: Settings, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    from fieldops import cli
    from fieldops.settings import get_settings

    _arrange(client, db)
    monkeypatch.setenv("FIELDOPS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("FIELDOPS_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = runner.invoke(cli.app, ["backup", str(tmp_path / "b")])
        assert out.exit_code == 0, out.output
        out = runner.invoke(cli.app, ["verify-backup", str(tmp_path / "b"), "--against-database"])
        assert out.exit_code == 0 and "verify OK" in out.output, out.output
    finally:
        get_settings.cache_clear()
