"""DisputeWorkflow on the real dev server: the three outcomes, the mediation's time limit
on a durable timer (per-workflow time skipping), the conversion into a real case that
names the dispute (once, however often it is sent), the escalation reaching
``conference-<township code>``, and the parties kept out of search attributes, the UI's
texts and the logs. Every history is replayed afterwards; the recorded fixtures in
``tests/fixtures/dispute_histories`` too (``PETITIONFLOW_RECORD_DISPUTES=1`` rewrites
them).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from petitionflow.activities.dispute import from_record
from petitionflow.activities.records import from_record as case_from_record
from petitionflow.activities.records import stream_id as case_stream_id
from petitionflow.client import PetitionClient, PetitionError
from petitionflow.client.conference import conference_state, record_meeting
from petitionflow.client.dispute import DisputeClient
from petitionflow.domain import conference as cf
from petitionflow.domain import dispute as d
from petitionflow.domain.values import Actor
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.directory import DirectoryStore
from petitionflow.workers.main import build_worker
from petitionflow.workflows import search
from petitionflow.workflows.dispute import DisputeWorkflow
from petitionflow.workflows.dispute_contract import dispute_stream_id, dispute_workflow_id
from testkit.builders import COUNTY_UNIT
from testkit.directory import slice_units
from testkit.disputes import (
    MEDIATOR,
    OFFICER,
    PARTY_NAMES,
    PARTY_PHONES,
    TOWNSHIP_CODE,
    TOWNSHIP_MEDIATOR,
    TOWNSHIP_OFFICE,
    VILLAGE_CODE,
    make_report,
    place_data,
)
from testkit.keys import CONVERTER, HASHER, SEALER

FIXTURES = Path(__file__).parent / "fixtures" / "dispute_histories"
RECORD = os.environ.get("PETITIONFLOW_RECORD_DISPUTES") == "1"
CONFERENCE_ID = f"conference-{TOWNSHIP_CODE}"
SECRETARY = Actor(unit=TOWNSHIP_OFFICE, person="联席会议秘书")


@pytest.fixture
def store_url(sqlite_url: str) -> str:
    """SQLite: the store's behaviour on PostgreSQL is the case suites' (same append)."""
    return sqlite_url


class Harness:
    def __init__(self, env: WorkflowEnvironment, store: EventStore, task_queue: str) -> None:
        self.env, self.store = env, store
        self.client = DisputeClient(env.client, task_queue=task_queue, store=store)
        self.petitions = PetitionClient(
            env.client, task_queue=task_queue, store=store, sealer=SEALER
        )
        self.ids: list[str] = []

    async def report(self, **overrides: Any) -> str:
        dispute_id = f"D-{TOWNSHIP_CODE}-{uuid.uuid4().hex[:6]}"
        report = make_report(dispute_id, datetime.now(UTC), **overrides)
        await self.client.report(report)
        await self.client.reported(dispute_id)
        self.ids.append(dispute_id)
        return dispute_id

    async def ok(
        self, dispute_id: str, cls: type[d.DisputeCommandBase], actor: Actor = MEDIATOR, **f: Any
    ) -> Any:
        cmd = cls(
            command_id=f.pop("command_id", f"t-{uuid.uuid4().hex[:12]}"),
            actor=actor,
            issued_at=datetime.now(UTC),
            **f,
        )
        return await self.client.send(dispute_id, cmd.kind, cmd)  # type: ignore[attr-defined]

    async def refused(
        self, dispute_id: str, cls: type[d.DisputeCommandBase], actor: Actor = MEDIATOR, **f: Any
    ) -> str:
        try:
            await self.ok(dispute_id, cls, actor, **f)
        except PetitionError as exc:
            return exc.code
        raise AssertionError(f"{cls.__name__} was accepted")

    def events(self, dispute_id: str) -> list[Any]:
        return [from_record(r) for r in self.store.read_stream(dispute_stream_id(dispute_id))]

    async def check(self) -> None:
        for dispute_id in self.ids:
            records = self.store.read_stream(dispute_stream_id(dispute_id))
            assert [r.version for r in records] == list(range(1, len(records) + 1))
            state = await self.client.state(dispute_id)
            assert d.fold(from_record(r) for r in records) == state, dispute_id
            assert self.store.verify(dispute_stream_id(dispute_id)).ok
            handle = self.client.handle(dispute_id)
            history = await handle.fetch_history()
            for event in history.events:
                assert event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, dispute_id
            await Replayer(workflows=[DisputeWorkflow], data_converter=CONVERTER).replay_workflow(
                history
            )


@pytest.fixture
async def disputes(temporal_env: WorkflowEnvironment, store: EventStore) -> AsyncIterator[Harness]:
    task_queue = f"disputes-{uuid.uuid4().hex[:8]}"
    # the unit directory the reports' villages are checked against
    DirectoryStore(store.engine).load(slice_units(), date(2020, 1, 1), "test slice")
    harness = Harness(temporal_env, store, task_queue)
    async with build_worker(temporal_env.client, store, SEALER, task_queue, hasher=HASHER):
        yield harness
        await harness.check()


async def _record(h: Harness, dispute_id: str, name: str) -> None:
    if not RECORD:
        return
    history = await h.client.handle(dispute_id).fetch_history()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    body = {
        "workflow_id": dispute_workflow_id(dispute_id),
        "history": json.loads(history.to_json()),
    }
    (FIXTURES / f"{name}.json").write_text(json.dumps(body, indent=1), encoding="utf-8")


async def _finished(h: Harness, dispute_id: str) -> d.DisputeState:
    summary = await asyncio.wait_for(h.client.handle(dispute_id).result(), 20)
    assert summary.status == "closed"
    return await h.client.state(dispute_id)


def _no_personal_data(text: str) -> None:
    for secret in (*PARTY_NAMES, *PARTY_PHONES):
        assert secret not in text, f"personal data {secret!r} in {text[:200]!r}"


# ---- the three outcomes --------------------------------------------------------------


async def test_resolved_with_agreement_and_follow_up(
    disputes: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    h = disputes
    did = await h.report()
    started = await h.ok(did, d.StartMediation, level="village")
    assert started.status == "mediating" and started.events == ["DisputeMediationStarted"]
    assert await h.refused(did, d.RecordResolution, TOWNSHIP_MEDIATOR, agreement="x") == (
        "not_the_mediator"
    )
    await h.ok(did, d.RecordResolution, agreement="双方以田埂为界，果树于秋后移栽。")
    today = d.DisputePolicy().local_date(datetime.now(UTC))
    done = await h.ok(did, d.RecordFollowUp, OFFICER, visited_on=today, outcome="协议已履行")
    assert done.events == ["DisputeFollowedUp", "DisputeClosed"]
    state = await _finished(h, did)
    assert state.outcome is d.Outcome.RESOLVED and state.followed_up_on == today
    desc = await h.client.handle(did).describe()
    attrs = desc.typed_search_attributes
    assert attrs.get(search.STAGE) == "closed_resolved"
    assert attrs.get(search.PLACE_CODES) == [VILLAGE_CODE, TOWNSHIP_CODE, "653121"]
    assert attrs.get(search.TOWNSHIP) == "托克扎克镇"
    assert attrs.get(search.HANDLING_UNIT) == MEDIATOR.unit
    assert attrs.get(search.CLASSIFICATION) == "land_contract"
    assert attrs.get(search.NEXT_DEADLINE) is None and attrs.get(search.OVERDUE) is False
    found = [
        wf.id
        async for wf in h.env.client.list_workflows(
            f'WorkflowType = "DisputeWorkflow" AND PlaceCodes = "{TOWNSHIP_CODE}" '
            'AND Stage = "closed_resolved"'
        )
    ]
    assert dispute_workflow_id(did) in found
    # the parties: nowhere but the encrypted payloads and the store
    _no_personal_data(str([(p.key.name, p.value) for p in attrs]))
    _no_personal_data(str(await desc.static_summary()) + str(await desc.static_details()))
    _no_personal_data("\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records))
    history = await h.client.handle(did).fetch_history()
    _no_personal_data(history.to_json())  # every payload in history is ciphertext
    assert PARTY_NAMES[0] in json.dumps(
        [r.data for r in h.store.read_stream(dispute_stream_id(did))], ensure_ascii=False
    )
    await _record(h, did, "resolved")


async def test_conversion_starts_one_case_that_names_the_dispute(disputes: Harness) -> None:
    h = disputes
    did = await h.report()
    assert await h.refused(
        did, d.ConvertToPetition, registering_office="疏附县信访局", request="r"
    ) == ("mediation_not_started")
    await h.ok(did, d.StartMediation, level="township")
    fields: dict[str, Any] = {
        "registering_office": "疏附县信访局",
        "petitioner": 1,
        "request": "请求确认承包地边界并移除对方所种果树",
        "command_id": f"convert-{did}",
    }
    first = await h.ok(did, d.ConvertToPetition, **fields)
    assert first.case_id == did and first.events == ["DisputeConverted", "DisputeClosed"]
    again = await h.ok(did, d.ConvertToPetition, **fields)  # the same command: a repeat
    assert again.duplicate and again.case_id == did
    other = dict(fields, command_id=f"convert-again-{did}")
    assert await h.refused(did, d.ConvertToPetition, **other) == "dispute_closed"
    state = await _finished(h, did)
    assert state.case_id == did and state.outcome is d.Outcome.CONVERTED
    attrs = (await h.client.handle(did).describe()).typed_search_attributes
    assert attrs.get(search.LINKED_CASES) == [did]  # the dispute, found from the case id
    # the case: one registration, from the dispute, with the chosen party
    case = await h.petitions.registered(did)
    assert case.correlation_id == f"dispute:{did}"
    assert case.intake is not None and case.intake.petitioner.name == PARTY_NAMES[1]
    assert case.registered_by == "疏附县信访局"
    records = h.store.read_stream(case_stream_id(did))
    assert [r.type for r in records].count("PetitionRegistered") == 1
    assert records[0].metadata["correlation_id"] == f"dispute:{did}"
    assert case_from_record(records[0], SEALER).case_id == did
    await _record(h, did, "converted")


async def test_conversion_retried_by_signal_is_one_case(disputes: Harness) -> None:
    """The same command as a signal and as an update: whichever comes first converts,
    the other is a repeat."""
    h = disputes
    did = await h.report()
    await h.ok(did, d.StartMediation, level="village")
    cmd = d.ConvertToPetition(
        command_id=f"convert-{did}",
        actor=MEDIATOR,
        issued_at=datetime.now(UTC),
        registering_office="疏附县信访局",
        request="请求确权",
    )
    await h.client.send(did, "convert_to_petition", cmd, wait=False)
    answer = await h.client.send(did, "convert_to_petition", cmd)
    assert answer is not None and answer.case_id == did
    await _finished(h, did)
    types = [e.type for e in h.events(did)]
    assert types.count("DisputeConverted") == 1 and "DisputeCommandRejected" not in types
    assert len(h.store.read_stream(case_stream_id(did))) >= 1


async def test_escalation_reaches_the_township_conference(disputes: Harness) -> None:
    """Escalated, the dispute joins the agenda of its township's joint conference (started
    by signal-with-start, its office the township's petition office in the unit
    directory); the conference's meeting decides it, and the decision closes it."""
    h = disputes
    did = await h.report(urgency="urgent")
    await h.ok(did, d.StartMediation, level="township")
    decision = {"lead_unit": COUNTY_UNIT.model_dump(), "plan": "镇司法所牵头，人社所配合"}
    assert (
        await h.refused(
            did,
            d.RecordConferenceDecision,
            SECRETARY,
            command_id=f"conference:{TOWNSHIP_CODE}:1:{did}",
            **decision,
        )
        == "not_escalated"
    )
    result = await h.ok(did, d.EscalateToConference, reason="mediation_failed")
    assert result.conference_id == CONFERENCE_ID and result.status == "escalated"
    conference = h.env.client.get_workflow_handle(CONFERENCE_ID)
    desc = await conference.describe()
    assert desc.workflow_type == "JointConferenceWorkflow"
    assert desc.status == WorkflowExecutionStatus.RUNNING
    agenda = await conference_state(h.env.client, TOWNSHIP_CODE)
    assert agenda.office == SECRETARY.unit
    item = agenda.items[f"dispute:{did}"]
    assert item.reason == "mediation_failed" and item.place.township == "托克扎克镇"
    _no_personal_data(json.dumps(agenda.model_dump(mode="json"), ensure_ascii=False))
    assert (
        await h.refused(
            did,
            d.RecordConferenceDecision,
            SECRETARY,
            command_id=f"conference:653121999:1:{did}",
            **decision,
        )
        == "not_the_conference"
    )
    now = datetime.now(UTC)
    minutes = cf.RecordMeeting(
        command_id=f"meeting-{did}",
        actor=SECRETARY,
        issued_at=now,
        held_at=now,
        attendance=(SECRETARY.unit, "疏附县托克扎克镇人民政府"),
        decisions=(
            cf.MeetingDecision(
                subject="dispute",
                subject_id=did,
                lead_unit=COUNTY_UNIT,
                plan="镇司法所牵头，人社所配合",
                supervise=True,
                correction_days=10,
            ),
        ),
    )
    held = await record_meeting(h.env.client, TOWNSHIP_CODE, minutes)
    assert [x.decision_command_id for x in held.decided] == [f"conference:{TOWNSHIP_CODE}:1:{did}"]
    closed = await _finished(h, did)  # the conference's activity delivered the decision
    assert closed.outcome is d.Outcome.ESCALATED and closed.conference_decided
    types = [e.type for e in h.events(did)]
    assert types[-2:] == ["DisputeConferenceDecided", "DisputeClosed"]
    await _record(h, did, "escalated")


