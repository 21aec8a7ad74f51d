"""Hostile uploads: rejected, or stored under a random name and served only as a download with nosniff."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fieldops.main import create_app
from tests.security.conftest import Arena
from tests.security.fixtures.corpus import HOSTILE, png
from tests.work_orders.helpers import create_wo

API = "/api/v1"


@pytest.fixture(scope="module")
def work_order(arena: Arena) -> dict[str, Any]:
    return create_wo(arena.client, arena.headers("dispatcher"), arena.world.a, title="Upload target")


def _upload(client: TestClient, headers: dict[str, str], wo_id: str, name: str, content: bytes,
            kind: str | None, ctype: str = "image/png") -> Any:
    data = {"kind": kind} if kind else {}
    return client.post(f"{API}/work-orders/{wo_id}/attachments", headers=headers, data=data,
                       files={"file": (name, content, ctype)})


def _stored_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


@pytest.mark.parametrize(("case", "name", "content", "kind", "expect"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_upload(arena: Arena, work_order: dict[str, Any], case: str, name: str, content: bytes,
                        kind: str | None, expect: str) -> None:
    headers = arena.headers("dispatcher")
    root = arena.settings.attachments_root
    before = _stored_files(root)
    # the client-declared type is always a lie here: the server must sniff
    r = _upload(arena.client, headers, work_order["id"], name, content, kind, ctype="image/png")
    assert r.status_code < 500, r.text
    assert "Traceback" not in r.text
    if expect == "reject":
        assert r.status_code in (413, 415, 422), (case, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["detail"]  # a clear message
        assert _stored_files(root) == before, "a rejected upload left a file behind"
        return
    if r.status_code in (413, 415, 422):
        return  # rejecting is always acceptable
    assert r.status_code == 201, (case, r.text)
    att = r.json()
    new = _stored_files(root) - before
    assert len(new) == 1
    stored = new.pop()
    # stored under the random id, inside the attachment root, never under the name the client sent
    assert stored.resolve().is_relative_to(root.resolve())
    assert stored.name == att["id"] and uuid.UUID(stored.name)
    assert stored.read_bytes() == content
    shown = att["filename"]
    assert "/" not in shown and "\x00" not in shown and "\r" not in shown and "\n" not in shown
    assert len(shown) <= 255
    d = arena.client.get(att["url"], headers=headers)
    assert d.status_code == 200
    assert d.content == content
    assert d.headers["content-disposition"].startswith("attachment")
    assert d.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in d.headers["content-security-policy"]
    assert "default-src 'none'" in d.headers["content-security-policy"]
    assert d.headers["content-type"].split(";")[0] in ("image/png", "text/plain")  # sniffed, not declared
    assert "set-cookie" not in d.headers and "x-evil" not in d.headers


def test_a_good_photo_is_accepted_and_downloaded_as_attachment(arena: Arena, work_order: dict[str, Any]) -> None:
    headers = arena.headers("dispatcher")
    r = _upload(arena.client, headers, work_order["id"], "after.png", png(64, 48), "photo")
    assert r.status_code == 201, r.text
    d = arena.client.get(r.json()["url"], headers=headers)
    assert d.headers["content-type"] == "image/png"
    assert d.headers["content-disposition"].startswith("attachment")


def test_oversize_upload_is_413(arena: Arena, work_order: dict[str, Any]) -> None:
    small = create_app(arena.settings.model_copy(update={"max_attachment_mb": 1}), arena.clock)
    with TestClient(small, raise_server_exceptions=False) as client:
        headers = arena.headers("dispatcher")
        big = png() + b"\x00" * (1024 * 1024)
        r = _upload(client, headers, work_order["id"], "big.png", big, None)
        assert r.status_code == 413, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "1 MB" in r.json()["detail"] or "kB" in r.json()["detail"]
        # far over the limit: refused on Content-Length before the body is read
        huge = b"\x00" * (3 * 1024 * 1024)
        r = _upload(client, headers, work_order["id"], "huge.bin", huge, None)
        assert r.status_code == 413
    small.state.database.dispose()


def test_counts() -> None:
    print(f"\nupload corpus: {len(HOSTILE)} hostile files")
    assert len(HOSTILE) >= 20
