"""The holiday calendar as data: counting with a snapshot, provisional deadlines, the
recount after a year is loaded (never earlier, a provisional miss lifted), the store
and its migration."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from petitionflow.domain import commands as c
from petitionflow.domain import events as ev
from petitionflow.domain.calendar import (
    CalendarError,
    CalendarSnapshot,
    YearArrangement,
    parse_arrangement,
)
from petitionflow.domain.decide import EXTERNAL_COMMANDS, Accepted, decide, parse
from petitionflow.domain.policy import Deadline, DeadlineKind, DeadlinePolicy
from petitionflow.domain.state import CaseState, evolve
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.calendar import CalendarStore
from petitionflow.eventstore.schema import CALENDAR_SEED_SOURCE

SAMPLE_FILE = Path(__file__).parent / "fixtures" / "calendar_2027_sample.json"
SAMPLE = parse_arrangement(json.loads(SAMPLE_FILE.read_text(encoding="utf-8")))
K = DeadlineKind.HANDLING


def known(*years: YearArrangement) -> DeadlinePolicy:
    return DeadlinePolicy(calendar=CalendarSnapshot(years=years))


def seeded(tmp_path: Path) -> EventStore:
    return EventStore(f"sqlite:///{tmp_path / 'events.db'}", create=True)


@pytest.fixture
def y2026(tmp_path: Path) -> YearArrangement:
    store = seeded(tmp_path)
    try:
        arrangement = CalendarStore(store.engine).newest(2026)
    finally:
        store.close()
    assert arrangement is not None
    return arrangement


# ---- the file format -------------------------------------------------------------


def test_a_missing_field_is_named_without_echoing_the_file() -> None:
    with pytest.raises(CalendarError) as info:
        parse_arrangement({"source": "x", "holidays": ["2027-01-01"]})
    assert str(info.value) == "year: missing; expected the year as a number, e.g. 2027"


def test_the_sample_is_labelled_a_sample() -> None:
    assert "SAMPLE" in SAMPLE.source and "NOT the State Council" in SAMPLE.source


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"holidays": []}, "holidays is empty"),
        ({"holidays": ["2028-01-01"]}, "2028-01-01, which is not in 2027"),
        ({"workdays": ["2027-01-01"]}, "2027-01-01 is in both holidays and workdays"),
        ({"workdays": ["2027-03-01"]}, "workdays holds 2027-03-01, a Monday"),
        ({"holidays": ["2027-13-01"]}, "holidays.0: "),
        ({"year": "next"}, "year: "),
        ({"source": ""}, "source: "),
        ({"comment": "x"}, "unknown field 'comment'"),
        ({"year": None}, "year: Input should be a valid integer"),
        ({"holidays": "2027-01-01"}, "holidays: Input should be a valid tuple"),
    ],
)
def test_a_bad_file_is_refused_with_what_to_fix(change: dict[str, object], message: str) -> None:
    raw = {**json.loads(SAMPLE_FILE.read_text(encoding="utf-8")), **change}
    with pytest.raises(CalendarError, match=message) as info:
        parse_arrangement(raw)
    assert "\n" not in str(info.value)


# ---- counting with a snapshot ----------------------------------------------------


def test_a_snapshot_counts_with_the_official_arrangement(y2026: YearArrangement) -> None:
    policy = known(y2026)
    # 2026-10-01..07 is the National Day holiday; 2026-09-20 a worked Sunday
    assert policy.calendar_deadline(K, date(2026, 9, 16), 15).due == date(2026, 10, 8)
    d = policy.calendar_deadline(K, date(2026, 9, 5), 15)
    assert (d.due, d.provisional, d.calendar) == (date(2026, 9, 20), False, "2026.v1")
    assert (d.counted_from, d.days) == (date(2026, 9, 5), 15)
    # the same answers as the pinned package, for the years the store was seeded with
    assert all(
        policy.is_working_day(day) == DeadlinePolicy().is_working_day(day)
        for day in (date(2026, 1, 1) + timedelta(days=n) for n in range(365))
    )


def test_a_year_without_an_arrangement_counts_monday_to_friday_provisionally(
    y2026: YearArrangement,
) -> None:
    policy = known(y2026)
    # 2026-12-07 + 60 days = 2027-02-05 (除夕, a Friday): provisional, Mon-Fri
    d = policy.calendar_deadline(K, date(2026, 12, 7), 60)
    assert (d.due, d.provisional, d.calendar) == (date(2027, 2, 5), True, None)
    # counted across: 5 working days from 2026-12-30 reach into 2027
    w = policy.working_deadline(DeadlineKind.OBJECTION, date(2026, 12, 30), 5)
    assert (w.due, w.provisional, w.calendar) == (date(2027, 1, 6), True, "2026.v1")
    # the sample 2027 arrangement: the Spring Festival runs to 02-11
    with_2027 = known(y2026, SAMPLE)
    d = with_2027.calendar_deadline(K, date(2026, 12, 7), 60)
    assert (d.due, d.provisional, d.calendar) == (date(2027, 2, 12), False, "2027.v1")
    w = with_2027.working_deadline(DeadlineKind.OBJECTION, date(2026, 12, 30), 5)
    assert (w.due, w.provisional, w.calendar) == (date(2027, 1, 7), False, "2026.v1+2027.v1")


def test_without_a_snapshot_counting_is_as_it_was() -> None:
    # the pinned package, its silent Mon-Fri fallback for 2027 included: old cases replay
    d = DeadlinePolicy().calendar_deadline(K, date(2026, 12, 7), 60)
    assert d == Deadline(
        kind=K,
        start=date(2026, 12, 7),
        due=date(2027, 2, 5),
        due_at=datetime(2027, 2, 5, 16, tzinfo=UTC),
    )
    assert (d.provisional, d.calendar, d.counted_from, d.days) == (False, None, None, None)


# ---- recomputing after a year is loaded ------------------------------------------


def _case_with(deadline: Deadline) -> CaseState:
    return CaseState(case_id="CAL-1", stage="handling", deadlines={deadline.kind: deadline})


def _recompute(state: CaseState, policy: DeadlinePolicy) -> list[ev.DeadlineRecomputed]:
    now = datetime(2026, 12, 20, tzinfo=UTC)
    command = c.RecomputeDeadlines(
        command_id="calendar:2027.v1:v7",
        actor={"unit": "petitionflow", "person": "holiday calendar"},
        issued_at=now,
    )
    decision = decide(state, command, now, policy)
    assert isinstance(decision, Accepted)
    return list(decision.events)  # type: ignore[arg-type]


def test_a_later_official_date_moves_the_deadline(y2026: YearArrangement) -> None:
    provisional = known(y2026).calendar_deadline(K, date(2026, 12, 7), 60)
    state = _case_with(provisional)
    (event,) = _recompute(state, known(y2026, SAMPLE))
    assert (event.previous_due, event.official_due, event.due) == (
        date(2027, 2, 5),
        date(2027, 2, 12),
        date(2027, 2, 12),
    )
    assert (event.calendar, event.provisional, event.kept_later) == ("2027.v1", False, False)
    after = evolve(state, event).deadlines[K]
    assert (after.due, after.provisional, after.start) == (
        date(2027, 2, 12),
        False,
        date(2026, 12, 7),
    )
    assert after.due_at == datetime(2027, 2, 12, 16, tzinfo=UTC)


def test_an_earlier_official_date_keeps_the_later_one(y2026: YearArrangement) -> None:
    # 2027-02-20 is a Saturday: Mon-Fri rolls it to 02-22; the sample works that
    # Saturday (调休), so the official date is 02-20. The case keeps 02-22.
    provisional = known(y2026).calendar_deadline(K, date(2026, 12, 22), 60)
    assert provisional.due == date(2027, 2, 22)
    state = _case_with(provisional)
    (event,) = _recompute(state, known(y2026, SAMPLE))
    assert (event.official_due, event.due, event.kept_later) == (
        date(2027, 2, 20),
        date(2027, 2, 22),
        True,
    )
    after = evolve(state, event).deadlines[K]
    assert (after.due, after.provisional, after.calendar) == (date(2027, 2, 22), False, "2027.v1")


def test_a_provisional_miss_is_lifted_when_the_official_date_is_later(
    y2026: YearArrangement,
) -> None:
    missed = known(y2026).calendar_deadline(K, date(2026, 12, 7), 60)
    state = _case_with(missed.model_copy(update={"missed": True}))
    assert state.overdue
    (event,) = _recompute(state, known(y2026, SAMPLE))
    assert event.lifted_miss
    after = evolve(state, event)
    assert not after.overdue and after.deadlines[K].due == date(2027, 2, 12)
    assert after.timers() == [after.deadlines[K]]  # its timer waits for the new date


def test_an_extended_deadline_is_recounted_from_its_moved_base(y2026: YearArrangement) -> None:
    # 60 days from 2026-12-07 end provisionally on 2027-02-05 (除夕); +30 days: 03-08.
    provisional = known(y2026)
    base = provisional.calendar_deadline(K, date(2026, 12, 7), 60)
    extended = provisional.extended(base, 30)
    assert (extended.due, extended.provisional, extended.start) == (
        date(2027, 3, 8),
        True,
        date(2026, 12, 7),
    )
    # The sample moves the base to 02-12: the extension runs 30 days from there.
    official = known(y2026, SAMPLE)
    expected = official.extended(official.calendar_deadline(K, date(2026, 12, 7), 60), 30)
    assert expected.due == date(2027, 3, 15) and not expected.provisional
    state = _case_with(extended)
    (event,) = _recompute(state, official)
    assert (event.previous_due, event.official_due, event.due) == (
        date(2027, 3, 8),
        date(2027, 3, 15),
        date(2027, 3, 15),
    )
    after = evolve(state, event).deadlines[K]
    assert (after.due, after.provisional, after.start) == (
        date(2027, 3, 15),
        False,
        date(2026, 12, 7),
    )
    assert (after.counted_from, after.days, after.extensions) == (date(2026, 12, 7), 60, (30,))
    assert official.recounted(after) == after  # counted again: the same


def test_extend_handling_then_the_calendar_moves_the_extended_date(
    y2026: YearArrangement,
) -> None:
    from testkit.builders import COUNTY_UNIT, HANDLER

    base = known(y2026).calendar_deadline(K, date(2026, 12, 7), 60)
    state = _case_with(base).model_copy(update={"handling_unit": COUNTY_UNIT})
    now = datetime(2026, 12, 20, tzinfo=UTC)
    extend = c.ExtendHandling(
        command_id="ext-1", actor=HANDLER, issued_at=now, days=30, reason="r", approved_by="a"
    )
    decision = decide(state, extend, now, known(y2026))
    assert isinstance(decision, Accepted), decision
    for e in decision.events:
        state = evolve(state, e)
    assert state.deadlines[K].due == date(2027, 3, 8)
    (event,) = _recompute(state, known(y2026, SAMPLE))
    assert (event.previous_due, event.due, event.provisional) == (
        date(2027, 3, 8),
        date(2027, 3, 15),
        False,
    )


def test_a_deadline_never_extended_is_stored_as_before() -> None:
    policy = known()
    d = policy.calendar_deadline(K, date(2026, 12, 7), 60)
    assert "extensions" not in d.model_dump() and "extensions" not in d.model_dump_json()
    assert Deadline.model_validate(d.model_dump(mode="json")) == d
    e = policy.extended(d, 30)
    assert e.model_dump(mode="json")["extensions"] == [30]
    assert Deadline.model_validate(e.model_dump(mode="json")) == e


def test_nothing_is_recomputed_without_new_data(y2026: YearArrangement) -> None:
    provisional = known(y2026).calendar_deadline(K, date(2026, 12, 7), 60)
    assert _recompute(_case_with(provisional), known(y2026)) == []
    official = known(y2026, SAMPLE).calendar_deadline(K, date(2026, 12, 7), 60)
    assert _recompute(_case_with(official), known(y2026, SAMPLE)) == []


def test_a_date_that_stands_is_confirmed(y2026: YearArrangement) -> None:
    # 2026-12-01 + 60 days is Saturday 2027-01-30: Monday 02-01 either way
    provisional = known(y2026).calendar_deadline(K, date(2026, 12, 1), 60)
    (event,) = _recompute(_case_with(provisional), known(y2026, SAMPLE))
    assert (event.previous_due, event.due, event.provisional) == (
        date(2027, 2, 1),
        date(2027, 2, 1),
        False,
    )


def test_recompute_is_internal() -> None:
    assert "recompute_deadlines" not in EXTERNAL_COMMANDS
    refused = parse("recompute_deadlines", {})
    assert getattr(refused, "code", None) == "unknown_command"


# ---- the store --------------------------------------------------------------------


def test_migration_seeds_the_package_years(tmp_path: Path) -> None:
    store = seeded(tmp_path)
    try:
        calendar = CalendarStore(store.engine)
        years = calendar.versions()
        assert [y.arrangement.year for y in years] == list(range(2004, 2027))
        assert {y.arrangement.source for y in years} == {CALENDAR_SEED_SOURCE}
        assert calendar.snapshot(2025).label == "2025.v1+2026.v1"
    finally:
        store.close()


def test_loading_stores_a_version_only_when_the_content_differs(store: EventStore) -> None:
    calendar = CalendarStore(store.engine)
    first = calendar.load(SAMPLE)
    assert (first.year, first.version, first.changed, first.previous) == (2027, 1, True, None)
    again = calendar.load(SAMPLE)
    assert (again.version, again.changed) == (1, False)
    corrected = SAMPLE.model_copy(update={"holidays": (*SAMPLE.holidays[:-1],)})
    second = calendar.load(corrected)
    assert (second.version, second.changed) == (2, True)
    assert second.holidays_removed == [SAMPLE.holidays[-1]]
    snap = calendar.snapshot(2026)
    assert snap.label == "2026.v1+2027.v2"
    assert [v.arrangement.version for v in calendar.versions() if v.arrangement.year == 2027] == [
        1,
        2,
    ]


# ---- where a provisional deadline shows -----------------------------------------


def test_the_ui_details_and_the_report_warn_of_provisional_deadlines(
    y2026: YearArrangement,
) -> None:
    from petitionflow.projections.readmodel import apply, new_row
    from petitionflow.projections.report import provisional_warning
    from petitionflow.workflows import search

    provisional = known(y2026).calendar_deadline(K, date(2026, 12, 7), 60)
    state = _case_with(provisional)
    details = search.current_details(state)
    assert "**Provisional deadline:** handling 2027-02-05" in details
    assert "petition calendar load" in details
    assert "Provisional" not in search.current_details(
        _case_with(provisional.model_copy(update={"provisional": False}))
    )
    values = dict(search.values(state, calendar=True))
    assert values[search.PROVISIONAL_DEADLINE] is True
    assert search.PROVISIONAL_DEADLINE not in dict(search.values(state))  # older histories

    row = new_row("CAL-1")
    data = {"day": "2026-12-07", "deadlines_opened": [provisional.model_dump(mode="json")]}
    apply(row, "PetitionAccepted", {**data, "unit": {"name": "某局"}}, [])
    assert row["deadlines"]["handling"] == {
        "due": "2027-02-05",
        "missed": False,
        "provisional": True,
    }
    report = [{"unit": "某局", "provisional": 1}]
    warning = provisional_warning(report)
    assert warning is not None and "1 open case with provisional deadlines" in warning
    assert provisional_warning([{"unit": "某局", "provisional": 0}]) is None


def test_a_snapshot_starts_the_year_before_the_local_date() -> None:
    # The client (at submission) and the workflow (its own read) take the same years:
    # from the year before Beijing's date, which is a year on from UTC's at New Year.
    policy = DeadlinePolicy()
    assert policy.snapshot_from(datetime(2026, 12, 31, 15, 59, tzinfo=UTC)) == 2025
    assert policy.snapshot_from(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == 2026
