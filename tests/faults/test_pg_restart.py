"""Restart PostgreSQL (immediate mode, like a crash) while clients write through two API processes: every
acknowledged write survives, failures are 503 problem+json (never a 500 or a traceback), and the application
recovers without being restarted."""

from __future__ import annotations

from pathlib import Path

from tests.faults.harness import Pg, restart_pg_under_load


def test_pg_restart_keeps_acknowledged_writes(pg: Pg, tmp_path: Path) -> None:
    r = restart_pg_under_load(pg, tmp_path, seconds=6, restarts=1, clients=6)
    assert r.acknowledged > 0, r
    assert r.missing == 0, r
    assert r.server_errors == 0, r
    assert r.non_problem_errors == 0 and r.tracebacks == 0, r
    assert set(r.statuses) <= {201, 503}, r
    assert len(r.recovered_seconds) == 1, r  # writes succeeded again after the restart
