"""Every path of the demo, as real workflows on the dev server."""

from __future__ import annotations

import asyncio
import uuid

from petitionflow.cli.demo import SCENARIOS, run_demo
from petitionflow.domain.state import Stage
from petitionflow.eventstore.outbox import Outbox
from tests.temporal import Harness


async def test_every_demo_path(petitions: Harness) -> None:
    prefix = f"DEMO{uuid.uuid4().hex[:6]}"
    runs = await run_demo(petitions.client, petitions.env.fast_forward, prefix)
    for run in runs:
        petitions.track(run.case_id)
        if run.repeat:
            petitions.track(run.repeat.case_id)
    states = {title: await run.state() for (title, _, _), run in zip(SCENARIOS, runs, strict=True)}
    rejected = {
        title: [e.code for e in run.rejections]
        for (title, _, _), run in zip(SCENARIOS, runs, strict=True)
    }
    closed = {t: s.closed_reason for t, s in states.items()}
    assert closed == {
        "转送 → 支持 → 满意": "resolved",
        "诉访分离（诉讼）": "diverted",
        "不予受理": "not_accepted",
        "调解成功 → 基本满意": "resolved",
        "职责争议 → 联席会议 → 未评价": "resolved",
        "延期 → 不满意 → 复查期满": "resolved",
        "超期 → 催办 → 挂牌督办": None,
        "复查 → 复核 → 不再受理": "final",
        "撤回": "withdrawn",
        "检举控告 → 纪检监察": "diverted",
    }
    ratings = {t: s.rating.value if s.rating else None for t, s in states.items()}
    assert ratings["转送 → 支持 → 满意"] == "satisfied"
    assert ratings["调解成功 → 基本满意"] == "basically_satisfied"
    assert ratings["职责争议 → 联席会议 → 未评价"] == "not_evaluated"
    assert ratings["延期 → 不满意 → 复查期满"] == "dissatisfied"
    overdue = states["超期 → 催办 → 挂牌督办"]
    assert overdue.stage is Stage.REPLIED and overdue.supervised
    assert states["延期 → 不满意 → 复查期满"].extension_days_used == 30
    assert rejected["延期 → 不满意 → 复查期满"] == [
        "extension_already_used",
        "review_window_closed",
    ]
    assert rejected["复查 → 复核 → 不再受理"] == ["final_no_further_review"]
    assert all(
        not codes
        for t, codes in rejected.items()
        if t not in ("延期 → 不满意 → 复查期满", "复查 → 复核 → 不再受理")
    )
    # the petitioner came back on the final matter: not accepted again, linked both ways
    final = runs[7]
    assert final.repeat is not None
    repeat = await final.repeat.state()  # the demo waits for its screening
    assert repeat.closed_reason == "not_accepted" and repeat.repeat_of == final.case_id
    earlier = await final.state()
    for _ in range(100):
        if earlier.linked_cases:
            break
        await asyncio.sleep(0.05)
        earlier = await final.state()
    assert earlier.linked_cases == (final.repeat.case_id,)
    notices = [
        (n.kind, n.recipient) for n in Outbox(petitions.store.engine).for_case(f"{prefix}-07")
    ]
    assert notices == [
        ("reminder", "疏附县人力资源和社会保障局"),
        ("supervision", "疏附县人力资源和社会保障局"),
        ("reminder", "喀什地区信访局"),  # the registering office's copy
    ]
    assert all(
        n.sent_at is not None for n in Outbox(petitions.store.engine).for_case(f"{prefix}-07")
    )
