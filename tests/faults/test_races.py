"""Conflicting requests at the same moment through two API processes on PostgreSQL: exactly one wins."""

from __future__ import annotations

from pathlib import Path

from tests.faults.harness import Pg, races


def test_races_have_one_winner(pg: Pg, tmp_path: Path) -> None:
    results = {r.name: r for r in races(pg, tmp_path, parallel=50, creates=100)}
    losers = {409, 412}
    for name in ("assign", "accept", "update-same-version"):
        r = results[name]
        assert r.winners == 1, r
        assert set(r.statuses) - {200} <= losers, r
    assert results["assign"].extra["assigns"] == 1, results["assign"]
    assert results["accept"].extra["accepts"] == 1, results["accept"]
    assert results["update-same-version"].extra["final_version"] == 2, results["update-same-version"]
    grab = results["grab"]
    assert grab.winners == 1 and set(grab.statuses) - {200} <= losers, grab
    assert grab.extra["status"] == "assigned", grab
    create = results["idempotent-create"]
    assert create.extra["created"] == 100, create
    assert set(create.statuses) <= {201, 409}, create  # 409: the same key is still in flight
