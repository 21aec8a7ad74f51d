"""The other screens: sign-in and password reset, customer sign-up, booking with the server's validation
messages next to the fields, the technician's one-tap exception report reaching the dispatcher's alerts,
the admin screens, and what a missing record looks like. Each takes screenshots for review."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import E2E, PASSWORD, Server, login, set_locale

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = E2E


def wait_for_code(server: Server, recipient: str, timeout: float = 20) -> str:
    """The 6-digit code the worker delivered to the development mailbox."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in reversed(server.mailbox()):
            if msg.get("to") == recipient:
                found = re.search(r"\b(\d{6})\b", msg.get("body", ""))
                if found:
                    return found.group(1)
        time.sleep(0.3)
    raise AssertionError(f"no code for {recipient} in {server.data_dir / 'mailbox.jsonl'}")


def no_error_state(page: Page) -> None:
    assert page.locator("[data-test=error-state]").count() == 0, page.locator("[data-test=error-state]").inner_text()


def test_password_reset(open_context, shots, server, worker) -> None:
    page = open_context("zh-CN").new_page()
    page.goto("/login")
    page.wait_for_selector("text=密码规则")  # the rules come from GET /auth/password-policy
    shots(page, "zh-login")
    page.fill("[data-test=username]", "customer50@demo.fieldops.local")
    page.fill("[data-test=password]", "wrong-password-1!")
    page.click("[data-test=login-submit]")
    error = page.locator("[data-test=login-error]")
    error.wait_for()
    assert re.search(r"[\u4e00-\u9fff]", error.inner_text()), "the server's message, in Chinese"

    page.click("[data-test=forgot]")
    page.fill("[data-test=reset-username]", "customer50@demo.fieldops.local")
    page.click("[data-test=reset-request]")
    code = wait_for_code(server, "customer50@demo.fieldops.local")
    page.fill("[data-test=reset-code]", code)
    page.fill("[data-test=reset-password]", "short")
    page.fill("[data-test=reset-password2]", "short")
    page.click("[data-test=reset-confirm]")
    page.wait_for_selector(".el-alert--error")  # the password policy, as the server words it
    shots(page, "zh-reset-password")
    new_password = "Reset-pass-2026!x"
    page.fill("[data-test=reset-password]", new_password)
    page.fill("[data-test=reset-password2]", new_password)
    page.click("[data-test=reset-confirm]")
    page.wait_for_selector(".el-result")
    login(page, "customer50@demo.fieldops.local", "en", password=new_password)
    page.wait_for_url(re.compile(r"/portal$"))


def test_customer_signup_and_booking(open_context, shots, server, worker) -> None:
    page = open_context("en").new_page()
    page.goto("/signup")
    email = "new.customer@example.test"
    page.fill("[data-test=signup-username]", email)
    page.click("[data-test=signup-request]")
    code = wait_for_code(server, email)
    page.fill("[data-test=signup-code]", code)
    page.fill("[data-test=signup-name]", "Nora New")
    page.fill("[data-test=signup-password]", "Signup-pass-2026!")
    page.fill("[data-test=signup-address]", "1 City Hall Sq, Boston MA 02201")
    pin = page.locator("[data-test=pin-map]")
    pin.click(position={"x": 200, "y": 100})
    shots(page, "en-signup", full_page=True)
    page.click("[data-test=signup-confirm]")
    page.wait_for_url(re.compile(r"/portal$"))
    page.wait_for_selector("[data-test=empty-state]")
    shots(page, "en-portal-empty")

    # Booking: a phone number longer than the server allows comes back as a message next to its field.
    page.click("[data-test=book-button]")
    page.wait_for_selector("[data-test=site-select] >> text=1 City Hall Sq")
    page.click("[data-test=service-type-select]")
    page.locator(".el-tree-node__content:visible").filter(has_text="Street light outage").first.click()
    page.fill("[data-test=description-input]", "The light outside has been out for two nights.")
    phone_field = page.locator(".el-form-item").filter(has_text="Contact phone")
    phone_field.locator("input").fill("+1 617 555 0000 extension 1234567890")
    page.click("[data-test=wo-submit]")
    phone_field.locator(".el-form-item__error").wait_for()
    assert page.locator("[data-test=form-error]").is_visible()
    shots(page, "en-portal-book-error", full_page=True)
    phone_field.locator("input").fill("+1 617 555 0000")
    page.click("[data-test=wo-submit]")
    page.wait_for_url(re.compile(r"/portal/orders/[0-9a-f-]{36}$"))
    page.wait_for_selector("[data-test=progress]")
    shots(page, "en-portal-booked", full_page=True)


