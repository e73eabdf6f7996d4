"""The ``petition`` command line against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from petitionflow.activities.records import from_record, stream_id, to_record
from petitionflow.cli import render
from petitionflow.cli.main import CliError, main, read_json
from petitionflow.domain import commands as c
from petitionflow.eventstore import EventStore
from petitionflow.security import masking
from testkit.builders import CaseDriver
from testkit.keys import TEST_KEYS


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
    store = EventStore(store_url, create=True)
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
    assert "DecisionIssued" in out and "now: replied" in out
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
    store = EventStore(store_url, create=True)
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
    assert main(["verify", "--store", "postgresql://nobody:s3cret-pw@127.0.0.1:1/none"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: event store postgresql://") and err.count("\n") == 1
    assert "s3cret" not in err and "nobody:***@" in err


def test_a_command_without_a_store_opens_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """codec-server and setup-cluster never touch the event store: here its URL points
    nowhere and the data folder cannot be created, and the error is about what each
    command does need (setup-cluster: Temporal, and no keys: it sends no payloads)."""
    monkeypatch.setenv("PETITIONFLOW_STORE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    missing = tmp_path / "no" / "such"
    for argv in (
        ["codec-server", "--origin", "http://ui", "--data-dir", str(missing)],
        ["setup-cluster", "--data-dir", str(missing)],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "event store" not in err, err
        assert "CODEC_TOKEN" in err or "cannot reach Temporal" in err, err  # what each needs
    assert not (tmp_path / "no").exists()
    monkeypatch.delenv("PETITIONFLOW_STORE_URL")
    monkeypatch.chdir(tmp_path)
    assert main(["history", "X-1"]) == 2  # a read: it creates no data folder, no empty store
    assert "there is no event store at sqlite:///data/events.db" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_worker_that_cannot_reach_temporal_says_where_in_one_line(
    store: EventStore,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert TEST_KEYS.index is not None
    for ring, keys in (
        ("PAYLOAD", TEST_KEYS.payload),
        ("SEALING", TEST_KEYS.sealing),
        ("INDEX", TEST_KEYS.index),
    ):
        monkeypatch.setenv(
            f"PETITIONFLOW_{ring}_KEYS", ",".join(f"{k}:{v}" for k, v in keys.dump())
        )
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    assert main(["worker", "--store", store_url]) == 2
    err = capsys.readouterr().err
    assert "cannot reach Temporal at 127.0.0.1:1" in err and "Traceback" not in err


def test_a_store_that_was_never_migrated_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    assert main(["history", "X-1", "--store", url]) == 2
    assert "there is no event store at" in capsys.readouterr().err
    assert main(["migrate", "--store", url]) == 0
    assert "up to date at version" in capsys.readouterr().out
    assert main(["history", "X-1", "--store", url]) == 2
    assert "case_not_found" in capsys.readouterr().err


def test_verify_names_every_kind_of_tampering_with_the_triggers_disabled(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    edited, deleted, reordered = (stream_id(c) for c in _cases_in(store_url))
    store = EventStore(store_url, create=True)
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


# ---- --data, verify of an unknown case, readable output ---------------------------


def test_data_is_inline_json_of_any_length_or_an_explicit_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    long = {"reason": "需调取施工合同和考勤记录" * 40, "days": 30}
    inline = json.dumps(long, ensure_ascii=False)
    assert len(inline.encode()) > 255  # once taken for a file name: File name too long
    assert read_json(inline, "--data") == long
    path = tmp_path / "extend.json"
    path.write_text(inline, encoding="utf-8")
    assert read_json(f"@{path}", "--data") == long
    monkeypatch.setattr("sys.stdin", io.StringIO(inline))
    assert read_json("@-", "--data") == long
    with pytest.raises(CliError, match=r"the file '.*nope\.json' does not exist"):
        read_json(f"@{tmp_path / 'nope.json'}", "--data")
    with pytest.raises(CliError, match=r"not valid JSON: Expecting .* line 1 column 13"):
        read_json('{"days": 30,}', "--data")
    with pytest.raises(CliError, match=r"to read a file, write @extend\.json"):
        read_json("extend.json", "--data")


def test_bad_data_is_one_line_and_exit_2(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["send", "X-1", "accept_petition", "--data", "{oops", "--store", sqlite_url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --data (inline) is not valid JSON") and err.count("\n") == 1


def test_verify_an_unknown_case_is_case_not_found(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (case, *_) = _cases_in(store_url, 1)
    assert main(["verify", "NOPE-1", "--store", store_url]) == 2
    assert capsys.readouterr().err.startswith("error: case_not_found: there is no case 'NOPE-1'")
    assert main(["verify", case, "--store", store_url]) == 0
    assert capsys.readouterr().out.startswith("1 stream, 5 events: intact")


def test_history_says_what_each_event_says_and_masks_personal_data(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (case, *_) = _cases_in(sqlite_url, 1)
    assert main(["history", case, "--store", sqlite_url]) == 0
    out = capsys.readouterr().out
    d = CaseDriver(case_id=case).replied()
    name = d.events[0].intake.petitioner.name
    assert name not in out and masking.mask_name(name) in out
    assert "transferred to " in out and "decision, " in out
    assert d.events[0].day.isoformat() in out and d.events[0].actor.person in out
    assert main(["history", case, "--store", sqlite_url, "--reveal"]) == 0
    assert name in capsys.readouterr().out
    assert main(["history", case, "--store", sqlite_url, "--json"]) == 0
    assert name not in capsys.readouterr().out


def test_show_masks_and_flags_an_overdue_deadline() -> None:
    d = CaseDriver().in_handling()
    state = d.state
    handling = state.deadlines[next(k for k in state.deadlines if k.value == "handling")]
    late = handling.due_at + timedelta(days=2)
    out = _text(render.show("C-1", state, reveal=False, now=late))
    assert state.intake is not None
    petitioner = state.intake.petitioner
    assert petitioner.phone not in out and masking.mask_number(petitioner.phone) in out
    assert petitioner.address not in out and petitioner.name not in out
    assert "handling unit" in out and handling.due.isoformat() in out
    assert "OVERDUE" in out and state.intake.request in out
    revealed = _text(
        render.show("C-1", state, reveal=True, now=handling.due_at - timedelta(days=3))
    )
    assert petitioner.phone in revealed and "OVERDUE" not in revealed and "days left" in revealed


def test_show_and_history_say_which_cases_a_repeat_is_linked_to() -> None:
    from petitionflow.domain import commands as c
    from petitionflow.domain.values import Candidate

    suggested = CaseDriver("KS-NEW").registered()
    found = Candidate(case_id="KS-A", score=0.48, status="open", certainty="possible")
    suggested.ok(c.ScreenRepeats, candidates=(found,))
    out = _text(render.show("KS-NEW", suggested.state, reveal=False))
    assert "possible repeat of" in out and "KS-A (open, score 0.48)" in out
    suggested.ok(c.ConfirmRepeat, other_case_id="KS-A")
    out = _text(render.show("KS-NEW", suggested.state, reveal=False))
    assert "repeat of" in out and "KS-A (重复信访)" in out
    lines = [render.summary(e, reveal=False) for e in suggested.events[1:]]
    assert lines[:3] == [
        "possible repeat of KS-A (open, 0.48)",
        "repeat of KS-A confirmed",
        "linked: repeat of KS-A (duplicate_in_progress)",
    ]
    earlier = CaseDriver("KS-A").in_handling()
    earlier.ok(c.RecordLink, other_case_id="KS-NEW", reason="duplicate_in_progress")
    assert "repeated by" in _text(render.show("KS-A", earlier.state, reveal=False))


def test_list_has_a_header_and_a_stable_order() -> None:
    at = datetime(2027, 1, 1, 16, tzinfo=UTC)  # the end of 2027-01-01 in Beijing
    rows = [
        {"case_id": c, "status": "RUNNING", "stage": "handling", "handling_unit": "某局",
         "overdue": late, "next_deadline": due, "started": None}
        for c, late, due in [
            ("B", False, at), ("A", False, None), ("C", True, at + timedelta(days=5)),
            ("D", False, at),
        ]
    ]  # fmt: skip
    assert [r["case_id"] for r in render.sort_rows(rows, "deadline")] == ["C", "B", "D", "A"]
    assert [r["case_id"] for r in render.sort_rows(rows[::-1], "deadline")] == ["C", "B", "D", "A"]
    assert [r["case_id"] for r in render.sort_rows(rows, "case")] == ["A", "B", "C", "D"]
    out = _text(render.case_list(render.sort_rows(rows, "deadline"), 100))
    header = out.splitlines()[0].split()
    assert header[:3] == ["case", "status", "stage"] and "overdue" in header
    assert "2027-01-01" in out and "OVERDUE" in out and "4 cases" in out


def _text(parts: list[object]) -> str:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=200, no_color=True)
    for part in parts:
        console.print(part)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def test_show_says_when_a_reply_awaits_delivery_and_history_shows_the_delivery() -> None:
    d = CaseDriver().replied()
    waiting = _text(render.show("C-1", d.state, reveal=False, now=d.now))
    assert "reply not delivered yet" in waiting
    d.ok(c.RecordDelivery, document="reply", method="post")
    shown = _text(render.show("C-1", d.state, reveal=False, now=d.now))
    assert "not delivered" not in shown and f"reply delivered {d.now.date()}" in shown
    assert render.summary(d.events[-1], reveal=False) == f"reply delivered {d.now.date()} (post)"
