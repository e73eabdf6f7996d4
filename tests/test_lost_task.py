"""A workflow task lost after its append is durable never fails a case.

Each test runs the case on a worker process that ends itself right after the append
it is told to crash on (``tests/faults/crash_after_append.py``): the event is in the
store, the workflow task that wrote it is lost. Then time moves on, before any retry:
a deadline falls due (its timer fires in the history) or the clock passes a clock-skew
limit. Only then does a second worker start and retry the task, at a later
``workflow.now()``, where it decides something else first. Nothing here waits for a
duration to pass by chance: each step waits for what it needs to see (the worker's
exit, the timer in the history, the wall clock past a point).

Afterwards the harness checks the case: the fold of its stream equals the workflow's
state, no workflow task failed, the chain verifies. And the case is still running.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from petitionflow.activities.records import stream_id, to_record
from petitionflow.domain import commands as c
from petitionflow.domain import events as ev
from petitionflow.domain.decide import Accepted, decide
from petitionflow.domain.policy import DeadlineKind, DeadlinePolicy
from petitionflow.eventstore import EventStore
from petitionflow.workers.main import build_worker
from petitionflow.workflows.petition import PetitionWorkflow
from testkit.builders import (
    BUREAU,
    COUNTY_UNIT,
    HANDLER,
    PETITIONER,
    PREFECTURE_UNIT,
    make_intake,
    today,
)
from testkit.keys import CONVERTER, SEALER
from testkit.processes import WorkerProcess
from tests.faults.crash_after_append import EXIT_CODE
from tests.temporal import Case, Harness

# How long the crashing worker has to handle a command before the deadline (or the
# clock-skew limit) passes. A precondition, checked: each test asserts that the crash
# came before it. Fast-forwarding a case's clock instead waits for its pending task,
# which is the lost one, so the tests wait this long for real.
MARGIN = 15


@dataclass
class Crash:
    harness: Harness
    worker: WorkerProcess

    async def died(self) -> None:
        """Wait for the crashing worker to end itself after its append."""
        proc = self.worker.proc
        assert proc is not None
        for _ in range(600):
            if proc.poll() is not None:
                assert proc.returncode == EXIT_CODE, self.worker.log.read_text()[-2000:]
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"the worker never crashed: {self.worker.log.read_text()[-2000:]}")

    def stored_types(self, case: Case) -> list[str]:
        return [r.type for r in self.harness.store.read_stream(stream_id(case.case_id))]


@pytest.fixture
async def crash(
    request: pytest.FixtureRequest,
    temporal_env: WorkflowEnvironment,
    store: EventStore,
    store_url: str,
    tmp_path: Path,
) -> AsyncIterator[Crash]:
    """A case's worker that crashes after appending ``crash_after``; then a good one."""
    crash_after: str = request.node.get_closest_marker("crash_after").args[0]
    task_queue = f"lost-{uuid.uuid4().hex[:8]}"
    worker = WorkerProcess(
        temporal_env.client.service_client.config.target_host,
        store_url,
        task_queue,
        tmp_path / "worker.log",
        module="tests.faults.crash_after_append",
        PETITIONFLOW_CRASH_AFTER=crash_after,
    )
    worker.start()
    try:
        yield Crash(Harness(temporal_env, store, task_queue), worker)
    finally:
        worker.stop()


@asynccontextmanager
async def good_worker(crash: Crash) -> AsyncIterator[None]:
    """A worker without the crash, to retry the lost task. After the block: the case
    checks out (store equals workflow, no failed task, chain intact) and still runs."""
    h = crash.harness
    async with build_worker(h.env.client, h.store, SEALER, h.task_queue):
        yield
        await h.check()
        for case in h.cases:
            description = await case.handle.describe()
            assert description.status == WorkflowExecutionStatus.RUNNING, description.status
            # The history with its caught-up append replays as it ran.
            replayer = Replayer(workflows=[PetitionWorkflow], data_converter=CONVERTER)
            await replayer.replay_workflow(await case.handle.fetch_history())


async def stored(crash: Crash, case: Case, event_type: str) -> None:
    for _ in range(600):
        if event_type in crash.stored_types(case):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{event_type} never stored: {crash.stored_types(case)}")


async def timer_fired(case: Case) -> None:
    for _ in range(600):
        async for e in case.handle.fetch_history_events():
            if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
                return
        await asyncio.sleep(0.1)
    raise AssertionError("the deadline's timer never fired")


async def to_handling_near_its_deadline(case: Case, seconds_left: int) -> None:
    await case.ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    await case.ok(c.AcknowledgeReceipt, HANDLER)
    await case.ok(c.AcceptPetition, HANDLER)
    due = (await case.state()).deadlines[DeadlineKind.HANDLING].due_at
    # The case's clock runs at wall-clock speed from where the fast-forward leaves it.
    await case.h.env.fast_forward(
        case.handle, due - datetime.now(UTC) - timedelta(seconds=seconds_left)
    )


def hearing(case: Case) -> c.RecordHearing:
    return case.cmd(c.RecordHearing, HANDLER, held_from=today(), held_to=today(), summary="听证会")


@pytest.mark.crash_after("HearingRecorded")
async def test_a_signal_committed_before_a_deadline_and_retried_after_it(crash: Crash) -> None:
    # The case: a valid record_hearing signal is committed as v6 a few seconds
    # before the handling deadline; the worker dies; the retried task runs after the
    # deadline, decides DeadlineMissed first at v6, and finds v6 taken.
    h = crash.harness
    case = await h.submit()
    await to_handling_near_its_deadline(case, seconds_left=MARGIN)
    await case.signal(hearing(case))
    await crash.died()
    assert crash.stored_types(case)[-1] == "HearingRecorded", "precondition: crash before due"
    await timer_fired(case)
    async with good_worker(crash):
        await stored(crash, case, "DeadlineMissed")
        state = await case.state()
    types = crash.stored_types(case)
    assert types.count("HearingRecorded") == 1
    assert types.index("HearingRecorded") < types.index("DeadlineMissed")
    assert state.hearings == 1 and state.deadlines[DeadlineKind.HANDLING].missed


