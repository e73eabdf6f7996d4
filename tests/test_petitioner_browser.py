"""The petitioner's page (网上信访) in headless Chromium, on the real ``petition dev``.

One ``petition dev`` (no demo) for the module, a process group of its own on free
ports and a temporary data folder. Chromium opens ``/petition`` at a phone's width
(375 px) and a petitioner does what a petitioner does:

- submits a petition to 疏附县信访局 through the form and reads the case id and the
  query code (查询码) off the page; the case is a Temporal workflow
  (``temporal workflow describe``) and ``petition show`` prints it;
- asks for a one-time code; the test reads it where the sender's record of it is, the
  ``petitioner_otp`` row of the outbox in ``events.db``; enters it and sees the stage
  in Chinese;
- after the staff have transferred, accepted, decided and delivered (``petition send``
  as the units do), refreshes, rates 满意 with the button, and sees the rating, which
  ``petition show`` then prints too.

Every request the page makes goes to this server: no CDN, no web fonts. Screenshots
go to ``test-artifacts/browser/petitioner-*.png``.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from tests.clistack import BIN, ROOT
from tests.devprocess import DevProcess, petition_dev
from tests.test_browser import CHROMIUM, SHOTS, _missing

TEMPORAL = BIN / "temporal"
UNIT = {"unit": "疏附县人力资源和社会保障局", "person": "王建国"}
OFFICE = {"unit": "疏附县信访局", "person": "阿依古丽·艾买提"}
OTP = re.compile(r"(?<!\d)(\d{6})(?!\d)")
QUERY_CODE = re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{1,4})+$")
PHONE = "13899887766"
NAME = "买买提·托合提"


class Dev(DevProcess):
    """``petition dev`` with what the petitioner test reads of it."""

    def send(self, case_id: str, command: str, data: dict[str, Any]) -> None:
        self.petition("send", case_id, command, "--data", json.dumps(data, ensure_ascii=False))

    @property
    def page(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}/petition"

    def otps(self, case_id: str) -> list[str]:
        """The one-time codes sent for the case, oldest first (the outbox's messages)."""
        with sqlite3.connect(self.data / "events.db") as conn:
            rows = conn.execute(
                "SELECT message FROM outbox WHERE case_id = ? AND kind = 'petitioner_otp'"
                " ORDER BY created_at",
                (case_id,),
            ).fetchall()
        return [m.group(1) for (message,) in rows if (m := OTP.search(message))]


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    if not CHROMIUM.exists():
        _missing("Chromium is missing")
    with petition_dev(tmp_path_factory.mktemp("petitioner") / "data", cls=Dev) as stack:
        yield stack


def test_a_petitioner_submits_tracks_and_rates(dev: Dev) -> None:
    try:
        from playwright.sync_api import Locator, expect, sync_playwright
    except ImportError:
        _missing("Playwright is missing")
    SHOTS.mkdir(parents=True, exist_ok=True)
    requested: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context = browser.new_context(
            viewport={"width": 375, "height": 812}, locale="zh-CN", is_mobile=True
        )
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("request", lambda r: requested.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))

        def box(name: str) -> Locator:  # a text field by its accessible name (its label)
            return page.get_by_role("textbox", name=name, exact=True)

        def choice(name: str) -> Locator:
            return page.get_by_role("combobox", name=name, exact=True)

        assert any(dev.page in line for line in dev.lines), "petition dev does not print the page"
        page.goto(dev.page)
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

        # ---- 我要信访: every field found by its accessible name (its label), as a
        # screen reader finds it
        page.locator("#office option[value='653121-xfj']").wait_for(state="attached")
        assert errors == []
        choice("信访工作机构").select_option(label="疏附县信访局")
        expect(page.locator("#office-place")).to_contain_text("喀什地区 > 疏附县")
        choice("乡镇 （可不选）").select_option(label="托克扎克镇")
        choice("信访事项类别").select_option(label="申诉求决")
        box("姓名").fill(NAME)
        box("手机号码").fill(PHONE)
        box("居民身份证号码 （选填）").fill("653121198506120032")
        box("通讯地址 （选填）").fill("喀什地区疏附县托克扎克镇阿亚格曼干村3组")
        box("信访请求").fill("请求支付拖欠的工资")
        box("事实").fill("本人在某建筑公司务工十个月，公司拒付工资。")
        box("理由").fill("依据《保障农民工工资支付条例》。")
        page.screenshot(path=SHOTS / "petitioner-1-form.png", full_page=True)
        page.get_by_role("button", name="提交信访事项").click()
        result = page.locator("#submit-result")
        expect(result).to_contain_text("信访事项已提交")
        case_id = page.locator("#case-id").inner_text().strip()
        query_code = page.locator("#query-code-shown").inner_text().strip()
        assert re.fullmatch(r"WS-\d{8}-[0-9A-F]{8}", case_id), case_id
        assert QUERY_CODE.fullmatch(query_code), query_code
        # the code is in the live region, with the instruction to keep it
        assert query_code in result.inner_text() and "保存" in result.inner_text()
        assert page.locator("#submit-result[aria-live='polite']").count() == 1
        result.screenshot(path=SHOTS / "petitioner-2-submitted.png")

        # the case is a Temporal workflow, and petition show prints it
        described = dev.run(
            str(TEMPORAL), "workflow", "describe", "-w", f"petition-{case_id}",
            "--address", dev.env["TEMPORAL_ADDRESS"], "-o", "json",
        )  # fmt: skip
        assert described.returncode == 0, described.stderr
        assert json.loads(described.stdout)["workflowExecutionInfo"]["execution"]["workflowId"] == (
            f"petition-{case_id}"
        )
        shown = dev.petition("show", case_id, "--json")
        state = json.loads(shown.stdout)
        assert state["registered_by"] == "疏附县信访局" and state["stage"] == "registered"
        assert state["intake"]["jurisdiction"]["township"] == "托克扎克镇"

        # ---- 查询进度: a wrong one-time code is refused in words, the right one opens it
        page.get_by_role("button", name="用此查询码查询进度").click()
        expect(box("查询码")).to_have_value(query_code)
        page.get_by_role("button", name="获取验证码").click()
        expect(page.locator("#track-status")).to_contain_text("验证码已发送")
        [otp] = dev.otps(case_id)
        box("验证码").fill("000000" if otp != "000000" else "111111")
        page.get_by_role("button", name="查询", exact=True).click()
        alert = page.locator("#track-error[role='alert']")
        expect(alert).to_contain_text("查询码或验证码不正确")
        box("验证码").fill(otp)
        page.keyboard.press("Enter")  # the keyboard submits the form
        view = page.locator("#case-view")
        expect(view).to_contain_text("已登记，待转送")
        expect(alert).to_be_empty()
        assert case_id in view.inner_text()
        assert NAME not in page.locator("#track").inner_text()
        assert PHONE not in page.locator("#track").inner_text()
        expect(page.get_by_role("button", name="满意", exact=True)).to_be_hidden()
        page.locator("#track").screenshot(path=SHOTS / "petitioner-3-tracking.png")

        # ---- the staff: transfer, acknowledge, accept, decide, deliver
        decision = json.loads((ROOT / "examples" / "decision.json").read_text(encoding="utf-8"))
        transfer = json.loads((ROOT / "examples" / "transfer.json").read_text(encoding="utf-8"))
        dev.send(case_id, "transfer_petition", {**transfer, "actor": OFFICE})
        dev.send(case_id, "acknowledge_receipt", {"actor": UNIT})
        dev.send(case_id, "accept_petition", {"actor": UNIT})
        dev.send(case_id, "issue_decision", decision)
        delivery = {"actor": UNIT, "document": "reply", "method": "online"}
        dev.send(case_id, "record_delivery", delivery)

        # ---- 评价与复查
        page.get_by_role("button", name="刷新").click()
        expect(view).to_contain_text("已书面答复")
        expect(view).to_contain_text("予以支持")
        expect(view).to_contain_text(decision["decision"])
        expect(page.get_by_label("申请复查的理由")).to_be_visible()
        rate = page.get_by_role("button", name="满意", exact=True)
        expect(rate).to_be_visible()
        page.locator("#evaluate").screenshot(path=SHOTS / "petitioner-4-replied.png")
        rate.focus()
        page.keyboard.press("Enter")
        expect(page.locator("#evaluate-status")).to_contain_text("您的评价：满意")
        expect(view.locator("[data-field='rating_label']")).to_have_text("满意")
        expect(view.locator("[data-field='status_label']")).to_have_text("已办结")
        # every label and value in Chinese (the case id aside): no "resolved", no "handling"
        fields = view.locator("#case-fields").inner_text().replace(case_id, "")
        assert not re.search(r"[A-Za-z]{3,}", fields), fields
        expect(rate).to_be_hidden()
        expect(page.locator("#evaluate-error")).to_be_empty()
        page.locator("#track").screenshot(path=SHOTS / "petitioner-5-rated.png")
        page.locator("#evaluate").screenshot(path=SHOTS / "petitioner-6-rated-evaluate.png")

        # a phone's width: nothing wider than the screen
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, width
        browser.close()

    assert errors == []
    shown = dev.petition("show", case_id)
    assert re.search(r"rating\W+satisfied", shown.stdout), shown.stdout
    assert json.loads(dev.petition("show", case_id, "--json").stdout)["rating"] == "satisfied"
    hosts = {urllib.parse.urlsplit(url).hostname for url in requested}
    assert requested and hosts == {"127.0.0.1"}, sorted(set(requested))


