"""The SLA and notification admin screens: a business calendar with China's holidays checked over the National
Day week before it is saved, a policy with a three-level escalation ladder previewed and saved, and the
notification channels and delivery log."""

from __future__ import annotations

from tests.e2e.conftest import E2E, login, set_locale

pytestmark = E2E

ADMIN = "admin@demo.fieldops.local"
# China 2026 (the `holidays` package, as the server computes it): National Day 10-01..10-07 off (10-04 is a
# Sunday anyway), with 09-20 (Sun) and 10-10 (Sat) as make-up working days. Two business hours from Wednesday
# 2026-09-30 17:00 are 1 h that evening + 1 h on the next working day, Thursday 2026-10-08, from 09:00.
EXPECTED_DEADLINE = "2026-10-08 10:00"


def pick(page, select_test_id: str, option: str) -> None:
    """Open an Element Plus select and click one of its options."""
    page.click(f"[data-test={select_test_id}]")
    page.locator(".el-select-dropdown__item:visible").filter(has_text=option).first.click()


def test_sla_and_notification_admin(open_context, shots) -> None:
    context = open_context("zh-CN")
    page = context.new_page()
    login(page, ADMIN, "zh-CN")
    page.goto("/console/admin/sla")
    page.wait_for_selector("[data-test=sla-tabs]")

    # ---- a calendar: Mon-Fri 09:00-18:00 (the default of a new one), Asia/Shanghai, China's holidays ----
    page.click("[data-test=calendar-create]")
    editor = page.locator("[data-test=calendar-editor]")
    editor.locator("[data-test=calendar-name]").fill("上海工作日")
    pick(page, "calendar-timezone", "Asia/Shanghai")
    pick(page, "calendar-country", "CN")
    assert editor.locator("[data-test=hours-mon] [data-test=interval]").count() == 1
    assert editor.locator("[data-test=hours-sat] [data-test=interval]").count() == 0
    year = editor.locator("[data-test=holiday-year] input")
    year.fill("2026")
    year.press("Enter")
    holidays = editor.locator("[data-test=holiday-list]")
    holidays.locator("[data-kind=workday]", has_text="2026-10-10").wait_for()
    assert holidays.locator("[data-kind=holiday]", has_text="2026-10-01").count() == 1

    # Check before saving: 2 business hours from 2026-09-30 17:00 over the National Day holiday.
    editor.locator("[data-test=check-start]").fill("2026-09-30T17:00")
    editor.locator("[data-test=check-run]").click()
    deadline = editor.locator("[data-test=check-deadline]")
    deadline.wait_for()
    assert deadline.inner_text().strip() == EXPECTED_DEADLINE
    assert editor.locator("[data-test=check-result]").inner_text().count("Asia/Shanghai") == 1
    shots(page, "admin-sla-calendar-zh")
    editor.locator("[data-test=calendar-save]").click()
    page.locator("[data-test=calendars-table]", has_text="上海工作日").wait_for()

    # ---- a policy with a three-level ladder, previewed before it is saved ----
    page.click("#tab-policies")
    page.click("[data-test=policy-create]")
    policy = page.locator("[data-test=policy-editor]")
    policy.locator("[data-test=policy-name]").fill("标准工单 SLA")
    pick(page, "policy-calendar", "上海工作日")
    ladder = policy.locator("[data-test=ladder-table] .el-table__body tr")
    assert ladder.count() == 3  # warning 80 %, breach 100 %, escalation +60 min
    policy.locator("[data-test=level-add]").click()
    assert ladder.count() == 4
    ladder.nth(3).locator("[data-test=level-remove]").click()
    assert ladder.count() == 3
    ladder.nth(0).locator("[data-test=level-name]").fill("黄色预警")

    policy.locator("[data-test=preview-start]").fill("2026-09-30T17:00")
    policy.locator("[data-test=preview-run]").click()
    result = policy.locator("[data-test=preview-result]")
    result.wait_for()
    assert result.locator("[data-test=preview-deadline-response]").inner_text().startswith(EXPECTED_DEADLINE)
    # Response (2 h) and resolution (2 business days): each with its three levels.
    assert result.locator("[data-test=preview-fire]").count() == 6
    assert "黄色预警" in result.inner_text()
    result.scroll_into_view_if_needed()
    shots(page, "admin-sla-zh")
    policy.locator("[data-test=policy-save]").click()
    page.locator("[data-test=policies-table]", has_text="标准工单 SLA").wait_for()

    # ---- notifications, in English: the channels and the delivery log ----
    set_locale(page, "en")
    page.goto("/console/admin/notifications")
    for channel in ("email", "sms", "wecom", "dingtalk", "webhook"):
        page.locator(f"[data-test=channel-{channel}]").wait_for()
    assert page.locator("[data-test=channel-email] [data-test=channel-mode]").inner_text().strip()
    shots(page, "admin-notifications-en")
    page.click("#tab-deliveries")
    page.locator("[data-test=deliveries-table]").wait_for()
    shots(page, "admin-notifications-deliveries-en")
    assert page.locator("[data-test=error-state]").count() == 0
    assert not context.problems, context.problems