# ---- the mediation's time limit -------------------------------------------------------


async def test_overdue_mediation_on_the_timer_once(disputes: Harness) -> None:
    h = disputes
    did = await h.report(urgency="urgent")
    started = await h.ok(did, d.StartMediation, level="village")
    state = await h.client.state(did)
    assert state.due is not None and started.status == "mediating"
    attrs = (await h.client.handle(did).describe()).typed_search_attributes
    assert attrs.get(search.NEXT_DEADLINE) == state.due_at
    handle = h.client.handle(did)
    await h.env.fast_forward(handle, timedelta(days=6))
    await asyncio.sleep(0.5)
    assert not (await h.client.state(did)).overdue  # 7 days: not yet
    await h.env.fast_forward(handle, timedelta(days=3))
    for _ in range(100):
        if (state := await h.client.state(did)).overdue:
            break
        await asyncio.sleep(0.05)
    assert state.overdue and state.status is d.DisputeStatus.MEDIATING
    await h.env.fast_forward(handle, timedelta(days=30))
    await asyncio.sleep(0.5)
    types = [e.type for e in h.events(did)]
    assert types.count("DisputeOverdue") == 1
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(search.STAGE) == "mediating" and attrs.get(search.OVERDUE) is True
    # late, it can still end: here by escalation
    await h.ok(did, d.EscalateToConference, reason="mediation_overdue")
    assert (await h.client.state(did)).status is d.DisputeStatus.ESCALATED
    await _record(h, did, "overdue_escalated")


