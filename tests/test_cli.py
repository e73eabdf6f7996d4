"""The ``petition`` command line against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from activities.records import from_record, stream_id, to_record
from cli.main import main
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


def _cases_in(store_url: str, n: int = 3) -> list[str]:
    store = EventStore(store_url)
    ids = []
    for i in range(n):
        d = CaseDriver(case_id=f"CLI-{i}").replied()
        store.append(stream_id(d.case_id), 0, [to_record(e) for e in d.events])
        ids.append(d.case_id)
    store.close()
    return ids


def test_history_prints_a_case_and_refuses_an_unknown_one(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (case, *_) = _cases_in(store_url)
    assert main(["history", case, "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert "DecisionIssued" in out and "stage: replied" in out
    assert main(["history", case, "--store", store_url, "--json"]) == 0
    assert next(e["type"] for e in json.loads(capsys.readouterr().out)) == "PetitionRegistered"
    assert main(["history", "NO-SUCH-CASE", "--store", store_url]) == 2
    assert "no events for case 'NO-SUCH-CASE'" in capsys.readouterr().err


def test_verify_exits_non_zero_and_names_the_broken_stream(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _cases_in(store_url)
    assert main(["verify", "--store", store_url]) == 0
    assert capsys.readouterr().out.startswith("3 streams, ")
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


def test_verify_names_every_kind_of_tampering_with_the_triggers_disabled(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    edited, deleted, reordered = (stream_id(c) for c in _cases_in(store_url))
    store = EventStore(store_url)
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":  # as a superuser could
            conn.execute(text("ALTER TABLE events DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER events_no_update"))
            conn.execute(text("DROP TRIGGER events_no_delete"))
        conn.execute(
            text(
                f"UPDATE events SET type = 'CaseClosed' WHERE stream_id = '{edited}' AND version = 2"
            )
        )
        conn.execute(text(f"DELETE FROM events WHERE stream_id = '{deleted}' AND version = 3"))
        conn.execute(
            text(
                f"UPDATE events SET version = version + 100 WHERE stream_id = '{reordered}' AND version IN (2, 4)"
            )
        )
        conn.execute(
            text(
                f"UPDATE events SET version = CASE version WHEN 102 THEN 4 ELSE 2 END WHERE stream_id = '{reordered}' AND version > 100"
            )
        )
    store.close()
    assert main(["verify", "--store", store_url, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    found = {(p["stream_id"], p["version"], p["kind"]) for p in report["problems"]}
    assert (edited, 2, "edited") in found
    assert (deleted, 3, "missing") in found
    assert {(reordered, 2, "edited"), (reordered, 4, "edited")} <= found
    assert {p["stream_id"] for p in report["problems"]} == {edited, deleted, reordered}
    assert main(["verify", "--store", store_url]) == 1
    out = capsys.readouterr().out
    assert "3 broken" in out and f"{deleted} v3: missing" in out
