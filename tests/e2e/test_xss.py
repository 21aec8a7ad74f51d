"""Stored XSS: payloads in every free-text field people see never execute in the web app, and the pages run
under the Content-Security-Policy (no 'unsafe-inline') without violations.

Records are created through the API with the payloads (work order title/description/contact, customer name,
site address and access notes, comment body, technician name, service type name, notification text, the
public tracking page); then the console list, the order detail with comments, the technician's phone, the
customer portal and the tracking page are opened. A `dialog` listener must never fire, no script may set the
window marker, and the console must show no CSP violation.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import jwt

from tests.e2e.conftest import E2E, Server, login
from tests.e2e.test_tracking import call, etag_of, ok, token_for

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = E2E

PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "\"><svg onload=alert(3)>",
    "javascript:alert(4)",
    "'><iframe src=javascript:alert(5)>",
    "{{constructor.constructor('alert(6)')()}}",
    "<a href=\"javascript:alert(7)\">x</a><style>*{display:none}</style>",
]
MIX = " ".join(PAYLOADS)
TECH = "tech15@demo.fieldops.local"  # no other browser test uses this technician
CUSTOMER_LOGIN = f"xss-{uuid.uuid4().hex[:6]}@portal.test"
CUSTOMER_PASSWORD = "Xss-portal-2026!"


def _watch(ctx: BrowserContext, page: Page, sink: dict[str, list[str]]) -> None:
    page.on("dialog", lambda d: (sink["dialogs"].append(d.message), d.dismiss()))
    page.on("console", lambda m: sink["csp"].append(f"{page.url} {m.location} {m.text[:90]}")
            if "Content Security Policy" in m.text else None)


def _seed(server: Server) -> dict[str, Any]:
    admin = token_for(server, "admin@demo.fieldops.local")
    dispatcher = token_for(server, "dispatcher@demo.fieldops.local")
    cust = ok(call(server, "POST", "/api/v1/customers", admin, {
        "kind": "person", "name": f"Cust {PAYLOADS[0]}", "notes": MIX,
        "login": {"email": CUSTOMER_LOGIN, "password": CUSTOMER_PASSWORD}}), 201)
    site = ok(call(server, "POST", "/api/v1/sites", admin, {
        "customer_id": cust["id"], "name": f"Site {PAYLOADS[2]}", "address": f"1 Main St {PAYLOADS[1]}",
        "lat": 42.351, "lng": -71.061, "access_notes": MIX, "contact_name": PAYLOADS[0][:60]}), 201)
    types = ok(call(server, "GET", "/api/v1/service-types?limit=100", admin))["items"]
    st = next(t for t in types if not t.get("required_skills") and not t.get("children"))
    path = f"/api/v1/service-types/{st['id']}"
    ok(call(server, "PATCH", path, admin, {"name": f"{st['name']} {PAYLOADS[2]}"},
            if_match=etag_of(server, path, admin)))
    techs = ok(call(server, "GET", "/api/v1/technicians?limit=100", admin))["items"]
    tech = next(t for t in techs if t.get("code") == "T15")
    tpath = f"/api/v1/technicians/{tech['id']}"
    ok(call(server, "PATCH", tpath, admin, {"name": f"Tech {PAYLOADS[0]}"}, if_match=etag_of(server, tpath, admin)))
    wo = ok(call(server, "POST", "/api/v1/work-orders", dispatcher, {
        "customer_id": cust["id"], "site_id": site["id"], "service_type_id": st["id"], "title": PAYLOADS[2],
        "description": MIX, "contact_name": PAYLOADS[0], "contact_phone": "+16175550123"}), 201)
    wpath = f"/api/v1/work-orders/{wo['id']}"
    ok(call(server, "POST", f"{wpath}/assign", dispatcher, {"technician_id": tech["id"], "reason": PAYLOADS[1],
                                                             "force": True},
            if_match=etag_of(server, wpath, dispatcher)))
    for visibility in ("internal", "customer"):
        ok(call(server, "POST", f"{wpath}/comments", dispatcher, {"body": f"{visibility} {MIX}",
                                                                 "visibility": visibility}), 201)
    return {"wo": wo, "site": site, "cust": cust, "tech": tech}


def _track_token(server: Server, wo: dict[str, Any]) -> str:
    now = datetime.now(UTC)
    claims = {"sub": wo["id"], "org": wo["org_id"], "aud": "track", "iat": int(now.timestamp()),
              "exp": int((now + timedelta(days=1)).timestamp())}
    return jwt.encode(claims, server.env["FIELDOPS_SECRET_KEY"], algorithm="HS256")


def _visit(page: Page, url: str, text: str | None = None) -> None:
    page.goto(url)
    page.wait_for_load_state("load")  # not "networkidle": the live-update stream stays open
    if text:
        page.get_by_text(text, exact=False).first.wait_for(timeout=10000)
    time.sleep(0.3)  # give an injected handler (onerror, onload) the chance to run
    assert page.evaluate("() => window.__xss === undefined")


def test_stored_payloads_never_execute(open_context: Any, server: Server) -> None:
    seeded = _seed(server)
    wo = seeded["wo"]
    sink: dict[str, list[str]] = {"dialogs": [], "csp": []}
    start = time.monotonic()

    staff = open_context("en")
    page = staff.new_page()
    _watch(staff, page, sink)
    login(page, "dispatcher@demo.fieldops.local", "en")
    _visit(page, "/console", None)
    time.sleep(1.0)
    _visit(page, f"/console/orders/{wo['id']}", "svg onload")
    page.click("#tab-comments")
    page.locator("[data-test=comment-body]").first.wait_for(timeout=10000)
    assert page.get_by_text("internal <img", exact=False).count() >= 1  # shown as text, not markup
    time.sleep(0.3)
    assert page.locator("img[src=x]").count() == 0 and page.locator("svg[onload]").count() == 0
    assert page.locator("iframe").count() == 0

    phone = open_context("en", phone=True)
    tpage = phone.new_page()
    _watch(phone, tpage, sink)
    login(tpage, TECH, "en")
    _visit(tpage, "/tech", "svg onload")
    _visit(tpage, f"/tech/jobs/{wo['id']}", "svg onload")

    portal = open_context("en")
    ppage = portal.new_page()
    _watch(portal, ppage, sink)
    login(ppage, CUSTOMER_LOGIN, "en", password=CUSTOMER_PASSWORD)
    _visit(ppage, "/portal", "svg onload")
    _visit(ppage, f"/portal/orders/{wo['id']}", "svg onload")
    assert ppage.get_by_text("internal <img", exact=False).count() == 0  # internal comments stay internal

    public = open_context("en")
    kpage = public.new_page()
    _watch(public, kpage, sink)
    _visit(kpage, f"/track/{_track_token(server, wo)}", None)

    for p in (page, tpage, ppage, kpage):
        assert p.locator("img[onerror], svg[onload], iframe[src^='javascript']").count() == 0
    problems = [*staff.problems, *phone.problems, *portal.problems, *public.problems]  # type: ignore[attr-defined]
    assert not sink["dialogs"], f"a payload executed: {sink['dialogs']}"
    assert not sink["csp"], f"CSP violations: {sink['csp'][:5]}"
    assert not problems, problems
    print(f"\nxss: {len(PAYLOADS)} payloads in ~12 fields, 7 screens, {time.monotonic() - start:.1f}s")
