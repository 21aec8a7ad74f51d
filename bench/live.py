"""Live updates: latency from commit to 200 connected SSE clients.

`fieldops serve` (one uvicorn process) runs on 127.0.0.1 over a freshly migrated, demo-seeded SQLite
database, and `fieldops worker` (one process) relays the outbox. 200 httpx streaming clients (asyncio, one
process, signed in as the demo dispatcher, agent and a supervisor) hold GET /api/v1/live/stream open. Then
40 changes are made through the API one after another (a customer-visible comment on a demo work order, each
with a unique text, 0.3 s apart); for each, latency = when a client parsed the event − when the POST's
response arrived (the request commits before it answers). The path measured: commit → worker poll
(FIELDOPS_WORKER_POLL_SECONDS) → live_events insert → API broadcaster poll (FIELDOPS_LIVE_POLL_SECONDS) →
per-subscriber filter → SSE write → client parse.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.report import pct, write_section
from fieldops.core.migrate import upgrade
from fieldops.demo.accounts import DEMO_PASSWORD, DOMAIN
from fieldops.demo.seed import seed_demo
from fieldops.settings import Settings

CLIENTS = 200
CHANGES = 40
GAP_S = 0.3
API = "/api/v1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "fieldops.cli", *args], env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


async def _login(client: httpx.AsyncClient, who: str) -> dict[str, str]:
    r = await client.post(f"{API}/auth/login", json={"username": f"{who}@{DOMAIN}", "password": DEMO_PASSWORD})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _listen(client: httpx.AsyncClient, headers: dict[str, str], ready: asyncio.Event, counter: list[int],
                  got: dict[str, float], stop: asyncio.Event) -> None:
    async with client.stream("GET", f"{API}/live/stream", headers=headers) as r:
        r.raise_for_status()
        event, data = "", ""
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
            elif line == "":
                if event == "ready":
                    counter[0] += 1
                    if counter[0] == CLIENTS:
                        ready.set()
                elif event == "comment.created" and data:
                    body = json.loads(data).get("body", "")
                    if body.startswith("bench-"):
                        got[body] = time.perf_counter()
                event, data = "", ""
            if stop.is_set():
                return


async def _run(base: str) -> tuple[list[float], list[int], int]:
    limits = httpx.Limits(max_connections=CLIENTS + 20, max_keepalive_connections=CLIENTS + 20)
    timeout = httpx.Timeout(30.0, read=120.0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as client, \
            httpx.AsyncClient(base_url=base, timeout=timeout) as writer:
        logins = [await _login(client, who) for who in ("dispatcher", "agent", "supervisor")]
        h = await _login(writer, "dispatcher")
        r = await writer.get(f"{API}/work-orders", headers=h, params={"limit": 1, "status": "assigned"})
        r.raise_for_status()
        wo = r.json()["items"][0]
        ready, stop, counter = asyncio.Event(), asyncio.Event(), [0]
        received: list[dict[str, float]] = [{} for _ in range(CLIENTS)]
        # Everyone sees the order? The supervisor only their territories: keep the clients that see it.
        tasks = [asyncio.create_task(_listen(client, logins[i % 2] if wo.get("territory_id") is None
                                             else logins[i % 3], ready, counter, received[i], stop))
                 for i in range(CLIENTS)]
        await asyncio.wait_for(ready.wait(), 120)
        sent: dict[str, float] = {}
        for n in range(CHANGES):
            body = f"bench-{n}"
            r = await writer.post(f"{API}/work-orders/{wo['id']}/comments", headers=h,
                                  json={"body": body, "visibility": "customer"})
            r.raise_for_status()
            sent[body] = time.perf_counter()
            await asyncio.sleep(GAP_S)
        await asyncio.sleep(3)
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    # Clients that may not see the order (a supervisor of another territory) are left out of "received all".
    seeing = [rec for rec in received if rec]
    lat = [(rec[b] - sent[b]) * 1000 for rec in seeing for b in sent if b in rec]
    complete = [sum(1 for b in sent if b in rec) for rec in seeing]
    return lat, complete, len(seeing)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="fieldops-bench-live-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        url = f"sqlite:///{tmp}/live.db"
        upgrade(url)
        settings = Settings(database_url=url, data_dir=tmp, secret_key="bench-live-secret-0123456789abcdef0123",
                            password_hash_profile="fast", _env_file=None)  # type: ignore[call-arg]
        seed_demo(settings)
        port = _free_port()
        env = {**os.environ, "FIELDOPS_DATABASE_URL": url, "FIELDOPS_PORT": str(port), "FIELDOPS_HOST": "127.0.0.1",
               "FIELDOPS_DATA_DIR": str(tmp), "FIELDOPS_SECRET_KEY": settings.secret_key,
               "FIELDOPS_PASSWORD_HASH_PROFILE": "fast", "FIELDOPS_LOG_LEVEL": "warning",
               "FIELDOPS_SEED_DEMO": "false"}
        procs.append(_start(["serve"], env, tmp / "serve.log"))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"fieldops serve did not start; see {tmp / 'serve.log'}")
            time.sleep(0.2)
        procs.append(_start(["worker"], env, tmp / "worker.log"))
        time.sleep(2)  # the worker drains the seed's outbox first
        lat, complete, seeing = asyncio.run(_run(base))
        full = sum(1 for c in complete if c == CHANGES)
        defaults = Settings(_env_file=None)  # type: ignore[call-arg]
        worst = max(lat) if lat else float("nan")
        body = f"""## live

Live-update latency, commit → parsed by each of **{CLIENTS} connected SSE clients** (one `fieldops serve`
process, one `fieldops worker` process, SQLite; {CHANGES} changes — customer-visible comments through the API —
{GAP_S} s apart; worker poll {defaults.worker_poll_seconds} s, broadcaster poll {defaults.live_poll_seconds} s).

| deliveries | p50 | p95 | max | clients that received every event |
|---|---|---|---|---|
| {len(lat)} | {pct(lat, 50):.0f} ms | {pct(lat, 95):.0f} ms | {worst:.0f} ms | {full} / {seeing} |

Most of the latency is the two polls (the worker's outbox poll, then the API's live-event poll); the fan-out
to {CLIENTS} streams is one query per poll for the whole process, not one per client.
"""
        write_section("live", body)
        print(body)
    finally:
        for p in procs:
            _stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
