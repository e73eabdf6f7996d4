"""The catch-up projector: read_all in batches, rows and checkpoint in one transaction."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

from petitionflow.eventstore import EventStore

from . import disputes
from .readmodel import apply, case_list, checkpoints, deadline_outcomes, metadata, new_row

NAME = "case_list"
# The prefix of the streams projected: the cases' (activities/records.py stream_id).
CASE_STREAM = "petition-"
Progress = Callable[[int, int, float], None]  # events so far, position, events/s


class Projector:
    def __init__(self, store: EventStore, name: str = NAME) -> None:
        self.store = store
        self.name = name
        # The tables come from the store's migrations (``petition migrate``); opening
        # the store has already checked that they ran.

    def position(self) -> tuple[int, int]:
        with self.store.engine.connect() as conn:
            return self._position(conn)

    def _position(self, conn: Connection) -> tuple[int, int]:
        row = conn.execute(
            select(checkpoints.c.position, checkpoints.c.events).where(
                checkpoints.c.name == self.name
            )
        ).first()
        return (row[0], row[1]) if row else (0, 0)

    @contextmanager
    def _locked(self) -> Iterator[Connection]:
        """A transaction that holds this projection's lock: one projector at a time
        writes a batch (SQLite: the write lock from BEGIN IMMEDIATE; PostgreSQL: a
        transaction-scoped advisory lock)."""
        with self.store.engine.connect().execution_options(write=True) as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                    {"key": f"petitionflow.projector.{self.name}"},
                )
            yield conn

    def rebuild(self) -> None:
        """Empty the read models; the next run projects everything from position 0.

        Rows are deleted, not tables dropped: the projector's role holds no DDL rights.
        """
        with self._locked() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())

    def run_once(
        self,
        batch: int = 2000,
        progress: Progress | None = None,
        before_commit: Callable[[int], None] | None = None,
    ) -> int:
        """Project until caught up; return the number of events projected.

        ``before_commit(batch_number)`` runs inside each batch's transaction, after its
        rows are written: the tests raise there to crash a projection mid-batch.
        """
        position, total = self.position()
        done, started, number = 0, time.perf_counter(), 0
        while records := self.store.read_all_data(position, batch):
            with self._locked() as conn:
                # Another projector (`petition project --follow`, a report catching up)
                # may have projected this batch since the checkpoint was read: read it
                # again under the lock, and start over from it if it moved.
                if (now := self._position(conn)) != (position, total):
                    position, total = now
                    continue
                self._project(conn, records)
                position, total = records[-1][0], total + len(records)
                self._checkpoint(conn, position, total)
                number += 1
                if before_commit:
                    before_commit(number)
            done += len(records)
            if progress:
                progress(total, position, done / max(time.perf_counter() - started, 1e-9))
        return done

    def run_forever(
        self,
        poll: float = 1.0,
        progress: Progress | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> None:
        while not stop():
            if not self.run_once(progress=progress):
                time.sleep(poll)

    def _project(self, conn: Connection, batch: list[tuple[int, str, str, dict[str, Any]]]) -> None:
        # Cases' streams into the case read models, disputes' into theirs; a stream of
        # any other kind (a conference's, one this release does not know) is skipped.
        records = [r for r in batch if r[1].startswith(CASE_STREAM)]
        disputes.project(conn, [r for r in batch if r[1].startswith(disputes.STREAM_PREFIX)])
        if not records:
            return
        case_ids = {stream.removeprefix(CASE_STREAM) for _, stream, _, _ in records}
        existing = {
            row.case_id: dict(row._mapping)
            for row in conn.execute(select(case_list).where(case_list.c.case_id.in_(case_ids)))
        }
        rows = {cid: existing.get(cid) or new_row(cid) for cid in case_ids}
        outcomes: list[dict[str, Any]] = []
        lifted: list[dict[str, Any]] = []  # misses of earlier batches that no longer count
        for _, stream, event_type, data in records:
            apply(rows[stream.removeprefix(CASE_STREAM)], event_type, data, outcomes, lifted)
        fresh = [row for cid, row in rows.items() if cid not in existing]
        if fresh:
            _insert(conn, case_list, fresh)
        changed = [{**row, "b_case_id": cid} for cid, row in rows.items() if cid in existing]
        if changed:
            conn.execute(
                update(case_list).where(case_list.c.case_id == bindparam("b_case_id")),
                changed,
            )
        if lifted:
            conn.execute(
                delete(deadline_outcomes).where(
                    deadline_outcomes.c.case_id == bindparam("l_case_id"),
                    deadline_outcomes.c.kind == bindparam("l_kind"),
                    deadline_outcomes.c.due == bindparam("l_due"),
                    deadline_outcomes.c.met.is_(False),
                ),
                [{f"l_{k}": v for k, v in key.items()} for key in lifted],
            )
        if outcomes:
            # the highest, not the count: a lifted miss deleted leaves a gap
            seq: dict[str, int] = dict(
                conn.execute(
                    select(deadline_outcomes.c.case_id, func.max(deadline_outcomes.c.seq))
                    .where(deadline_outcomes.c.case_id.in_({o["case_id"] for o in outcomes}))
                    .group_by(deadline_outcomes.c.case_id)
                ).all()
            )
            for o in outcomes:
                seq[o["case_id"]] = o["seq"] = seq.get(o["case_id"], 0) + 1
            _insert(conn, deadline_outcomes, outcomes)

    def _checkpoint(self, conn: Connection, position: int, events: int) -> None:
        done = conn.execute(
            update(checkpoints)
            .where(checkpoints.c.name == self.name)
            .values(position=position, events=events)
        ).rowcount
        if not done:
            conn.execute(
                insert(checkpoints).values(name=self.name, position=position, events=events)
            )


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the caller's transaction; with COPY on PostgreSQL.

    psycopg sends an executemany as one INSERT per row (pipelined); COPY is much
    cheaper for a batch's new rows (the measurements are in BENCHMARKS.md).
    """
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), rows)
        return
    columns = list(table.columns)
    names = ", ".join(c.name for c in columns)
    json_columns = {c.name for c in columns if isinstance(c.type, JSON)}
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    with dbapi.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(
                [
                    json.dumps(row[c.name]) if c.name in json_columns else row[c.name]
                    for c in columns
                ]
            )
