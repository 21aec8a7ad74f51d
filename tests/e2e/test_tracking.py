"""Live tracking through the web app.

A technician's phone (Playwright geolocation) walks towards the site of their en-route job in six steps;
the points go to the server in two batches (the page's own sender, through its debug hook). The
dispatcher's console map, open all along, moves the technician's marker on the live `technician.position`
events without a reload; the order's arrival is stamped when the phone enters the site's fence and the
phone shows the "you have arrived" prompt, whose button checks in; the playback screen draws the trace
with a distance above zero.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from tests.e2e.conftest import E2E, PASSWORD, Server, login, set_locale

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = E2E

TECH_LOGIN = "tech7@demo.fieldops.local"  # no other browser test uses this technician's phone


def call(server: Server, method: str, path: str, token: str | None = None, body: Any = None,
         if_match: str | None = None) -> tuple[int, Any, dict[str, str]]:
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if if_match:
        headers["If-Match"] = if_match
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None), dict(r.headers)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None), dict(e.headers)


def token_for(server: Server, username: str) -> str:
    status, body, _ = call(server, "POST", "/api/v1/auth/login", body={"username": username, "password": PASSWORD})
    assert status == 200, body
    return str(body["access_token"])


def ok(result: tuple[int, Any, dict[str, str]], *expected: int) -> Any:
    status, body, _ = result
    assert status in (expected or (200,)), (status, body)
    return body


def etag_of(server: Server, path: str, token: str) -> str:
    status, body, headers = call(server, "GET", path, token)
    assert status == 200, body
    return headers.get("ETag") or headers.get("etag") or f'"{body["version"]}"'


def marker_lat(page: Page, tech_id: str) -> str | None:
    return page.get_attribute(f".fo-tech-marker[data-tech-id='{tech_id}']", "data-lat")


def walk_to(phone: Page, tech_ctx: Any, lat: float, lng: float) -> None:
    """Move the phone and wait until the page has kept the fix (it keeps one per ≥30 m moved)."""
    tech_ctx.set_geolocation({"latitude": lat, "longitude": lng, "accuracy": 8})
    phone.wait_for_function(
        """([lat, lng]) => {
          const f = window.__foGeoState && window.__foGeoState.lastFix
          return !!f && Math.abs(f.lat - lat) < 1e-6 && Math.abs(f.lng - lng) < 1e-6
        }""",
        arg=[lat, lng],
        timeout=10000,
    )


def flush(phone: Page) -> None:
    """Send what the phone has buffered now (the page's sender, not a hand-made request)."""
    phone.wait_for_function(
        """async () => {
          await window.__foGeoFlush()
          return window.__foGeoState.pending === 0
        }""",
        polling=300,
        timeout=15000,
    )
    assert phone.evaluate("() => window.__foGeoState.lastError") is None


def test_live_tracking_walk(open_context, shots, server, worker) -> None:
    started = time.monotonic()
    desk_token = token_for(server, "dispatcher@demo.fieldops.local")
    tech_token = token_for(server, TECH_LOGIN)
    me = ok(call(server, "GET", "/api/v1/technicians/me", tech_token))
    tech_id = me["id"]

    # ---- a job for the technician, en route, and the technician on duty (API) ------------------------
    template = next(
        wo for wo in ok(call(server, "GET", "/api/v1/work-orders?limit=50", desk_token))["items"]
        if wo.get("site_lat") is not None
    )
    wo = ok(call(server, "POST", "/api/v1/work-orders", desk_token, {
        "customer_id": template["customer_id"], "site_id": template["site_id"],
        "service_type_id": template["service_type_id"], "description": "e2e tracking walk",
    }), 201)
    wo_id = wo["id"]
    site = (wo["site_lat"], wo["site_lng"])
    path = f"/api/v1/work-orders/{wo_id}"
    ok(call(server, "POST", f"{path}/assign", desk_token,
            {"technician_id": tech_id, "reason": "e2e tracking", "force": True}, etag_of(server, path, desk_token)))
    ok(call(server, "PATCH", "/api/v1/technicians/me/duty-status", tech_token, {"duty_status": "on_duty"},
            etag_of(server, "/api/v1/technicians/me", tech_token)))
    ok(call(server, "POST", f"{path}/accept", tech_token, {}, etag_of(server, path, tech_token)))
    ok(call(server, "POST", f"{path}/depart", tech_token, {}, etag_of(server, path, tech_token)))
    assert ok(call(server, "GET", path, tech_token))["status"] == "en_route"

    # Six steps north → south onto the site (its fence: 150 m); ~67 m apart, well under the speed limit.
    steps = [(site[0] + d, site[1]) for d in (0.0030, 0.0024, 0.0018, 0.0012, 0.0006, 0.0001)]

    # ---- the dispatcher's console map, open before the walk ------------------------------------------
    desk_ctx = open_context("en")
    desk = desk_ctx.new_page()
    login(desk, "dispatcher@demo.fieldops.local", "en")
    desk.wait_for_selector("[data-test=jobs-map]:not([data-jobs='0'])")
    marker = f".fo-tech-marker[data-tech-id='{tech_id}']"
    desk.wait_for_selector(marker)
    before = marker_lat(desk, tech_id)

    # ---- the technician's phone, on the job page ---------------------------------------------------------
    tech_ctx = open_context(
        "zh-CN", phone=True, geolocation={"latitude": steps[0][0], "longitude": steps[0][1], "accuracy": 8},
        permissions=["geolocation"],
    )
    phone = tech_ctx.new_page()
    login(phone, TECH_LOGIN, "zh-CN")
    phone.goto(f"/tech/jobs/{wo_id}")
    phone.wait_for_selector("[data-test=job-number]")
    phone.wait_for_function("() => !!(window.__foGeoState && window.__foGeoState.lastFix)")
    time.sleep(1.1)
    for lat, lng in steps[1:3]:
        walk_to(phone, tech_ctx, lat, lng)
        time.sleep(1.1)
    flush(phone)
    first_batch = time.monotonic()

    # The marker moves on the live event, without a reload (the map keeps its markers: same page).
    desk.wait_for_function(
        "([sel, before]) => { const m = document.querySelector(sel); return !!m && m.dataset.lat !== before }",
        arg=[marker, before],
        timeout=15000,
    )
    after_first = marker_lat(desk, tech_id)
    assert after_first is not None and abs(float(after_first) - site[0]) < 0.0035
    assert desk.get_attribute(marker, "data-stale") == "false"
    assert ok(call(server, "GET", path, desk_token)).get("site_entered_at") is None
    desk.hover(marker)
    desk.wait_for_selector(".leaflet-tooltip >> text=ago")
    shots(desk, "tracking-console-en")

    for lat, lng in steps[3:]:
        walk_to(phone, tech_ctx, lat, lng)
        time.sleep(1.1)
    # Live positions are sent at most every 5 s per technician: the second batch comes after that.
    time.sleep(max(0.0, 5.5 - (time.monotonic() - first_batch)))
    flush(phone)
    desk.wait_for_function(
        "([sel, before]) => { const m = document.querySelector(sel); return !!m && m.dataset.lat !== before }",
        arg=[marker, after_first],
        timeout=15000,
    )
    assert abs(float(marker_lat(desk, tech_id) or 0) - site[0]) < abs(float(after_first) - site[0])

    # ---- arrival: stamped by the fence, prompted on the phone, checked in from the prompt -------------
    order = ok(call(server, "GET", path, desk_token))
    assert order.get("site_entered_at"), order
    assert order["status"] == "en_route"
    prompt = phone.locator("[data-test=arrival-prompt]")
    prompt.wait_for(timeout=15000)
    assert "您已到达" in prompt.inner_text()
    shots(phone, "tracking-phone-arrival-zh")
    prompt.locator("[data-test=arrival-checkin]").click()
    prompt.wait_for(state="detached", timeout=15000)
    assert ok(call(server, "GET", path, desk_token))["status"] == "on_site"

    # ---- playback from the console map: the trace with its distance -----------------------------------
    desk.locator(marker).click()
    desk.locator("[data-test=track-playback]").click()
    desk.wait_for_url(f"**/console/tracking/{tech_id}")
    distance = desk.locator("[data-test=trace-distance]")
    distance.wait_for()
    assert float(distance.get_attribute("data-m") or 0) > 0
    desk.wait_for_selector("[data-test=track-map]:not([data-points='0'])")
    desk.wait_for_selector("path.fo-trace-line", state="attached")  # a straight walk: zero width
    desk.click("[data-test=track-play]")
    desk.wait_for_function(
        "() => { const c = document.querySelector('.fo-trace-cursor'); return !!c && !!c.dataset.at }"
    )
    set_locale(desk, "zh-CN")
    desk.wait_for_selector("text=轨迹回放")
    shots(desk, "tracking-playback-zh")

    assert not desk_ctx.problems, desk_ctx.problems  # type: ignore[attr-defined]
    assert not tech_ctx.problems, tech_ctx.problems  # type: ignore[attr-defined]
    assert time.monotonic() - started < 90


def test_geofences_admin(open_context, shots) -> None:
    """The admin's geofences: a GeoJSON import refused with the bad feature named, a good import, a circle
    drawn on the map (geoman) and saved, the fence list and the recent activity."""
    page = open_context("en").new_page()
    login(page, "admin@demo.fieldops.local", "en")
    page.goto("/console/admin/geofences")
    page.wait_for_selector("[data-test=geofence-map]")
    page.wait_for_selector("[data-test=geo-activity]")
    square = {"type": "Polygon", "coordinates": [[[-71.07, 42.35], [-71.06, 42.35], [-71.06, 42.36], [-71.07, 42.36],
                                                  [-71.07, 42.35]]]}

    def upload(doc: dict[str, Any]) -> None:
        page.set_input_files("[data-test=geo-import-file]", files=[
            {"name": "fences.geojson", "mimeType": "application/geo+json", "buffer": json.dumps(doc).encode()}
        ])

    bad = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "e2e ok"}, "geometry": square},
        {"type": "Feature", "properties": {"name": "e2e broken"},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}},
    ]}
    upload(bad)
    error = page.locator("[data-test=geo-import-error]")
    error.wait_for()
    assert "features[1]" in error.inner_text()

    good = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "e2e Back Bay grid", "category": "grid"}, "geometry": square},
    ]}
    upload(good)
    page.wait_for_selector("[data-test=geo-table] [data-fence='e2e Back Bay grid']")

    # Draw a circle with geoman's toolbar and save it.
    page.click(".leaflet-pm-icon-circle")
    box = page.locator("[data-test=geofence-map]").bounding_box()
    assert box is not None
    cx, cy = box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.6
    page.mouse.click(cx, cy)
    page.mouse.move(cx + 40, cy, steps=4)
    page.mouse.click(cx + 40, cy)
    dialog = page.locator("[data-test=geo-dialog]:visible")
    dialog.wait_for()
    dialog.locator("[data-test=geo-name]").fill("e2e depot circle")
    dialog.locator("[data-test=geo-save]").click()
    dialog.wait_for(state="hidden")
    page.wait_for_selector("[data-test=geo-table] [data-fence='e2e depot circle']")
    shots(page, "tracking-geofences-en")
    assert not page.context.problems  # type: ignore[attr-defined]
