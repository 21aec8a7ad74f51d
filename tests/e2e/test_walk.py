"""The whole life of a work order through the web app, in Chinese and in English:

a dispatcher creates it and assigns it (by drag and drop in one language, with the assign dialog in the
other); the technician, on a phone, accepts, goes en route while offline (the change waits in the
offline queue and is sent when the connection returns), checks in with the phone's position, starts,
fills the checklist, takes the required photos, records a part, has the customer sign and completes;
the customer confirms and rates it and opens the printable report; the dispatcher closes it and sees
the closed order and its timeline.
"""

from __future__ import annotations

import re
import shutil
import struct
import zlib
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import E2E, ROOT, login

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = E2E

TEXT = {
    "zh-CN": {
        "awaiting": "待验收",
        "completed": "已完成",
        "closed": "已关闭",
        "en_route": "在途",
        "signed": "已签名",
        "plumbing": "水管漏水",
        "yes": "是",
    },
    "en": {
        "awaiting": "Awaiting acceptance",
        "completed": "Completed",
        "closed": "Closed",
        "en_route": "En route",
        "signed": "Signed",
        "plumbing": "Plumbing leak",
        "yes": "Yes",
    },
}
CUSTOMER = "Beacon Street Condominium Association"  # customer8, one site: 325 Beacon St
SITE = (42.3526, -71.0823)
TECH_NAME = "Carlos Rivera"  # tech3, a plumber
TECH_LOGIN = "tech3@demo.fieldops.local"


