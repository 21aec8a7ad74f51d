"""Web app numbers: what the dispatcher console costs to load and how it behaves with a busy day.

A real `fieldops serve` runs on 127.0.0.1 over a freshly migrated, demo-seeded SQLite database, and
Debian's Chromium (headless, the flags of tests/e2e) loads /console as the demo dispatcher:

1. First load (demo data): bytes of every response of the page load (JS / CSS / API / other), whether
   they came gzip-compressed, and the time from navigation start until the work-order rows are drawn
   and a click is handled.
2. The same with 2,000 open work orders (new / assigned, windows today, spread over the Boston demo
   sites) and 200 more technicians: the list and the map with its markers, the page size raised to 100,
   a priority filter applied, and how long the main thread is blocked meanwhile (Long Tasks API) and
   how long a click waits while the map draws.

Each load is a fresh browser context (empty HTTP cache, service worker blocked so it neither serves nor
precaches during the measurement; the service worker's precache is sized separately). Map tiles are off
(FIELDOPS_MAP_TILE_URL=""), so map numbers are markers and territories on a plain background.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import insert, select

from bench.report import write_section
from fieldops.core.db import Database
from fieldops.core.migrate import upgrade
from fieldops.customers.models import Site
from fieldops.demo.accounts import DEMO_PASSWORD
from fieldops.demo.seed import seed_demo
from fieldops.service_types.models import ServiceType
from fieldops.settings import Settings
from fieldops.technicians.models import Shift, Technician, TechnicianSkill, TechnicianTerritory
from fieldops.work_orders.models import WorkOrder

ROOT = Path(__file__).resolve().parents[1]
FRONTEND = ROOT / "frontend"
STATIC = ROOT / "src" / "fieldops" / "static"
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1440, "height": 900}
USER = "dispatcher@demo.fieldops.local"
TZ = ZoneInfo("America/New_York")
MAP_JOBS = "Number(document.querySelector('[data-test=jobs-map]')?.dataset.jobs || 0)"  # jobs the map drew
ROWS = "[data-test=wo-table] .el-table__body-wrapper tbody tr.el-table__row"
WORDS = ["leak", "no heat", "street light out", "pothole", "AC not cooling", "sign missing", "breaker trips",
         "空调不制冷", "水管漏水", "路灯不亮", "门锁坏了"]

# Installed before any page script: long tasks, and when clicks reach the page's main thread.
INIT = """
window.__lt = []; window.__clicks = [];
try {
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__lt.push([e.startTime, e.duration]) })
    .observe({ type: 'longtask', buffered: true });
} catch (e) { window.__ltError = String(e) }
document.addEventListener('click', (e) => window.__clicks.push({ ts: e.timeStamp, at: performance.now() }), true);
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_build() -> None:
    if (STATIC / "index.html").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("src/fieldops/static is missing and npm is not installed")
    subprocess.run([npm, "run", "-s", "build:only"], cwd=FRONTEND, check=True, stdout=subprocess.DEVNULL)


# ---- data -----------------------------------------------------------------------------------------

def bulk_technicians(db_url: str, count: int) -> None:
    """`count` more technicians, each copying a demo technician's skills, shifts, territories and duty."""
    database = Database(db_url)
    rng = random.Random(11)
    with database.session() as s:
        demo = list(s.scalars(select(Technician).order_by(Technician.code)))
        sites = list(s.execute(select(Site.lat, Site.lng, Site.address)))
        for i in range(count):
            p = demo[i % len(demo)]
            home = rng.choice(sites)
            live = p.last_lat is not None
            tech = Technician(org_id=p.org_id, code=f"B{i:03d}", name=f"Bench Tech {i:03d}", phone=None,
                              level=p.level, home_lat=home.lat, home_lng=home.lng, home_address=home.address,
                              max_travel_km=p.max_travel_km, max_jobs_per_day=p.max_jobs_per_day,
                              max_work_minutes=p.max_work_minutes, duty_status=p.duty_status,
                              hourly_cost=p.hourly_cost, active=True,
                              last_lat=home.lat + rng.uniform(-0.01, 0.01) if live else None,
                              last_lng=home.lng + rng.uniform(-0.01, 0.01) if live else None,
                              last_seen_at=datetime.now(UTC) if live else None)
            tech.skills = [TechnicianSkill(skill_code=k.skill_code, level=k.level) for k in p.skills]
            tech.territories = [TechnicianTerritory(territory_id=t.territory_id) for t in p.territories]
            tech.shifts = [Shift(weekday=h.weekday, start_time=h.start_time, end_time=h.end_time,
                                 break_start=h.break_start, break_end=h.break_end) for h in p.shifts]
            s.add(tech)
        s.commit()
    database.dispose()


