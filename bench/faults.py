"""`make bench-faults`: the fault scenarios of tests/faults at full size (docs/benchmarks.md, section "faults").

- 10,000 outbox events while a random worker (of 2) is SIGKILLed 10 times and replaced: the receiver (a test
  task module writing one row per handled event, no unique key) counts event ids → lost, duplicated;
- PostgreSQL restarted 3 times (immediate mode, like a crash) while 8 clients create work orders through 2 API
  processes for 30 s: acknowledged writes missing afterwards, statuses, time until writes succeed again;
- races through 2 API processes: 50 parallel assigns, accepts, grabs, same-version updates; 1,000 creates each
  sent three times at once with the same Idempotency-Key.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tests.faults.harness import Pg, kill_workers_while_events_flow, races, restart_pg_under_load

from bench.report import write_section

EVENTS = int(os.environ.get("BENCH_FAULTS_EVENTS", "10000"))
KILLS = int(os.environ.get("BENCH_FAULTS_KILLS", "10"))
RESTART_S = float(os.environ.get("BENCH_FAULTS_RESTART_SECONDS", "30"))
RESTARTS = int(os.environ.get("BENCH_FAULTS_RESTARTS", "3"))
CREATES = int(os.environ.get("BENCH_FAULTS_CREATES", "1000"))


def main() -> None:
    pg = Pg()
    work = Path(tempfile.mkdtemp(prefix="fieldops-faults-"))
    try:
        (work / "kill").mkdir()
        kill = kill_workers_while_events_flow(pg, work / "kill", events=EVENTS, kills=KILLS, workers=2,
                                              drain_timeout=600)
        print(f"  worker kills: {kill}", flush=True)
        (work / "restart").mkdir()
        restart = restart_pg_under_load(pg, work / "restart", seconds=RESTART_S, restarts=RESTARTS, clients=8)
        print(f"  PostgreSQL restarts: {restart}", flush=True)
        (work / "races").mkdir()
        race = races(pg, work / "races", parallel=50, creates=CREATES)
        print(f"  races: {race}", flush=True)
    finally:
        pg.close()
    rec = ", ".join(f"{s:.1f} s" for s in restart.recovered_seconds)
    lines = [
        "## Faults: killed workers, PostgreSQL restarts, races (`make bench-faults`, `bench/faults.py`)",
        "",
        "Real processes on one machine: a PostgreSQL 15 server of the benchmark's own, `fieldops serve --workers 2`, "
        "worker processes. `make test` runs the same scenarios smaller (tests/faults: 1,000 events and 3 kills; one "
        "restart; 100 idempotent creates).",
        "",
        f"**SIGKILL workers while events flow** — {kill.events:,} events, {kill.kills} kills of a random worker "
        "(of 2, each replaced at once):",
        "",
        "| events | kills | side effects | distinct event ids | lost | duplicates | dead-lettered | drain after the "
        "last insert | total |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {kill.events:,} | {kill.kills} | {kill.received:,} | {kill.distinct:,} | {kill.lost} | {kill.duplicates} | "
        f"{kill.dead_lettered} | {kill.drain_seconds:.1f} s | {kill.total_seconds:.1f} s |",
        "",
        f"**Restart PostgreSQL during writes** — {RESTARTS} immediate-mode restarts in {RESTART_S:.0f} s, 8 clients "
        "creating work orders through 2 API processes (no application restart):",
        "",
        "| requests | acknowledged (201) | acknowledged but missing | statuses | 500s / transport errors | "
        "tracebacks in responses | writes succeed again after |",
        "|---|---|---|---|---|---|---|",
        f"| {restart.requests:,} | {restart.acknowledged:,} | {restart.missing} | "
        f"{', '.join(f'{k}: {v}' for k, v in sorted(restart.statuses.items()))} | {restart.server_errors} | "
        f"{restart.tracebacks} | {rec} |",
        "",
        "**Races through 2 API processes** (all requests released together by a barrier):",
        "",
        "| race | requests | winners | statuses | checks |",
        "|---|---|---|---|---|",
    ]
    for r in race:
        checks = ", ".join(f"{k}={v}" for k, v in r.extra.items())
        lines.append(f"| {r.name} | {r.attempts:,} | {r.winners} | "
                     f"{', '.join(f'{k}: {v}' for k, v in sorted(r.statuses.items(), key=lambda kv: str(kv[0])))} | "
                     f"{checks} |")
    lines += ["", "idempotent-create: winners counts 201 answers, replays included (each key's later copies get the "
              "first answer); `created` is the number of work orders actually made."]
    write_section("faults", "\n".join(lines))


if __name__ == "__main__":
    main()
