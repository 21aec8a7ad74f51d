"""The SLA promise, watched live: a P0 work order with a 30-second response target is created and nobody
acts on it. The dispatcher's console — opened before, never refreshed — shows the warning, the breach and the
escalation as they happen, the list's SLA badge turns late, the bell counts the in-app messages, and the
e-mail of the breach reaches the dispatcher's mailbox.

Real time (the server and worker run on the wall clock), so the policy's target is short: 0.5 minutes,
warnings at 20 % and 50 %, the breach at 100 %, one escalation 0.1 minute after it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx

from tests.e2e.conftest import E2E, PASSWORD, login

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = E2E

DISPATCHER = "dispatcher@demo.fieldops.local"


def api(server: Any, username: str) -> httpx.Client:
    client = httpx.Client(base_url=f"{server.url}/api/v1", timeout=10)
    r = client.post("/auth/login", json={"username": username, "password": PASSWORD})
    r.raise_for_status()
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return client


RECORD = """() => {
  // Toasts of warnings fade after a few seconds: remember every alert that was ever shown.
  window.__alerts = []
  new MutationObserver(() => {
    for (const e of document.querySelectorAll('[data-test=live-alert]'))
      if (!e.dataset.seen) { e.dataset.seen = '1'; window.__alerts.push(e.dataset.type) }
  }).observe(document.body, { childList: true, subtree: true })
}"""


def wait_alert(page: Page, kind: str, timeout: int) -> None:
    page.wait_for_function("k => window.__alerts.includes(k)", arg=kind, timeout=timeout)


def test_sla_escalation_arrives_live(open_context, server, worker, shots) -> None:
    admin = api(server, "admin@demo.fieldops.local")
    calendar = next(c for c in admin.get("/sla/calendars").json()["items"] if c["always_open"])
    stype = admin.get("/service-types", params={"limit": 1}).json()["items"][0]
    desk = {"dispatchers": True}
    policy = admin.post("/sla/policies", json={
        "name": "E2E fast P0", "calendar_id": calendar["id"], "rank": 100, "priorities": ["P0"],
        "service_type_ids": [stype["id"]],
        "targets": {"response": {"minutes": 0.5}},
        "ladder": [
            {"name": "20 %", "color": "#eab308", "percent": 20, "recipients": desk, "channels": ["in_app"]},
            {"name": "50 %", "color": "#f97316", "percent": 50, "recipients": desk, "channels": ["in_app"]},
            {"name": "Breach", "color": "#dc2626", "percent": 100, "recipients": desk, "channels": ["in_app", "email"]},
            {"name": "Escalated", "color": "#111827", "offset_minutes": 0.1, "recipients": {"roles": ["supervisor"]},
             "channels": ["in_app"]},
        ],
    })
    assert policy.status_code == 201, policy.text

    ctx = open_context("en")
    page = ctx.new_page()
    login(page, DISPATCHER, "en")
    page.goto("/console")
    page.wait_for_selector("[data-test=live-indicator].on", timeout=15000)
    bell_before = page.inner_text("[data-test=bell-count]").strip()
    page.evaluate(RECORD)

    customer = admin.get("/customers", params={"limit": 1}).json()["items"][0]
    site = admin.get("/sites", params={"customer_id": customer["id"], "limit": 1}).json()["items"][0]
    agent = api(server, "agent@demo.fieldops.local")
    created = agent.post("/work-orders", json={
        "customer_id": customer["id"], "site_id": site["id"], "service_type_id": stype["id"], "priority": "P0",
        "title": "E2E: nobody answers", "description": "The SLA clock runs out while everyone waits.",
    })
    assert created.status_code == 201, created.text
    wo = created.json()
    started = time.monotonic()

    # Nobody accepts it. The alerts arrive on their own, in order, without a reload.
    wait_alert(page, "sla.warning", 30000)
    wait_alert(page, "sla.breached", 45000)
    breached_after = time.monotonic() - started
    wait_alert(page, "sla.escalated", 30000)
    seen = page.evaluate("() => window.__alerts")
    assert seen.index("sla.warning") < seen.index("sla.breached") < seen.index("sla.escalated")
    assert breached_after >= 25, "the breach cannot come before the 30-second target"

    # The list's badge for this order turns late, and the bell counted the in-app messages.
    row = page.locator("tr", has_text=wo["number"])
    row.locator("[data-test=sla-badge][data-tone=late]").wait_for(timeout=15000)
    page.wait_for_function("b => document.querySelector('[data-test=bell-count]').innerText.trim() !== b",
                           arg=bell_before, timeout=10000)
    shots(page, "sla-live-console-en")

    # The order's SLA tab: the response clock breached, each level fired once.
    sla = admin.get(f"/work-orders/{wo['id']}/sla").json()
    response = next(c for c in sla["clocks"] if c["target"] == "response" and not c["replaced"])
    assert response["breached"] is True
    fired = [e["name"] for e in response["escalations"]]
    assert sorted(fired) == sorted(["20 %", "50 %", "Breach", "Escalated"])

    # The breach went out by e-mail too (the local mailbox stands in for SMTP here).
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        mails = [m for m in server.mailbox() if m.get("channel") == "email" and wo["number"] in m.get("subject", "")
                 + m.get("body", "")]
        if mails:
            break
        time.sleep(0.5)
    assert mails, "the breach e-mail was not delivered"
