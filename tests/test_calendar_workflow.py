"""The holiday calendar through the workflow on the real dev server: a case whose
handling deadline falls in 2027 (no official arrangement in the store) has it
provisional; loading a sample 2027 arrangement and telling the cases moves it, by a
DeadlineRecomputed event, to the official date, and the timer fires on that date."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from petitionflow.client import PetitionClient
from petitionflow.domain import commands as c
from petitionflow.domain import events as ev
from petitionflow.domain.calendar import parse_arrangement
from petitionflow.domain.policy import DeadlineKind, DeadlinePolicy
from petitionflow.eventstore.calendar import CalendarStore
from petitionflow.workflows import search
from testkit.builders import BUREAU, COUNTY_UNIT, HANDLER, make_intake, today
from testkit.keys import SEALER
from tests.temporal import Case, Harness, registered

SAMPLE_FILE = Path(__file__).parent / "fixtures" / "calendar_2027_sample.json"
SAMPLE = parse_arrangement(json.loads(SAMPLE_FILE.read_text(encoding="utf-8")))
HANDLING = DeadlineKind.HANDLING


def _target() -> date:
    """A weekday the sample makes a holiday, far enough ahead to be a handling deadline:
    counted Monday to Friday it ends there; by the sample it runs on."""
    for day in SAMPLE.holidays:
        if day.weekday() < 5 and 2 <= (day - today()).days <= 365:
            return day
    pytest.skip("the sample 2027 arrangement has no holiday ahead any more: add a newer sample")


async def _until(check: object, what: str) -> None:
    for _ in range(200):
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def provisional_case(petitions: Harness, due: date) -> Case:
    """A case accepted today whose handling period (交办, due_days) ends on ``due``."""
    case = await petitions.submit()
    days = (due - today()).days
    await case.ok(c.AssignPetition, BUREAU, to_unit=COUNTY_UNIT, due_days=days)
    await case.ok(c.AcknowledgeReceipt, HANDLER)
    await case.ok(c.AcceptPetition, HANDLER)
    return case


async def test_loading_a_year_moves_provisional_deadlines_and_the_timer_follows(
    petitions: Harness,
) -> None:
    target = _target()
    case = await provisional_case(petitions, target)
    registered = case.events()[0].deadlines_opened[0]
    assert registered.counted_from is not None  # counted with the store's snapshot
    state = await case.state()
    handling = state.deadlines[HANDLING]
    assert (handling.due, handling.provisional) == (target, True)
    desc = await case.handle.describe()
    assert desc.typed_search_attributes.get(search.PROVISIONAL_DEADLINE) is True

    calendar = CalendarStore(petitions.store.engine)
    loaded = calendar.load(SAMPLE)
    assert loaded.changed
    official = (
        DeadlinePolicy(calendar=calendar.snapshot(today().year - 1))
        .calendar_deadline(HANDLING, today(), (target - today()).days)
        .due
    )
    assert official > target

    mine = f'TaskQueue = "{petitions.task_queue}"'
    told: list[str] = []

    async def signalled() -> bool:
        told.extend(await petitions.client.calendar_loaded(also=mine))
        return bool(told)

    await _until(signalled, "the case is listed with ProvisionalDeadline = true")
    assert told == [case.case_id]

    async def recomputed() -> bool:
        return any(isinstance(e, ev.DeadlineRecomputed) for e in case.events())

    await _until(recomputed, "DeadlineRecomputed")
    (event,) = [e for e in case.events() if isinstance(e, ev.DeadlineRecomputed)]
    assert (event.deadline, event.previous_due, event.official_due, event.due) == (
        HANDLING,
        target,
        official,
        official,
    )
    assert (event.calendar, event.provisional, event.kept_later) == ("2027.v1", False, False)
    state = await case.state()
    assert (state.deadlines[HANDLING].due, state.deadlines[HANDLING].provisional) == (
        official,
        False,
    )

    async def attribute_cleared() -> bool:
        desc = await case.handle.describe()
        return desc.typed_search_attributes.get(search.PROVISIONAL_DEADLINE) is False

    await _until(attribute_cleared, "ProvisionalDeadline = false")
    # Told again: nothing more to recompute, nothing written.
    version = state.version
    await case.handle.signal("calendar_loaded")
    await asyncio.sleep(0.5)
    assert (await case.state()).version == version

    # The timer fires on the official date, not the provisional one.
    start = datetime.now(UTC)
    past_provisional = handling.due_at + timedelta(days=1) - start
    await case.advance(past_provisional.total_seconds() / 86400)
    await asyncio.sleep(0.5)
    assert not any(isinstance(e, ev.DeadlineMissed) for e in case.events())
    past_official = state.deadlines[HANDLING].due_at + timedelta(hours=1) - start
    await case.advance((past_official - past_provisional).total_seconds() / 86400)

    async def missed() -> bool:
        return any(isinstance(e, ev.DeadlineMissed) for e in case.events())

    await _until(missed, "DeadlineMissed on the official date")
    (miss,) = [e for e in case.events() if isinstance(e, ev.DeadlineMissed)]
    assert (miss.deadline, miss.due) == (HANDLING, official)
    assert miss.day == official + timedelta(days=1)  # the day after the last day


async def test_an_unknown_year_stays_provisional_when_told(petitions: Harness) -> None:
    # Nothing loaded for the target's year: the case reads the store again and changes
    # nothing.
    case = await provisional_case(petitions, _target())
    version = (await case.state()).version
    await case.handle.signal("calendar_loaded")
    await asyncio.sleep(0.5)
    state = await case.state()
    assert state.version == version and state.deadlines[HANDLING].provisional


async def test_a_case_that_read_the_calendar_before_a_load_reads_it_again(
    petitions: Harness,
) -> None:
    # The case read the calendar at registration; 2027 is loaded afterwards, while the
    # case has no provisional deadline (so no one tells it). The handling deadline it
    # then counts with its old snapshot is provisional: it reads the store again and
    # recomputes it at once.
    target = _target()
    case = await petitions.submit()
    CalendarStore(petitions.store.engine).load(SAMPLE)
    days = (target - today()).days
    await case.ok(c.AssignPetition, BUREAU, to_unit=COUNTY_UNIT, due_days=days)
    await case.ok(c.AcknowledgeReceipt, HANDLER)
    await case.ok(c.AcceptPetition, HANDLER)

    async def recomputed() -> bool:
        return any(isinstance(e, ev.DeadlineRecomputed) for e in case.events())

    await _until(recomputed, "DeadlineRecomputed without being told")
    (event,) = [e for e in case.events() if isinstance(e, ev.DeadlineRecomputed)]
    assert (event.previous_due, event.calendar, event.provisional) == (target, "2027.v1", False)
    assert event.due > target
    assert not (await case.state()).deadlines[HANDLING].provisional


async def _calendar_reads(case: Case) -> int:
    """The case's own reads of the calendar store (its ``calendar_snapshot`` activities)."""
    reads = 0
    async for e in case.handle.fetch_history_events():
        attrs = e.marker_recorded_event_attributes
        if attrs.marker_name == "core_local_activity":
            data = json.loads(attrs.details["data"].payloads[0].data)
            reads += data["activity_type"] == "calendar_snapshot"
    return reads


