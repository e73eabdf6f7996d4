"""Projections equal a recount from the raw events, after a random workload and a crash
mid-projection; on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from petitionflow.activities.records import from_record, stream_id, to_record
from petitionflow.domain import commands as c
from petitionflow.domain import events as ev
from petitionflow.domain.policy import DeadlineKind as K
from petitionflow.domain.state import CaseState, evolve, fold
from petitionflow.domain.values import Unit
from petitionflow.eventstore import EventStore
from petitionflow.projections.projector import Projector
from petitionflow.projections.readmodel import case_list, deadline_outcomes, office_level, skipped
from testkit.builders import (
    COUNTY_UNIT,
    HANDLER,
    PETITIONER,
    PREFECTURE_UNIT,
    CaseDriver,
    make_intake,
)
from testkit.keys import SEALER
from testkit.workloads import next_step


def random_workload(store: EventStore, cases: int, seed: int) -> None:
    rng = random.Random(seed)
    drivers = []
    for i in range(cases):
        d = CaseDriver(case_id=f"P{seed}-{i:03d}")
        classification = rng.choice(["appeal", "suggestion", "accusation"])
        d.ok(
            c.RegisterPetition, case_id=d.case_id, intake=make_intake(classification=classification)
        )
        drivers.append(d)
    written = {d.case_id: 0 for d in drivers}
    for _ in range(cases * 12):  # interleave the cases, as real traffic does
        d = rng.choice(drivers)
        next_step(d, rng)
        new = d.events[written[d.case_id] :]
        if new:
            store.append(
                stream_id(d.case_id), written[d.case_id], [to_record(e, sealer=SEALER) for e in new]
            )
            written[d.case_id] += len(new)


def recount(state: CaseState, routed: Unit | None) -> dict[str, Any]:
    """The case list row, from the domain's own fold: an independent path. ``routed``:
    the unit the case was last routed to before acceptance (``routed_unit``)."""
    place = state.jurisdiction
    assert place is not None and state.intake is not None
    return {
        "stage": state.stage.value,
        "prefecture": place.prefecture,
        "county": place.county,
        "unit": state.handling_unit.name if state.handling_unit else None,
        "classification": state.intake.classification.value,
        "received_on": str(state.registered_on),
        "accepted_on": str(state.accepted_on) if state.accepted_on else None,
        "replied_on": str(state.replied_on) if state.replied_on else None,
        "closed_on": str(state.closed_on) if state.closed_on else None,
        "closed_reason": state.closed_reason,
        "diverted_to": state.diverted_to,
        "overdue": state.overdue,
        "supervised": state.supervised,
        "extension_days": state.extension_days_used,
        "rating": state.rating.value if state.rating else None,
        "review_level": state.review_level,
        "escalations": state.escalations,
        "registered_by": state.registered_by,
        "skipped_level": skipped(
            office_level(state.registered_by, place.model_dump()),
            routed.jurisdiction.level.value if routed else None,
        ),
        "repeat_of": state.repeat_of,
        "repeated_by": sum(k != state.repeat_of for k in state.linked_cases),
        "review_unit": state.review_unit.name if state.review_unit else None,
    }


def owed_misses(case_id: str, events: list[Any]) -> Counter[tuple[str, str, str | None]]:
    """(case, kind, unit) of each miss that still counts, the unit from the domain's fold
    as it stood: the review unit owes its decision and its reply's delivery."""
    state, misses = CaseState(), Counter[tuple[str, str, str | None]]()
    for e in events:
        if isinstance(e, ev.DeadlineMissed | ev.DeadlineRecomputed):
            kind = e.deadline
            review = kind in (K.REVIEW_DECISION, K.RE_REVIEW_DECISION) or (
                kind is K.DELIVERY and state.review_level > 0
            )
            unit = state.review_unit if review else state.handling_unit
            key = (case_id, kind.value, unit.name if unit else None)
            if isinstance(e, ev.DeadlineMissed):
                misses[key] += 1
            elif e.lifted_miss:
                misses[key] -= 1
        state = evolve(state, e)
    return misses


def routed_unit(events: list[Any]) -> Unit | None:
    """The handling unit of the domain's fold as it stood before the case was accepted."""
    state, routed = CaseState(), None
    for e in events:
        state = evolve(state, e)
        if state.accepted_on is None:
            routed = state.handling_unit
    return routed


