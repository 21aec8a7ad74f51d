"""Command line: `fieldops run | serve | worker | migrate | seed`."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import typer
from rich.console import Console

from fieldops.settings import get_settings

app = typer.Typer(help="fieldops — field-service dispatch and work orders", no_args_is_help=True)
console = Console(width=120)


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic)."""
    from fieldops.core.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    console.print(f"migrated {settings.database_url.split('@')[-1]}")


@app.command()
def seed(force: bool = typer.Option(False, help="Seed even when an organisation already exists")) -> None:
    """Load the demo organisation (Boston) unless the database already has data."""
    from fieldops.demo.seed import seed_demo

    settings = get_settings()
    created = seed_demo(settings, force=force)
    console.print("demo organisation created" if created else "database already has data; not seeding")


@app.command()
def serve(workers: int = typer.Option(1, help="API processes")) -> None:
    """Run the API server."""
    import uvicorn

    settings = get_settings()
    uvicorn.run("fieldops.asgi:app", host=settings.host, port=settings.port, workers=workers,
                log_level=settings.log_level, proxy_headers=False)


@app.command()
def worker() -> None:
    """Run the background worker (outbox relay, notifications, periodic scans)."""
    from fieldops.worker.runner import run_forever

    settings = get_settings()
    _logging(settings.log_level)
    stop = threading.Event()

    def request_stop(*_: object) -> None:
        # Not stop.set() here: the handler runs in the main thread, which may be inside stop.wait()
        # holding the event's lock, and Event.set() would then wait for that lock forever.
        threading.Thread(target=stop.set, daemon=True).start()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    run_forever(settings, stop)


def _banner(url: str) -> None:
    from fieldops.demo.accounts import DEMO_PASSWORD, demo_logins

    console.print(f"\n[bold green]fieldops is running at {url}[/]  (API docs: {url}/api/v1/docs)")
    console.print(f"Demo logins — password for all: [bold]{DEMO_PASSWORD}[/]")
    for role, email, phone in demo_logins(short=True):
        console.print(f"  {role:<11} {email:<34} {phone}")
    console.print("Press Ctrl-C to stop.\n")


def _answers(host: str, port: int) -> bool:
    """Whether the API at host:port answers its health check."""
    import urllib.request

    probe = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    try:
        with urllib.request.urlopen(f"http://{probe}:{port}/api/v1/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@app.command()
def run() -> None:
    """Migrate, seed the demo data on first run, and start the API and the worker together."""
    settings = get_settings()
    _logging(settings.log_level)
    from fieldops.core.migrate import upgrade

    upgrade(settings.database_url)
    if settings.seed_demo:
        from fieldops.demo.seed import seed_demo

        if seed_demo(settings):
            console.print("seeded the demo organisation (Boston)")
    env = dict(os.environ)
    exe = [sys.executable, "-m", "fieldops.cli"]
    procs = [subprocess.Popen([*exe, "serve"], env=env), subprocess.Popen([*exe, "worker"], env=env)]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    url = f"http://{settings.host}:{settings.port}"
    # Announce the URL only once the API answers (starting can take far longer than a fixed pause).
    deadline = time.monotonic() + 120
    while not stopping and all(p.poll() is None for p in procs) and time.monotonic() < deadline:
        if _answers(settings.host, settings.port):
            break
        time.sleep(0.3)
    if not stopping and all(p.poll() is None for p in procs):
        _banner(url)
    while not stopping:
        if any(p.poll() is not None for p in procs):
            console.print("[red]a process exited; stopping[/]")
            stop()
            break
        time.sleep(0.3)
    # Give them 10 seconds to finish, then kill whatever is left (a hung child must not hang us).
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
    console.print("stopped")


if __name__ == "__main__":
    app()
