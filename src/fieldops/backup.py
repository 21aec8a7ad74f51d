"""`fieldops backup | restore | verify-backup`: the database and the attachments, with a manifest to verify.

A backup is a directory:

- `database.sqlite` (SQLite online backup API: consistent while the app writes) or `database.dump`
  (`pg_dump -Fc` of an exported snapshot, so the row counts in the manifest are those of the dump);
- `attachments/` — a copy of the attachment store (taken after the database snapshot, so every attachment row
  of the snapshot has its file);
- `manifest.json` — kind, time, row counts per table, size and SHA-256 of every attachment file.

`verify` checks the files against the manifest and, given a database, its row counts and that every attachment
row's file is present with the recorded checksum.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, make_url

MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite"
PG_FILE = "database.dump"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _libpq(url: str) -> str:
    """A libpq connection string for pg_dump/pg_restore from a SQLAlchemy URL."""
    u = make_url(url)
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def row_counts(conn: Connection) -> dict[str, int]:
    tables = sorted(inspect(conn).get_table_names())
    return {t: int(conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()) for t in tables}


def file_checksums(root: Path) -> dict[str, dict[str, Any]]:
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): {"size": p.stat().st_size, "sha256": _sha256(p)}
            for p in sorted(root.rglob("*")) if p.is_file()}


def _pg_tool(name: str) -> str:
    from fieldops.cluster import pg_bin

    try:
        return str(pg_bin() / name)
    except RuntimeError:
        return name


def backup(database_url: str, attachments_root: Path, target: Path) -> dict[str, Any]:
    """Write a backup of the database and the attachments into the new directory `target`."""
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} exists and is not empty")
    target.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"format": 1, "created_at": datetime.now(UTC).isoformat()}
    if database_url.startswith("sqlite"):
        manifest["kind"] = "sqlite"
        src = sqlite3.connect(_sqlite_path(database_url), timeout=30)
        dst = sqlite3.connect(target / SQLITE_FILE)
        try:
            src.backup(dst)  # online: pages copied under a read lock, writers keep going (WAL)
        finally:
            dst.close()
            src.close()
        engine = create_engine(f"sqlite:///{target / SQLITE_FILE}")
        with engine.connect() as conn:
            manifest["tables"] = row_counts(conn)
        engine.dispose()
        manifest["database_file"] = SQLITE_FILE
    else:
        manifest["kind"] = "postgresql"
        engine = create_engine(database_url, isolation_level="REPEATABLE READ")
        try:
            with engine.connect() as conn:
                # One snapshot for the counts and the dump: export it and keep this transaction open meanwhile.
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                manifest["tables"] = row_counts(conn)
                subprocess.run([_pg_tool("pg_dump"), "-Fc", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                                "-f", str(target / PG_FILE), "-d", _libpq(database_url)],
                               check=True, stderr=subprocess.PIPE)
                conn.rollback()
        finally:
            engine.dispose()
        manifest["database_file"] = PG_FILE
    manifest["database_sha256"] = _sha256(target / manifest["database_file"])
    if attachments_root.exists():
        shutil.copytree(attachments_root, target / "attachments", dirs_exist_ok=True)
    manifest["attachments"] = file_checksums(target / "attachments")
    (target / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def read_manifest(source: Path) -> dict[str, Any]:
    path = source / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: not a fieldops backup")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(source: Path, database_url: str | None = None, attachments_root: Path | None = None) -> Verification:
    """Check a backup against its manifest; with `database_url`/`attachments_root`, also a restored copy."""
    result = Verification()
    manifest = read_manifest(source)
    db_file = source / manifest["database_file"]
    if not db_file.exists() or _sha256(db_file) != manifest["database_sha256"]:
        result.problems.append(f"{manifest['database_file']} is missing or its checksum differs")
    files: dict[str, dict[str, Any]] = manifest.get("attachments", {})
    roots = [source / "attachments"] + ([attachments_root] if attachments_root is not None else [])
    for root in roots:
        actual = file_checksums(root)
        for rel, meta in files.items():
            got = actual.get(rel)
            if got is None:
                result.problems.append(f"attachment {rel} missing under {root}")
            elif got["sha256"] != meta["sha256"]:
                result.problems.append(f"attachment {rel} under {root}: checksum differs")
    result.checked["attachments"] = len(files)
    if manifest["kind"] == "sqlite" and database_url is None:
        database_url = f"sqlite:///{db_file}"
    if database_url is not None:
        engine = create_engine(database_url)
        try:
            with engine.connect() as conn:
                counts = row_counts(conn)
                keys = _attachment_rows(conn)
        finally:
            engine.dispose()
        for table, n in manifest["tables"].items():
            if counts.get(table) != n:
                result.problems.append(f"table {table}: {counts.get(table)} rows, the backup has {n}")
        result.checked["tables"] = len(manifest["tables"])
        result.checked["rows"] = sum(manifest["tables"].values())
        for key, sha in keys:
            found = files.get(key)
            if found is None:
                result.problems.append(f"attachment row {key} has no file in the backup")
            elif sha and found["sha256"] != sha:
                result.problems.append(f"attachment {key}: file checksum differs from the row's")
        result.checked["attachment_rows"] = len(keys)
    return result


def _attachment_rows(conn: Connection) -> list[tuple[str, str]]:
    if "attachments" not in inspect(conn).get_table_names():
        return []
    return [(str(k), str(s or "")) for k, s in conn.execute(text("SELECT storage_key, sha256 FROM attachments"))]


def restore(source: Path, database_url: str, attachments_root: Path, force: bool = False) -> Verification:
    """Restore a backup into an empty (or, for PostgreSQL, new) database and the attachment store, then verify."""
    manifest = read_manifest(source)
    pre = verify(source)
    if not pre.ok:
        raise ValueError("the backup does not verify: " + "; ".join(pre.problems[:5]))
    if manifest["kind"] == "sqlite":
        if not database_url.startswith("sqlite"):
            raise ValueError("a SQLite backup restores into a SQLite URL")
        path = _sqlite_path(database_url)
        if path.exists() and not force:
            raise FileExistsError(f"{path} exists; use --force to replace it")
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        src = sqlite3.connect(source / SQLITE_FILE)
        dst = sqlite3.connect(path)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    else:
        if database_url.startswith("sqlite"):
            raise ValueError("a PostgreSQL backup restores into a PostgreSQL URL")
        _ensure_empty_pg(database_url, force)
        subprocess.run([_pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                        "-d", _libpq(database_url), str(source / PG_FILE)], check=True, stderr=subprocess.PIPE)
    if (source / "attachments").exists():
        attachments_root.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source / "attachments", attachments_root, dirs_exist_ok=True)
    return verify(source, database_url, attachments_root)


def _ensure_empty_pg(database_url: str, force: bool) -> None:
    """Create the target database when missing; refuse one that has tables unless `force` (then recreate it)."""
    u = make_url(database_url)
    name = u.database
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}) is not None
            if exists:
                target = create_engine(database_url)
                try:
                    with target.connect() as tconn:
                        has_tables = bool(inspect(tconn).get_table_names())
                finally:
                    target.dispose()
                if has_tables and not force:
                    raise FileExistsError(f"database {name} is not empty; use --force to replace it")
                if has_tables:
                    conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                    exists = False
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