def test_the_page_has_a_label_for_every_input(dev: Dev) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is missing")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 375, "height": 812})
        page.goto(dev.page)
        page.locator("#office option[value='653121-xfj']").wait_for(state="attached")
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea')]
                 .filter(e => !(e.labels && e.labels.length))
                 .map(e => e.id || e.name)"""
        )
        external = page.evaluate(
            """() => [...document.querySelectorAll('[src], [href]')]
                 .map(e => e.getAttribute('src') || e.getAttribute('href'))
                 .filter(u => /^(https?:)?\\/\\//.test(u))"""
        )
        live = page.locator("[aria-live='polite']").count()
        alerts = page.locator("[role='alert']").count()
        notice = page.locator("#privacy-notice").inner_text()
        browser.close()
    assert unlabelled == [] and external == []
    assert live >= 2 and alerts >= 3
    assert "不显示任何其他当事人的信息" in notice


def test_a_dissatisfied_petitioner_requests_review_by_keyboard(dev: Dev) -> None:
    """What the first test leaves out: the office chosen with the arrow keys, Tab to
    each button and Enter; the petitioner's window (需要您注意的期限) once the reply is
    delivered; 不满意, and a review request from the page."""
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _missing("Playwright is missing")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(locale="zh-CN")
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(dev.page)
        page.locator("#office option[value='653121-xfj']").wait_for(state="attached")

        def focused() -> str:
            return str(page.evaluate("document.activeElement.id"))

        def type_into(name: str, text: str) -> None:
            page.get_by_role("textbox", name=name, exact=True).focus()
            page.keyboard.type(text)

        office = page.get_by_role("combobox", name="信访工作机构", exact=True)
        assert office.input_value() == ""  # nobody chose for the petitioner
        office.focus()
        for _ in range(200):  # the directory's bureaus in place order: 疏附县 is far down
            if office.input_value() == "653121-xfj":
                break
            page.keyboard.press("ArrowDown")
        assert office.input_value() == "653121-xfj"
        page.keyboard.press("Tab")
        assert focused() == "township"
        page.get_by_role("combobox", name="信访事项类别", exact=True).select_option(
            label="申诉求决"
        )
        type_into("姓名", "阿依古丽·买买提")
        type_into("手机号码", "13755554444")
        type_into("信访请求", "请求补发拖欠的劳务费")
        type_into("事实", "本人在镇上工地做工三个月，工头未付劳务费。")
        type_into("理由", "依据《保障农民工工资支付条例》。")
        page.keyboard.press("Tab")  # from 理由 to the submit button
        assert focused() == "submit-button"
        page.keyboard.press("Enter")
        expect(page.locator("#submit-result")).to_contain_text("信访事项已提交")
        case_id = page.locator("#case-id").inner_text().strip()
        query_code = page.locator("#query-code-shown").inner_text().strip()
        state = json.loads(dev.petition("show", case_id, "--json").stdout)
        assert state["intake"]["jurisdiction"]["county"] == "疏附县"
        assert state["intake"]["channel"] == "online"

        def track(before: int) -> None:
            page.get_by_role("textbox", name="查询码", exact=True).fill(query_code)
            page.keyboard.press("Tab")
            assert focused() == "code-button"
            page.keyboard.press("Enter")
            expect(page.locator("#track-status")).to_contain_text("验证码已发送")
            deadline = time.monotonic() + 30
            while len(sent := dev.otps(case_id)) <= before:
                assert time.monotonic() < deadline, "no one-time code in the outbox"
                time.sleep(0.1)
            type_into("验证码", sent[-1])
            page.keyboard.press("Enter")

        track(before=0)
        view = page.locator("#case-view")
        expect(view).to_contain_text("已登记，待转送")
        expect(view.locator("[data-field='next_deadline']")).to_have_count(0)

        decision = json.loads((ROOT / "examples" / "decision.json").read_text(encoding="utf-8"))
        transfer = json.loads((ROOT / "examples" / "transfer.json").read_text(encoding="utf-8"))
        dev.send(case_id, "transfer_petition", {**transfer, "actor": OFFICE})
        dev.send(case_id, "acknowledge_receipt", {"actor": UNIT})
        dev.send(case_id, "accept_petition", {"actor": UNIT})
        dev.send(case_id, "issue_decision", decision)
        dev.send(
            case_id, "record_delivery", {"actor": UNIT, "document": "reply", "method": "online"}
        )

        page.get_by_role("button", name="刷新").focus()
        page.keyboard.press("Enter")
        expect(view).to_contain_text("已书面答复")
        window = view.locator("[data-field='next_deadline']")
        expect(window).to_have_text(
            re.compile(r"^(满意度评价期限|申请复查期限)：至\d{4}-\d{2}-\d{2}（含当日）$")
        )
        fields = view.locator("#case-fields").inner_text().replace(case_id, "")
        assert not re.search(r"[A-Za-z]{3,}", fields), fields
        page.get_by_role("button", name="不满意", exact=True).focus()
        page.keyboard.press("Enter")
        expect(page.locator("#evaluate-status")).to_contain_text("您的评价：不满意")
        type_into("申请复查的理由", "答复认定的事实不清楚")
        page.keyboard.press("Tab")  # from the reasons to its button
        assert focused() == "review-button"
        page.keyboard.press("Enter")
        expect(page.locator("#evaluate-status")).to_contain_text("复查申请已提交")
        expect(view.locator("[data-field='stage_label']")).to_have_text("复查中")
        page.screenshot(path=SHOTS / "petitioner-7-review.png", full_page=True)
        browser.close()

    assert errors == []
    state = json.loads(dev.petition("show", case_id, "--json").stdout)
    assert (state["rating"], state["stage"], state["review_level"]) == ("dissatisfied", "review", 1)
    assert state["review_unit"]["name"] == "喀什地区人力资源和社会保障局"
