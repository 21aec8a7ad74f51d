"""Live updates reach SSE clients on every API process: two processes on one port, one worker, several streams;
a change made through the API arrives on every stream (the worker NOTIFYs, each process's broadcaster LISTENs)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx

from tests.faults.harness import API, Api, Pg, Workers, env_for, login, make_world_at, order_body

STREAMS = 8


def test_every_api_process_delivers_live_events(pg: Pg, tmp_path: Path) -> None:
    url = pg.new_database()
    world = make_world_at(url)
    t = world.a
    env = env_for(url, tmp_path, FIELDOPS_LIVE_POLL_SECONDS="5")  # slow polling: the NOTIFY must do the waking
    api = Api(env, processes=2, log=tmp_path / "api.log").start()
    crew = Workers(env, 1, log_dir=tmp_path).start()
    got: dict[int, set[str]] = {i: set() for i in range(STREAMS)}
    ready = threading.Barrier(STREAMS + 1, timeout=60)
    stop = threading.Event()
    try:
        with httpx.Client(base_url=api.url, timeout=30) as c:
            headers = login(c, t.email("dispatcher"))

        def listen(i: int) -> None:
            # a connection of its own each, so the kernel spreads them over the processes
            with httpx.Client(base_url=api.url, timeout=httpx.Timeout(30, read=25)) as c, \
                    c.stream("GET", f"{API}/live/stream", headers=headers) as r:
                said_ready = False
                event = ""
                try:
                    for line in r.iter_lines():
                        if line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:") and event == "ready" and not said_ready:
                            said_ready = True
                            ready.wait()
                        elif line.startswith("data:") and event == "work_order.created":
                            got[i].add(json.loads(line[5:])["work_order_id"])
                        if stop.is_set():
                            return
                except httpx.ReadTimeout:
                    if not said_ready:
                        raise

        threads = [threading.Thread(target=listen, args=(i,), daemon=True) for i in range(STREAMS)]
        for th in threads:
            th.start()
        ready.wait()
        with httpx.Client(base_url=api.url, timeout=30) as c:
            ids = [c.post(f"{API}/work-orders", json=order_body(t, f"live {k}"), headers=headers).json()["id"]
                   for k in range(3)]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(set(ids) <= g for g in got.values()):
            time.sleep(0.1)
        stop.set()
        missing = {i: sorted(set(ids) - g) for i, g in got.items() if not set(ids) <= g}
        assert not missing, missing
    finally:
        crew.stop()
        api.stop()
