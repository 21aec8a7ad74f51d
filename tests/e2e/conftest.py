"""Browser tests: a real `fieldops serve` (and worker) on a free port, over a freshly migrated and
demo-seeded SQLite database, driven by Debian's Chromium through Playwright.

Skipped only when /usr/bin/chromium is missing (CI installs it through scripts/bootstrap.sh). The web
app is built into src/fieldops/static first when the build is missing or older than its sources.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported for real in the `browser` fixture, so collection never needs Playwright
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
STATIC_INDEX = ROOT / "src" / "fieldops" / "static" / "index.html"
SHOTS = ROOT / "test-artifacts" / "screenshots"
PASSWORD = "Demo-pass-2026!"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]

# Every module here sets `pytestmark = E2E`: browser tests start servers and a browser, so they belong
# to the full run only (not `make test-quick`), and to the SQLite pass (the server under test uses its
# own SQLite database whichever backend the rest of the suite runs on).
E2E = [
    pytest.mark.slow,
    pytest.mark.sqlite_only,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing: apt-get install -y chromium fonts-noto-cjk"
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ensure_build() -> None:
    """Build the web app when src/fieldops/static is missing or older than the front-end sources."""
    sources = [
        FRONTEND / "index.html",
        FRONTEND / "vite.config.ts",
        *(FRONTEND / "src").rglob("*"),
        *(FRONTEND / "public").rglob("*"),
    ]
    if STATIC_INDEX.exists():
        built = STATIC_INDEX.stat().st_mtime
        if all(p.stat().st_mtime <= built for p in sources if p.is_file()):
            return
    npm = shutil.which("npm")
    if npm is None or not (FRONTEND / "node_modules").exists():
        pytest.fail("The web app is not built: run `cd frontend && npm ci && npm run build` (or make test).")
    subprocess.run([npm, "run", "-s", "build:only"], cwd=FRONTEND, check=True, stdout=subprocess.DEVNULL)


@dataclass
class Server:
    url: str
    data_dir: Path
    env: dict[str, str]

    def mailbox(self) -> list[dict[str, str]]:
        path = self.data_dir / "mailbox.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _ensure_build()
    data = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    env = {
        **os.environ,
        "FIELDOPS_DATA_DIR": str(data),
        "FIELDOPS_DATABASE_URL": f"sqlite:///{data / 'fieldops.db'}",
        "FIELDOPS_HOST": "127.0.0.1",
        "FIELDOPS_PORT": str(port),
        "FIELDOPS_SECRET_KEY": "e2e-secret-key-0123456789abcdefghijklmnop",
        "FIELDOPS_PASSWORD_HASH_PROFILE": "fast",
        "FIELDOPS_MAP_TILE_URL": "",  # no tiles: the maps must still show their markers
        "FIELDOPS_LOG_LEVEL": "warning",
        "FIELDOPS_WORKER_POLL_SECONDS": "0.2",
    }
    cli = [sys.executable, "-m", "fieldops.cli"]
    subprocess.run([*cli, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*cli, "seed"], env=env, check=True, stdout=subprocess.DEVNULL)
    log = (data / "server.log").open("w")
    # No worker here: without it nothing auto-dispatches, so the walk assigns by hand deterministically.
    # Tests that need one (notifications) use the `worker` fixture.
    procs = [subprocess.Popen([*cli, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)]
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v1/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or procs[0].poll() is not None:
                raise RuntimeError(f"fieldops serve did not start; see {data / 'server.log'}")
            time.sleep(0.2)
        yield Server(url=url, data_dir=data, env=env)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


@pytest.fixture
def worker(server: Server) -> Iterator[None]:
    """The background worker (outbox relay, notifications: reset and sign-up codes) for one test."""
    with (server.data_dir / "worker.log").open("a") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fieldops.cli", "worker"], env=server.env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The Python package `playwright` is missing: it is in requirements-dev (scripts/bootstrap.sh dev).")

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def shots() -> Callable[..., Path]:
    """shots(page, name): a full-page screenshot in test-artifacts/screenshots/NAME.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str, full_page: bool = False) -> Path:
        path = SHOTS / f"{name}.png"
        # Toasts fade on their own; leave them out of the pictures. A full page starts at the top so
        # sticky headers sit where they belong.
        page.evaluate("() => document.querySelectorAll('.el-message').forEach((m) => m.remove())")
        if full_page:
            page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


DESKTOP = {"viewport": {"width": 1440, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def browser_locale(lang: str) -> str:
    return "zh-CN" if lang == "zh-CN" else "en-US"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.e2e_failed = report.failed
    return report


@pytest.fixture
def open_context(
    browser: Browser, server: Server, request: pytest.FixtureRequest
) -> Iterator[Callable[..., BrowserContext]]:
    """open_context(lang, phone=False, **options) → a new browser context with the server as base URL.
    Page errors and failed API calls are collected on `context.problems`."""
    contexts: list[BrowserContext] = []

    def make(lang: str, phone: bool = False, **options: Any) -> BrowserContext:
        base = PHONE if phone else DESKTOP
        ctx = browser.new_context(
            base_url=server.url, locale=browser_locale(lang), timezone_id="America/New_York", **base, **options
        )
        ctx.set_default_timeout(15000)
        problems: list[str] = []
        ctx.problems = problems  # type: ignore[attr-defined]
        ctx.on("page", lambda page: page.on("pageerror", lambda e: problems.append(str(e))))
        contexts.append(ctx)
        return ctx

    yield make
    if getattr(request.node, "e2e_failed", False):  # keep what each page showed when the test failed
        out = ROOT / "test-artifacts" / "failures"
        out.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        for i, ctx in enumerate(contexts):
            for j, page in enumerate(ctx.pages):
                with contextlib.suppress(Exception):  # a crashed page has nothing to show
                    page.screenshot(path=str(out / f"{name}-{i}-{j}.png"), full_page=True)
    for ctx in contexts:
        ctx.close()


def login(page: Page, username: str, lang: str, password: str = PASSWORD) -> None:
    """Sign in through the login page, then make sure the UI speaks `lang` (a user's saved language wins
    at sign-in, so switch if needed; the switch is remembered for the user)."""
    page.goto("/login")
    page.fill("[data-test=username]", username)
    page.fill("[data-test=password]", password)
    page.click("[data-test=login-submit]")
    page.wait_for_url(lambda u: "/login" not in u)
    set_locale(page, lang)


def set_locale(page: Page, lang: str) -> None:
    page.click(f"[data-test=locale-switch] [data-locale='{lang}']")
    page.wait_for_function("lang => document.documentElement.lang === lang", arg=lang)