def bulk_open_work_orders(db_url: str, count: int) -> None:
    """`count` open work orders (new, or assigned to a bench technician) with windows today, local time."""
    database = Database(db_url)
    rng = random.Random(7)
    with database.session() as s:
        sites = list(s.execute(select(Site.id, Site.customer_id, Site.org_id, Site.territory_id, Site.lat, Site.lng,
                                      Site.address)))
        types = list(s.scalars(select(ServiceType.id)))
        techs = list(s.scalars(select(Technician.id).where(Technician.code.like("B%"))))
        now = datetime.now(UTC)
        today = now.astimezone(TZ).date()
        batch: list[dict[str, object]] = []
        for i in range(count):
            site = rng.choice(sites)
            created = now - timedelta(minutes=rng.randint(5, 36 * 60))
            start = datetime.combine(today, dtime(rng.randint(8, 15)), tzinfo=TZ).astimezone(UTC)
            assigned = rng.random() < 0.5
            batch.append({
                "id": uuid.uuid4(), "org_id": site.org_id, "number": f"WO-W{i:06d}", "channel": "import",
                "status": "assigned" if assigned else "new", "priority": rng.choice(["P0", "P1", "P2", "P2", "P3"]),
                "title": rng.choice(WORDS), "description": f"{rng.choice(WORDS)} at {site.address}",
                "customer_id": site.customer_id, "site_id": site.id, "service_type_id": rng.choice(types),
                "territory_id": site.territory_id, "customer_name": "Customer", "site_address": site.address,
                "site_lat": site.lat, "site_lng": site.lng, "duration_min": 60, "required_tools": [],
                "required_parts": [], "custom_fields": {}, "checklist_results": {}, "parts_used": [],
                "rejected_technician_ids": [], "rework_count": 0, "reopen_count": 0, "total_hold_seconds": 0,
                "currency": "USD", "created_at": created, "updated_at": created, "window_start": start,
                "window_end": start + timedelta(hours=2), "due_at": start + timedelta(hours=2),
                "technician_id": rng.choice(techs) if assigned else None,
                "assigned_at": created + timedelta(minutes=2) if assigned else None, "version": 1,
            })
        s.execute(insert(WorkOrder), batch)
        s.commit()
    database.dispose()


class Server:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.log = log.open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "fieldops.cli", "serve"], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"fieldops serve did not start; see {log}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def make_db(tmp: Path, technicians: int, orders: int) -> tuple[str, Settings]:
    url = f"sqlite:///{tmp}/web.db"
    upgrade(url)
    settings = Settings(database_url=url, data_dir=tmp, secret_key="bench-web-secret-0123456789abcdef0123",
                        password_hash_profile="fast", _env_file=None)  # type: ignore[call-arg]
    seed_demo(settings)
    if technicians:
        bulk_technicians(url, technicians)
    if orders:
        bulk_open_work_orders(url, orders)
    return url, settings


def start_server(tmp: Path, url: str, settings: Settings) -> Server:
    port = _free_port()
    env = {**os.environ, "FIELDOPS_DATABASE_URL": url, "FIELDOPS_PORT": str(port), "FIELDOPS_HOST": "127.0.0.1",
           "FIELDOPS_DATA_DIR": str(tmp), "FIELDOPS_SECRET_KEY": settings.secret_key,
           "FIELDOPS_PASSWORD_HASH_PROFILE": "fast", "FIELDOPS_MAP_TILE_URL": "", "FIELDOPS_LOG_LEVEL": "warning"}
    return Server(env, port, tmp / "server.log")


# ---- browser --------------------------------------------------------------------------------------

def signed_in_state(browser: Any, base: str) -> dict[str, Any]:
    ctx = browser.new_context(base_url=base, viewport=VIEWPORT, timezone_id="America/New_York", locale="en-US")
    page = ctx.new_page()
    page.goto("/login")
    page.fill("[data-test=username]", USER)
    page.fill("[data-test=password]", DEMO_PASSWORD)
    page.click("[data-test=login-submit]")
    page.wait_for_url(lambda u: "/login" not in u, timeout=30000)
    page.wait_for_load_state("networkidle")
    state = ctx.storage_state()
    ctx.close()
    return state


def kind_of(url: str) -> str:
    path = url.split("?", 1)[0]
    if "/api/" in path:
        return "api"
    if path.endswith(".js") or path.endswith(".mjs"):
        return "js"
    if path.endswith(".css"):
        return "css"
    return "other"