@pytest.mark.crash_after("HearingRecorded")
async def test_an_update_committed_before_a_deadline_and_retried_after_it(crash: Crash) -> None:
    # The same with an update. The retried task runs the re-delivered update before
    # the main loop looks at the timer, so the update finds its own events stored
    # (same ids) and the deadline comes after: its caller gets an answer, the hearing
    # is stored once, the case runs on.
    h = crash.harness
    case = await h.submit()
    await to_handling_near_its_deadline(case, seconds_left=MARGIN)
    command = hearing(case)
    sent = asyncio.create_task(h.client.send(case.case_id, command.kind, command))
    await crash.died()
    await timer_fired(case)
    async with good_worker(crash):
        await stored(crash, case, "DeadlineMissed")
        result = await asyncio.wait_for(sent, 60)
    assert result is not None and result.command_id == command.command_id
    assert crash.stored_types(case).count("HearingRecorded") == 1


@pytest.mark.crash_after("CommandRejected")
async def test_a_rejection_for_clock_skew_committed_and_retried_past_the_limit(
    crash: Crash,
) -> None:
    # A signal whose issued_at is just past the allowed clock skew is rejected as
    # timestamp_in_future and committed; the worker dies; by the retry the clock has
    # passed that point and the same signal would be accepted, with other events (a
    # withdrawal writes two). The rejection happened, and the case stays open.
    h = crash.harness
    case = await h.submit()
    skew = timedelta(seconds=300)  # DeadlinePolicy.max_clock_skew_seconds
    issued_at = datetime.now(UTC) + skew + timedelta(seconds=MARGIN)
    withdraw = c.WithdrawPetition(
        command_id=f"t-{uuid.uuid4().hex[:16]}",
        actor=PETITIONER,
        issued_at=issued_at,
        reason="不再信访",
    )
    await case.signal(withdraw)
    await crash.died()
    assert crash.stored_types(case)[-1] == "CommandRejected"
    # The case's clock, the wall clock, passes the limit first.
    await asyncio.sleep(
        (issued_at - skew + timedelta(seconds=1) - datetime.now(UTC)).total_seconds()
    )
    marker = case.cmd(c.AcknowledgeReceipt, HANDLER)  # handled after the retried signal
    await case.signal(marker)
    async with good_worker(crash):
        state = await case.settled(marker.command_id)
    rejected = state.commands[withdraw.command_id]
    assert [e.type for e in rejected] == ["CommandRejected"]
    assert isinstance(rejected[0], ev.CommandRejected)
    assert rejected[0].code == "timestamp_in_future"
    assert state.closed_reason is None


async def test_an_update_that_lost_the_race_answers_with_its_rejection(
    petitions: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An update is decided on v1 while the stream already holds a v2 that a lost task
    # wrote (here: a transfer by another command, written just before the append).
    # The workflow catches up and decides the update again: the case is transferred
    # already, so the update is refused with wrong_stage, and nothing is left unapplied.
    case = await petitions.submit()
    first = case.cmd(c.TransferPetition, to_unit=COUNTY_UNIT)
    state = await case.state()
    lost = decide(state, first, datetime.now(UTC), DeadlinePolicy())
    assert isinstance(lost, Accepted)
    petitions.store.append(
        stream_id(case.case_id),
        state.version,
        [to_record(e, None, SEALER) for e in lost.events],
    )
    assert await case.rejected(c.TransferPetition, to_unit=PREFECTURE_UNIT) == "wrong_stage"
    state = await case.state()
    assert first.command_id in state.commands
    assert state.handling_unit == COUNTY_UNIT


@pytest.mark.crash_after("PetitionRegistered")
async def test_a_registration_committed_and_retried_later(crash: Crash) -> None:
    h = crash.harness
    case_id = f"T{uuid.uuid4().hex[:10]}"
    handle = await h.client.submit(
        case_id, make_intake(case_id, received_at=datetime.now(UTC).isoformat()), BUREAU
    )
    h.cases.append(Case(h, case_id, handle))
    await crash.died()
    first = h.store.read_stream(stream_id(case_id))
    assert [r.type for r in first] == ["PetitionRegistered"]
    async with good_worker(crash):
        transferred = await h.cases[-1].ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    assert transferred.version == 2
    again = h.store.read_stream(stream_id(case_id))
    assert again[0].data == first[0].data and again[0].recorded_at == first[0].recorded_at


@pytest.mark.crash_after("CommandRejected")
async def test_a_malformed_signal_committed_before_a_deadline_and_retried_after_it(
    crash: Crash,
) -> None:
    # A signal with no command_id gets a generated one; the retry must draw the same
    # id after catching up on the deadline, and find its rejection stored: one
    # CommandRejected, not two.
    h = crash.harness
    case = await h.submit()
    await to_handling_near_its_deadline(case, seconds_left=MARGIN)
    await case.handle.signal("record_hearing", {"summary": "没有命令编号"})
    await crash.died()
    assert crash.stored_types(case)[-1] == "CommandRejected", "precondition: crash before due"
    await timer_fired(case)
    async with good_worker(crash):
        await stored(crash, case, "DeadlineMissed")
    types = crash.stored_types(case)
    assert types.count("CommandRejected") == 1, types
    assert types.index("CommandRejected") < types.index("DeadlineMissed")
