"""One suite for the event store, run against SQLite and PostgreSQL."""

from __future__ import annotations

import random
import sqlite3
import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from petitionflow.eventstore import (
    ConcurrencyError,
    EventStore,
    NewEvent,
    SchemaError,
    Upcasters,
    schema,
)
from petitionflow.eventstore.schema import APPEND_ONLY_MESSAGE, LATEST, MIGRATIONS


def new(type_: str = "Happened", **data: object) -> NewEvent:
    return NewEvent(
        uuid.uuid4(), type_, 1, data or {"n": 1}, {"actor": {"unit": "u", "person": "p"}}
    )


def stream() -> str:
    return f"petition-{uuid.uuid4().hex[:10]}"


def test_append_assigns_versions_and_positions(store: EventStore) -> None:
    s = stream()
    p1 = store.append(s, 0, [new("A"), new("B")])
    p2 = store.append(s, 2, [new("C")])
    assert len(p1) == 2 and p1[0] < p1[1] < p2[0]
    got = store.read_stream(s)
    assert [(e.version, e.type) for e in got] == [(1, "A"), (2, "B"), (3, "C")]
    assert [e.position for e in got] == [*p1, *p2]
    assert [e.type for e in store.read_stream(s, from_version=2)] == ["B", "C"]
    assert store.stream_version(s) == 3 and store.stream_version(stream()) == 0


def test_stream_heads_give_each_streams_version_in_one_query(store: EventStore) -> None:
    a, b = stream(), stream()
    store.append(a, 0, [new("A"), new("Closed")])
    store.append(b, 0, [new("A"), new("B"), new("C")])
    heads = store.stream_heads(containing="Closed")
    assert heads[a] == (2, True) and heads[b] == (3, False)
    assert store.stream_heads(b) == {b: (3, False)}
    assert store.stream_heads(stream()) == {}


def test_data_and_metadata_round_trip(store: EventStore) -> None:
    s = stream()
    data = {"名字": "买买提", "amount": 48000, "nested": {"ok": True, "list": [1, None, "三"]}}
    store.append(s, 0, [NewEvent(uuid.uuid4(), "T", 1, data, {"correlation_id": "c-1"})])
    (e,) = store.read_stream(s)
    assert e.data == data and e.metadata == {"correlation_id": "c-1"}
    assert e.recorded_at.tzinfo is not None


def test_wrong_expected_version_is_a_conflict(store: EventStore) -> None:
    s = stream()
    store.append(s, 0, [new()])
    with pytest.raises(ConcurrencyError) as err:
        store.append(s, 0, [new()])
    assert (err.value.expected, err.value.actual) == (0, 1)
    with pytest.raises(ConcurrencyError) as err:
        store.append(s, 5, [new()])
    assert (err.value.expected, err.value.actual) == (5, 1)
    assert store.stream_version(s) == 1


def test_reappending_the_same_events_is_a_no_op(store: EventStore) -> None:
    s = stream()
    batch = [new("A"), new("B")]
    first = store.append(s, 0, batch)
    store.append(s, 2, [new("C")])
    assert store.append(s, 0, batch) == first  # a retried activity, after others wrote
    assert store.append_outcome(s, 0, batch) == (first, False)
    assert store.append_outcome(s, 3, [new("D")]).written
    assert store.stream_version(s) == 4
    assert len(store.read_all(0, 100)) == 4


def test_same_version_with_other_event_ids_is_a_conflict(store: EventStore) -> None:
    s = stream()
    store.append(s, 0, [new("A")])
    with pytest.raises(ConcurrencyError):
        store.append(s, 0, [new("A")])


def test_event_id_stored_elsewhere_is_a_conflict(store: EventStore) -> None:
    e = new()
    store.append(stream(), 0, [e])
    with pytest.raises(ConcurrencyError, match="already stored elsewhere"):
        store.append(stream(), 0, [e])


def test_eight_writers_racing_on_one_stream(store: EventStore) -> None:
    s, rounds, writers = stream(), 10, 8
    wins: Counter[int] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(writers)

    def writer() -> None:
        for _ in range(rounds):
            barrier.wait()
            version = store.stream_version(s)
            barrier.wait()  # all of them now hold the same expected version
            try:
                store.append(s, version, [new()])
            except ConcurrencyError:
                continue
            with lock:
                wins[version + 1] += 1

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert wins == Counter({v: 1 for v in range(1, rounds + 1)})
    assert [e.version for e in store.read_stream(s)] == list(range(1, rounds + 1))
    assert store.verify().ok