def png(rgb: tuple[int, int, int], size: int = 16) -> bytes:
    """A small valid PNG of one colour (a stand-in for a camera photo)."""
    raw = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def pick_option(page: Page, text: str) -> None:
    """Click an option in the open Element Plus dropdown."""
    options = page.locator(".el-select-dropdown__item:visible, .el-tree-node__content:visible")
    options.filter(has_text=text).first.click()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_work_order_walk(lang: str, open_context, shots, server) -> None:
    tx = TEXT[lang]
    tag = "zh" if lang == "zh-CN" else "en"

    # ---- dispatcher: create -------------------------------------------------------------------------
    desk_ctx = open_context(lang)
    desk = desk_ctx.new_page()
    login(desk, "dispatcher@demo.fieldops.local", lang)
    desk.wait_for_selector("[data-test=wo-table] .el-table__row")
    # jobs on the map although there are no tiles (canvas circles: the map reports how many it drew)
    desk.wait_for_selector("[data-test=jobs-map]:not([data-jobs='0'])")
    desk.wait_for_selector(".fo-tech-marker")
    shots(desk, f"{tag}-01-console")

    desk.goto("/console/orders/new")
    desk.click("[data-test=customer-select]")
    desk.locator("[data-test=customer-select] input").fill("Beacon Street Condo")
    pick_option(desk, CUSTOMER)
    desk.wait_for_function("() => !document.querySelector('[data-test=site-select]').classList.contains('is-disabled')")
    desk.wait_for_selector("[data-test=site-select] .el-select__selected-item:not(.is-hidden) >> text=325 Beacon St")
    desk.click("[data-test=service-type-select]")
    pick_option(desk, tx["plumbing"])
    desk.fill("[data-test=description-input]", f"e2e {lang}: leak under the kitchen sink")
    desk.locator("[data-test=priority-input] label").filter(has_text="P1").click()
    shots(desk, f"{tag}-02-new-order", full_page=True)
    desk.click("[data-test=wo-submit]")
    desk.wait_for_url(re.compile(r"/console/orders/[0-9a-f-]{36}$"))
    wo_id = desk.url.rsplit("/", 1)[1]
    number = desk.locator("[data-test=wo-number]").inner_text().strip()
    assert number.startswith("WO-")

    # ---- dispatcher: assign (drag and drop in Chinese, the assign dialog in English) ----------------
    if lang == "zh-CN":
        desk.goto("/console")
        desk.fill("[data-test=filter-q]", number)
        desk.press("[data-test=filter-q]", "Enter")
        desk.wait_for_selector(f"[data-drag='{number}']")
        desk.click("#tab-techs")
        target = desk.locator(f'[data-test=tech-drop-list] [data-tech="{TECH_NAME}"]')
        desk.drag_and_drop(f"[data-drag='{number}']", f'[data-test=tech-drop-list] [data-tech="{TECH_NAME}"]')
        dialog = desk.locator("[data-test=action-dialog]:visible")
        dialog.wait_for()
        assert TECH_NAME in dialog.locator("[data-test=technician-select]").inner_text()
        dialog.locator("[data-test=reason-input]").fill("离现场最近")
        dialog.locator("[data-test=action-submit]").click()
        dialog.wait_for(state="hidden")
        assert target.is_visible()
        desk.goto(f"/console/orders/{wo_id}")
    else:
        desk.click("[data-action=assign]")
        dialog = desk.locator("[data-test=action-dialog]:visible")
        dialog.locator("[data-test=technician-select]").click()
        dialog.locator("[data-test=technician-select] input").fill("Carlos")
        pick_option(desk, TECH_NAME)
        dialog.locator("[data-test=reason-input]").fill("closest qualified technician")
        dialog.locator("[data-test=action-submit]").click()
        dialog.wait_for(state="hidden")
    desk.wait_for_selector(f"[data-test=wo-technician] >> text={TECH_NAME}")

    # ---- technician on a phone ----------------------------------------------------------------------
    tech_ctx = open_context(
        lang, phone=True, geolocation={"latitude": SITE[0] + 0.0002, "longitude": SITE[1]}, permissions=["geolocation"]
    )
    phone = tech_ctx.new_page()
    login(phone, TECH_LOGIN, lang)
    card = phone.locator(f"[data-test=tech-job-card][data-number='{number}']")
    card.wait_for()
    shots(phone, f"{tag}-03-technician-today")
    card.click()
    phone.click("[data-test=tech-accept]")
    phone.wait_for_selector("[data-test=tech-depart]")

    # En route while offline: queued with its Idempotency-Key, sent when the connection returns. The
    # phone even reloads offline: the service worker serves the app, the job and the queue are on the phone.
    assert phone.evaluate("() => navigator.serviceWorker.ready.then(() => caches.has('fieldops-app-v1'))")
    tech_ctx.set_offline(True)
    phone.click("[data-test=tech-depart]")
    phone.wait_for_selector("[data-test=queue-banner]")
    phone.wait_for_selector(f"[data-test=job-status] >> text={tx['en_route']}")
    phone.reload()
    phone.wait_for_selector(f"[data-test=job-number] >> text={number}")
    phone.wait_for_selector("[data-test=queue-banner]")
    phone.wait_for_selector(f"[data-test=job-status] >> text={tx['en_route']}")
    shots(phone, f"{tag}-04-technician-offline")
    tech_ctx.set_offline(False)
    phone.wait_for_selector("[data-test=queue-banner]", state="detached", timeout=30000)

    phone.click("[data-test=tech-checkin]")  # the phone's position (granted above)
    phone.click("[data-test=tech-start]")
    form = phone.locator("[data-test=completion-form]")
    form.wait_for()
    for item in form.locator(".fo-check").all():
        if item.locator(".el-radio-group").count():
            item.locator("label").filter(has_text=tx["yes"]).first.click()
        else:
            item.locator(".el-select").click()
            phone.locator(".el-select-dropdown__item:visible").first.click()
    for label, colour in (("before", (160, 90, 60)), ("after", (60, 140, 90))):
        phone.set_input_files(
            f"[data-test=photo-{label}]",
            files=[{"name": f"{label}.png", "mimeType": "image/png", "buffer": png(colour)}],
        )
        phone.wait_for_selector(f".fo-photo-btn.done[data-label={label}]")
    phone.click("[data-test=add-part]")
    phone.fill("[data-test=part-name-0]", "Braided supply line 20 in")
    phone.fill("[data-test=summary]", "Replaced the corroded supply line; pressure test passed.")
    canvas = phone.locator("[data-test=signature-canvas]")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None
    for dy in (0.35, 0.6):
        phone.mouse.move(box["x"] + box["width"] * 0.15, box["y"] + box["height"] * dy)
        phone.mouse.down()
        for step in range(1, 13):
            phone.mouse.move(
                box["x"] + box["width"] * (0.15 + step * 0.06),
                box["y"] + box["height"] * (dy + (0.12 if step % 2 else -0.1)),
            )
        phone.mouse.up()
    phone.wait_for_selector(f".fo-sign >> text={tx['signed']}")
    shots(phone, f"{tag}-05-technician-job", full_page=True)
    form.scroll_into_view_if_needed()
    phone.evaluate("() => window.scrollTo(0, 0)")
    shots(phone, f"{tag}-05-technician-job-top")
    phone.click("[data-test=tech-complete]")
    phone.wait_for_selector(f"[data-test=job-status] >> text={tx['awaiting']}")
    assert not tech_ctx.problems, tech_ctx.problems

    # ---- customer confirms and rates ----------------------------------------------------------------
    cust_ctx = open_context(lang)
    cust = cust_ctx.new_page()
    login(cust, "customer8@demo.fieldops.local", lang)
    cust.click(f"[data-test=portal-order][data-number='{number}']")
    cust.wait_for_selector(f"[data-test=wo-status] >> text={tx['awaiting']}")
    cust.wait_for_selector(f"[data-test=portal-technician] >> text={TECH_NAME}")
    shots(cust, f"{tag}-06-customer-order", full_page=True)
    cust.click("[data-action=confirm]")
    dialog = cust.locator("[data-test=action-dialog]:visible")
    dialog.locator("[data-test=rate-quality] .el-rate__item").nth(3).click()
    dialog.locator("[data-test=rate-speed] .el-rate__item").nth(3).click()
    dialog.locator("[data-test=rating-comment]").fill("Quick and tidy.")
    dialog.locator("[data-test=action-submit]").click()
    cust.wait_for_selector(f"[data-test=wo-status] >> text={tx['completed']}")

    cust.goto(f"/report/{wo_id}")
    report = cust.locator("[data-test=service-report]")
    report.wait_for()
    cust.wait_for_selector("[data-test=signature] img")
    cust.wait_for_function(
        "() => document.querySelectorAll('[data-test=service-report] .fo-print-photos img').length === 2"
    )
    assert "Braided supply line" in report.inner_text()
    cust.emulate_media(media="print")
    shots(cust, f"{tag}-07-service-report", full_page=True)
    pdf = cust.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    (ROOT / "test-artifacts" / f"{tag}-service-report.pdf").write_bytes(pdf)
    assert not cust_ctx.problems, cust_ctx.problems

    # ---- dispatcher closes and reads the timeline ---------------------------------------------------
    desk.reload()
    desk.click("[data-action=close]")
    desk.click(".el-message-box__btns .el-button--primary")
    desk.wait_for_selector(f"[data-test=wo-status] >> text={tx['closed']}")
    desk.wait_for_selector("[data-test=no-actions], [data-action=reopen]")
    timeline = desk.locator("[data-test=audit-timeline]")
    timeline.locator("[data-action='close']").wait_for()
    for action in ("create", "assign", "accept", "depart", "check-in", "start", "complete", "confirm", "close"):
        assert timeline.locator(f"[data-action='{action}']").count() >= 1, action
    desk.locator("[data-test=wo-rating]").wait_for()
    shots(desk, f"{tag}-08-closed-order", full_page=True)
    assert not desk_ctx.problems, desk_ctx.problems

    if lang == "en":  # the README's pictures
        docs = ROOT / "docs" / "screenshots"
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "test-artifacts" / "screenshots" / "en-01-console.png", docs / "console.png")
        shutil.copy(ROOT / "test-artifacts" / "screenshots" / "en-05-technician-job-top.png", docs / "technician.png")
