"""Spreadsheet formula injection: exported cells starting with = + - @ tab or CR (also after blanks) are inert."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from fieldops.work_orders.rules import neutralize_cell
from tests.security.conftest import Arena
from tests.work_orders.helpers import create_wo

API = "/api/v1"
PAYLOADS = [
    "=HYPERLINK(\"http://127.0.0.1/x?\"&A1,\"click\")", "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "  =1+1", "   @SUM(A1)", "\u00a0=1+1", "\u3000+1",
    "=DDE(\"cmd\";\"/C calc\";\"!A0\")",
]
RISKY = ("=", "+", "-", "@", "\t", "\r")


def _inert(cell: object) -> bool:
    return not (isinstance(cell, str) and cell.lstrip(" \u00a0\u3000").startswith(RISKY))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_rule_neutralises(payload: str) -> None:
    out = neutralize_cell(payload)
    assert isinstance(out, str) and out.startswith("'") and out[1:] == payload


def test_rule_leaves_ordinary_values_alone() -> None:
    assert neutralize_cell("Boiler leaks") == "Boiler leaks"
    assert neutralize_cell(12.5) == 12.5
    assert neutralize_cell(None) is None


def test_csv_and_xlsx_exports_neutralise_every_cell(arena: Arena) -> None:
    h = arena.headers("dispatcher")
    for i, payload in enumerate(PAYLOADS):
        create_wo(arena.client, h, arena.world.a, title=payload[:200], description=f"{payload} #{i}",
                  contact_name=payload[:200])
    r = arena.client.get(f"{API}/work-orders/export?format=csv&limit=100", headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    titles = [row[header.index("title")] for row in body]
    # the API strips surrounding blanks on input; what is left of each payload still starts a formula: guarded
    assert sum(1 for t in titles if t.startswith("'")) >= len(PAYLOADS)
    assert all(_inert(cell) for row in body for cell in row), "a CSV cell starts a formula"

    r = arena.client.get(f"{API}/work-orders/export?format=xlsx", headers=h)
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content), read_only=True).active
    assert sheet is not None
    cells = [c for row in sheet.iter_rows(min_row=2, values_only=True) for c in row]
    assert all(_inert(cell) for cell in cells), "an XLSX cell starts a formula"
    assert sum(1 for c in cells if isinstance(c, str) and c.startswith("'")) >= len(PAYLOADS) * 2
    print(f"\nexport payloads: {len(PAYLOADS)} × 3 fields × 2 formats")
