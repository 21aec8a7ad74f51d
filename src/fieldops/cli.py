"""Command line: `fieldops run | run-cluster | serve | worker | migrate | seed | backup | restore | verify-backup`."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

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


@app.command("run-cluster")
def run_cluster(
    api: int = typer.Option(0, help="API processes (default FIELDOPS_API_PROCESSES)"),
    workers: int = typer.Option(0, help="Worker processes (default FIELDOPS_WORKER_PROCESSES)"),
    external_db: bool = typer.Option(
        False, help="Use FIELDOPS_DATABASE_URL (PostgreSQL) instead of starting a local server under var/pg"),
) -> None:
    """PostgreSQL cluster mode: start a local PostgreSQL server (var/pg), migrate, seed the demo on first run,
    and run N API processes on one port and M workers. Ctrl-C stops everything, the server last."""
    from fieldops.cluster import Cluster, prepare
    from fieldops.settings import Settings

    settings = get_settings()
    _logging(settings.log_level)
    if external_db and settings.is_sqlite:
        raise typer.BadParameter("--external-db needs FIELDOPS_DATABASE_URL=postgresql+psycopg://…")
    url, server = prepare(settings, use_local_pg=not external_db)
    env = dict(os.environ, FIELDOPS_DATABASE_URL=url)
    if api:
        env["FIELDOPS_API_PROCESSES"] = str(api)
    if workers:
        env["FIELDOPS_WORKER_PROCESSES"] = str(workers)
    cluster_settings = Settings(database_url=url, api_processes=api or settings.api_processes,
                                worker_processes=workers or settings.worker_processes)
    settings.signing_key()  # generated once here, not raced by N processes
    if settings.seed_demo:
        from fieldops.demo.seed import seed_demo

        if seed_demo(cluster_settings):
            console.print("seeded the demo organisation (Boston)")
    cluster = Cluster(cluster_settings, env)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        cluster.start()
        deadline = time.monotonic() + 120
        while not stopping and cluster.supervise_once() and time.monotonic() < deadline:
            if _answers(settings.host, settings.port):
                _banner(f"http://{settings.host}:{settings.port}")
                console.print(f"{cluster_settings.api_processes} API processes, {cluster_settings.worker_processes} "
                              f"workers, PostgreSQL at {url.split('@')[-1]}")
                break
            time.sleep(0.3)
        while not stopping:
            if not cluster.supervise_once():
                console.print("[red]the API exited; stopping[/]")
                break
            time.sleep(0.5)
    finally:
        cluster.stop()
        if server is not None:
            server.stop()
        console.print("stopped")


@app.command()
def backup(target: Path = typer.Argument(..., help="New directory for the backup")) -> None:
    """Back up the database (SQLite online backup or pg_dump) and the attachments, with a manifest."""
    from fieldops.backup import backup as do_backup

    settings = get_settings()
    manifest = do_backup(settings.database_url, settings.attachments_root, target)
    console.print(f"backup written to {target}: {len(manifest['tables'])} tables, "
                  f"{sum(manifest['tables'].values())} rows, {len(manifest['attachments'])} attachment files")


def _report(result: object) -> None:
    from fieldops.backup import Verification

    assert isinstance(result, Verification)
    for problem in result.problems:
        console.print(f"[red]{problem}[/]")
    checked = ", ".join(f"{k}={v}" for k, v in result.checked.items())
    if not result.ok:
        console.print(f"[red]verify FAILED[/] ({checked})")
        raise typer.Exit(1)
    console.print(f"verify OK ({checked})")


@app.command()
def restore(source: Path = typer.Argument(..., help="A directory written by `fieldops backup`"),
            force: bool = typer.Option(False, help="Replace a non-empty target database")) -> None:
    """Restore a backup into FIELDOPS_DATABASE_URL and the attachment store, then verify it."""
    from fieldops.backup import restore as do_restore

    settings = get_settings()
    _report(do_restore(source, settings.database_url, settings.attachments_root, force=force))


@app.command("verify-backup")
def verify_backup(source: Path = typer.Argument(..., help="A directory written by `fieldops backup`"),
                  against_database: bool = typer.Option(
                      False, help="Also compare FIELDOPS_DATABASE_URL and the attachments with the backup")) -> None:
    """Check a backup's files against its manifest (row counts, attachment checksums)."""
    from fieldops.backup import verify

    settings = get_settings()
    if against_database:
        _report(verify(source, settings.database_url, settings.attachments_root))
    else:
        _report(verify(source))


if __name__ == "__main__":
    app()