def assert_projection_equals_recount(store: EventStore) -> None:
    streams: dict[str, list[Any]] = {}
    for r in store.iter_all():
        streams.setdefault(r.stream_id, []).append(r)
    with store.engine.connect() as conn:
        rows = {row.case_id: dict(row._mapping) for row in conn.execute(select(case_list))}
        missed = Counter(
            (r.case_id, r.kind, r.unit)
            for r in conn.execute(
                select(deadline_outcomes).where(deadline_outcomes.c.met.is_(False))
            )
        )
    assert set(rows) == {s.removeprefix("petition-") for s in streams}
    misses: Counter[tuple[str, str, str | None]] = Counter()
    for sid, records in streams.items():
        events = [from_record(r, SEALER) for r in records]
        state = fold(events)
        expected = recount(state, routed_unit(events))
        got = {k: rows[sid.removeprefix("petition-")][k] for k in expected}
        assert got == expected, sid
        misses += owed_misses(sid.removeprefix("petition-"), events)
    assert missed == +misses


def test_projection_equals_a_recount_of_the_raw_events(store: EventStore) -> None:
    random_workload(store, cases=60, seed=7)
    projector = Projector(store)
    assert projector.run_once(batch=50) == len(store.read_all(0, 100_000))
    assert_projection_equals_recount(store)
    random_workload(store, cases=20, seed=8)  # more arrives: the catch-up picks it up
    projector.run_once(batch=50)
    assert_projection_equals_recount(store)


class Crash(Exception):
    pass


def test_a_crash_mid_batch_neither_skips_nor_double_counts(store: EventStore) -> None:
    random_workload(store, cases=40, seed=11)
    projector = Projector(store)

    def crash_on_third(batch: int) -> None:
        if batch == 3:
            raise Crash  # rows of batch 3 written, checkpoint written, not committed

    with pytest.raises(Crash):
        projector.run_once(batch=40, before_commit=crash_on_third)
    position, events = projector.position()
    assert events == 80 and position > 0  # two batches committed, the third rolled back
    Projector(store).run_once(batch=40)  # a new process resumes from the checkpoint
    assert_projection_equals_recount(store)
    assert Projector(store).position()[1] == len(store.read_all(0, 100_000))


def test_rebuild_from_zero_gives_the_same_rows(store: EventStore) -> None:
    random_workload(store, cases=30, seed=3)
    projector = Projector(store)
    projector.run_once()
    with store.engine.connect() as conn:
        before = sorted(tuple(r) for r in conn.execute(select(case_list)))
    projector.rebuild()
    assert projector.position() == (0, 0)
    projector.run_once(batch=7)
    with store.engine.connect() as conn:
        assert sorted(tuple(r) for r in conn.execute(select(case_list))) == before


def _store_case(store: EventStore, d: CaseDriver) -> None:
    store.append(stream_id(d.case_id), 0, [to_record(e, sealer=SEALER) for e in d.events])


def test_report_figures_on_a_known_workload(store: EventStore) -> None:
    from petitionflow.projections.report import render, statistics

    satisfied = CaseDriver(case_id="R-1").delivered("support")
    satisfied.ok(c.RecordRating, PETITIONER, rating="satisfied")
    dissatisfied = CaseDriver(case_id="R-2").delivered()
    dissatisfied.ok(c.RecordRating, PETITIONER, rating="dissatisfied")
    silent = CaseDriver(case_id="R-3").delivered()
    silent.at(60).ok(c.ExpireDeadline, deadline="evaluation")  # not evaluated
    late = CaseDriver(case_id="R-4").in_handling()
    late.at(70).ok(c.ExpireDeadline, deadline="handling")  # overdue: backlog, supervised
    diverted = CaseDriver(case_id="R-5").registered()
    diverted.ok(c.DivertPetition, destination="arbitration")
    for d in (satisfied, dissatisfied, silent, late, diverted):
        _store_case(store, d)
    Projector(store).run_once()
    by_unit = {r["unit"]: r for r in statistics(store.engine, "unit")}
    county = by_unit[COUNTY_UNIT.name]
    assert (county["cases"], county["open"]) == (4, 3)
    assert county["satisfaction_rate"] == 0.5  # 1 satisfied of 2 evaluated
    assert (county["evaluated"], county["not_evaluated"]) == (2, 1)
    assert (county["overdue_now"], county["backlog"], county["supervised"]) == (1, 1, 1)
    # notification met 4x (acknowledged), handling met 3x (decisions), missed once
    assert county["on_time_by_deadline"] == {"notification": 1.0, "handling": 0.75}
    office = by_unit["(petition office)"]  # routing is the registering office's duty
    assert office["diverted"] == {"arbitration": 1}
    assert office["on_time_by_deadline"] == {"routing": 1.0}
    assert statistics(store.engine, "unit", since="2099-01-01") == []
    table = render(statistics(store.engine, "prefecture"), "prefecture", "table")
    assert "喀什地区" in table and "50.0%" in table


