"""The petitioner's page in a real browser, on the real ``petition dev``.

Debian's Chromium through Playwright. A petition submitted through the page becomes
a workflow (``temporal workflow describe``) and a case ``petition show`` prints; the
petitioner reads the one-time code the outbox holds (as their phone would get it),
tracks the case, and once the reply is delivered rates it from the page. Every
request the page makes stays on this machine."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from testkit.processes import free_port
from tests.clistack import PETITION, ROOT
from tests.test_browser import CHROMIUM, SHOTS, _missing

TEMPORAL = PETITION.parent / "temporal"
HANDLER = {"unit": "疏附县人力资源和社会保障局", "person": "王建国"}


@dataclass
class Dev:
    proc: subprocess.Popen[str]
    env: dict[str, str]
    data: Path
    ports: dict[str, int]
    lines: list[str] = field(default_factory=list)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), capture_output=True, text=True, env=self.env, cwd=ROOT, timeout=120
        )

    def send(self, case_id: str, kind: str, data: dict[str, Any]) -> None:
        done = self.run(
            str(PETITION), "send", case_id, kind, "--data", json.dumps(data, ensure_ascii=False)
        )
        assert done.returncode == 0, f"{kind}: {done.stderr}"

    def otps(self, case_id: str) -> list[str]:
        """The one-time codes sent for the case so far, oldest first (as the phone got them)."""
        with sqlite3.connect(self.data / "events.db") as db:
            rows = db.execute(
                "SELECT message FROM outbox WHERE case_id = ? AND kind = 'petitioner_otp'"
                " ORDER BY created_at",
                (case_id,),
            ).fetchall()
        return [m.group(1) for (text,) in rows if (m := re.search(r"\b(\d{6})\b", text))]

    def new_otp(self, case_id: str, before: int) -> str:
        """The code sent after the ``before`` earlier ones (the page's request may still
        be on its way when the button's click returns)."""
        deadline = time.monotonic() + 30
        while len(sent := self.otps(case_id)) <= before:
            assert time.monotonic() < deadline, "no one-time code in the outbox"
            time.sleep(0.1)
        return sent[-1]


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    if not CHROMIUM.exists():
        _missing("Chromium is missing")
    data = tmp_path_factory.mktemp("petitioner") / "data"
    ports = {name: free_port() for name in ("port", "ui", "codec", "api", "issuer")}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "PETITIONFLOW_"))},
        "PETITIONFLOW_DATA_DIR": str(data),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{ports['port']}",
    }
    proc = subprocess.Popen(
        [str(PETITION), "dev", "--port", str(ports["port"]), "--ui-port", str(ports["ui"]),
         "--codec-port", str(ports["codec"]), "--api-port", str(ports["api"]),
         "--issuer-port", str(ports["issuer"])],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
        start_new_session=True,
    )  # fmt: skip
    stack = Dev(proc, env, data, ports)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            stack.lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        while not any(x.startswith("running; Ctrl-C") for x in stack.lines):
            assert proc.poll() is None, "".join(stack.lines)
            assert time.monotonic() < deadline, "".join(stack.lines)
            time.sleep(0.2)
        yield stack
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_submit_track_and_rate_in_the_browser(dev: Dev) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is missing")
    page_url = f"http://127.0.0.1:{dev.ports['api']}/petition"
    assert any(page_url in x for x in dev.lines), "petition dev does not print the page"
    SHOTS.mkdir(parents=True, exist_ok=True)
    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 390, "height": 900}, locale="zh-CN")
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("request", lambda r: requested.append(r.url))
        page.goto(page_url)

        # 我要信访: the labels name every field
        page.get_by_label("有权处理的信访工作机构").select_option(
            label="疏附县信访局（新疆维吾尔自治区 > 喀什地区 > 疏附县）"
        )
        page.get_by_label("乡镇（街道）").select_option("托克扎克镇")
        page.get_by_label("信访类别").select_option(label="申诉求决")
        page.get_by_label("姓名（名称）").fill("买买提·托合提")
        page.get_by_label("手机号码（用于接收验证码）").fill("13899887766")
        page.get_by_label("信访请求").fill("请求支付拖欠的工资")
        page.get_by_label("事实", exact=True).fill("本人在某建筑公司务工十个月，公司拒付工资。")
        page.get_by_label("理由", exact=True).fill("依据《保障农民工工资支付条例》。")
        page.get_by_role("button", name="提交").click()
        case_id = page.locator("#case-id").inner_text()
        code = page.locator("#query-code").inner_text()
        page.screenshot(path=SHOTS / "petitioner-submitted.png", full_page=True)
        assert re.fullmatch(r"WS-\d{8}-[0-9A-F]{8}", case_id), case_id
        assert len(code.replace("-", "")) == 26, code

        # the case is a workflow in Temporal, and petition show prints it
        described = dev.run(str(TEMPORAL), "workflow", "describe", "-w", f"petition-{case_id}",
                            "--address", dev.env["TEMPORAL_ADDRESS"])  # fmt: skip
        assert described.returncode == 0 and "PetitionWorkflow" in described.stdout, described
        shown = dev.run(str(PETITION), "show", case_id)
        assert shown.returncode == 0, shown.stderr
        assert case_id in shown.stdout and "疏附县信访局" in shown.stdout, shown.stdout

        # 查询进度: the query code (filled in after submitting), a one-time code
        assert page.get_by_label("查询码", exact=True).input_value() == code
        page.get_by_role("button", name="获取验证码").click()
        page.get_by_text("验证码已发送").wait_for()
        page.get_by_label("手机验证码").fill(dev.new_otp(case_id, before=0))
        page.get_by_role("button", name="查询").click()
        page.get_by_text("已登记，待转送").first.wait_for()
        assert "13899887766" not in page.locator("#track-result").inner_text()

        # the offices act; the reply is delivered
        dev.send(case_id, "transfer_petition", {
            "actor": {"unit": "疏附县信访局", "person": "阿依古丽"},
            "to_unit": {"name": HANDLER["unit"], "jurisdiction": {
                "region": "新疆维吾尔自治区", "prefecture": "喀什地区", "county": "疏附县"}},
        })  # fmt: skip
        dev.send(case_id, "acknowledge_receipt", {"actor": HANDLER})
        dev.send(case_id, "accept_petition", {"actor": HANDLER})
        decision = json.loads((ROOT / "examples" / "decision.json").read_text(encoding="utf-8"))
        dev.send(case_id, "issue_decision", decision)
        dev.send(
            case_id, "record_delivery", {"actor": HANDLER, "document": "reply", "method": "online"}
        )

        # 评价: a fresh code, the reply in the page, the rating button
        page.get_by_role("button", name="获取验证码").click()
        page.get_by_label("手机验证码").fill(dev.new_otp(case_id, before=1))
        page.get_by_role("button", name="查询").click()
        try:
            page.get_by_text("答复意见：予以支持").wait_for()
        finally:
            page.screenshot(path=SHOTS / "petitioner-replied.png", full_page=True)
        page.get_by_role("button", name="满意", exact=True).click()
        page.get_by_text("评价已提交：满意").wait_for()
        page.screenshot(path=SHOTS / "petitioner-rated.png", full_page=True)
        browser.close()

    shown = dev.run(str(PETITION), "show", case_id, "--json")
    assert shown.returncode == 0, shown.stderr
    state = json.loads(shown.stdout)
    assert state["rating"] == "satisfied"
    assert all(u.startswith("http://127.0.0.1:") for u in requested), requested
