"""Projection rebuild: events per second from 100k events, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.projection [--events 100000]

The workload is realistic: cases driven through the real decider (random paths,
deadlines passing), appended case by case. Side by side in the same run, a bare
``read_all`` scan of the same events shows how much of the time is the reading
itself. Target: rebuild >= 20k events/s.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid

import psycopg

from petitionflow.activities.records import stream_id, to_record
from petitionflow.domain import commands as c
from petitionflow.eventstore import EventStore
from petitionflow.projections.projector import Projector
from testkit.builders import BUREAU, CaseDriver, make_intake
from testkit.keys import SEALER
from testkit.workloads import next_step


def fill(store: EventStore, events: int, seed: int = 1) -> int:
    rng = random.Random(seed)
    written, n = 0, 0
    while written < events:
        d = CaseDriver(case_id=f"B{n:06d}")
        d.ok(
            c.RegisterPetition,
            BUREAU,
            case_id=d.case_id,
            intake=make_intake(classification=rng.choice(["appeal", "suggestion"])),
        )
        for _ in range(rng.randint(4, 16)):
            next_step(d, rng)
        store.append(stream_id(d.case_id), 0, [to_record(e, sealer=SEALER) for e in d.events])
        written += len(d.events)
        n += 1
    return written


def measure(store: EventStore) -> tuple[float, float]:
    started = time.perf_counter()
    scanned = _scan(store)
    scan = scanned / (time.perf_counter() - started)
    projector = Projector(store)
    projector.rebuild()
    started = time.perf_counter()
    done = projector.run_once(batch=2000)
    return scan, done / (time.perf_counter() - started)


def _scan(store: EventStore) -> int:
    """Reads every event in batches of 2000, as a rebuild does; returns how many."""
    scanned, position = 0, 0
    while batch := store.read_all(position, 2000):
        scanned += len(batch)
        position = batch[-1].position
    return scanned


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=100_000)
    args = p.parse_args()
    schema = f"pf_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("host=127.0.0.1 dbname=test user=postgres", autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    tmp = tempfile.TemporaryDirectory()
    targets = {
        "SQLite": f"sqlite:///{tmp.name}/bench.db",
        "PostgreSQL": f"postgresql://postgres@127.0.0.1/test?options=-csearch_path%3D{schema}",
    }
    print("| backend | events | read_all scan, events/s | rebuild, events/s |")
    print("|---|---|---|---|")
    try:
        for name, url in targets.items():
            store = EventStore(url, create=True)
            total = fill(store, args.events)
            scan, rebuild = measure(store)
            print(f"| {name} | {total:,} | {scan:,.0f} | {rebuild:,.0f} |", flush=True)
            store.close()
    finally:
        with psycopg.connect("host=127.0.0.1 dbname=test user=postgres", autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
        tmp.cleanup()


if __name__ == "__main__":
    main()