def test_project_and_report_from_the_command_line(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from petitionflow.cli.main import main

    store = EventStore(store_url, create=True)
    random_workload(store, cases=10, seed=5)
    events = len(store.read_all(0, 100_000))
    store.close()
    assert main(["report", "--store", store_url]) == 0  # catches the read models up first
    assert f"caught up: {events:,} new events" in capsys.readouterr().err
    assert main(["project", "--store", store_url, "--json"]) == 0  # caught up: nothing new
    assert json.loads(capsys.readouterr().out)["projected"] == 0
    assert main(["project", "--rebuild", "--store", store_url, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["projected"] == first["events"] == events
    assert main(["report", "--by", "county", "--format", "csv", "--store", store_url]) == 0
    assert capsys.readouterr().out.startswith("county,cases,open,")


def test_html_report_is_one_file_with_inline_svg(store_url: str, tmp_path: Any) -> None:
    import re
    import xml.etree.ElementTree as ET

    from petitionflow.cli.main import main

    store = EventStore(store_url, create=True)
    late = CaseDriver(case_id="H-1").in_handling()
    late.at(70).ok(c.ExpireDeadline, deadline="handling")  # one case in the backlog
    rated = CaseDriver(case_id="H-2").delivered()
    rated.ok(c.RecordRating, PETITIONER, rating="basically_satisfied")
    for d in (late, rated):
        _store_case(store, d)
    Projector(store).run_once()
    store.close()
    out = tmp_path / "report.html"
    assert main(["report", "--format", "html", "--output", str(out), "--store", store_url]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and COUNTY_UNIT.name in page
    assert not re.search(r"\b(src|href)=|url\(|@import", page), "external asset"
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svgs) == 3
    for svg in svgs:
        ET.fromstring(svg)  # well-formed
    assert "100.0%" in svgs[0]  # satisfaction: the one evaluated case was content
    backlog = re.search(r'points="([^"]+)"', svgs[2])
    assert backlog is not None and len(backlog.group(1).split()) == 26


def test_html_report_renders_in_headless_chromium(store_url: str, tmp_path: Any) -> None:
    import os
    import shutil
    import struct
    import subprocess

    from petitionflow.cli.main import main

    chromium = shutil.which("chromium")
    if chromium is None:
        message = "headless Chromium is missing: apt-get install chromium fonts-wqy-zenhei"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    store = EventStore(store_url, create=True)
    random_workload(store, cases=20, seed=2)
    Projector(store).run_once()
    store.close()
    report = tmp_path / "report.html"
    assert main(["report", "--format", "html", "--output", str(report), "--store", store_url]) == 0
    blank = tmp_path / "blank.html"
    blank.write_text("<!doctype html><html><body></body></html>", encoding="utf-8")

    def shot(page: Any, png: Any) -> bytes:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--window-size=1000,800",
                f"--screenshot={png}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return bytes(png.read_bytes())

    page, empty = shot(report, tmp_path / "report.png"), shot(blank, tmp_path / "blank.png")
    assert page[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", page[16:24]) == (1000, 800)
    assert len(page) > 5 * len(empty), "the report rendered (almost) nothing"


def test_two_projectors_at_once_count_every_event_once(store: EventStore) -> None:
    """A report catching up while `petition project --follow` runs: each batch is
    projected by one of them, never by both."""
    import threading

    random_workload(store, cases=40, seed=13)
    Projector(store)  # the read model tables exist, as they do after any first run
    errors: list[BaseException] = []

    def project() -> None:
        try:
            Projector(store).run_once(batch=25)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=project) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert_projection_equals_recount(store)
    assert Projector(store).position()[1] == len(store.read_all(0, 100_000))


def test_repeat_petitions_and_skipped_levels_in_the_report(store: EventStore) -> None:
    """重复信访 counts where the repeated matter is; 越级: registered by an office above
    the unit the case was routed to."""
    from petitionflow.domain.values import Actor, Candidate
    from petitionflow.projections.report import render, statistics

    county_office = Actor(unit="疏附县信访局", person="李娜")
    open_case = CaseDriver(case_id="K-1").in_handling()  # 喀什地区信访局 → county unit: 越级
    final = CaseDriver(case_id="K-2").replied()
    at_county = CaseDriver(case_id="K-3")
    at_county.ok(c.RegisterPetition, county_office, case_id="K-3", intake=make_intake("K-3"))
    at_county.at(1).ok(c.TransferPetition, county_office, to_unit=COUNTY_UNIT)  # not 越级
    repeats = []
    for n, (of, status, reason) in enumerate(
        [
            ("K-1", "open", "duplicate_in_progress"),
            ("K-1", "open", "duplicate_in_progress"),
            ("K-2", "final", "final_after_re_review"),
        ],
        start=4,
    ):
        d = CaseDriver(case_id=f"K-{n}").registered()
        found = Candidate(case_id=of, score=1.0, status=status, certainty="certain")
        d.ok(c.ScreenRepeats, candidates=(found,))  # from the engine (actor_for)
        repeats.append(d)
        earlier = open_case if of == "K-1" else final
        earlier.ok(c.RecordLink, other_case_id=d.case_id, reason=reason)
    for d in (open_case, final, at_county, *repeats):
        _store_case(store, d)
    Projector(store).run_once()
    assert_projection_equals_recount(store)
    with store.engine.connect() as conn:
        rows = {r.case_id: r for r in conn.execute(select(case_list))}
    assert (rows["K-4"].repeat_of, rows["K-4"].repeat_reason) == ("K-1", "duplicate_in_progress")
    assert (rows["K-1"].repeated_by, rows["K-2"].repeated_by) == (2, 1)
    assert (rows["K-1"].office_level, rows["K-1"].routed_level) == ("prefecture", "county")
    assert rows["K-1"].skipped_level and not rows["K-3"].skipped_level
    assert rows["K-3"].office_level == "county" and rows["K-3"].registered_by == "疏附县信访局"
    by_unit = {r["unit"]: r for r in statistics(store.engine, "unit")}
    unit = by_unit[COUNTY_UNIT.name]
    # K-1, K-2, K-3 are the unit's; the three repeats are about K-1 and K-2
    assert (unit["cases"], unit["repeats"], unit["repeat_rate"]) == (3, 3, 0.5)
    assert unit["repeats_by_reason"] == {"duplicate_in_progress": 2, "final_after_re_review": 1}
    assert unit["skipped_level"] == 2
    office = by_unit["(petition office)"]  # the repeats themselves, never routed
    # no matter of its own: no rate
    assert (office["cases"], office["repeats"], office["repeat_rate"]) == (3, 0, None)
    by_county = {r["county"]: r for r in statistics(store.engine, "county")}
    assert by_county["疏附县"]["repeats"] == 3 and by_county["疏附县"]["cases"] == 6
    assert by_county["疏附县"]["repeat_rate"] == 0.5
    table = render(statistics(store.engine, "unit"), "unit", "table")
    assert "重复信访" in table and "越级" in table and "50.0%" in table
    Projector(store).rebuild()
    Projector(store).run_once(batch=3)
    assert_projection_equals_recount(store)


def test_a_conference_after_acceptance_does_not_change_the_skipped_level(
    store: EventStore,
) -> None:
    """越级 is about routing, before acceptance: a lead unit the joint conference names
    for a case already accepted handles it, it was not routed there."""
    d = CaseDriver(case_id="J-1").in_handling()  # 喀什地区信访局 → county unit: 越级
    d.ok(c.StartMediation, mediator="调解员", petitioner_consents=True, other_party_consents=True)
    d.ok(c.RecordMediation, agreed=False)
    d.ok(c.EscalateToConference, reason="mediation_failed")
    d.at(5).ok(c.RecordConferenceDecision, lead_unit=PREFECTURE_UNIT, plan="由地区牵头")
    _store_case(store, d)
    Projector(store).run_once()
    assert_projection_equals_recount(store)
    with store.engine.connect() as conn:
        (row,) = conn.execute(select(case_list))
    assert (row.unit, row.routed_level, row.skipped_level) == (PREFECTURE_UNIT.name, "county", True)


def _lifted_miss_case(case_id: str) -> CaseDriver:
    """Handling due 2026-05-04, counted Monday to Friday with no arrangement for 2026;
    missed; then an arrangement with 05-01..05-10 off lifts the miss (due 05-11), and
    the decision on 05-07 meets it."""
    from petitionflow.domain.calendar import CalendarSnapshot, parse_arrangement
    from petitionflow.domain.policy import DeadlinePolicy
    from petitionflow.domain.values import Actor

    d = CaseDriver(case_id=case_id, policy=DeadlinePolicy(calendar=CalendarSnapshot(years=())))
    d.in_handling()
    assert d.state.deadlines[K.HANDLING].due == date(2026, 5, 4)
    d.at(64).ok(c.ExpireDeadline, deadline="handling")
    assert d.state.overdue
    days_off = [f"2026-05-{n:02d}" for n in range(1, 11)]
    arrangement = parse_arrangement({"year": 2026, "source": "test", "holidays": days_off})
    d.policy = DeadlinePolicy(calendar=CalendarSnapshot(years=(arrangement,)))
    calendar = Actor(unit="petitionflow", person="holiday calendar")
    (event,) = d.at(65).ok(c.RecomputeDeadlines, calendar).events
    assert isinstance(event, ev.DeadlineRecomputed) and event.lifted_miss
    assert not d.state.overdue
    d.at(66).ok(
        c.IssueDecision,
        HANDLER,
        outcome="support",
        decision="经调查，公司已补发工资。",
        legal_basis="《保障农民工工资支付条例》第十五条",
    )
    return d


def _handling_outcomes(store: EventStore) -> list[tuple[str, str, bool]]:
    with store.engine.connect() as conn:
        return sorted(
            (r.case_id, r.due, r.met)
            for r in conn.execute(
                select(deadline_outcomes).where(deadline_outcomes.c.kind == "handling")
            )
        )


def test_a_miss_the_calendar_lifted_no_longer_counts(store: EventStore) -> None:
    from petitionflow.projections.report import statistics

    whole, split = _lifted_miss_case("L-1"), _lifted_miss_case("L-2")
    _store_case(store, whole)  # the miss and its lift in one batch
    missed_at = next(i for i, e in enumerate(split.events) if isinstance(e, ev.DeadlineMissed))
    first = [to_record(e, sealer=SEALER) for e in split.events]
    store.append(stream_id("L-2"), 0, first[: missed_at + 1])
    projector = Projector(store)
    projector.run_once()
    assert ("L-2", "2026-05-04", False) in _handling_outcomes(store)
    store.append(stream_id("L-2"), missed_at + 1, first[missed_at + 1 :])  # the lift: later
    projector.run_once()
    met = [("L-1", "2026-05-11", True), ("L-2", "2026-05-11", True)]
    assert _handling_outcomes(store) == met
    assert_projection_equals_recount(store)
    unit = {r["unit"]: r for r in statistics(store.engine, "unit")}[COUNTY_UNIT.name]
    assert unit["on_time_by_deadline"]["handling"] == 1.0
    # a rebuild projects it all again: the same outcomes, and more outcomes after a gap
    projector.rebuild()
    projector.run_once(batch=5)
    assert _handling_outcomes(store) == met
    assert_projection_equals_recount(store)


def test_a_review_unit_owes_its_decision_and_the_delivery_of_its_reply(
    store: EventStore,
) -> None:
    from petitionflow.projections.report import statistics

    d = CaseDriver(case_id="V-1").delivered()
    d.at(25).ok(c.RequestReview, PETITIONER, review_unit=PREFECTURE_UNIT, reasons="不服")
    d.at(57).ok(c.ExpireDeadline, deadline="review_decision")  # due 04-27
    d.at(58).ok(c.DecideReview, outcome="not_support", decision="不予支持", legal_basis="依据")
    d.ok(c.ReplyReview)
    d.at(70).ok(c.ExpireDeadline, deadline="delivery")
    _store_case(store, d)
    Projector(store).run_once()
    assert_projection_equals_recount(store)
    with store.engine.connect() as conn:
        owed = sorted(
            (r.kind, r.met, r.unit)
            for r in conn.execute(select(deadline_outcomes))
            if r.kind in ("review_decision", "delivery")
        )
        (row,) = conn.execute(select(case_list))
    assert row.review_unit == PREFECTURE_UNIT.name
    assert owed == [
        ("delivery", False, PREFECTURE_UNIT.name),  # the review reply's
        ("delivery", True, COUNTY_UNIT.name),  # the first reply's
        ("review_decision", False, PREFECTURE_UNIT.name),
    ]
    by_unit = {r["unit"]: r for r in statistics(store.engine, "unit")}
    assert by_unit[PREFECTURE_UNIT.name]["cases"] == 0  # a unit with no case of its own
    assert by_unit[PREFECTURE_UNIT.name]["on_time_by_deadline"]["review_decision"] == 0.0
    assert "review_decision" not in by_unit[COUNTY_UNIT.name]["on_time_by_deadline"]


def test_the_read_model_migration_creates_the_tables_the_projector_writes(
    store: EventStore,
) -> None:
    """Migration 4 spells the read models' DDL out (migrations are frozen); it must match
    the Table shapes in projections/readmodel.py that the projector and report use."""
    from sqlalchemy import inspect

    from petitionflow.projections.readmodel import metadata

    found = inspect(store.engine)
    for table in metadata.sorted_tables:
        columns = {c["name"]: c["nullable"] for c in found.get_columns(table.name)}
        assert columns == {c.name: c.nullable for c in table.columns}, table.name
        assert found.get_pk_constraint(table.name)["constrained_columns"] == [
            c.name for c in table.primary_key.columns
        ], table.name


def test_report_by_the_unit_directory_level_kind_and_most_complaints(
    store: EventStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the unit directory loaded the report names units as it has them today (a
    renamed unit's cases stay together), groups by the handling unit's level and kind,
    and ranks the units with the most petitions (Art 41)."""
    from datetime import date

    from petitionflow.cli.main import main
    from petitionflow.eventstore.directory import DirectoryStore
    from petitionflow.projections.report import most_complaints, statistics
    from testkit.builders import PREFECTURE_UNIT
    from testkit.directory import slice_units

    for n in range(3):
        _store_case(store, CaseDriver(case_id=f"U-{n}").in_handling())
    prefecture = CaseDriver(case_id="U-P").registered()
    prefecture.at(1).ok(c.AssignPetition, to_unit=PREFECTURE_UNIT, due_days=30)
    _store_case(store, prefecture)
    _store_case(store, CaseDriver(case_id="U-D").registered())  # routing still open
    Projector(store).run_once()
    directory = DirectoryStore(store.engine)
    units = slice_units()
    directory.load(units, date(2020, 1, 1), "slice")
    renamed = [
        u.model_copy(update={"name": "疏附县人力资源局"}) if u.id == "653121-rsj" else u
        for u in units
    ]
    directory.load(renamed, date(2021, 1, 1), "slice, renamed")
    index = directory.index()
    by_unit = {r["unit"]: r["cases"] for r in statistics(store.engine, "unit", directory=index)}
    assert by_unit == {"疏附县人力资源局": 3, PREFECTURE_UNIT.name: 1, "(petition office)": 1}
    by_level = {r["level"]: r["cases"] for r in statistics(store.engine, "level", directory=index)}
    assert by_level == {"county": 3, "prefecture": 1, "(petition office)": 1}
    by_kind = {r["kind"]: r["cases"] for r in statistics(store.engine, "kind", directory=index)}
    assert by_kind == {"department": 4, "(petition office)": 1}
    top = most_complaints(statistics(store.engine, "unit", directory=index), 1)
    assert [(r["unit"], r["cases"]) for r in top] == [("疏附县人力资源局", 3)]
    url = str(store.engine.url.render_as_string(hide_password=False))
    assert main(["report", "--top", "2", "--format", "csv", "--store", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[:2] for line in lines[1:] if line] == [
        ["疏附县人力资源局", "3"],
        [PREFECTURE_UNIT.name, "1"],
    ]
    assert main(["report", "--by", "level", "--top", "2", "--store", url]) == 2
    assert "--top ranks units" in capsys.readouterr().err
