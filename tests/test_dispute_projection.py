"""Dispute statistics from the event store, and the case projections skipping dispute
streams (and any stream they do not know)."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from petitionflow.activities.dispute import to_record as dispute_record
from petitionflow.activities.records import stream_id, to_record
from petitionflow.domain import dispute as d
from petitionflow.eventstore import EventStore, NewEvent
from petitionflow.projections.disputes import dispute_list, dispute_statistics
from petitionflow.projections.projector import Projector
from petitionflow.projections.readmodel import case_list
from petitionflow.projections.report import statistics
from petitionflow.workflows.dispute_contract import dispute_stream_id
from testkit.builders import T0, CaseDriver
from testkit.disputes import MEDIATOR, OFFICER, PARTY_NAMES, make_report

ENGINE = MEDIATOR.model_copy(update={"unit": "petitionflow"})


def _dispute(
    store: EventStore, dispute_id: str, path: str, village_code: str = "653121101001"
) -> None:
    """Write a dispute's stream as its workflow would, down ``path``."""
    policy = d.DisputePolicy()
    state = d.DisputeState()
    place: dict[str, Any] = {
        "jurisdiction": {
            "region": "新疆维吾尔自治区",
            "prefecture": "喀什地区",
            "county": "疏附县",
            "township": "托克扎克镇",
        },
        "village": "村" + village_code[-3:],
        "village_code": village_code,
    }
    commands: list[tuple[float, d.DisputeCommandBase]] = [
        (0, make_report(dispute_id, T0, place=place))
    ]

    def cmd(days: float, cls: type[d.DisputeCommandBase], actor: Any = MEDIATOR, **f: Any) -> None:
        commands.append(
            (
                days,
                cls(
                    command_id=f"c{len(commands)}",
                    actor=actor,
                    issued_at=T0 + timedelta(days=days),
                    **f,
                ),
            )
        )

    if path != "reported":
        cmd(1, d.StartMediation, level="village")
    if path in ("resolved", "overdue_resolved"):
        if path == "overdue_resolved":
            cmd(20, d.ExpireMediation, ENGINE)
        cmd(21, d.RecordResolution, agreement="和解")
        cmd(25, d.RecordFollowUp, OFFICER, visited_on=date(2026, 3, 26), outcome="履行")
    elif path == "converted":
        cmd(3, d.ConvertToPetition, registering_office="疏附县信访局", request="请求")
    elif path == "escalated":
        cmd(3, d.EscalateToConference)
    events: list[Any] = []
    for days, command in commands:
        decision = d.decide(state, command, T0 + timedelta(days=days), policy)
        assert isinstance(decision, d.Accepted), decision
        for e in decision.events:
            state = d.evolve(state, e)
            events.append(e)
    store.append(dispute_stream_id(dispute_id), 0, [dispute_record(e) for e in events])


def test_disputes_are_counted_and_cases_skip_their_streams(store: EventStore) -> None:
    case = CaseDriver("KS-0001").in_handling()
    store.append(stream_id("KS-0001"), 0, [to_record(e) for e in case.events])
    _dispute(store, "D-1", "resolved")
    _dispute(store, "D-2", "overdue_resolved")
    _dispute(store, "D-3", "converted", "653121101002")
    _dispute(store, "D-4", "escalated", "653121101002")
    _dispute(store, "D-5", "reported", "653121102001")
    # a stream of a kind the projections do not know (a conference's) is skipped too
    store.append(
        "conference-653121101",
        0,
        [NewEvent(uuid.uuid4(), "ConferenceOpened", 1, {"x": 1}, {})],
    )
    Projector(store).run_once()
    with store.engine.connect() as conn:
        cases = [r.case_id for r in conn.execute(select(case_list.c.case_id))]
        rows = {r.dispute_id: dict(r._mapping) for r in conn.execute(select(dispute_list))}
    assert cases == ["KS-0001"]
    assert set(rows) == {"D-1", "D-2", "D-3", "D-4", "D-5"}
    assert rows["D-3"]["case_id"] == "D-3" and rows["D-3"]["outcome"] == "converted"
    assert rows["D-4"]["conference_id"] == "conference-653121101"
    assert not any(name in str(rows) for name in PARTY_NAMES)
    report = statistics(store.engine, "county")  # the case report is the one case's
    assert "D-1" not in str(report)

    by_village = {r["code"]: r for r in dispute_statistics(store, "village")}
    assert by_village["653121101001"] | {"place": ""} == {
        "code": "653121101001",
        "place": "",
        "found": 2,
        "resolved": 2,
        "converted": 0,
        "escalated": 0,
        "overdue": 1,
        "open": 0,
    }
    assert by_village["653121101002"]["converted"] == 1
    assert by_village["653121101002"]["escalated"] == 1
    assert by_village["653121101002"]["open"] == 1  # escalated, not decided yet
    townships = {r["code"]: r for r in dispute_statistics(store, "township")}
    assert townships["653121101"]["found"] == 4 and townships["653121102"]["found"] == 1
    [county] = dispute_statistics(store, "county", county="653121")
    assert (
        county["found"],
        county["resolved"],
        county["converted"],
        county["escalated"],
        county["overdue"],
        county["open"],
    ) == (5, 2, 1, 1, 1, 2)
    assert county["place"] == "新疆维吾尔自治区 > 喀什地区 > 疏附县"
    assert dispute_statistics(store, "county", county="653122") == []
    # projected again from 0: the same rows
    Projector(store).rebuild()
    Projector(store).run_once()
    assert dispute_statistics(store, "county") == [county]


def test_petition_disputes_report_prints_the_table(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from petitionflow.cli.main import main

    store = EventStore(sqlite_url, create=True)
    try:
        _dispute(store, "D-1", "resolved")
        _dispute(store, "D-3", "converted", "653121101002")
    finally:
        store.close()
    assert main(["disputes", "report", "--store", sqlite_url, "--county", "653121"]) == 0
    out = capsys.readouterr().out
    assert "653121101" in out and "托克扎克镇" in out and "converted" in out
    assert main(["disputes", "report", "--store", sqlite_url, "--by", "village", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["code"] for r in rows] == ["653121101001", "653121101002"]
