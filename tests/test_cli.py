"""The ``petition`` command line against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from activities.records import from_record, stream_id, to_record
from cli.main import main
from domain.state import Stage, fold
from eventstore import EventStore
from tests.builders import CaseDriver


def test_records_round_trip_every_event_of_a_case(store: EventStore) -> None:
    d = CaseDriver().replied()
    store.append(
        stream_id(d.case_id),
        0,
        [to_record(e, {"workflow_id": "petition-x", "run_id": "r1"}) for e in d.events],
    )
    records = store.read_stream(stream_id(d.case_id))
    assert [from_record(r) for r in records] == d.events
    assert records[0].metadata["workflow"] == {"workflow_id": "petition-x", "run_id": "r1"}
    assert "actor" not in records[0].data and records[0].metadata["actor"]["person"]


def test_dev_demo_writes_every_path_and_verifies(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dev", "--demo", "--store", store_url, "--json"]) == 0
    out = capsys.readouterr().out
    rows = json.loads(out)
    assert len(rows) == 10
    closed = {r["closed"] for r in rows}
    assert {"resolved", "diverted", "not_accepted", "withdrawn", "final"} <= closed
    assert {r["rating"] for r in rows} >= {
        "satisfied",
        "basically_satisfied",
        "dissatisfied",
        "not_evaluated",
    }
    assert any(r["overdue_or_supervised"] for r in rows)
    assert any("final_no_further_review" in rej for r in rows for rej in r["rejected"])

    store = EventStore(store_url)
    case = rows[7]["case"]
    state = fold(from_record(r) for r in store.read_stream(stream_id(case)))
    assert state.stage is Stage.CLOSED and state.final
    store.close()

    assert main(["history", case, "--store", store_url]) == 0
    assert "ReviewReplied" in capsys.readouterr().out
    assert main(["history", "NO-SUCH-CASE", "--store", store_url]) == 2
    assert "no events for case 'NO-SUCH-CASE'" in capsys.readouterr().err


def test_verify_exits_non_zero_and_names_the_broken_stream(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dev", "--demo", "--store", store_url]) == 0
    capsys.readouterr()
    assert main(["verify", "--store", store_url]) == 0
    assert capsys.readouterr().out.startswith("10 streams, ")
    store = EventStore(store_url)
    with store.engine.begin() as conn:
        victim = conn.execute(
            text("SELECT stream_id FROM events WHERE version = 3 LIMIT 1")
        ).scalar()
        if store.dialect == "postgresql":
            conn.execute(text("ALTER TABLE events DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER events_no_update"))
        conn.execute(
            text("UPDATE events SET type = 'CaseClosed' WHERE stream_id = :s AND version = 3"),
            {"s": victim},
        )
    store.close()
    assert main(["verify", "--store", store_url, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"]
    assert report["problems"] == [
        {
            "stream_id": victim,
            "version": 3,
            "kind": "edited",
            "detail": "the stored content does not match its hash",
        }
    ]


def test_unreachable_store_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--store", "postgresql://nobody@127.0.0.1:1/none"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: event store postgresql://") and err.count("\n") == 1
