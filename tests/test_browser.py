"""The real Temporal Web UI, in headless Chromium, on the real ``petition dev --demo``.

One stack for the module: ``petition dev --demo`` as a process group of its own, on
free ports and a temporary data folder, until "demo done"; then one more case is put
in handling (the demo leaves none there). Debian's Chromium (``/usr/bin/chromium``),
driven by Playwright; nothing is downloaded. Screenshots go to
``test-artifacts/browser/``.

What a person must see:
- a case page shows the petitioner's request in Chinese, decoded by the codec server,
  and no codec error;
- the list filtered with ``Stage = "handling"`` shows the case in handling;
- the case's User Metadata tab shows its static summary and details and its current
  details;
- the Send an Update dialog lists the command names.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from testkit.processes import free_port
from tests.clistack import PETITION, ROOT

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "test-artifacts" / "browser"
# The red banner the UI shows when a decode fails (as it did for every call when the
# codec server compared the query string too).
CODEC_ERROR = "Codec Server could not connect"


def _missing(what: str) -> None:
    message = f"{what}: apt-get install chromium fonts-wqy-zenhei; pip install -e '.[dev]'"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class DevStack:
    proc: subprocess.Popen[str]
    data_dir: Path
    port: int
    ui_port: int
    codec_port: int
    api_port: int
    lines: list[str] = field(default_factory=list)
    demo_prefix: str = ""
    handling_case: str = ""

    @property
    def ui(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                time.sleep(0.2)  # the reader thread takes the last lines
                break
            time.sleep(0.2)
        output = "".join(self.lines[-40:])
        raise AssertionError(
            f"petition dev did not print {text!r} (exit {self.proc.poll()}):\n{output}"
        )

    def stop(self) -> None:
        """SIGINT to the whole group (as Ctrl-C), then make sure nothing of it is left."""
        pgid = self.proc.pid  # start_new_session: the group is the process's own
        for sig, wait in ((signal.SIGINT, 30), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _group_alive(pgid):
                time.sleep(0.2)
            if not _group_alive(pgid):
                break
        self.proc.wait(5)
        assert not _group_alive(pgid), f"processes of group {pgid} are left"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # zombies of the group count as gone once reaped; the leader is reaped by wait()
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(stat[2]) == pgid and stat[0] != "Z":
            return True
    return False


def _put_a_case_in_handling(stack: DevStack) -> str:
    """Submit one case and route and accept it, with the stack's own keys."""
    from temporalio.client import Client

    from petitionflow.cli.demo import BUREAU, LABOUR, intake
    from petitionflow.client import PetitionClient
    from petitionflow.domain import commands as c
    from petitionflow.domain.values import Actor
    from petitionflow.security.codec import data_converter
    from petitionflow.security.keys import KeyRing

    body = json.loads((stack.data_dir / "keys.json").read_text(encoding="utf-8"))
    ring = KeyRing(tuple((k, base64.b64decode(v)) for k, v in body["payload"]))
    case_id = f"BROWSER-{uuid.uuid4().hex[:6]}"
    unit = Actor(unit=LABOUR.name, person="王建国")

    async def run() -> None:
        client = await Client.connect(
            f"127.0.0.1:{stack.port}", data_converter=data_converter(ring)
        )
        petitions = PetitionClient(client)
        # a petitioner of its own, not one of the demo cases' (that would be a repeat)
        await petitions.submit(case_id, intake(datetime.now(UTC), id17="65312119850612099"), BUREAU)
        for cls, actor, fields in (
            (c.TransferPetition, BUREAU, {"to_unit": LABOUR}),
            (c.AcknowledgeReceipt, unit, {}),
            (c.AcceptPetition, unit, {}),
        ):
            command = cls(
                command_id=f"browser-{uuid.uuid4().hex[:8]}",
                actor=actor,
                issued_at=datetime.now(UTC),
                **fields,
            )
            await petitions.send(case_id, command.kind, command)
        state = await petitions.state(case_id)
        assert state.stage.value == "handling", state.stage

    # its own thread and loop: this module's tests are synchronous (Playwright's sync API)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result(timeout=60)
    return case_id


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    if not CHROMIUM.exists():
        _missing("Debian's Chromium is missing")
    try:
        import playwright  # noqa: F401
    except ImportError:
        _missing("Playwright is missing")
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "PETITIONFLOW_"))}
    port, ui_port, codec_port = free_port(), free_port(), free_port()
    api_port, issuer_port = free_port(), free_port()
    proc = subprocess.Popen(
        [str(PETITION), "dev", "--demo", "--data-dir", str(data_dir),
         "--port", str(port), "--ui-port", str(ui_port), "--codec-port", str(codec_port),
         "--api-port", str(api_port), "--issuer-port", str(issuer_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
        start_new_session=True,
    )  # fmt: skip
    dev = DevStack(proc, data_dir, port, ui_port, codec_port, api_port)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            dev.lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        dev.wait_for("demo done", timeout=240)
        prefix = next(re.search(r"prefix (\S+) ", x) for x in dev.lines if "prefix" in x)
        assert prefix is not None
        dev.demo_prefix = prefix.group(1)
        dev.handling_case = _put_a_case_in_handling(dev)
        yield dev
    finally:
        dev.stop()
        assert not (data_dir / "codec.json").exists(), "codec.json outlived petition dev"


@pytest.fixture(scope="module")
def browser(stack: DevStack) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is missing")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def _case_url(stack: DevStack, case_id: str) -> str:
    return f"{stack.ui}/namespaces/default/workflows/petition-{case_id}"


def _visible_text(page: Any) -> str:
    """The text of the page and of the frames the UI renders markdown into."""
    texts = []
    for frame in page.frames:
        try:
            texts.append(frame.locator("body").inner_text(timeout=5000))
        except Exception:  # a frame the UI replaced meanwhile
            continue
    return "\n".join(texts)


def test_codec_json_says_where_the_codec_server_is(stack: DevStack) -> None:
    codec_file = stack.data_dir / "codec.json"
    assert codec_file.stat().st_mode & 0o777 == 0o600
    codec = json.loads(codec_file.read_text(encoding="utf-8"))
    assert codec["endpoint"] == f"http://127.0.0.1:{stack.codec_port}/{codec['token']}"
    printed = [x for x in stack.lines if "--codec-endpoint" in x]
    assert printed and codec["endpoint"] in printed[0]


def test_the_printed_temporal_command_decodes(stack: DevStack) -> None:
    """The line ``petition dev`` prints, pasted into a shell with a case id."""
    (line,) = [x for x in stack.lines if "decoded in the CLI:" in x]
    command = line.split("decoded in the CLI:", 1)[1].strip()
    command = command.replace("<case id>", f"{stack.demo_prefix}-07")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    done = subprocess.run(
        command, shell=True, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "intake.request: 请求支付拖欠的工资" in done.stdout  # without the codec: base64


def test_a_case_page_shows_the_request_decoded_in_chinese(stack: DevStack, page: Any) -> None:
    from petitionflow.cli.demo import SCENARIOS

    n, fields = next((n, f) for n, (_, _, f) in enumerate(SCENARIOS, 1) if "request" in f)
    request = fields["request"]  # 请求开发商维修房屋漏水
    decodes: list[int] = []
    page.on(
        "response",
        lambda r: decodes.append(r.status) if f":{stack.codec_port}/" in r.url else None,
    )
    page.goto(_case_url(stack, f"{stack.demo_prefix}-{n:02d}"))
    # whichever comes first: the decoded request or the banner (a hidden copy of its
    # text sits in the top bar's tooltip)
    shown = page.get_by_text(request).or_(page.get_by_text(CODEC_ERROR)).filter(visible=True)
    shown = shown.first
    try:
        shown.wait_for(timeout=20_000)
        shown.scroll_into_view_if_needed()  # the line of the Input box, for the screenshot
        page.wait_for_timeout(500)
    finally:
        page.screenshot(path=SHOTS / "case-decoded.png")
    text = _visible_text(page)
    assert CODEC_ERROR not in text
    assert request in text and "买买提·托合提" in text  # the request and the petitioner
    assert "binary/encrypted" not in text
    assert decodes and set(decodes) == {200}, decodes


def test_the_list_filtered_by_stage_shows_the_case_in_handling(stack: DevStack, page: Any) -> None:
    query = urllib.parse.quote('Stage = "handling"')
    row = page.get_by_role("link", name=f"petition-{stack.handling_case}")
    for _ in range(20):  # visibility catches up within a moment
        page.goto(f"{stack.ui}/namespaces/default/workflows?query={query}")
        # the list's request answered before looking: a busy machine took longer than a
        # fixed 3 s to render the page, and the loop reloaded it before it ever showed
        page.wait_for_load_state("networkidle")
        try:
            row.wait_for(timeout=3000)
            break
        except Exception:
            continue
    page.screenshot(path=SHOTS / "list-stage-handling.png")
    assert row.is_visible()
    listed = set(re.findall(r"petition-[\w.-]+", page.locator("main").inner_text()))
    assert listed == {f"petition-{stack.handling_case}"}, listed  # no demo case is in handling


def test_a_case_shows_its_summary_and_current_details(stack: DevStack, page: Any) -> None:
    page.goto(_case_url(stack, stack.handling_case))
    page.get_by_role("tab", name="User Metadata").click()
    summary = f"{stack.handling_case} · appeal · 新疆维吾尔自治区 > 喀什地区 > 疏附县 > 托克扎克镇"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = _visible_text(page)
        if summary in text and "Stage: handling" in text:
            break
        page.wait_for_timeout(500)
    page.screenshot(path=SHOTS / "case-user-metadata.png")
    assert CODEC_ERROR not in text
    assert summary in text  # the static summary
    assert f"Case: {stack.handling_case}" in text and "Channel: online" in text  # static details
    assert "Stage: handling" in text  # current details, as the workflow set them
    assert "Handling unit: 疏附县人力资源和社会保障局" in text


def test_the_send_update_dialog_lists_the_command_names(stack: DevStack, page: Any) -> None:
    page.goto(_case_url(stack, stack.handling_case))
    page.get_by_role("button", name="More Actions").click()
    page.get_by_role("menuitem", name="Send an Update").first.click()
    dialog = page.get_by_role("dialog").filter(has_text="Send an Update")
    dialog.get_by_role("button", name="Select an Update").click()
    page.get_by_role("option", name="issue_decision").wait_for()
    page.screenshot(path=SHOTS / "send-update-names.png")
    # each option: the name, then its description
    names = [n.strip().split("\n")[0] for n in page.get_by_role("option").all_inner_texts()]
    for name in ("accept_petition", "issue_decision", "transfer_petition", "withdraw_petition"):
        assert name in names, names
    assert "" not in names  # no blank entry for the dynamic handler
