"""The case workflow with a unit directory loaded, on the real dev server: a command
naming a unit is decided with the directory's answer, read by a local activity and
recorded in history; a replay decides the same after the directory changed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from temporalio.api.enums.v1 import EventType
from temporalio.worker import Replayer

from petitionflow.domain import commands as c
from petitionflow.domain.values import Unit
from petitionflow.eventstore.directory import DirectoryStore
from petitionflow.workflows.petition import PetitionWorkflow
from testkit.builders import BUREAU, COUNTY_UNIT, HANDLER, PETITIONER, PREFECTURE_UNIT
from testkit.directory import slice_units
from testkit.keys import CONVERTER
from tests.temporal import Harness

UNKNOWN = Unit(name="疏附县不存在局", jurisdiction=COUNTY_UNIT.jurisdiction)


def _load(h: Harness) -> DirectoryStore:
    directory = DirectoryStore(h.store.engine)
    directory.load(slice_units(), datetime.now(UTC).date(), "slice")
    return directory


async def test_an_update_naming_an_unknown_unit_is_refused_by_the_directory(
    petitions: Harness,
) -> None:
    _load(petitions)
    case = await petitions.submit()
    assert await case.rejected(c.TransferPetition, BUREAU, to_unit=UNKNOWN) == "unknown_unit"
    await case.ok(c.TransferPetition, BUREAU, to_unit=COUNTY_UNIT)
    # one directory read for each routing update; none for the others
    await case.ok(c.AcknowledgeReceipt, HANDLER)
    history = await petitions.client.handle(case.case_id).fetch_history()
    resolved = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and "resolve_units" in str(e.marker_recorded_event_attributes.details)
    ]
    assert len(resolved) == 2
    # Replayed after the directory lost the unit, the history decides as it ran.
    DirectoryStore(petitions.store.engine).load(
        [u for u in slice_units() if u.name != COUNTY_UNIT.name],
        datetime.now(UTC).date(),
        "without the unit",
    )
    await Replayer(workflows=[PetitionWorkflow], data_converter=CONVERTER).replay_workflow(history)


async def test_a_signal_naming_an_unknown_unit_is_recorded_as_rejected(
    petitions: Harness,
) -> None:
    _load(petitions)
    case = await petitions.submit()
    command = case.cmd(c.TransferPetition, BUREAU, to_unit=UNKNOWN)
    await case.signal(command)
    state = await case.settled(command.command_id)
    assert state.handling_unit is None
    rejected = [e for e in case.events() if e.type == "CommandRejected"]
    assert [e.code for e in rejected] == ["unknown_unit"]


async def test_review_goes_to_the_unit_above_in_the_directory(petitions: Harness) -> None:
    _load(petitions)
    case = await petitions.submit()
    await case.ok(c.TransferPetition, BUREAU, to_unit=COUNTY_UNIT)
    await case.ok(c.AcknowledgeReceipt, HANDLER)
    await case.ok(c.AcceptPetition, HANDLER)
    await case.advance(20)
    await case.ok(
        c.IssueDecision, HANDLER, outcome="not_support", decision="不予支持", legal_basis="条例"
    )
    await case.ok(c.RecordDelivery, HANDLER, document="reply", method="in_person")
    government = Unit(name="喀什地区人民政府", jurisdiction=PREFECTURE_UNIT.jurisdiction)
    code = await case.rejected(c.RequestReview, PETITIONER, review_unit=government, reasons="不服")
    assert code == "review_unit_wrong_level"
    await case.ok(c.RequestReview, PETITIONER, review_unit=PREFECTURE_UNIT, reasons="不服")


async def test_without_a_directory_units_are_checked_by_place(petitions: Harness) -> None:
    case = await petitions.submit()
    anywhere = Unit(name="任意单位", jurisdiction=COUNTY_UNIT.jurisdiction)
    await case.ok(c.TransferPetition, BUREAU, to_unit=anywhere)


async def test_an_escalated_case_joins_its_conference_and_takes_its_decision(
    petitions: Harness,
) -> None:
    """With the directory loaded, an escalation names the conference of the registering
    office's place; the case joins its agenda by itself, and the secretary's minutes
    reach the case as record_conference_decision, with an event in both streams."""
    from petitionflow.client.conference import conference_state, record_meeting
    from petitionflow.domain import conference as cf
    from petitionflow.domain.conference import stream_id as conference_stream

    # 喀什地区信访局 under a place code of this test's own: a conference is one workflow
    # per place on the session's dev server, and another test's would run on a task
    # queue whose worker has gone
    code = f"9{uuid.uuid4().int % 100_000:05d}"
    units = [
        u.model_copy(update={"place": code}) if u.id == "653100-xfj" else u for u in slice_units()
    ]
    DirectoryStore(petitions.store.engine).load(units, datetime.now(UTC).date(), "slice")
    case = await petitions.submit()
    result = await case.ok(c.EscalateToConference, BUREAU, reason="competence_dispute")
    assert result.events == ["EscalatedToConference"]
    state = await case.state()
    assert state.conference_id == f"conference-{code}"  # 喀什地区信访局's place
    for _ in range(100):  # the case joins from its main loop, after the update answered
        try:
            agenda = await conference_state(petitions.env.client, code)
            if f"case:{case.case_id}" in agenda.items:
                break
        except Exception:
            pass
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the case never reached the conference's agenda")
    assert agenda.office == BUREAU.unit
    now = datetime.now(UTC)
    minutes = cf.RecordMeeting(
        command_id=f"meeting-{case.case_id}",
        actor=BUREAU,
        issued_at=now,
        held_at=now,
        attendance=(BUREAU.unit, COUNTY_UNIT.name),
        decisions=(
            cf.MeetingDecision(
                subject="case", subject_id=case.case_id, lead_unit=COUNTY_UNIT, plan="人社局牵头"
            ),
        ),
    )
    await record_meeting(petitions.env.client, code, minutes)
    for _ in range(100):
        if (await case.state()).handling_unit == COUNTY_UNIT:
            break
        await asyncio.sleep(0.1)
    assert [e.type for e in case.events()][-1] == "ConferenceDecided"
    conference_types = [r.type for r in petitions.store.read_stream(conference_stream(code))]
    assert "AgendaItemDecided" in conference_types