def test_read_all_is_gap_free_under_concurrent_writers(store: EventStore) -> None:
    writers, per_writer = 4, 40
    written: list[uuid.UUID] = []
    lock = threading.Lock()
    done = threading.Event()
    seen: list[uuid.UUID] = []

    def writer() -> None:
        for _ in range(per_writer):
            s = stream()
            events = [new() for _ in range(random.randint(1, 3))]
            store.append(s, 0, events)
            with lock:
                written.extend(e.event_id for e in events)

    def reader() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            batch = store.read_all(cursor, 7)
            seen.extend(e.event_id for e in batch)
            if batch:
                cursor = batch[-1].position
            elif finished:
                return

    r = threading.Thread(target=reader)
    r.start()
    threads = [threading.Thread(target=writer) for _ in range(writers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    done.set()
    r.join()
    assert len(seen) == len(set(seen)), "an event was read twice"
    assert set(seen) == set(written), f"{len(set(written) - set(seen))} events were skipped"


@pytest.mark.postgres
def test_read_all_waits_for_an_open_transaction_with_a_lower_position(pg_url: str) -> None:
    store = EventStore(pg_url, create=True)
    try:
        slow, fast = new("Slow"), new("Fast")
        with store.engine.connect() as conn:
            tx = conn.begin()
            (slow_pos,) = store.append_in(conn, stream(), 0, [slow])
            (fast_pos,) = store.append(stream(), 0, [fast])
            assert slow_pos < fast_pos
            # The committed event sorts after the open one: it is held back.
            assert store.read_all(0, 10) == []
            tx.commit()
        assert [e.type for e in store.read_all(0, 10)] == ["Slow", "Fast"]
        assert [e.type for e in store.read_all(slow_pos, 10)] == ["Fast"]
    finally:
        store.close()


def test_read_all_pages(store: EventStore) -> None:
    for _ in range(5):
        store.append(stream(), 0, [new(), new()])
    first = store.read_all(0, 4)
    rest = store.read_all(first[-1].position, 100)
    assert len(first) == 4 and len(rest) == 6
    assert [e.event_id for e in store.iter_all(0, batch=3)] == [e.event_id for e in first + rest]


@pytest.mark.parametrize("statement", ["UPDATE events SET type = 'X'", "DELETE FROM events"])
def test_triggers_reject_update_and_delete(store: EventStore, statement: str) -> None:
    store.append(stream(), 0, [new()])
    with pytest.raises(DBAPIError, match=APPEND_ONLY_MESSAGE), store.engine.begin() as conn:
        conn.execute(text(statement))
    assert len(store.read_all()) == 1


@pytest.mark.postgres
def test_truncate_is_rejected_on_postgres(pg_url: str) -> None:
    store = EventStore(pg_url, create=True)
    store.append(stream(), 0, [new()])
    with pytest.raises(DBAPIError, match="TRUNCATE is not allowed"), store.engine.begin() as conn:
        conn.execute(text("TRUNCATE events"))
    store.close()


class Tamper:
    """Edits rows with the append-only triggers out of the way, as a superuser could."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def run(self, *statements: str) -> None:
        with self.store.engine.begin() as conn:
            if self.store.dialect == "postgresql":
                conn.execute(text("ALTER TABLE events DISABLE TRIGGER USER"))
            else:
                conn.execute(text("DROP TRIGGER events_no_update"))
                conn.execute(text("DROP TRIGGER events_no_delete"))
            for statement in statements:
                conn.execute(text(statement))
            if self.store.dialect == "postgresql":
                conn.execute(text("ALTER TABLE events ENABLE TRIGGER USER"))
            else:
                conn.execute(text("DELETE FROM schema_migrations WHERE version = 2"))
        self.store.migrate()  # puts the SQLite triggers back


def _three_streams(store: EventStore) -> list[str]:
    names = [stream() for _ in range(3)]
    for name in names:
        for v in range(4):
            store.append(name, v, [new("E", n=v)])
    return names


def test_verify_passes_on_an_untouched_store(store: EventStore) -> None:
    _three_streams(store)
    report = store.verify()
    assert report.ok and report.streams == 3 and report.events == 12


def test_verify_names_an_edited_row(store: EventStore) -> None:
    a, b, _ = _three_streams(store)
    new_data = "'{\"n\": 99}'"
    Tamper(store).run(
        f"UPDATE events SET data = {new_data} WHERE stream_id = '{b}' AND version = 2"
    )
    report = store.verify()
    assert [(p.stream_id, p.version, p.kind) for p in report.problems] == [(b, 2, "edited")]
    assert store.verify(a).ok


def test_verify_names_a_deleted_row(store: EventStore) -> None:
    _, b, _ = _three_streams(store)
    Tamper(store).run(f"DELETE FROM events WHERE stream_id = '{b}' AND version = 2")
    problems = {(p.stream_id, p.version, p.kind) for p in store.verify().problems}
    assert problems == {(b, 2, "missing"), (b, 3, "chain_broken")}


def test_verify_names_reordered_rows(store: EventStore) -> None:
    _, b, _ = _three_streams(store)
    # swap versions 2 and 3 (through 102 and 103, as UNIQUE checks every row)
    Tamper(store).run(
        f"UPDATE events SET version = 100 + version WHERE stream_id = '{b}' AND version IN (2, 3)",
        f"UPDATE events SET version = CASE WHEN version = 102 THEN 3 ELSE 2 END"
        f" WHERE stream_id = '{b}' AND version IN (102, 103)",
    )
    report = store.verify()
    assert report.broken_streams == [b]
    assert {p.version for p in report.problems} >= {2, 3}


def test_old_schema_versions_are_upcast_on_read(store_url: str) -> None:
    # Version 1 stored the petitioner's rating as Chinese text; version 2 uses codes.
    store = EventStore(store_url, create=True)
    s = stream()
    store.append(s, 0, [NewEvent(uuid.uuid4(), "Rated", 1, {"rating": "满意"}, {})])
    store.close()

    upcasters = Upcasters()
    codes = {"满意": "satisfied", "基本满意": "basically_satisfied", "不满意": "dissatisfied"}
    upcasters.register("Rated", 1, lambda d: {"rating": codes[d["rating"]]})
    upcasters.register("Rated", 2, lambda d: {**d, "channel": "portal"})
    reader = EventStore(store_url, upcasters=upcasters)
    (e,) = reader.read_stream(s)
    assert (e.schema_version, e.stored_schema_version) == (3, 1)
    assert e.data == {"rating": "satisfied", "channel": "portal"}
    assert reader.read_all()[0].data == e.data
    assert reader.verify().ok  # the stored row is untouched
    reader.close()


def test_migrations_are_versioned_and_repeatable(store: EventStore) -> None:
    assert store.migrate() == []
    with store.engine.connect() as conn:
        versions = [r[0] for r in conn.execute(text("SELECT version FROM schema_migrations"))]
    assert versions == [m.version for m in MIGRATIONS] == list(range(1, 12))
    assert EventStore(store.url, create=True).migrate() == []


def test_opening_a_store_changes_no_schema_and_says_when_it_is_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only ``create=True`` (``petition migrate``, ``petition dev``) migrates; any other
    process refuses a schema that is missing or behind, in one line naming the fix."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with pytest.raises(SchemaError, match=r"there is no event store at .*: run `petition migrate`"):
        EventStore(url)
    assert not (tmp_path / "events.db").exists()  # and opening it created no empty file
    sqlite3.connect(tmp_path / "events.db").close()
    with pytest.raises(SchemaError, match=r"has no schema: run `petition migrate`"):
        EventStore(url)
    created = EventStore(url, create=True)
    assert created.applied_now == [m.version for m in MIGRATIONS]
    created.close()
    # A database a release behind: every migration but the newest (whose DDL, ALTER
    # TABLE ... ADD COLUMN, runs once), as an older release left it.
    older = f"sqlite:///{tmp_path / 'older.db'}"
    engine = create_engine(older)
    with engine.begin() as conn:
        monkeypatch.setattr(schema, "MIGRATIONS", MIGRATIONS[:-1])
        schema.migrate(conn)
        monkeypatch.undo()
    engine.dispose()
    before = MIGRATIONS[-2].version
    with pytest.raises(SchemaError, match=rf"schema version {before} of {LATEST}: run"):
        EventStore(older)
    upgraded = EventStore(older, create=True)
    assert upgraded.applied_now == [LATEST]
    upgraded.close()
    EventStore(older).close()  # up to date: opens


def test_the_hashed_form_is_the_canonical_json_of_the_row() -> None:
    import json
    from datetime import UTC, datetime

    from petitionflow.eventstore.store import canonical_json, to_json

    data = {
        "b": 'quote " and \\ backslash',
        "a": ["换行\n", "\u2028", 1.5, None],
        "é": {"z": 1, "y": 2},
    }
    meta = {"actor": {"unit": "单位", "person": "人"}}
    at = datetime(2026, 3, 2, 1, 2, 3, 456789, tzinfo=UTC)
    body = {
        "stream": 's"1',
        "version": 7,
        "event_id": "id",
        "type": "T",
        "schema_version": 2,
        "data": data,
        "metadata": meta,
        "recorded_at": "2026-03-02T01:02:03.456789Z",
    }
    expected = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert (
        canonical_json('s"1', 7, "id", "T", 2, to_json(data), to_json(meta), at).decode()
        == expected
    )
