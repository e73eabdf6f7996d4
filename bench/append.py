"""Append throughput: this store vs a raw single-row INSERT, side by side in one run.

    .venv/bin/python -m bench.append [--seconds 5] [--rounds 3] [--pg DSN] [--sqlite-dir DIR]

One event per transaction, 1 and 4 writer threads, each writer on its own streams.
On PostgreSQL a third contender, when installed (``pip install -e '.[bench]'``): the
``eventsourcing`` library's PostgreSQL application recorder, same payload.
"raw" inserts the same row (same columns, same JSON) into a plain table with only a
primary key, through the same SQLAlchemy engine. Each writer alternates a raw
INSERT and an append, so drift on a noisy machine hits both sides alike; the table
shows the median over rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import text

from petitionflow.eventstore import EventStore, NewEvent

DATA = {
    "case_id": "KS-2026-000123",
    "occurred_at": "2026-03-22T10:00:00+08:00",
    "day": "2026-03-22",
    "outcome": "not_support",
    "decision": "经调查核实，申请人反映的问题不属实，依法不予支持。" * 4,
    "legal_basis": "《信访工作条例》第三十二条",
    "deadlines_opened": [
        {
            "kind": "evaluation",
            "start": "2026-03-22",
            "due": "2026-04-21",
            "due_at": "2026-04-21T16:00:00Z",
            "counting": "calendar",
            "missed": False,
        },
    ],
    "deadlines_closed": ["handling"],
}
META = {
    "actor": {"unit": "疏附县人力资源和社会保障局", "person": "王建国"},
    "causation_id": "cmd-42",
    "correlation_id": "cmd-1",
    "workflow": {"workflow_id": "petition-KS-2026-000123", "run_id": "r"},
}

RAW_DDL = {
    "postgresql": """CREATE TABLE IF NOT EXISTS raw_events (
        position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, stream_id TEXT, version BIGINT,
        event_id TEXT, type TEXT, schema_version INT, data JSONB, metadata JSONB,
        recorded_at TIMESTAMPTZ)""",
    "sqlite": """CREATE TABLE IF NOT EXISTS raw_events (
        position INTEGER PRIMARY KEY AUTOINCREMENT, stream_id TEXT, version INTEGER,
        event_id TEXT, type TEXT, schema_version INTEGER, data TEXT, metadata TEXT,
        recorded_at DATETIME)""",
}


def run_interleaved(
    writers: int, seconds: float, ops: dict[str, Callable[[int, int], None]]
) -> dict[str, float]:
    """Each writer thread alternates the operations; returns ops/s for each.

    The disk's fsync latency drifts by tens of percent within a minute here, so the
    operations take turns inside the same seconds rather than running one after the
    other. A kind's rate is its operations over the time the writers spent in it.
    """
    names = list(ops)
    spent = {name: [0.0] * writers for name in names}
    done = {name: [0] * writers for name in names}
    stop = time.perf_counter() + seconds
    barrier = threading.Barrier(writers)

    def work(w: int) -> None:
        barrier.wait()
        n = 0
        while time.perf_counter() < stop:
            for name in names:
                t0 = time.perf_counter()
                ops[name](w, n)
                spent[name][w] += time.perf_counter() - t0
                done[name][w] += 1
            n += 1

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return {name: sum(done[name]) / (sum(spent[name]) / writers) for name in names}


def measure(store: EventStore, writers: int, seconds: float) -> tuple[float, float, float | None]:
    """Ops/s of the raw INSERT, the append and, when installed, the eventsourcing recorder."""
    with store.engine.begin() as conn:
        conn.execute(text(RAW_DDL[store.dialect]))
    run = uuid.uuid4().hex[:8]
    if store.dialect == "postgresql":
        raw_sql = (
            "INSERT INTO raw_events (stream_id, version, event_id, type, schema_version,"
            " data, metadata, recorded_at) VALUES (%(s)s, %(v)s, %(e)s, 'DecisionIssued',"
            " 1, %(d)s::jsonb, %(m)s::jsonb, %(r)s)"
        )
    else:
        raw_sql = (
            "INSERT INTO raw_events (stream_id, version, event_id, type, schema_version,"
            " data, metadata, recorded_at) VALUES (:s, :v, :e, 'DecisionIssued', 1, :d,"
            " :m, :r)"
        )
    data_json, meta_json = (
        json.dumps(DATA, ensure_ascii=False),
        json.dumps(META, ensure_ascii=False),
    )

    def raw(w: int, n: int) -> None:
        # The cheapest honest INSERT: one driver-level statement in autocommit, on the
        # store's own append engine, with the JSON already serialised.
        with store.append_engine.connect() as conn:
            conn.exec_driver_sql(
                raw_sql,
                {
                    "s": f"raw-{run}-{w}-{n // 50}",
                    "v": n % 50 + 1,
                    "e": str(uuid.uuid4()),
                    "d": data_json,
                    "m": meta_json,
                    "r": datetime.now(UTC).isoformat(),
                },
            )

    def append(w: int, n: int) -> None:
        # 50 events per stream, like a long case; the version comes from the caller.
        store.append(
            f"petition-{run}-{w}-{n // 50}",
            n % 50,
            [NewEvent(uuid.uuid4(), "DecisionIssued", 1, DATA, META)],
        )

    ops: dict[str, Callable[[int, int], None]] = {"raw": raw, "append": append}
    recorder = _eventsourcing_recorder(store, writers)
    if recorder is not None:
        from eventsourcing.persistence import StoredEvent

        state = json.dumps({"data": DATA, "metadata": META}, ensure_ascii=False).encode()

        def library(w: int, n: int) -> None:
            recorder.insert_events(
                [
                    StoredEvent(
                        originator_id=_ids[(w, n // 50)],
                        originator_version=n % 50 + 1,
                        topic="petitionflow:DecisionIssued",
                        state=state,
                    )
                ]
            )

        _ids: dict[tuple[int, int], uuid.UUID] = DefaultIds()
        ops["eventsourcing"] = library
    rates = run_interleaved(writers, seconds, ops)
    return rates["raw"], rates["append"], rates.get("eventsourcing")


class DefaultIds(dict[tuple[int, int], uuid.UUID]):
    def __missing__(self, key: tuple[int, int]) -> uuid.UUID:
        self[key] = value = uuid.uuid4()
        return value


def _eventsourcing_recorder(store: EventStore, writers: int) -> Any:
    """The eventsourcing library's PostgreSQL recorder on the same database, if installed."""
    if store.dialect != "postgresql":
        return None
    try:
        from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
    except ImportError:
        return None
    url = store.engine.url
    options = url.normalized_query.get("options") or ("",)
    schema = options[-1].rpartition("=")[2] or "public"
    datastore = PostgresDatastore(
        str(url.database),
        str(url.host),
        url.port or 5432,
        str(url.username),
        url.password or "",
        schema=schema,
        pool_size=writers,
        max_overflow=0,
    )
    recorder = PostgresApplicationRecorder(datastore, events_table_name="es_stored_events")
    recorder.create_table()
    return recorder


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--pg", default="host=127.0.0.1 dbname=test user=postgres")
    p.add_argument("--sqlite-dir", default=None)
    args = p.parse_args()

    schema = f"pf_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    info = psycopg.conninfo.conninfo_to_dict(args.pg)
    pg_url = (
        f"postgresql+psycopg://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}"
        f":{info.get('port', 5432)}/{info.get('dbname', 'test')}"
        f"?options=-csearch_path%3D{schema}"
    )
    tmp = tempfile.TemporaryDirectory(dir=args.sqlite_dir)
    targets = {"PostgreSQL": pg_url, "SQLite": f"sqlite:///{tmp.name}/bench.db"}
    print(
        f"{args.rounds} rounds x {args.seconds:g} s per cell, median shown; 1 event per transaction"
    )
    print(
        "| backend | writers | raw INSERT/s | append/s | append / raw | eventsourcing/s "
        "| append / eventsourcing |"
    )
    print("|---|---|---|---|---|---|---|")
    try:
        for name, url in targets.items():
            store = EventStore(url, create=True)
            for writers in (1, 4):
                raws, appends, libs = [], [], []
                for _ in range(args.rounds):
                    r, a, lib = measure(store, writers, args.seconds)
                    raws.append(r)
                    appends.append(a)
                    if lib is not None:
                        libs.append(lib)
                r, a = statistics.median(raws), statistics.median(appends)
                es = (
                    f"{statistics.median(libs):,.0f} | {a / statistics.median(libs):.1f}x"
                    if libs
                    else "— | —"
                )
                print(
                    f"| {name} | {writers} | {r:,.0f} | {a:,.0f} | {a / r:.2f} | {es} |", flush=True
                )
            store.close()
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
        tmp.cleanup()


if __name__ == "__main__":
    main()