def console_load(browser: Any, base: str, state: dict[str, Any], big: bool) -> dict[str, Any]:
    """One cold load of /console in a fresh context; with `big`, also page size 100 and a P1 filter."""
    ctx = browser.new_context(base_url=base, viewport=VIEWPORT, timezone_id="America/New_York", locale="en-US",
                              storage_state=state, service_workers="block")
    ctx.set_default_timeout(60000)
    ctx.add_init_script(INIT)
    page = ctx.new_page()
    encodings: dict[str, str] = {}
    errors: list[str] = []
    page.on("response", lambda r: encodings.__setitem__(r.url, r.headers.get("content-encoding", "")))
    page.on("pageerror", lambda e: errors.append(str(e)))
    out: dict[str, Any] = {}

    page.goto("/console", wait_until="commit")
    # The rows' time and where to click, in one round trip (a second one would queue behind busy scripts).
    seen = page.wait_for_function(
        f"() => {{ if (!document.querySelectorAll('{ROWS}').length) return false;"
        " const r = document.querySelector('.fo-bulk b').getBoundingClientRect();"
        " return { t: performance.now(), x: r.x + 5, y: r.y + 5 } }", polling="raf").json_value()
    out["rows_ms"] = seen["t"]
    box = {"x": seen["x"], "y": seen["y"]}
    # A click right after the rows appear: when does the page's main thread get to handle it?
    page.mouse.click(box["x"], box["y"])
    click = page.wait_for_function("() => window.__clicks.length > 0 && window.__clicks[0]").json_value()
    out["first_click_delay_ms"] = click["at"] - click["ts"]
    out["tti_ms"] = max(out["rows_ms"], click["at"])
    out["map_ms"] = page.wait_for_function(
        f"() => {{ const m = {MAP_JOBS};"
        " const t = document.querySelectorAll('[data-test=jobs-map] .fo-tech-marker').length;"
        " return m > 0 && t > 0 && performance.now() }",
        polling="raf").json_value()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)  # let lazy parts (day timeline) settle
    nav = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0];"
                        " return { dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd, url: n.name,"
                        " enc: n.encodedBodySize, dec: n.decodedBodySize } }")
    res = page.evaluate("() => performance.getEntriesByType('resource').map(e => ({ url: e.name,"
                        " enc: e.encodedBodySize, dec: e.decodedBodySize, end: e.responseEnd }))")
    out["dcl_ms"], out["load_ms"] = nav["dcl"], nav["load"]
    bytes_: dict[str, list[int]] = {k: [0, 0, 0] for k in ("js", "css", "api", "other")}  # enc, dec, count
    gz = {k: [0, 0] for k in bytes_}  # compressed responses, responses over 1 KiB
    for i, e in enumerate([{"url": nav["url"], "enc": nav["enc"], "dec": nav["dec"]}, *res]):
        k = "other" if i == 0 else kind_of(e["url"])  # the document itself is HTML
        b = bytes_[k]
        b[0] += e["enc"]
        b[1] += e["dec"]
        b[2] += 1
        if e["dec"] > 1024:
            gz[k][1] += 1
            if encodings.get(e["url"], "") in ("gzip", "br", "deflate"):
                gz[k][0] += 1
    out["bytes"], out["gzip"] = bytes_, gz
    out["techs_on_map"] = page.locator("[data-test=jobs-map] .fo-tech-marker").count()
    out["jobs_on_map"] = page.evaluate(f"() => {MAP_JOBS}")
    out["total_text"] = page.locator("[data-test=total]").inner_text()

    if big:
        # Page size 100: the list and the map redraw with 100 jobs and every technician.
        page.locator(".el-pagination__sizes .el-select").click()
        page.evaluate(
            "() => { window.__clicks = []; window.__redrawn = 0; window.__mark = performance.now();"
            f" const tick = () => {{ if (document.querySelectorAll('{ROWS}').length === 100)"
            " window.__redrawn = performance.now(); else requestAnimationFrame(tick) };"
            " requestAnimationFrame(tick) }")
        page.locator(".el-select-dropdown__item:visible", has_text="100").first.click()
        # Meanwhile: clicks on a neutral spot every ~25 ms for 2 s, as a dispatcher would while the map draws.
        t_end = time.monotonic() + 2.0
        while time.monotonic() < t_end:
            page.mouse.click(box["x"], box["y"])
            time.sleep(0.025)
        done = page.wait_for_function(
            f"() => document.querySelectorAll('{ROWS}').length === 100 && performance.now()",
            polling="raf").json_value()
        done = page.evaluate("() => window.__redrawn || 0") or done
        clicks = page.evaluate("() => window.__clicks")
        mark = page.evaluate("() => window.__mark")
        out["page100_ms"] = done - mark
        during = [c["at"] - c["ts"] for c in clicks if mark <= c["ts"] <= done]
        out["clicks_during_redraw"] = len(during)
        out["click_during_redraw_ms"] = max(during, default=float("nan"))
        page.wait_for_timeout(500)
        out["jobs_on_map_100"] = page.evaluate(f"() => {MAP_JOBS}")

        # Filter: priority P1, then Search; until the list and the map show only P1.
        before = page.locator("[data-test=total]").inner_text()
        page.locator("[data-test=filter-priority]").click()
        page.locator(".el-select-dropdown__item:visible", has_text="P1").first.click()
        page.keyboard.press("Escape")
        page.evaluate("() => { document.querySelector('[data-test=filter-apply]').addEventListener('click',"
                      " () => { window.__applyAt = performance.now() }, { capture: true, once: true }) }")
        page.click("[data-test=filter-apply]")
        done = page.wait_for_function(
            f"a => {{ const t = document.querySelector('[data-test=total]'); const m = {MAP_JOBS};"
            " return t && t.textContent !== a[0] && m > 0 && m < a[1] && performance.now() }",
            arg=[before, out["jobs_on_map_100"]], polling="raf").json_value()
        out["filter_ms"] = done - page.evaluate("() => window.__applyAt")
        out["filter_total"] = page.locator("[data-test=total]").inner_text()
        out["filter_rows"] = page.locator(ROWS).count()

    lt = page.evaluate("() => ({ list: window.__lt, error: window.__ltError || null })")
    out["longtask_error"] = lt["error"]
    tasks = [d for _s, d in lt["list"]]
    upto = [d for s, d in lt["list"] if s <= out["tti_ms"]]
    out["longtask_max_ms"] = max(tasks, default=0.0)
    out["longtask_sum_ms"] = sum(tasks)
    out["longtask_count"] = len(tasks)
    out["longtask_before_tti_sum_ms"] = sum(upto)
    out["errors"] = errors
    ctx.close()
    return out