# ---- refusals and signals ------------------------------------------------------------


async def test_refused_signal_is_recorded_and_bad_updates_never_enter_history(
    disputes: Harness,
) -> None:
    h = disputes
    did = await h.report()
    assert await h.refused(did, d.RecordFollowUp, visited_on="2026-03-01", outcome="x") == (
        "wrong_status"
    )
    handle = h.client.handle(did)
    await handle.signal("record_rating", {"command_id": "bogus-1"})
    await h.client.send(
        did,
        "record_resolution",
        {
            "command_id": "sig-1",
            "actor": MEDIATOR.model_dump(),
            "issued_at": datetime.now(UTC).isoformat(),
            "agreement": "x",
        },
        wait=False,
    )
    for _ in range(100):
        state = await h.client.state(did)
        if "sig-1" in state.commands:
            break
        await asyncio.sleep(0.05)
    rejected = [e for e in h.events(did) if e.type == "DisputeCommandRejected"]
    assert [(e.causation_id, e.code) for e in rejected] == [
        ("bogus-1", "unknown_command"),
        ("sig-1", "mediation_not_started"),
    ]
    with pytest.raises(PetitionError) as err:
        await h.client.send(did, "record_rating", {})
    assert err.value.code == "unknown_command"


async def test_a_dispute_id_is_used_once(disputes: Harness) -> None:
    h = disputes
    did = await h.report()
    with pytest.raises(PetitionError) as err:
        await h.client.report(make_report(did, datetime.now(UTC)))
    assert err.value.code == "duplicate_dispute"


# ---- recorded histories --------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_dispute_history_replays(path: Path) -> None:
    body = json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    history = WorkflowHistory.from_json(body["workflow_id"], body["history"])
    await Replayer(workflows=[DisputeWorkflow], data_converter=CONVERTER).replay_workflow(history)


async def test_a_report_from_a_village_the_directory_lacks_is_refused(disputes: Harness) -> None:
    """With the unit directory loaded, the report's village code must be an active village
    of the directory, in the township the report names."""
    elsewhere = {**place_data(), "village_code": "653121204001"}  # 站敏乡's village
    dispute_id = f"D-{TOWNSHIP_CODE}-{uuid.uuid4().hex[:6]}"
    report = make_report(dispute_id, datetime.now(UTC), place=elsewhere)
    await disputes.client.report(report)
    with pytest.raises(Exception) as failed:
        await asyncio.wait_for(disputes.client.handle(dispute_id).result(), 20)
    assert "unknown_village" in repr(failed.value.__cause__ or failed.value)
    assert disputes.store.read_stream(dispute_stream_id(dispute_id)) == []
