"""Record replay fixtures: real histories of every demo path and of continue-as-new.

    .venv/bin/python -m tests.record_histories            # every scenario
    .venv/bin/python -m tests.record_histories deadline_recomputed   # only those named

Run it after a deliberate workflow change (behind ``workflow.patched``) to add the
new histories; keep the old files, which is the point: tests/test_replay.py replays
every file here with the production data converter, so a change that breaks
determinism for a running case fails the build.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import uuid
from pathlib import Path

from temporalio.testing import TimeSkippingConfig, WorkflowEnvironment

from petitionflow.cli.demo import SCENARIOS, run_demo
from petitionflow.domain import commands as c
from petitionflow.eventstore import EventStore
from petitionflow.workers.devserver import TIME_SKIPPING, temporal_binary
from petitionflow.workers.main import build_worker
from petitionflow.workflows import search
from testkit.builders import BUREAU, COUNTY_UNIT, HANDLER, PETITIONER_DATA
from testkit.keys import CONVERTER, HASHER, SEALER
from tests.temporal import Harness, grow_history

OUT = Path(__file__).parent / "fixtures" / "histories"
SLUGS = [
    "transfer_satisfied",
    "divert",
    "not_accepted",
    "mediation",
    "conference_not_evaluated",
    "extension_review_window",
    "overdue_supervised",
    "re_review_final",
    "withdrawn",
    "accusation_diverted",
]


async def _env(*extra: str) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_time_skipping_v2(
        ts_config=TimeSkippingConfig(enabled=False),
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=[*TIME_SKIPPING, *extra],
        search_attributes=search.ALL,
        data_converter=CONVERTER,
    )


async def save(
    env: WorkflowEnvironment,
    workflow_id: str,
    name: str,
    run_id: str | None = None,
    out: Path = OUT,
) -> None:
    """Write the history of ``workflow_id`` (its latest run, or ``run_id``) as the
    fixture ``name`` in ``out`` (tests/record_conference_histories.py writes its own)."""
    history = await env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(
        json.dumps(
            {"workflow_id": workflow_id, "history": json.loads(history.to_json())},
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )
    print(f"wrote {path} ({len(history.events)} events)")


async def _settled(harness: Harness, case_id: str) -> None:
    for _ in range(200):
        if (await harness.client.state(case_id)).stage.value == "closed":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{case_id} never closed")


async def _repeats(env: WorkflowEnvironment, harness: Harness) -> None:
    """Repeat petitions of one petitioner: an open duplicate (linked to the running case
    by signal), a suggestion dismissed and one confirmed by the registering office."""
    from tests.test_repeat_workflow import REWORDED, REWORDED_AGAIN, until

    open_case = await harness.submit(petitioner=PETITIONER_DATA)
    await open_case.ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    await open_case.ok(c.AcceptPetition, HANDLER)
    duplicate = await harness.submit(petitioner=PETITIONER_DATA)
    await _settled(harness, duplicate.case_id)
    dismissed = await harness.submit(petitioner=PETITIONER_DATA, request=REWORDED)
    await until(dismissed, lambda s: s.repeat_suggestions, "suggested")
    await dismissed.ok(c.DismissRepeat, BUREAU, other_case_id=open_case.case_id)
    await dismissed.ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    confirmed = await harness.submit(petitioner=PETITIONER_DATA, request=REWORDED_AGAIN)
    await until(confirmed, lambda s: s.repeat_suggestions, "suggested")
    await confirmed.ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    await confirmed.ok(c.ConfirmRepeat, BUREAU, other_case_id=open_case.case_id)
    await until(open_case, lambda s: len(s.linked_cases) == 2, "linked twice")
    await save(env, duplicate.handle.id, "repeat_open_duplicate")
    await save(env, open_case.handle.id, "repeat_linked_by_signal")
    await save(env, dismissed.handle.id, "repeat_suggestion_dismissed")
    await save(env, confirmed.handle.id, "repeat_suggestion_confirmed")


async def record_deadline_recomputed(store: EventStore) -> None:
    """A case whose provisional 2027 handling deadline is recomputed once the sample 2027
    arrangement is loaded (``calendar_loaded``), then missed on its official date and
    withdrawn."""
    from petitionflow.domain import events as ev
    from petitionflow.domain.calendar import parse_arrangement
    from petitionflow.eventstore.calendar import CalendarStore
    from testkit.builders import BUREAU, PETITIONER, today
    from tests.test_calendar_workflow import SAMPLE_FILE, _target

    sample = parse_arrangement(json.loads(SAMPLE_FILE.read_text(encoding="utf-8")))
    async with await _env() as env:
        harness = Harness(env, store, "record-calendar")
        async with build_worker(env.client, store, SEALER, "record-calendar", hasher=HASHER):
            case = await harness.submit(f"CAL-{uuid.uuid4().hex[:6]}")
            due = _target()
            await case.ok(
                c.AssignPetition, BUREAU, to_unit=COUNTY_UNIT, due_days=(due - today()).days
            )
            await case.ok(c.AcknowledgeReceipt, HANDLER)
            await case.ok(c.AcceptPetition, HANDLER)
            CalendarStore(store.engine).load(sample)
            await case.handle.signal("calendar_loaded")
            for _ in range(200):
                if any(isinstance(e, ev.DeadlineRecomputed) for e in case.events()):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("no DeadlineRecomputed")
            await case.advance((due - today()).days + 20)
            for _ in range(200):
                if any(isinstance(e, ev.DeadlineMissed) for e in case.events()):
                    break
                await asyncio.sleep(0.1)
            await case.ok(c.WithdrawPetition, PETITIONER, reason="已自行和解")
            await case.handle.result()
            await save(env, case.handle.id, "deadline_recomputed")


async def main(only: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore(f"sqlite:///{tmp}/events.db", create=True)
        if only:
            if only != ["deadline_recomputed"]:
                raise SystemExit(f"unknown scenario {only}; known: deadline_recomputed")
            await record_deadline_recomputed(store)
            store.close()
            return
        async with await _env() as env:
            harness = Harness(env, store, "record")
            async with build_worker(env.client, store, SEALER, "record", hasher=HASHER):
                runs = await run_demo(harness.client, env.fast_forward, "REPLAY")
                for run in runs:
                    await run.state()  # settles
                final = runs[SLUGS.index("re_review_final")].repeat
                assert final is not None
                await _settled(harness, final.case_id)
                for slug, run in zip(SLUGS, runs, strict=True):
                    await save(env, f"petition-{run.case_id}", slug)
                # the repeat of the case final after re-review: not accepted, linked in
                # the store (the final case's workflow had ended)
                await save(env, f"petition-{final.case_id}", "repeat_of_final")
                await _repeats(env, harness)
        assert len(SLUGS) == len(SCENARIOS)

        async with await _env(
            "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40"
        ) as env:
            harness = Harness(env, store, "record-can")
            async with build_worker(env.client, store, SEALER, "record-can", hasher=HASHER):
                case = await harness.submit(f"CAN-{uuid.uuid4().hex[:6]}")
                first = (await case.handle.describe()).run_id
                await case.ok(c.TransferPetition, to_unit=COUNTY_UNIT)
                await case.ok(c.AcceptPetition, HANDLER)
                await grow_history(case, 12)
                await case.advance(70)
                await save(env, case.handle.id, "continue_as_new_first_run", first)
                await save(env, case.handle.id, "continue_as_new_latest_run")
        await record_deadline_recomputed(store)
        store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
