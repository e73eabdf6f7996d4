"""The petitioner index: its key, its table (migration 6) on SQLite and PostgreSQL,
and what it never holds."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from petitionflow.activities.records import stream_id, to_record
from petitionflow.config import Settings
from petitionflow.domain import commands as c
from petitionflow.domain.repeat import lookups, petitioner_keys
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.index import PetitionerIndex
from petitionflow.eventstore.schema import LATEST, applied_through, petitioner_index
from petitionflow.security.index import PetitionerHasher
from petitionflow.security.keys import KeyRing, ensure_keys_file
from petitionflow.workers.logs import _Handler
from petitionflow.workers.main import serve
from testkit.builders import PETITIONER_DATA, CaseDriver, make_intake
from testkit.keys import HASHER, SEALER, TEST_KEYS


def test_the_hash_is_keyed_and_a_lookup_knows_every_key_of_the_ring() -> None:
    text = petitioner_keys(make_intake())["id"]
    other = PetitionerHasher(KeyRing((("other", bytes(32)),)))
    assert HASHER.newest(text)[1] != other.newest(text)[1]
    assert HASHER.newest(text) == HASHER.newest(text)
    assert TEST_KEYS.index is not None
    rotated = PetitionerHasher(KeyRing((("new", bytes(range(1, 33))), *TEST_KEYS.index.keys)))
    assert rotated.newest(text)[0] == "new"
    assert HASHER.newest(text)[1] in rotated.all(text)  # entries made before still found
    assert PETITIONER_DATA["id_number"] not in repr(HASHER)


def test_the_index_key_is_not_a_payload_or_sealing_key() -> None:
    assert TEST_KEYS.index is not None
    index = {k for _, k in TEST_KEYS.index.keys}
    assert not index & {k for _, k in TEST_KEYS.payload.keys + TEST_KEYS.sealing.keys}


def test_petition_dev_makes_an_index_key_and_adds_one_to_an_older_file(tmp_path: Path) -> None:
    fresh = ensure_keys_file(tmp_path / "new" / "keys.json")
    assert fresh.index is not None
    old = tmp_path / "old.json"
    body = {"payload": KeyRing.generate("p").dump(), "sealing": KeyRing.generate("s").dump()}
    old.write_text(json.dumps(body), encoding="utf-8")
    os.chmod(old, 0o600)
    keys = ensure_keys_file(old)
    assert keys.index is not None
    written = json.loads(old.read_text(encoding="utf-8"))
    assert (written["payload"], written["sealing"]) == (body["payload"], body["sealing"])
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert ensure_keys_file(old).index == keys.index  # made once


def test_a_worker_without_an_index_key_does_not_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = base64.b64encode(bytes(range(32))).decode()
    monkeypatch.setenv("PETITIONFLOW_PAYLOAD_KEYS", f"p1:{key}")
    monkeypatch.setenv("PETITIONFLOW_SEALING_KEYS", f"s1:{key}")
    monkeypatch.delenv("PETITIONFLOW_INDEX_KEYS", raising=False)
    monkeypatch.setenv("PETITIONFLOW_DATA_DIR", str(tmp_path))
    # An in-process CLI call of an earlier test set up JSON logging on the stderr pytest
    # captured for it, closed since: logging there would print a traceback here.
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [h for h in root.handlers if not isinstance(h, _Handler)])
    assert serve(Settings.load()) == 2
    err = capsys.readouterr().err
    assert "Logging error" not in err and key not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "PETITIONFLOW_INDEX_KEYS" in errors[0]


def test_a_gap_in_the_migrations_counts_as_missing() -> None:
    # A database that has a later migration but not an earlier one is behind: one that
    # has 6 without 5 is at 4 (the two were written apart and merged).
    assert LATEST >= 6
    assert applied_through({1, 2, 3, 6}) == 3
    assert applied_through({1, 2, 3, 4, 6}) == 4
    assert applied_through({m for m in range(1, LATEST + 1)}) == LATEST


def _index(store: EventStore, case_id: str, **intake: object) -> list[str]:
    i = make_intake(**intake)
    entries = {kind: HASHER.newest(text) for kind, text in petitioner_keys(i).items()}
    found = PetitionerIndex(store.engine).index_and_find(
        case_id, entries, [(HASHER.all(t), kinds) for t, kinds in lookups(i)], 50
    )
    return [h.case_id for h in found]


def test_the_index_finds_earlier_cases_only_and_holds_no_plain_text(store: EventStore) -> None:
    assert _index(store, "A") == []
    assert _index(store, "B") == ["A"]
    assert _index(store, "A") == []  # indexed again (a retry): still only the cases before it
    assert _index(store, "C") == ["B", "A"]  # newest first
    no_id = {**PETITIONER_DATA, "id_number": None}
    assert _index(store, "D", petitioner=no_id) == ["C", "B", "A"]  # by phone and name
    assert _index(store, "E") == ["D", "C", "B", "A"]  # and D, which gave no ID
    other = {**PETITIONER_DATA, "id_number": "65312119900101001" + "9"}
    # another ID number: neither its ID nor (as it has one) its phone and name match
    assert _index(store, "F", petitioner=other) == ["D"]
    with store.engine.connect() as conn:
        rows = conn.execute(select(petitioner_index)).all()
    text = repr(rows)
    assert PETITIONER_DATA["id_number"] not in text and PETITIONER_DATA["phone"] not in text
    assert "买买提" not in text
    assert {r.key_kind for r in rows} == {"id", "phone_name", "phone_name_id"}


def test_two_registrations_of_one_petitioner_at_once_find_each_other(store: EventStore) -> None:
    """Never both missed: one of them is indexed first and the other finds it."""
    barrier = threading.Barrier(2)
    found: dict[str, list[str]] = {}

    def register(case_id: str) -> None:
        barrier.wait()
        found[case_id] = _index(store, case_id)

    for n in range(5):
        a, b = f"T{n}-A", f"T{n}-B"
        threads = [threading.Thread(target=register, args=(x,)) for x in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert (b in found[a]) != (a in found[b]), found  # exactly one finds the other


# ---- the activities on their own (ActivityEnvironment) ---------------------------------


def _store_case(store: EventStore, d: CaseDriver) -> None:
    store.append(stream_id(d.case_id), 0, [to_record(e, sealer=SEALER) for e in d.events])


def test_screening_reads_the_earlier_cases_status_from_the_store(store: EventStore) -> None:
    from temporalio.testing import ActivityEnvironment

    from petitionflow.activities.repeat import RepeatActivities, ScreenRequest

    env = ActivityEnvironment()
    activities = RepeatActivities(store, SEALER, HASHER)
    earlier = CaseDriver("S-1").in_handling()
    _store_case(store, earlier)
    first = env.run(activities.screen_repeats, ScreenRequest(case_id="S-1", intake=make_intake()))
    assert first.candidates == [] and first.indexed
    found = env.run(activities.screen_repeats, ScreenRequest(case_id="S-2", intake=make_intake()))
    assert [(k.case_id, k.status.value, k.certainty.value) for k in found.candidates] == [
        ("S-1", "open", "certain")
    ]
    again = env.run(activities.screen_repeats, ScreenRequest(case_id="S-2", intake=make_intake()))
    assert again == found  # a retried activity gives the same answer
    blind = RepeatActivities(store, SEALER, None)
    none = env.run(blind.screen_repeats, ScreenRequest(case_id="S-3", intake=make_intake()))
    assert none.candidates == [] and not none.indexed


def test_the_link_to_an_ended_case_is_appended_once(store: EventStore) -> None:
    from temporalio.testing import ActivityEnvironment

    from petitionflow.activities.repeat import LinkRequest, RepeatActivities

    env = ActivityEnvironment()
    activities = RepeatActivities(store, SEALER, HASHER)
    done = CaseDriver("L-1").registered()
    done.ok(c.WithdrawPetition)
    _store_case(store, done)
    request = LinkRequest(
        case_id="L-1",
        other_case_id="L-2",
        reason="final_after_re_review",
        issued_at=datetime.now(UTC),
    )
    written = env.run(activities.link_case_in_store, request)
    assert written.written and written.version == 4
    assert not env.run(activities.link_case_in_store, request).written  # retried: nothing
    records = store.read_stream(stream_id("L-1"))
    assert [r.type for r in records][-1] == "CaseLinked" and len(records) == 4
    assert store.verify(stream_id("L-1")).ok
