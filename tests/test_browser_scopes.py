"""Operator scopes in the real Web UI: the codec server decodes only the cases of the
operator's jurisdiction.

``petition dev --operator-scopes``; two cases registered with ``petition submit``, one
in 疏附县 and one in 伽师县; Chromium opens both case pages with a 疏附县 operator's
token added to the UI's codec calls, as the UI adds its signed-in operator's token
with ``TEMPORAL_CODEC_PASS_ACCESS_TOKEN`` (the dev server's UI has no sign-on of its
own). The 疏附县 case reads in Chinese; the 伽师县 case stays ciphertext."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clistack import ROOT
from tests.devprocess import DevProcess, petition_dev
from tests.test_browser import CHROMIUM, CODEC_ERROR, SHOTS, _missing, _visible_text

NAME = "买买提·托合提"  # the petitioner of examples/intake.json, at the top of the Input box
CIPHERTEXT = re.compile(r"[A-Za-z0-9+/]{60,}")  # the Input box when it stays encrypted


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    if not CHROMIUM.exists():
        _missing("Chromium is missing")
    data = tmp_path_factory.mktemp("scopes") / "data"
    with petition_dev(data, "--operator-scopes", cls=DevProcess) as stack:
        yield stack


def submit(dev: DevProcess, case_id: str, county: str, tmp: Path) -> None:
    body = json.loads((ROOT / "examples" / "intake.json").read_text(encoding="utf-8"))
    body["case_id"] = case_id
    body["intake"]["jurisdiction"] = {
        "region": "新疆维吾尔自治区", "prefecture": "喀什地区", "county": county,
    }  # fmt: skip
    path = tmp / f"{case_id}.json"
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    done = dev.petition("submit", str(path))
    assert done.returncode == 0, done.stderr


def test_an_operator_reads_only_the_cases_of_their_county(dev: DevProcess, tmp_path: Path) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is missing")
    stamp = str(int(time.time()))
    ours, theirs = f"SF-{stamp}", f"JS-{stamp}"
    submit(dev, ours, "疏附县", tmp_path)
    submit(dev, theirs, "伽师县", tmp_path)
    token = dev.petition(
        "token", "--unit", "疏附县信访局", "--role", "supervisor",
        "--juris", "新疆维吾尔自治区/喀什地区/疏附县",
    ).stdout.strip()  # fmt: skip
    assert token.count(".") == 2, token
    codec = f"127.0.0.1:{dev.ports['codec']}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        statuses: list[int] = []

        def with_token(route: Any) -> None:
            # what TEMPORAL_CODEC_PASS_ACCESS_TOKEN makes the UI send
            headers = {**route.request.headers, "authorization": f"Bearer {token}"}
            route.continue_(headers=headers)

        context.route(f"http://{codec}/**", with_token)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("response", lambda r: statuses.append(r.status) if codec in r.url else None)
        seen: dict[str, str] = {}
        for case_id in (ours, theirs):
            page.goto(
                f"http://127.0.0.1:{dev.ports['ui']}/namespaces/default/workflows/petition-{case_id}"
            )
            # the Input box once the codec server answered: decoded, or still ciphertext
            box = page.get_by_role("textbox", name="Input")
            for _ in range(60):
                text = box.inner_text()
                if NAME in text or CIPHERTEXT.search(text):
                    break
                page.wait_for_timeout(500)
            page.wait_for_timeout(1000)
            page.screenshot(path=SHOTS / f"scopes-{case_id[:2]}.png")
            seen[case_id] = _visible_text(page)
        browser.close()
    assert NAME in seen[ours] and "喀什地区疏附县托克扎克镇" in seen[ours]
    assert NAME not in seen[theirs] and "喀什地区" not in seen[theirs]
    assert CIPHERTEXT.search(seen[theirs]) and not CIPHERTEXT.search(seen[ours])
    assert CODEC_ERROR not in seen[ours] + seen[theirs]
    assert statuses and set(statuses) <= {200, 204}, statuses