def precache_bytes(base: str) -> tuple[int, int, int]:
    """What the service worker fetches after the first visit: every build file (gzip over the wire)."""
    with httpx.Client(base_url=base, headers={"Accept-Encoding": "gzip"}) as c:
        manifest = c.get("/.vite/manifest.json").json()
        files = {"/" + e["file"] for e in manifest.values()} | {"/" + css for e in manifest.values()
                                                                  for css in e.get("css", [])}
        wire = raw = 0
        for f in files:
            r = c.get(f)
            r.read()
            wire += r.num_bytes_downloaded
            raw += len(r.content)
    return len(files), wire, raw


def scenario(browser: Any, technicians: int, orders: int, runs: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="fieldops-bench-web-"))
    try:
        t0 = time.perf_counter()
        url, settings = make_db(tmp, technicians, orders)
        build_s = time.perf_counter() - t0
        server = start_server(tmp, url, settings)
        try:
            state = signed_in_state(browser, server.url)
            console_load(browser, server.url, state, big=False)  # warm the server (imports, SQLite pages)
            results = [console_load(browser, server.url, state, big=orders > 0) for _ in range(runs)]
            pre = precache_bytes(server.url)
        finally:
            server.stop()
        return {"build_s": build_s, "runs": results, "precache": pre}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- report ---------------------------------------------------------------------------------------

def med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def kib(n: float) -> str:
    return f"{n / 1024:,.0f} KiB"


