"""Dispatching through the web app: the dispatcher auto-dispatches a new work order and reads the
explanation (score breakdown, alternatives, the technicians left out by reason), asks "why not" a
technician, opens the grab pool, and plans the day (time limit 1 s), then applies the plan.

The e2e server runs without the worker, so the plan is solved here by calling the worker's long job
(`run_queued_plans`) on the server's database. The module sorts after test_walk.py on purpose: applying a
day plan reshuffles the demo technicians' days, which the walk's hand assignment should not depend on.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tests.e2e.conftest import E2E, login

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = E2E

TECH_NAME = "Carlos Rivera"


def api_get(page: Page, url: str) -> Any:
    """GET an API URL with the signed-in user's token (from the app's storage)."""
    return page.evaluate(
        """async (url) => {
          const t = JSON.parse(localStorage.getItem('fieldops.tokens'))
          const r = await fetch(url, { headers: { Authorization: 'Bearer ' + t.access } })
          return await r.json()
        }""",
        url,
    )


def solve_queued_plans(server: Any, monkeypatch: Any) -> int:
    """What the worker does with a queued plan, run here against the server's database."""
    for key, value in server.env.items():
        if key.startswith("FIELDOPS_"):
            monkeypatch.setenv(key, value)
    from fieldops.core.clock import Clock
    from fieldops.core.db import Database
    from fieldops.dispatch.tasks import run_queued_plans
    from fieldops.settings import Settings

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    database = Database(settings.database_url)
    solved = 0
    while run_queued_plans(database, Clock(), settings):
        solved += 1
    return solved


def test_dispatch_explain_pool_and_plan(open_context, shots, server, monkeypatch) -> None:
    page = open_context("en").new_page()
    login(page, "dispatcher@demo.fieldops.local", "en")
    page.wait_for_selector("[data-test=wo-table] .el-table__row")

    # ---- a new work order: auto-dispatch now, then read the explanation ------------------------------
    new = api_get(page, "/api/v1/work-orders?status=new&limit=20&sort=created_at")["items"]
    assert new, "the demo data has new work orders"
    wo = new[0]
    page.goto(f"/console/orders/{wo['id']}")
    page.click("#tab-dispatch")
    panel = page.locator("[data-test=dispatch-panel]")
    panel.wait_for()
    with page.expect_response(lambda r: r.url.endswith("/dispatch") and r.request.method == "POST") as resp:
        panel.locator("[data-test=dispatch-now]").click()
    assert resp.value.status == 200, resp.value.text()
    decision = panel.locator("[data-test=dispatch-decision]").first
    decision.wait_for()
    # An explanation names a chosen technician with a score breakdown, or says who was left out and why.
    panel.locator("[data-test=dispatch-chosen], [data-test=dispatch-rejected]").first.wait_for()
    if panel.locator("[data-test=dispatch-chosen]").count():
        assert panel.locator("[data-test=score-breakdown] .fo-bar-row").count() > 0
    if panel.locator("[data-test=dispatch-rejected]").count():
        assert re.search(
            r"Missing skill|Missing certificate|Off shift|On leave|Other territory|Too far|Daily limit"
            r"|Blocked|Rejected|Cannot arrive|Inactive",
            panel.locator("[data-test=dispatch-rejected]").first.inner_text(),
        )

    # ---- why not Carlos? ------------------------------------------------------------------------------
    panel.locator("[data-test=why-not] [data-test=technician-select]").click()
    page.locator("[data-test=why-not] [data-test=technician-select] input").fill("Carlos")
    page.locator(".el-select-dropdown__item:visible").filter(has_text=TECH_NAME).first.click()
    result = panel.locator("[data-test=why-not-result] .el-alert")
    result.wait_for()
    text = result.inner_text()
    assert TECH_NAME in text and ("could take" in text or "cannot take" in text)
    shots(page, "en-dispatch-explanation", full_page=True)

    # ---- the grab pool in the console -----------------------------------------------------------------
    page.goto("/console")
    page.click("#tab-pool")
    page.locator("[data-test=grab-pool]").wait_for()
    page.wait_for_selector("[data-test=grab-pool] [data-test=pool-offer], [data-test=grab-pool] .el-empty")
    shots(page, "en-console-grab-pool")

    # ---- plan the day: 1 s, solved by the worker's job, then applied ---------------------------------
    page.click("[data-test=plan-open]")
    dialog = page.locator("[data-test=plan-dialog]")
    dialog.locator("[data-test=plan-form]").wait_for()
    # Tomorrow in the organisation's zone: the demo's jobs are spread over the coming days, and late in
    # the evening today has no time left to plan.
    zone = api_get(page, "/api/v1/organizations/current")["timezone"]
    tomorrow = (datetime.now(ZoneInfo(zone)) + timedelta(days=1)).date().isoformat()
    day = dialog.locator("[data-test=plan-day] input")
    day.fill(tomorrow)
    day.press("Enter")
    limit = dialog.locator("[data-test=plan-time-limit] input")
    limit.fill("1")
    limit.press("Tab")
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/dispatch/plans") and r.request.method == "POST"
    ) as resp:
        dialog.locator("[data-test=plan-run]").click()
    assert resp.value.status == 202, resp.value.text()
    body = resp.value.json()
    assert body["day"] == tomorrow and body["params"].get("time_limit_s") in (1, 1.0, None), body
    dialog.locator("[data-test=plan-progress]").wait_for()
    shots(page, "en-plan-progress")
    assert solve_queued_plans(server, monkeypatch) >= 1
    dialog.locator("[data-test=plan-result]").wait_for(timeout=30000)
    dialog.locator("[data-test=plan-compare] svg").wait_for()
    dialog.locator("[data-test=plan-routes] .fo-route").first.wait_for()
    page.wait_for_selector("[data-test=plan-dialog] path.fo-route")  # polylines on the map
    shots(page, "en-plan-result")
    with page.expect_response(lambda r: r.url.endswith("/apply") and r.request.method == "POST") as resp:
        dialog.locator("[data-test=plan-apply]").click()
    assert resp.value.status == 200, resp.value.text()
    page.wait_for_selector(".el-message--success")
    assert not page.context.problems  # type: ignore[attr-defined]


def test_dispatch_policy_and_plan_zh(open_context, shots) -> None:
    """The admin's dispatch policy form and the plan dialog, in Chinese (screenshots)."""
    page = open_context("zh-CN").new_page()
    login(page, "admin@demo.fieldops.local", "zh-CN")
    page.goto("/console/admin/dispatch-policy")
    page.wait_for_selector("[data-test=policy-form]")
    assert "派单策略" in page.inner_text("body")
    page.locator("[data-test=policy-speed] input").fill("32")
    page.locator("[data-test=policy-speed] input").press("Tab")
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/dispatch/policy") and r.request.method == "PUT"
    ) as resp:
        page.click("[data-test=policy-save]")
    assert resp.value.status == 200, resp.value.text()
    shots(page, "zh-admin-dispatch-policy", full_page=True)
    # A second save sends the new version back (If-Match).
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/dispatch/policy") and r.request.method == "PUT"
    ) as resp:
        page.click("[data-test=policy-save]")
    assert resp.value.status == 200, resp.value.text()
    assert not page.context.problems  # type: ignore[attr-defined]
