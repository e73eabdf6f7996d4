"""PetitionWorkflow on the real dev server, against SQLite and PostgreSQL stores."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import TimeSkippingConfig, WorkflowEnvironment

from petitionflow.activities.records import stream_id
from petitionflow.client import PetitionError
from petitionflow.domain import commands as c
from petitionflow.domain.policy import DeadlineKind
from petitionflow.domain.state import Stage
from petitionflow.eventstore import EventStore, NewEvent
from petitionflow.workers.devserver import TIME_SKIPPING, temporal_binary
from petitionflow.workers.main import build_worker
from petitionflow.workflows import search
from petitionflow.workflows.contract import WORKFLOW_TASK_TIMEOUT, StartPetition
from testkit.builders import (
    BUREAU,
    COUNTY_UNIT,
    HANDLER,
    PETITIONER,
    PREFECTURE_UNIT,
    REGION_UNIT,
    DecisionText,
    today,
)
from testkit.keys import CONVERTER, SEALER
from tests.conftest import DEV_SERVER_STARTUP
from tests.temporal import Case, Harness, grow_history

DECISION: DecisionText = {"decision": "不予支持", "legal_basis": "《信访工作条例》第三十二条"}
PREFECTURE_ACTOR = BUREAU.model_copy(update={"unit": PREFECTURE_UNIT.name})


async def to_handling(case: Case) -> Case:
    await case.ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    await case.ok(c.AcknowledgeReceipt, HANDLER)
    await case.ok(c.AcceptPetition, HANDLER)
    return case


async def to_replied(case: Case, delivered: bool = True) -> Case:
    """A written reply issued and, unless ``delivered=False``, delivered that day."""
    await to_handling(case)
    await case.advance(20)
    await case.ok(c.IssueDecision, HANDLER, outcome="not_support", **DECISION)
    if delivered:
        await case.ok(c.RecordDelivery, HANDLER, document="reply", method="in_person")
    return case


async def update_events(case: Case) -> int:
    n = 0
    async for e in case.handle.fetch_history_events():
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            n += 1
    return n


async def test_registration_writes_the_first_event_and_opens_routing(petitions: Harness) -> None:
    case = await petitions.submit()
    await case.ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    state = await case.state()
    assert [e.type for e in case.events()] == ["PetitionRegistered", "PetitionTransferred"]
    assert set(state.deadlines) == {DeadlineKind.NOTIFICATION, DeadlineKind.OBJECTION}
    desc = await case.handle.describe()
    assert desc.typed_search_attributes.get(search.STAGE) == "routed"
    assert desc.typed_search_attributes.get(search.PREFECTURE) == "喀什地区"


async def test_a_duplicate_case_id_is_refused(petitions: Harness) -> None:
    case = await petitions.submit()
    with pytest.raises(Exception, match="duplicate_case"):
        await petitions.submit(case.case_id)


async def test_a_case_id_whose_workflow_temporal_forgot_is_refused(petitions: Harness) -> None:
    # After Temporal's retention a closed case's workflow id is free again, but its
    # stream is still in the store: the client refuses to register over it. (The worker
    # refuses too, for a client without the store: tests/test_activities.py.)
    old = await petitions.submit()
    case_id = f"T{uuid.uuid4().hex[:10]}"
    stream = petitions.store.read_stream(stream_id(old.case_id))
    petitions.store.append(
        stream_id(case_id),
        0,
        [NewEvent(uuid.uuid4(), r.type, r.schema_version, r.data, r.metadata) for r in stream],
    )
    with pytest.raises(PetitionError, match=r"duplicate_case.*already has events in the store"):
        await petitions.submit(case_id)


async def test_a_repeated_command_gives_one_set_of_events(petitions: Harness) -> None:
    case = await petitions.submit()
    command = case.cmd(c.TransferPetition, to_unit=COUNTY_UNIT)
    first = await petitions.client.send(case.case_id, command.kind, command)
    again = await petitions.client.send(case.case_id, command.kind, command)
    assert first is not None and again is not None
    assert (first.duplicate, again.duplicate, again.events) == (False, True, first.events)
    await case.signal(command)  # and once more as a signal
    ack = case.cmd(c.AcknowledgeReceipt, HANDLER)
    await asyncio.gather(  # the same command twice at once, as update and as signal
        petitions.client.send(case.case_id, ack.kind, ack),
        petitions.client.send(case.case_id, ack.kind, ack, wait=False),
    )
    state = await case.settled(ack.command_id)
    assert [e.type for e in case.events()] == [
        "PetitionRegistered",
        "PetitionTransferred",
        "ReceiptAcknowledged",
    ]
    assert state.version == 3


async def test_an_invalid_update_is_refused_before_history(petitions: Harness) -> None:
    case = await petitions.submit()
    before = await update_events(case)
    # Through the client: a state rule.
    assert await case.rejected(c.AcceptPetition, HANDLER) == "wrong_stage"
    # Raw, past the client's own checks: a malformed payload and an unknown field.
    for payload, code in [
        ({"command_id": "x", "actor": {"unit": "u"}}, "invalid_command"),
        (
            {
                "command_id": "x",
                "actor": {"unit": "u", "person": "p"},
                "issued_at": datetime.now(UTC).isoformat(),
                "to_unit": "not a unit",
            },
            "invalid_command",
        ),
    ]:
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await case.handle.execute_update("transfer_petition", payload)
        assert isinstance(err.value.cause, ApplicationError) and err.value.cause.type == code
    # A name that is no command, and two arguments where the command is the only one.
    for name, args, code in [
        ("close_everything", [{"command_id": "y"}], "unknown_command"),
        ("transfer_petition", [{"command_id": "z"}, {}], "invalid_command"),
    ]:
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await case.handle.execute_update(name, args=args)
        assert isinstance(err.value.cause, ApplicationError) and err.value.cause.type == code
    assert await update_events(case) == before
    assert [e.type for e in case.events()] == ["PetitionRegistered"]


async def test_invalid_signals_are_recorded_and_the_workflow_carries_on(petitions: Harness) -> None:
    case = await petitions.submit()
    await case.handle.signal("accept_petition", {"command_id": "sig-bad-1", "actor": 42})
    await case.handle.signal("accept_petition", ["not", "an", "object"])
    await case.handle.signal("close_everything", {"command_id": "sig-bad-2"})
    illegal = case.cmd(c.AcceptPetition, HANDLER)  # well-formed, wrong stage
    await case.signal(illegal)
    state = await case.settled(illegal.command_id)
    assert {"sig-bad-1", "sig-bad-2"} <= set(state.commands)
    rejected = [e for e in case.events() if e.type == "CommandRejected"]
    assert [(e.command_kind, e.code) for e in rejected] == [
        ("accept_petition", "invalid_command"),
        ("accept_petition", "invalid_command"),
        ("close_everything", "unknown_command"),
        ("accept_petition", "wrong_stage"),
    ]
    assert state.stage is Stage.REGISTERED
    await case.signal(illegal)  # a repeat of a rejected signal is ignored
    await case.ok(c.TransferPetition, to_unit=COUNTY_UNIT)  # the case carries on
    assert len([e for e in case.events() if e.type == "CommandRejected"]) == 4


async def test_a_second_extension_is_refused(petitions: Harness) -> None:
    case = await to_handling(await petitions.submit())
    due = (await case.state()).deadlines[DeadlineKind.HANDLING].due
    await case.advance(40)
    await case.ok(c.ExtendHandling, HANDLER, days=30, reason="需补充调查", approved_by="局长")
    assert await case.rejected(
        c.ExtendHandling, HANDLER, days=5, reason="再延", approved_by="局长"
    ) == ("extension_already_used")
    moved = (await case.state()).deadlines[DeadlineKind.HANDLING]
    assert (moved.due - due).days >= 30
    await case.advance(30)  # day 70: past the original end, not overdue: the timer moved
    assert not (await case.state()).overdue
    await case.advance(25)  # day 95: past the extended end
    state = await case.state()
    assert state.overdue and state.supervised
    notices = petitions.client_outbox(case.case_id)
    assert [(n.kind, n.recipient) for n in notices] == [
        ("reminder", COUNTY_UNIT.name),
        ("supervision", COUNTY_UNIT.name),
        (
            "reminder",
            BUREAU.unit,
        ),  # the registering office's copy (patch remind-registering-office)
    ]
    patches = [
        e
        async for e in case.handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    # quick-updates only: a run under it takes the patches before it as given (among
    # them unit-directory and remind-registering-office, whose copy to the office is checked above)
    assert len(patches) == 1


async def test_a_review_requested_after_the_window_is_refused(petitions: Harness) -> None:
    case = await to_replied(await petitions.submit())
    await case.ok(c.RecordRating, PETITIONER, rating="dissatisfied")
    await case.advance(40)  # the 30-day window (run on to a working day) passes: the case closes
    code = await case.rejected(
        c.RequestReview, PETITIONER, review_unit=PREFECTURE_UNIT, reasons="不服"
    )
    assert code == "review_window_closed"
    state = await case.state()
    assert state.stage is Stage.CLOSED and state.closed_reason == "resolved"


async def test_re_review_is_final(petitions: Harness) -> None:
    case = await to_replied(await petitions.submit())
    await case.ok(c.RequestReview, PETITIONER, review_unit=PREFECTURE_UNIT, reasons="不服")
    await case.advance(10)
    await case.ok(c.DecideReview, PREFECTURE_ACTOR, outcome="not_support", **DECISION)
    await case.ok(c.ReplyReview, PREFECTURE_ACTOR)
    await case.ok(c.RecordDelivery, PREFECTURE_ACTOR, document="review_reply", method="post")
    await case.ok(c.RequestReReview, PETITIONER, review_unit=REGION_UNIT, reasons="仍不服")
    await case.ok(c.RecordHearing, held_from=today(), held_to=today(), summary="听证")
    await case.ok(c.DecideReReview, outcome="not_support", **DECISION)
    assert (await case.ok(c.ReplyReReview)).events == ["ReviewReplied"]
    result = await case.ok(c.RecordDelivery, document="re_review_reply", method="post")
    assert result.events == ["DeliveryRecorded", "CaseClosed"]
    summary = await case.handle.result()
    assert summary.final and summary.closed_reason == "final"
    for cls, unit in ((c.RequestReReview, REGION_UNIT), (c.RequestReview, PREFECTURE_UNIT)):
        assert await case.rejected(cls, PETITIONER, review_unit=unit, reasons="再申请") == (
            "final_no_further_review"
        )


async def _withdraw_in(petitions: Harness, stage: Stage) -> Case:
    case = await petitions.submit()
    if stage is not Stage.REGISTERED:
        await case.ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    if stage in (Stage.HANDLING, Stage.CONFERENCE) or stage.value.startswith(
        ("repl", "rev", "re_")
    ):
        await case.ok(c.AcceptPetition, HANDLER)
    if stage is Stage.CONFERENCE:
        await case.ok(c.EscalateToConference, reason="major_or_urgent")
    if stage in (Stage.REPLIED, Stage.REVIEW, Stage.REVIEW_REPLIED, Stage.RE_REVIEW):
        await case.ok(c.IssueDecision, HANDLER, outcome="explain", **DECISION)
    if stage in (Stage.REVIEW, Stage.REVIEW_REPLIED, Stage.RE_REVIEW):
        await case.ok(c.RecordDelivery, HANDLER, document="reply", method="post")
        await case.ok(c.RequestReview, PETITIONER, review_unit=PREFECTURE_UNIT, reasons="不服")
    if stage in (Stage.REVIEW_REPLIED, Stage.RE_REVIEW):
        await case.ok(c.DecideReview, PREFECTURE_ACTOR, outcome="explain", **DECISION)
        await case.ok(c.ReplyReview, PREFECTURE_ACTOR)
    if stage is Stage.RE_REVIEW:
        await case.ok(c.RecordDelivery, PREFECTURE_ACTOR, document="review_reply", method="post")
        await case.ok(c.RequestReReview, PETITIONER, review_unit=REGION_UNIT, reasons="仍不服")
    assert (await case.state()).stage is stage
    result = await case.ok(c.WithdrawPetition, PETITIONER, reason="自愿撤回")
    assert result.events == ["PetitionWithdrawn", "CaseClosed"]
    summary = await case.handle.result()
    assert summary.closed_reason == "withdrawn"
    return case


async def test_withdrawal_in_every_stage(petitions: Harness) -> None:
    stages = [s for s in Stage if s not in (Stage.NEW, Stage.CLOSED)]
    cases = await asyncio.gather(*(_withdraw_in(petitions, s) for s in stages))
    for case in cases:
        assert (await case.state()).deadlines == {}
        assert await case.rejected(c.WithdrawPetition, PETITIONER) == "case_closed"


# ---- continue-as-new: a server that suggests it after a few events -------------------


@pytest.fixture(scope="module")
async def small_history_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping_v2(
        ts_config=TimeSkippingConfig(enabled=False),
        dev_server_existing_path=temporal_binary(),
        dev_server_startup_timeout=DEV_SERVER_STARTUP,
        dev_server_extra_args=[
            *TIME_SKIPPING,
            "--dynamic-config-value",
            "limit.historyCount.suggestContinueAsNew=40",
        ],
        search_attributes=search.ALL,
        data_converter=CONVERTER,
    )
    yield env
    await env.shutdown()


async def test_continue_as_new_carries_the_case(
    small_history_env: WorkflowEnvironment, store: EventStore
) -> None:
    task_queue = f"can-{uuid.uuid4().hex[:6]}"
    harness = Harness(small_history_env, store, task_queue)
    async with build_worker(small_history_env.client, store, SEALER, task_queue):
        case = await harness.submit()
        first_run = (await case.handle.describe()).run_id
        await to_handling(case)
        await grow_history(case, 12)
        await case.advance(70)  # the handling timer still fires in the new run
        await case.ok(c.IssueDecision, HANDLER, outcome="explain", **DECISION)
        runs = [
            wf.run_id
            async for wf in small_history_env.client.list_workflows(
                f'WorkflowId = "{case.handle.id}"'
            )
        ]
        assert len(set(runs)) >= 2 and first_run in runs
        state = await case.state()
        assert state.hearings == 12 and state.overdue is False and state.stage is Stage.REPLIED
        assert any(e.type == "DeadlineMissed" for e in case.events())
        # both runs keep the short workflow task timeout (a dead worker's task moves on)
        for run_id in set(runs):
            desc = await small_history_env.client.get_workflow_handle(
                case.handle.id, run_id=run_id
            ).describe()
            timeout = desc.raw_description.execution_config.default_workflow_task_timeout
            assert timeout.ToTimedelta() == WORKFLOW_TASK_TIMEOUT
        # The client sent the holiday calendar with the first run's start (patch
        # "calendar-from-start": the run did not read it); the runs after carry that
        # same snapshot in their policy.
        snapshots = []
        for which in (first_run, None):
            history = await small_history_env.client.get_workflow_handle(
                case.handle.id, run_id=which
            ).fetch_history()
            started = history.events[0].workflow_execution_started_event_attributes
            (start,) = await CONVERTER.decode(started.input.payloads, [StartPetition])
            snapshots.append(start.policy.calendar)
        assert snapshots[0] is not None and snapshots[1] == snapshots[0]
        await harness.check()
