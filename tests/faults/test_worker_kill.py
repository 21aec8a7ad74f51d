"""SIGKILL workers at random moments while events flow: nothing lost, nothing done twice, the backlog drains."""

from __future__ import annotations

from pathlib import Path

from tests.faults.harness import Pg, kill_workers_while_events_flow


def test_killed_workers_lose_and_double_nothing(pg: Pg, tmp_path: Path) -> None:
    r = kill_workers_while_events_flow(pg, tmp_path, events=1000, kills=3, workers=2)
    assert r.lost == 0, r
    assert r.duplicates == 0, r
    assert r.received == r.distinct == 1000, r
    assert r.dead_lettered == 0, r
