"""Record replay fixtures of JointConferenceWorkflow: real histories on the dev server.

    .venv/bin/python -m tests.record_conference_histories

Writes tests/fixtures/conference_histories/*.json; tests/test_conference_replay.py
replays each with today's workflow code and the production data converter. Run it
after a deliberate change to the workflow (behind ``workflow.patched``) and keep the
old files, as tests/record_histories.py does for the case.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio.testing import TimeSkippingConfig, WorkflowEnvironment

from petitionflow.client.conference import send
from petitionflow.domain import conference as cf
from petitionflow.domain.values import Actor
from petitionflow.eventstore import EventStore
from petitionflow.workers.devserver import TIME_SKIPPING, temporal_binary
from petitionflow.workers.main import build_worker
from petitionflow.workflows import search
from testkit.builders import COUNTY_UNIT, OTHER_COUNTY_UNIT
from testkit.keys import CONVERTER, HASHER, SEALER
from tests.conference import SECRETARY, Conference, decision, escalated_case, meeting_due
from tests.record_histories import save
from tests.temporal import Harness

OUT = Path(__file__).parent / "fixtures" / "conference_histories"


async def decided_supervised(h: Harness) -> None:
    """Two cases join; a meeting on the timer; one decision taken and supervised (its
    correction deadline passes, then the correction closes it), one refused (a unit
    outside the case's place) and decided again; a refused signal."""
    conf = Conference(h)
    taken, refused = await escalated_case(h), await escalated_case(h)
    await conf.join(taken.case_id)
    await conf.join(refused.case_id)
    await conf.join(taken.case_id)  # a repeat
    await meeting_due(conf)
    await conf.meeting(
        decision(taken, supervise=True, correction_days=3),
        decision(refused, lead_unit=OTHER_COUNTY_UNIT.model_dump(mode="json")),
    )
    key = f"case:{refused.case_id}"
    await conf.until("heard back", lambda v: v.state.items[key].last_refusal is not None)
    await conf.until("went overdue", lambda v: len(v.state.overdue_items) == 1)
    await conf.meeting(decision(refused))
    await conf.until("closed the refused one", lambda v: key not in v.state.items)
    await send(
        conf.client,
        conf.code,
        "record_correction",
        cf.RecordCorrection(
            command_id="correction-1",
            actor=Actor(unit=COUNTY_UNIT.name, person="王建国"),
            issued_at=datetime.now(UTC),
            subject="case",
            subject_id=taken.case_id,
            report="已整改",
        ),
    )
    await send(
        conf.client,
        conf.code,
        "withdraw_item",
        {
            "command_id": "w-unknown",
            "actor": SECRETARY.model_dump(),
            "issued_at": datetime.now(UTC).isoformat(),
            "subject": "case",
            "subject_id": "NOT-THERE",
        },
        wait=False,
    )
    await conf.until("recorded all", lambda v: "w-unknown" in v.state.commands)
    await conf.check()
    assert conf.handle is not None and conf.first_run is not None
    await save(h.env, conf.handle.id, "conference_decided_supervised", conf.first_run, OUT)
    await conf.stop()


async def continue_as_new(h: Harness) -> None:
    conf = Conference(h, history_limit=40)
    case = await escalated_case(h)
    await conf.join(case.case_id)
    await meeting_due(conf)
    await conf.meeting(decision(case, supervise=True, correction_days=20))
    key = f"case:{case.case_id}"
    await conf.until("supervised it", lambda v: v.state.items[key].status == "supervised")
    for i in range(14):
        await conf.join(f"KS-REC-{i:02d}")
    await conf.until("took them", lambda v: len(v.state.items) == 15)
    runs = await conf.runs()
    await conf.advance(25)
    await conf.until("went overdue", lambda v: v.state.items[key].overdue)
    runs = await conf.runs()
    assert len(runs) >= 3, runs
    await conf.check()
    assert conf.handle is not None
    await save(h.env, conf.handle.id, "conference_continue_as_new_first_run", runs[0], OUT)
    await save(h.env, conf.handle.id, "conference_continue_as_new_latest_run", runs[-1], OUT)
    await conf.stop()


async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping_v2(
        ts_config=TimeSkippingConfig(enabled=False),
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=TIME_SKIPPING,
        search_attributes=search.ALL,
        data_converter=CONVERTER,
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore(f"sqlite:///{tmp}/events.db", create=True)
        task_queue = f"record-{uuid.uuid4().hex[:8]}"
        h = Harness(env, store, task_queue)
        try:
            async with build_worker(env.client, store, SEALER, task_queue, hasher=HASHER):
                await decided_supervised(h)
                await continue_as_new(h)
        finally:
            store.close()
            await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
