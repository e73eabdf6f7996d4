"""The case workflow with a unit directory loaded, on the real dev server: a command
naming a unit is decided with the directory's answer, read by a local activity and
recorded in history; a replay decides the same after the directory changed."""

from __future__ import annotations

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
