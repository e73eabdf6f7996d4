"""``bench.year`` run tiny, so it cannot rot: petitions and disputes through the real
workflows on the Xinjiang directory, nothing failed, the store verified, and every
figure the write-up quotes is in the result file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bench.year import PETITION_PATHS, RUN_OUTCOMES, parse, run


async def test_the_year_benchmark_runs_tiny(tmp_path: Path) -> None:
    out = tmp_path / "year.json"
    argv = ["--petitions", "40", "--disputes", "6", "--concurrency", "8", "--each"]
    args = parse([*argv, "--out", str(out)])
    result = await run(args)
    await asyncio.to_thread(out.write_text, json.dumps(result, ensure_ascii=False))
    saved = json.loads(await asyncio.to_thread(out.read_text))
    r = saved["run"]
    assert r["failed"] == 0, r["failures"]
    p, d = r["petitions"], r["disputes"]
    assert p["done"] == p["planned"] and sum(p["paths"].values()) == p["done"]
    assert set(p["paths"]) == set(PETITION_PATHS)
    assert d["done"] == d["planned"] and p["done"] + d["done"] == 46
    assert set(d["outcomes"]) == set(RUN_OUTCOMES) and all(d["outcomes"].values())
    assert all(p["paths"].values())  # --each: every path at least once
    # the joint conferences met and decided the escalated case and dispute
    conf = saved["conferences"]
    assert conf["decided"] >= p["paths"]["escalated"] + d["outcomes"]["escalated"] >= 2
    assert conf["meetings"] >= 2 and conf["conferences"] >= 2
    assert p["per_s"] > 0 and d["per_s"] > 0 and r["wall_s"] > 0
    assert r["rss_mib"]["peak"] >= r["rss_mib"]["end"] > 0
    # histories: bytes and Temporal Cloud actions per path, beside the bare workflow
    assert "full" in saved["histories"]
    for key, h in saved["histories"].items():
        assert h["bytes"] > 0 and h["actions"] >= h["updates"] + 1, key
        # the start, each update, and the workflow tasks that ran a local activity (the
        # start's and the first update's may share one)
        assert 2 + h["updates"] <= h["bare"]["actions"] <= 2 + 2 * h["updates"], key
        assert h["by_kind"]["workflow_started"] == 1
    assert saved["actions_counted"]
    store = saved["store"]
    assert (
        store["events"] > 0
        and store["events_table_bytes"] > 0
        and store["streams"] >= p["done"] + d["done"]
    )
    assert saved["projection"]["events"] == store["events"]
    assert {
        f"petition report --by {by}" for by in ("level", "prefecture", "county", "unit")
    } <= set(saved["reports"])
    assert "petition disputes report --by township" in saved["reports"]
    assert saved["verify"]["ok"] and saved["verify"]["events"] == store["events"]