def main() -> None:
    from playwright.sync_api import sync_playwright

    ensure_build()
    runs = int(os.environ.get("BENCH_WEB_RUNS", "3"))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            print("  demo data …", flush=True)
            demo = scenario(browser, 0, 0, runs)
            print("  2,000 open work orders, 200 more technicians …", flush=True)
            big = scenario(browser, 200, 2000, runs)
        finally:
            browser.close()

    for label, sc in (("demo", demo), ("big", big)):
        for r in sc["runs"]:
            if r["errors"]:
                print(f"  page errors ({label}): {r['errors']}", flush=True)
    d0 = demo["runs"][0]
    lines = [
        "## Web app: dispatcher console",
        "",
        f"`python -m bench.run web`: `fieldops serve` (one process, SQLite) on 127.0.0.1 and headless Debian "
        f"Chromium at 1440×900, signed in as the demo dispatcher. Each load is a fresh browser context (empty "
        f"HTTP cache; service worker blocked during the measurement); median of {runs} loads after one warm-up. "
        "Map tiles off (markers and territories on a plain background). Times are on this machine over "
        "loopback: no network latency or bandwidth limit is applied.",
        "",
        "### First load of /console (demo data)",
        "",
        "Bytes of every response of the load, until the page is quiet (including the API calls and lazily "
        "loaded parts such as the day timeline). *Wire* is the body as sent, *decoded* after decompression.",
        "",
        "| Kind | Responses | Wire | Decoded | Compressed (of those > 1 KiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    tot = [0, 0, 0]
    kinds = (("js", "JavaScript"), ("css", "CSS"), ("api", "API (JSON)"), ("other", "Other (HTML, fonts, images)"))
    for k, name in kinds:
        enc, dec, n = d0["bytes"][k]
        g, over = d0["gzip"][k]
        tot = [tot[0] + enc, tot[1] + dec, tot[2] + n]
        lines.append(f"| {name} | {n} | {kib(enc)} | {kib(dec)} | {g} / {over} gzip |")
    lines.append(f"| **Total** | {tot[2]} | **{kib(tot[0])}** | {kib(tot[1])} | |")
    n_pre, wire_pre, raw_pre = demo["precache"]
    dr = demo["runs"]
    lines += [
        "",
        f"After that first visit the service worker precaches the whole build ({n_pre} files: "
        f"{kib(wire_pre)} gzip over the wire, {kib(raw_pre)} decoded), once, in the background.",
        "",
        "| Timing (from navigation start, median) | ms |",
        "|---|---:|",
        f"| DOMContentLoaded | {med(dr, 'dcl_ms'):.0f} |",
        f"| Work-order rows drawn | {med(dr, 'rows_ms'):.0f} |",
        f"| **Time to interactive** (rows drawn and a click then handled) | **{med(dr, 'tti_ms'):.0f}** |",
        f"| Input delay of that first click | {med(dr, 'first_click_delay_ms'):.0f} |",
        f"| Map drawn (job markers of the page + technicians) | {med(dr, 'map_ms'):.0f} |",
        f"| Long tasks during the load: longest / total | {med(dr, 'longtask_max_ms'):.0f} / "
        f"{med(dr, 'longtask_sum_ms'):.0f} |",
        "",
    ]
    br = big["runs"]
    b0 = br[0]
    bt = [sum(b0["bytes"][k][i] for k in b0["bytes"]) for i in range(2)]
    lines += [
        "### 2,000 open work orders and 200 more technicians",
        "",
        f"The demo plus 200 technicians (copying the demo technicians' skills, shifts and territories; "
        f"{b0['techs_on_map']} technicians on the map in all) and 2,000 open work orders (new or assigned, "
        f"windows today, on the Boston demo sites); database built in {big['build_s']:.1f} s. "
        "The console lists a page of work orders (20 by default, up to 100); its map draws every job of the "
        "current filter (GET /work-orders/map-points, on one Leaflet canvas) and every technician.",
        "",
        "| Step (median) | ms |",
        "|---|---:|",
        f"| Cold load: rows drawn (list: {b0['total_text']}) | {med(br, 'rows_ms'):.0f} |",
        f"| Cold load: time to interactive | {med(br, 'tti_ms'):.0f} |",
        f"| Cold load: map drawn ({b0['jobs_on_map']} jobs + {b0['techs_on_map']} technicians) | "
        f"{med(br, 'map_ms'):.0f} |",
        f"| Page size 100: list redrawn (the map keeps its {b0['jobs_on_map_100']} jobs) "
        f"| {med(br, 'page100_ms'):.0f} |",
        f"| Longest input delay of the clicks made while that redraw runs (every ~25 ms; median "
        f"{med(br, 'clicks_during_redraw'):.0f} clicks) | {med(br, 'click_during_redraw_ms'):.0f} |",
        f"| Filter priority P1 → list and map show only P1 ({b0['filter_total']}) | {med(br, 'filter_ms'):.0f} |",
        f"| Long tasks over the whole session: longest / total / count | {med(br, 'longtask_max_ms'):.0f} / "
        f"{med(br, 'longtask_sum_ms'):.0f} / {med(br, 'longtask_count'):.0f} |",
        "",
        f"Bytes of the cold load here: {kib(bt[0])} on the wire ({kib(b0['bytes']['api'][0])} of it API, "
        f"{b0['bytes']['api'][2]} calls), {kib(bt[1])} decoded.",
    ]
    if d0["longtask_error"]:
        lines.append(f"\nLong Tasks API unavailable: {d0['longtask_error']}")
    body = "\n".join(lines)
    write_section("web", body)
    print(body, flush=True)


if __name__ == "__main__":
    main()