async def _accepted(petitions: Harness, case: Case, due: date) -> None:
    await case.ok(c.AssignPetition, BUREAU, to_unit=COUNTY_UNIT, due_days=(due - today()).days)
    await case.ok(c.AcknowledgeReceipt, HANDLER)
    await case.ok(c.AcceptPetition, HANDLER)
    await case.ok(c.ExtendHandling, HANDLER, days=30, reason="需补充调查", approved_by="局长")
    assert (await case.state()).deadlines[HANDLING].provisional


async def test_the_calendar_is_read_again_once_not_for_every_provisional_deadline(
    petitions: Harness,
) -> None:
    # Patch "quick-updates": the case reads the calendar again when its first
    # provisional deadline opens (until then no load would have told it); later
    # provisional deadlines, while it has one, are not read again for (a load tells it
    # then). Before, each update that opened one read it again. Since patch
    # "calendar-from-start" the start carries the snapshot the client read
    # (``PetitionClient.submit``), so the registration reads none: one read in all.
    case = await petitions.submit()
    assert case.events()[0].deadlines_opened[0].counted_from is not None
    await _accepted(petitions, case, _target())
    assert await _calendar_reads(case) == 1


async def test_a_start_without_the_calendar_makes_the_case_read_it(petitions: Harness) -> None:
    # A client with no store (or the `temporal` CLI) starts a case without a snapshot:
    # the workflow reads the store's at registration, and again at the first provisional
    # deadline, as before the patch.
    storeless = PetitionClient(petitions.env.client, task_queue=petitions.task_queue, sealer=SEALER)
    case_id = f"T{uuid.uuid4().hex[:10]}"
    intake = make_intake(case_id, received_at=datetime.now(UTC).isoformat())
    await storeless.submit(case_id, intake, BUREAU)
    petitions.track(case_id)
    case = petitions.cases[-1]
    await registered(petitions, case_id)
    assert case.events()[0].deadlines_opened[0].counted_from is not None
    await _accepted(petitions, case, _target())
    assert await _calendar_reads(case) == 2


async def test_the_worker_warns_once_per_case_and_year_of_provisional_deadlines(
    petitions: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # Accepting opens a provisional handling deadline in 2027, and the extension opens
    # it again, later: one warning says what to do; a warning per deadline buried the
    # demo's own lines and put 3 per case into the year benchmark's log.
    caplog.set_level(logging.WARNING, logger="temporalio.workflow")
    case = await provisional_case(petitions, _target())
    await case.ok(c.ExtendHandling, HANDLER, days=30, reason="需补充调查", approved_by="局长")
    state = await case.state()
    assert state.deadlines[HANDLING].provisional
    opened = sum(
        1
        for e in case.events()
        for d in e.deadlines_opened
        if d.provisional and d.due.year == state.deadlines[HANDLING].due.year
    )
    assert opened >= 2
    # the case's records by the ids the SDK attaches (the message carries them only
    # until workers/logs.py configures logging, which other tests in the session do)
    warned = [
        r.getMessage()
        for r in caplog.records
        if "provisional deadline" in r.getMessage()
        and (getattr(r, "temporal_workflow", None) or {}).get("workflow_id") == case.handle.id
    ]
    assert len(warned) == 1, warned
    year = state.deadlines[HANDLING].due.year
    assert f"its later provisional deadlines in {year} are not logged again" in warned[0]
