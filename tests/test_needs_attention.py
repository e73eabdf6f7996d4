"""A stream the case cannot go on with never fails the case: it waits, flagged, for a repair.

Each test makes the store disagree with a running case from outside, as an operator
could find it: the store restored from an older backup (the case's last event is
missing), a hearing appended by a legacy system in a shape no upcaster lifts, an event
the case's state cannot take. Then a command (an update, a signal, a deadline's timer)
finds the stream so. The case must show ``NeedsAttention`` and say why in its current
details, with no personal data; stay Running with no failed workflow task; refuse
updates with ``case_needs_attention`` while signals wait; and after the repair and the
``resume_case`` signal go on to a normal end, its store and workflow agreeing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from petitionflow.activities import store as store_activities
from petitionflow.activities.records import stream_id, to_record
from petitionflow.domain import commands as c
from petitionflow.domain import events as ev
from petitionflow.domain import state as domain_state
from petitionflow.domain.policy import DeadlineKind
from petitionflow.domain.state import CaseState, Stage
from petitionflow.eventstore import EventStore, NewEvent, RecordedEvent
from petitionflow.workers.main import build_worker
from petitionflow.workers.ui_metadata import METADATA_QUERY
from petitionflow.workflows import search
from petitionflow.workflows.petition import PetitionWorkflow
from testkit.builders import COUNTY_UNIT, HANDLER, PETITIONER, intake_data
from testkit.keys import CONVERTER, SEALER
from tests.temporal import Case, Harness

PETITIONER_DATA = intake_data()["petitioner"]
PERSONAL = [PETITIONER_DATA[k] for k in ("name", "phone", "id_number", "address")]


@asynccontextmanager
async def worker(h: Harness) -> AsyncIterator[None]:
    """A worker for the harness's store and task queue. Its shutdown is bounded: an
    append retried for ever inside a workflow task would hold it, and the test with it."""
    running = build_worker(h.env.client, h.store, SEALER, h.task_queue)
    task = asyncio.create_task(running.run())
    try:
        yield
    finally:
        try:
            await asyncio.wait_for(running.shutdown(), 30)
        except TimeoutError:
            task.cancel()
            raise AssertionError("the worker did not stop: a workflow task never ends") from None


def harness(env: WorkflowEnvironment, store: EventStore) -> Harness:
    return Harness(env, store, f"attention-{uuid.uuid4().hex[:8]}")


async def details(case: Case) -> str:
    metadata = await case.handle.query(METADATA_QUERY, result_type=WorkflowMetadata)
    return str(metadata.current_details)


async def attention(case: Case) -> str | None:
    return (await case.handle.describe()).typed_search_attributes.get(search.NEEDS_ATTENTION)


async def still_running(case: Case) -> None:
    """Running, and not one workflow task failed: nothing loops out of sight."""
    description = await case.handle.describe()
    assert description.status == WorkflowExecutionStatus.RUNNING, description.status
    async for event in case.handle.fetch_history_events():
        assert event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, (
            f"workflow task failed: {event.workflow_task_failed_event_attributes}"
        )
    assert not description.raw_description.pending_workflow_task.attempt > 1


async def needs_attention(case: Case, reason: str, until: Callable[[str], bool] = bool) -> str:
    """The current details, once the case shows ``reason`` (and ``until`` holds for them)."""
    for _ in range(300):
        await still_running(case)
        if await attention(case) == reason:
            text = await details(case)
            if until(text):
                assert not any(p in text for p in PERSONAL), text
                return text
        await asyncio.sleep(0.1)
    raise AssertionError(f"{case.case_id} never showed NeedsAttention={reason}")


async def listed(env: WorkflowEnvironment, case: Case, query: str) -> None:
    """Visibility finds the case with ``query`` (it is eventually consistent)."""
    for _ in range(100):
        found = [
            wf.id
            async for wf in env.client.list_workflows(
                f'WorkflowId = "{case.handle.id}" AND {query}'
            )
        ]
        if found:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{query} does not find {case.handle.id}")


async def goes_on(case: Case) -> None:
    for _ in range(300):
        if await attention(case) is None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{case.case_id} still needs attention: {await details(case)}")


async def settled(case: Case, done: Callable[[CaseState], bool]) -> CaseState:
    for _ in range(300):
        if done(state := await case.state()):
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"{case.case_id} never got there: {state}")


async def resume(case: Case) -> None:
    await case.handle.signal("resume_case")


async def replays(case: Case) -> None:
    replayer = Replayer(workflows=[PetitionWorkflow], data_converter=CONVERTER)
    await replayer.replay_workflow(await case.handle.fetch_history())


async def withdrawn(case: Case) -> None:
    """The case's normal end: the petitioner withdraws, the workflow completes."""
    await case.ok(c.WithdrawPetition, PETITIONER, reason="自愿撤回")
    summary = await case.handle.result()
    assert summary.closed_reason == "withdrawn"


