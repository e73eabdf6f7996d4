"""JointConferenceWorkflow on the real dev server with a real worker and store: the
agenda by signal-with-start, meetings on their timer (per-workflow time skipping),
decisions reaching real PetitionWorkflow cases, refusals, supervision, continue-as-new."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata

from petitionflow.client import PetitionError
from petitionflow.client.conference import record_meeting, send
from petitionflow.domain import conference as cf
from petitionflow.domain.state import Stage
from petitionflow.domain.values import Actor
from petitionflow.workers.ui_metadata import METADATA_QUERY
from petitionflow.workflows import search
from petitionflow.workflows.conference_contract import ConferenceView
from testkit.builders import COUNTY_UNIT, OTHER_COUNTY_UNIT
from tests.conference import SECRETARY, Conference, decision, escalated_case, meeting_due
from tests.temporal import Harness


@pytest.fixture
async def conference(petitions: Harness) -> AsyncIterator[Conference]:
    conf = Conference(petitions)
    yield conf
    await conf.check()
    await conf.stop()


async def details_of(conf: Conference) -> str:
    handle = conf.client.get_workflow_handle(cf.workflow_id(conf.code))
    metadata = await handle.query(METADATA_QUERY, result_type=WorkflowMetadata)
    return str(metadata.current_details)


def holds_items(n: int) -> Callable[[ConferenceView], bool]:
    return lambda v: len(v.state.items) == n


async def test_joining_twice_adds_the_item_once(conference: Conference) -> None:
    await conference.join("KS-A1")
    await conference.join("KS-A1")  # the same command_id: ignored
    await conference.join("KS-A2")
    view = await conference.until("had two items", lambda v: len(v.state.items) == 2)
    assert sorted(view.state.items) == ["case:KS-A1", "case:KS-A2"]
    assert conference.types() == ["AgendaItemAdded", "AgendaItemAdded"]
    desc = await conference.client.get_workflow_handle(cf.workflow_id(conference.code)).describe()
    assert desc.run_id == conference.first_run  # one run, started by the first join
    attrs = desc.typed_search_attributes
    assert attrs.get(search.CONFERENCE_OPEN_ITEMS) == 2
    assert conference.code in (attrs.get(search.CONFERENCE_PLACE) or [])
    assert attrs.get(search.CONFERENCE_NEXT_MEETING) == view.next_meeting_at
    details = await details_of(conference)
    assert "`case:KS-A1` pending" in details and "**Open items:** 2" in details


async def test_a_meeting_falls_due_on_its_timer(conference: Conference) -> None:
    await conference.join("KS-B1")
    view = await conference.until("started", lambda v: bool(v.state.items))
    first = view.next_meeting_at
    assert first is not None and first.astimezone(cf.SHANGHAI).weekday() == 1  # Tuesday
    assert first.astimezone(cf.SHANGHAI).strftime("%H:%M") == "10:00"
    await meeting_due(conference)
    view = await conference.view()
    assert view.state.meeting_due is not None
    assert view.state.meeting_due.scheduled_for == first
    assert conference.types() == ["AgendaItemAdded", "ConferenceMeetingDue"]
    # the minutes: the meeting held, the next one scheduled a week after the first
    result = await conference.meeting()
    assert result.meeting_no == 1 and result.decided == []
    view = await conference.until("held it", lambda v: v.state.meeting_due is None)
    assert view.state.meetings_held == 1
    assert view.next_meeting_at is not None and view.next_meeting_at > first


async def test_only_the_office_records_a_meeting_and_only_agenda_items(
    conference: Conference, petitions: Harness
) -> None:
    await conference.join("KS-C1")
    await conference.until("started", lambda v: bool(v.state.items))
    with pytest.raises(PetitionError) as err:
        await conference.meeting(
            cf.MeetingDecision(
                subject="case", subject_id="KS-NOT-THERE", lead_unit=COUNTY_UNIT, plan="x"
            )
        )
    assert err.value.code == "not_on_agenda"
    meeting = cf.RecordMeeting(
        command_id="m-wrong",
        actor=Actor(unit="疏附县信访局", person="x"),
        issued_at=datetime.now(UTC),
        held_at=datetime.now(UTC),
        attendance=("疏附县信访局",),
    )
    with pytest.raises(PetitionError) as err:
        await record_meeting(conference.client, conference.code, meeting)
    assert err.value.code == "not_the_conference_office"
    assert conference.types() == ["AgendaItemAdded"]  # a refused update writes nothing


async def test_a_decision_reaches_its_case_with_an_event_in_both_streams(
    conference: Conference, petitions: Harness
) -> None:
    case = await escalated_case(petitions)
    await conference.join(case.case_id)
    await meeting_due(conference)
    result = await conference.meeting(decision(case, supervise=True, correction_days=10))
    command_id = f"conference:{conference.code}:1:{case.case_id}"
    assert [d.decision_command_id for d in result.decided] == [command_id]
    view = await conference.until(
        "heard back from the case",
        lambda v: v.state.items[f"case:{case.case_id}"].status == "supervised",
    )
    # the case's stream: ConferenceDecided, caused by the contract's command_id
    decided = [e for e in case.events() if e.type == "ConferenceDecided"]
    assert len(decided) == 1 and decided[0].causation_id == command_id
    assert decided[0].actor == SECRETARY and decided[0].lead_unit == COUNTY_UNIT
    state = await case.state()
    assert state.handling_unit == COUNTY_UNIT and state.supervised
    # the conference's stream: the decision and the case's answer
    delivered = [e for e in conference.events() if e.type == "AgendaDecisionDelivered"]
    assert len(delivered) == 1 and delivered[0].accepted
    assert delivered[0].subject_events == ("ConferenceDecided",)
    assert view.state.items[f"case:{case.case_id}"].decision is not None


async def test_a_refused_decision_is_recorded_and_back_on_the_agenda(
    conference: Conference, petitions: Harness
) -> None:
    case = await escalated_case(petitions)
    await conference.join(case.case_id)
    await meeting_due(conference)
    # 伽师县住建局 does not cover the case's place (疏附县): the case refuses it
    await conference.meeting(decision(case, lead_unit=OTHER_COUNTY_UNIT.model_dump(mode="json")))
    key = f"case:{case.case_id}"
    view = await conference.until(
        "recorded the refusal", lambda v: v.state.items[key].last_refusal is not None
    )
    assert view.state.items[key].status == "pending"
    assert view.state.items[key].last_refusal == "unit_outside_jurisdiction"
    refused = [e for e in conference.events() if e.type == "AgendaDecisionDelivered"]
    assert len(refused) == 1 and not refused[0].accepted
    assert refused[0].code == "unit_outside_jurisdiction"
    assert (await case.state()).stage is Stage.CONFERENCE  # nothing changed in the case
    # decided again at the next meeting, this time with a unit that covers the case
    await conference.meeting(decision(case))
    await conference.until("closed the item", lambda v: key not in v.state.items)
    assert [e.type for e in case.events()].count("ConferenceDecided") == 1
    closed = [e for e in conference.events() if e.type == "AgendaItemClosed"]
    assert [e.reason for e in closed] == ["decided"]


async def test_supervision_goes_overdue_once_then_the_correction_closes_it(
    conference: Conference, petitions: Harness
) -> None:
    case = await escalated_case(petitions)
    await conference.join(case.case_id)
    await meeting_due(conference)
    await conference.meeting(decision(case, supervise=True, correction_days=3))
    key = f"case:{case.case_id}"
    await conference.until("supervised it", lambda v: v.state.items[key].status == "supervised")
    # the meeting was held today (real time); the conference's clock is 8 days ahead, so
    # a 3-day correction deadline is already past on its clock: the timer fires at once
    view = await conference.until("marked it overdue", lambda v: v.state.items[key].overdue)
    assert len(view.state.overdue_items) == 1
    await conference.advance(10)  # a timer that fired once does not fire again
    await conference.until("counted it", lambda v: len(v.state.overdue_items) == 1)
    assert conference.types().count("SupervisionOverdue") == 1
    desc = await conference.client.get_workflow_handle(cf.workflow_id(conference.code)).describe()
    assert desc.typed_search_attributes.get(search.CONFERENCE_OVERDUE_ITEMS) == 1
    # the lead unit reports its correction: the item closes
    result = await send(
        conference.client,
        conference.code,
        "record_correction",
        cf.RecordCorrection(
            command_id="correction-1",
            actor=Actor(unit=COUNTY_UNIT.name, person="王建国"),
            issued_at=datetime.now(UTC),
            subject="case",
            subject_id=case.case_id,
            report="工资已全部支付",
        ),
    )
    assert result is not None and result.events == ["AgendaItemClosed"]
    view = await conference.until("closed it", lambda v: not v.state.items)
    desc = await conference.client.get_workflow_handle(cf.workflow_id(conference.code)).describe()
    assert desc.typed_search_attributes.get(search.CONFERENCE_OVERDUE_ITEMS) == 0
    assert desc.typed_search_attributes.get(search.CONFERENCE_OPEN_ITEMS) == 0


async def test_a_refused_signal_is_recorded_not_lost(conference: Conference) -> None:
    await conference.join("KS-D1")
    await conference.until("started", lambda v: bool(v.state.items))
    await send(
        conference.client,
        conference.code,
        "withdraw_item",
        {
            "command_id": "w-unknown",
            "actor": SECRETARY.model_dump(),
            "issued_at": datetime.now(UTC).isoformat(),
            "subject": "case",
            "subject_id": "KS-NOPE",
        },
        wait=False,
    )
    await conference.until("recorded it", lambda v: "w-unknown" in v.state.commands)
    rejected = [e for e in conference.events() if e.type == "ConferenceCommandRejected"]
    assert [(e.command_kind, e.code) for e in rejected] == [("withdraw_item", "not_on_agenda")]


async def test_continue_as_new_keeps_agenda_and_supervision(petitions: Harness) -> None:
    conf = Conference(petitions, history_limit=40)
    try:
        case = await escalated_case(petitions)
        await conf.join(case.case_id)
        await meeting_due(conf)
        await conf.meeting(decision(case, supervise=True, correction_days=20))
        key = f"case:{case.case_id}"
        await conf.until("supervised it", lambda v: v.state.items[key].status == "supervised")
        # 20 items one at a time, each taken before the next is sent: each costs its own
        # workflow task and append (at least 5 history events), so at least two runs of
        # 40 events end. Sent without waiting, a loaded worker takes a burst of signals
        # in one task, and how many runs end then depends on its timing.
        for i in range(20):
            await conf.join(f"KS-CAN-{i:02d}")
            await conf.until(f"took item {i}", holds_items(i + 2))
        # then a burst of 10, taken whenever the worker gets to them, across a run's end
        for i in range(20, 30):
            await conf.join(f"KS-CAN-{i:02d}")
        await conf.join("KS-CAN-00")  # a repeat across runs: still ignored
        view = await conf.until("took them all", lambda v: len(v.state.items) == 31)
        runs = await conf.runs()
        assert len(runs) >= 3, f"only {len(runs)} runs"
        # a run continues as new once its signals are handled: a burst may pass the limit
        assert view.history_length < 40 + 31 * 8
        # supervision survived: the correction deadline still fires, once
        await conf.advance(25)
        await conf.until("marked it overdue", lambda v: v.state.items[key].overdue)
        types = conf.types()
        assert types.count("AgendaItemAdded") == 31
        assert types.count("AgendaItemDecided") == 1
        assert types.count("AgendaDecisionDelivered") == 1
        assert types.count("SupervisionOverdue") == 1
        assert [e.type for e in case.events()].count("ConferenceDecided") == 1
        await conf.check()
    finally:
        await conf.stop()


async def test_the_cli_shows_a_conference_and_records_its_meeting(
    conference: Conference,
    petitions: Harness,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from petitionflow.cli.main import main
    from testkit.keys import TEST_KEYS

    target = conference.client.service_client.config.target_host
    monkeypatch.setenv("TEMPORAL_ADDRESS", target)
    monkeypatch.setenv("PETITIONFLOW_TASK_QUEUE", petitions.task_queue)
    for name, ring in (("PAYLOAD", TEST_KEYS.payload), ("SEALING", TEST_KEYS.sealing)):
        monkeypatch.setenv(
            f"PETITIONFLOW_{name}_KEYS", ",".join(f"{k}:{v}" for k, v in ring.dump())
        )
    case = await escalated_case(petitions)
    await conference.join(case.case_id)
    await meeting_due(conference)
    code = conference.code
    assert await asyncio.to_thread(main, ["conference", "show", code]) == 0
    out = capsys.readouterr().out
    assert f"joint conference {code}" in out and "meeting no. 1 due since" in out
    assert f"case:{case.case_id}" in out and "pending" in out
    minutes = tmp_path / "meeting.json"
    minutes.write_text(
        json.dumps(
            {
                "attendance": [conference.start.office, COUNTY_UNIT.name],
                "decisions": [decision(case).model_dump(mode="json")],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    args = ["conference", "meeting", code, "--file", str(minutes)]
    assert await asyncio.to_thread(main, args) == 0
    out = capsys.readouterr().out
    assert f"meeting no. 1 of conference {code} recorded" in out
    assert f"conference:{code}:1:{case.case_id}" in out
    await conference.until("closed it", lambda v: not v.state.items)
    assert await asyncio.to_thread(main, ["conference", "show", code, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["state"]["meetings_held"] == 1 and "commands" not in shown["state"]
    # the same minutes again: refused, the item is no longer on the agenda
    assert await asyncio.to_thread(main, args) == 2
    assert "not_on_agenda" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["conference", "show", "659999"]) == 2
    assert "conference_not_found" in capsys.readouterr().err