def test_exception_report_reaches_alerts(open_context, shots, server) -> None:
    phone = open_context("zh-CN", phone=True).new_page()
    login(phone, "tech2@demo.fieldops.local", "zh-CN")
    phone.locator("[data-test=tech-job-card]").first.click()
    phone.click("[data-test=tech-report]")
    drawer = phone.locator("[data-test=report-drawer]")
    drawer.locator("[data-kind=material_shortage]").click()
    drawer.locator("[data-test=report-note]").fill("缺少 3/4 寸球阀")
    shots(phone, "zh-technician-report")
    drawer.locator("[data-test=report-send]").click()
    phone.wait_for_selector(".el-message--success")

    desk = open_context("zh-CN").new_page()
    login(desk, "dispatcher@demo.fieldops.local", "zh-CN")
    desk.click("#tab-alerts")
    alert = desk.locator("[data-test=alerts-panel] [data-kind=material_shortage]").filter(has_text="3/4")
    alert.wait_for()
    assert "材料短缺" in alert.inner_text()
    desk.click("#tab-stats")
    desk.wait_for_selector("[data-test=chart-status] svg")
    shots(desk, "zh-console-stats")
    desk.click("#tab-alerts")
    shots(desk, "zh-console-alerts")
    alert.locator("button").filter(has_text="处理").click()
    desk.fill(".el-message-box__input input", "已从仓库调货")
    desk.click(".el-message-box__btns .el-button--primary")
    alert.wait_for(state="detached")


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_admin_screens(lang: str, open_context, shots) -> None:
    tag = "zh" if lang == "zh-CN" else "en"
    page = open_context(lang).new_page()
    login(page, "admin@demo.fieldops.local", lang)
    for path, name, ready in (
        ("/console/admin/users", "users", "[data-test=users-table] .el-table__row"),
        ("/console/admin/technicians", "technicians", "[data-test=techs-table] .el-table__row"),
        ("/console/admin/service-types", "service-types", "[data-test=stype-tree] .el-tree-node"),
        ("/console/admin/org", "org", "[data-test=org-form]"),
    ):
        page.goto(path)
        page.wait_for_selector(ready)
        no_error_state(page)
        shots(page, f"{tag}-admin-{name}", full_page=True)
    page.goto("/console/admin/technicians")
    page.locator("[data-test=techs-table] .el-table__row").first.click()
    page.wait_for_selector(".el-drawer .el-tabs")
    page.locator(".el-drawer .el-tabs__item").nth(3).click()  # shifts
    shots(page, f"{tag}-admin-technician-shifts")
    page.goto("/console/admin/service-types")
    page.locator("[data-test=stype-tree] .el-tree-node__content").nth(1).click()
    page.wait_for_timeout(500)
    shots(page, f"{tag}-admin-service-type", full_page=True)


def test_missing_record_and_language_switch(open_context, shots) -> None:
    page = open_context("en").new_page()
    login(page, "dispatcher@demo.fieldops.local", "en")
    page.goto("/console/orders/00000000-0000-4000-8000-000000000000")
    state = page.locator("[data-test=error-state]")
    state.wait_for()
    assert "{" not in state.inner_text()  # the server's sentence, never raw JSON
    english = state.inner_text()
    set_locale(page, "zh-CN")
    page.reload()
    state.wait_for()
    assert state.inner_text() != english and re.search(r"[\u4e00-\u9fff]", state.inner_text())
    shots(page, "zh-not-found")
    # The choice is remembered for the user: a fresh sign-in elsewhere comes back in Chinese.
    other = open_context("en").new_page()
    other.goto("/login")
    other.fill("[data-test=username]", "dispatcher@demo.fieldops.local")
    other.fill("[data-test=password]", PASSWORD)
    other.click("[data-test=login-submit]")
    other.wait_for_function("() => document.documentElement.lang === 'zh-CN'")


def test_expired_access_token_is_refreshed(open_context) -> None:
    """A stale access token is swapped through /auth/refresh without sending the user back to sign in."""
    page = open_context("en").new_page()
    login(page, "agent@demo.fieldops.local", "en")
    page.evaluate(
        """() => {
          const t = JSON.parse(localStorage.getItem('fieldops.tokens'))
          localStorage.setItem('fieldops.tokens', JSON.stringify({ ...t, access: 'expired.' + t.access }))
        }"""
    )
    with page.expect_response(lambda r: r.url.endswith("/api/v1/auth/refresh") and r.status == 200):
        page.goto("/console")
    page.wait_for_selector("[data-test=wo-table] .el-table__row")
    assert "/login" not in page.url