def restore(store: EventStore, records: Sequence[RecordedEvent], expected_version: int) -> None:
    """Write stored records into another store as they are (a restore): same ids, data
    and metadata; the chain is that store's."""
    store.append(
        records[0].stream_id,
        expected_version,
        [
            NewEvent(r.event_id, r.type, r.stored_schema_version, r.data, r.metadata)
            for r in records
        ],
    )


def event_fields(case_id: str, state: CaseState, command_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "event_id": uuid.uuid4(),
        "case_id": case_id,
        "occurred_at": now,
        "day": now.date(),
        "actor": HANDLER,
        "causation_id": command_id,
        "correlation_id": state.correlation_id,
    }


@pytest.mark.parametrize("by", ["update", "signal"])
async def test_a_store_restored_from_an_older_backup_waits_for_the_missing_events(
    temporal_env: WorkflowEnvironment,
    store: EventStore,
    tmp_path: Path,
    by: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The case runs to version 2 on one store; the workers then use a store restored
    # from a backup that holds version 1 only. A command finds the stream behind.
    before = EventStore(f"sqlite:///{tmp_path / 'before.db'}", create=True)
    first = harness(temporal_env, before)
    async with worker(first):
        case = await first.submit()
        await case.ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    records = before.read_stream(stream_id(case.case_id))
    restore(store, records[:1], 0)

    h = Harness(temporal_env, store, first.task_queue)
    case = Case(h, case.case_id, case.handle)
    h.cases.append(case)
    async with worker(h):
        ack = case.cmd(c.AcknowledgeReceipt, HANDLER)
        sent = asyncio.create_task(h.client.send(case.case_id, ack.kind, ack, wait=by == "update"))
        text = await needs_attention(case, "store_behind")
        assert "the case is at 2, its stream at 1" in text
        assert "**Stage:** routed" in text  # the case's own details follow
        logged = [r.getMessage() for r in caplog.records if "needs attention" in r.getMessage()]
        assert any("reason=store_behind case_version=2 stream_version=1" in m for m in logged)
        assert not any(p in m for m in logged for p in PERSONAL)
        await listed(temporal_env, case, 'NeedsAttention = "store_behind"')
        await listed(temporal_env, case, "NeedsAttention IS NOT NULL")
        # Meanwhile updates are refused and signals wait; an update that found the
        # stream behind waits for the repair.
        assert await case.rejected(c.AcceptPetition, HANDLER) == "case_needs_attention"
        accept = case.cmd(c.AcceptPetition, HANDLER)
        await case.signal(accept)
        await asyncio.sleep(1)
        assert sent.done() is (by == "signal")
        assert [r.version for r in store.read_stream(stream_id(case.case_id))] == [1]

        restore(store, records[1:], 1)  # the repair: the missing event is back
        await resume(case)
        result = await asyncio.wait_for(sent, 60)
        if by == "update":
            assert result is not None and (result.version, result.events) == (
                3,
                ["ReceiptAcknowledged"],
            )
        state = await case.settled(accept.command_id)
        assert ack.command_id in state.commands
        assert state.stage is Stage.HANDLING and state.version == 4
        await goes_on(case)
        assert "Needs attention" not in await details(case)
        await withdrawn(case)
        await h.check()
        await replays(case)


def legacy_hearing(case_id: str, state: CaseState) -> NewEvent:
    """A hearing as a legacy system writes it: schema version 0, ``note`` for ``summary``."""
    today = datetime.now(UTC).date()
    event = ev.HearingRecorded(
        **event_fields(case_id, state, "legacy-hearing-1"),
        held_from=today,
        held_to=today,
        summary="旧系统导入的听证记录",
    )
    record = to_record(event, None, SEALER)
    data = dict(record.data)
    data["note"] = data.pop("summary")
    return NewEvent(record.event_id, record.type, 0, data, record.metadata)


def lift_legacy_hearing(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    data["summary"] = data.pop("note")
    return data


async def test_an_event_appended_from_outside_that_cannot_be_read(
    temporal_env: WorkflowEnvironment, store: EventStore
) -> None:
    # A legacy system appends a hearing in its own shape; a signal then finds it.
    h = harness(temporal_env, store)
    async with worker(h):
        case = await h.submit()
        await resume(case)  # nothing waits: ignored, nothing written
        state = await case.state()
        store.append(stream_id(case.case_id), state.version, [legacy_hearing(case.case_id, state)])
        transfer = case.cmd(c.TransferPetition, to_unit=COUNTY_UNIT)
        await case.signal(transfer)
        text = await needs_attention(case, "unreadable_event")
        assert "HearingRecorded (schema version 0)" in text, text
        assert "the event at version 2" in text and "tried again: 0" in text
        # Without a repair it tries again by itself, a minute later, and waits on.
        await temporal_env.fast_forward(case.handle, timedelta(minutes=2))
        await needs_attention(case, "unreadable_event", until=lambda t: "tried again: 1" in t)

        # The repair: an upcaster for the legacy shape (in production, a release with it).
        store.upcasters.register("HearingRecorded", 0, lift_legacy_hearing)
        await resume(case)
        state = await case.settled(transfer.command_id)
        assert state.hearings == 1 and state.stage is Stage.ROUTED and state.version == 3
        assert [e.type for e in case.events()] == [
            "PetitionRegistered",
            "HearingRecorded",
            "PetitionTransferred",
        ]
        await goes_on(case)
        await withdrawn(case)
        await h.check()
        await replays(case)


def evolve_taking_stray_misses(
    original: Callable[[CaseState, ev.Event], CaseState],
) -> Callable[[CaseState, ev.Event], CaseState]:
    """The release that takes a DeadlineMissed for a deadline the case never opened:
    recorded, and nothing else changes."""

    def evolve(state: CaseState, event: ev.Event) -> CaseState:
        if isinstance(event, ev.DeadlineMissed) and event.deadline not in state.deadlines:
            commands = dict(state.commands)
            commands[event.causation_id] = (*commands.get(event.causation_id, ()), event)
            return state.model_copy(
                update={
                    "version": state.version + 1,
                    "commands": commands,
                    "last_event_type": event.type,
                }
            )
        return original(state, event)

    return evolve


async def test_a_deadline_after_an_event_the_case_cannot_take(
    temporal_env: WorkflowEnvironment, store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Someone appends a missed handling deadline to a case that was never accepted;
    # `evolve` refuses it. The routing deadline then falls due and its timer fires.
    h = harness(temporal_env, store)
    async with worker(h):
        case = await h.submit()
        state = await case.state()
        assert set(state.deadlines) == {DeadlineKind.ROUTING}
        stray = ev.DeadlineMissed(
            **event_fields(case.case_id, state, "script-1"),
            deadline=DeadlineKind.HANDLING,
            due=datetime.now(UTC).date(),
            supervised=False,
        )
        store.append(stream_id(case.case_id), state.version, [to_record(stray, None, SEALER)])
        due = state.deadlines[DeadlineKind.ROUTING].due_at
        await temporal_env.fast_forward(case.handle, due - datetime.now(UTC) + timedelta(minutes=1))
        text = await needs_attention(case, "event_not_applicable")
        assert "DeadlineMissed: the case's state cannot take it (KeyError)" in text, text
        assert await case.rejected(c.TransferPetition, to_unit=COUNTY_UNIT) == (
            "case_needs_attention"
        )
        await still_running(case)

    # The repair: a release whose evolve takes it; the workers restart with it and
    # replay the case as it ran (the verdict is the append's recorded result).
    tolerant = evolve_taking_stray_misses(domain_state.evolve)
    monkeypatch.setattr(domain_state, "evolve", tolerant)
    monkeypatch.setattr(store_activities, "evolve", tolerant)
    async with worker(h):
        await resume(case)
        await goes_on(case)
        state = await settled(case, lambda s: s.deadlines[DeadlineKind.ROUTING].missed)
        assert state.overdue
        assert [e.type for e in case.events()][1:] == ["DeadlineMissed", "DeadlineMissed"]
        await case.ok(c.TransferPetition, to_unit=COUNTY_UNIT)
        await withdrawn(case)
        await h.check()
        await replays(case)
