"""The append-only event store: where every event is written.

API (after message-db): ``append(stream, expected_version, events)``,
``read_stream(stream, from_version)``, ``read_all(after_position, limit)``,
``verify()``. A stream's version is the number of events in it; the first event
has version 1, so ``expected_version=0`` means "the stream must be empty".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    case,
    create_engine,
    event,
    func,
    inspect,
    literal,
    null,
    select,
    text,
    tuple_,
    type_coerce,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError

from .schema import LATEST, applied_through, migrate
from .schema import events as t

GENESIS = "0" * 64
_HEAD_CACHE_SIZE = 100_000
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime in SQLite


@lru_cache(maxsize=64)
def _insert_sql(dialect: str, count: int) -> str:
    if dialect == "postgresql":
        row = (
            "(%(s{i})s, %(v{i})s, %(e{i})s, %(t{i})s, %(n{i})s, %(d{i})s::jsonb,"
            " %(m{i})s::jsonb, %(r{i})s, %(p{i})s, %(h{i})s)"
        )
    else:
        row = "(:s{i}, :v{i}, :e{i}, :t{i}, :n{i}, :d{i}, :m{i}, :r{i}, :p{i}, :h{i})"
    values = ", ".join(row.format(i=i) for i in range(count))
    return (
        "INSERT INTO events (stream_id, version, event_id, type, schema_version, data,"
        f" metadata, recorded_at, prev_hash, hash) VALUES {values} RETURNING position"
    )


class ConcurrencyError(Exception):
    """The stream is not at the version the writer expected."""

    def __init__(self, stream: str, expected: int, actual: int, detail: str = "") -> None:
        self.stream, self.expected, self.actual = stream, expected, actual
        super().__init__(
            f"{stream}: expected version {expected}, actual {actual}"
            + (f" ({detail})" if detail else "")
            + "; re-read the stream and decide again"
        )


@dataclass(frozen=True, slots=True)
class NewEvent:
    event_id: UUID
    type: str
    schema_version: int
    data: Mapping[str, Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)


class Appended(NamedTuple):
    positions: list[int]
    # False when these events were stored already: an idempotent retry wrote nothing.
    written: bool


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    position: int
    stream_id: str
    version: int
    event_id: UUID
    type: str
    schema_version: int  # after upcasting; the stored one is stored_schema_version
    data: Mapping[str, Any]
    metadata: Mapping[str, Any]
    recorded_at: datetime
    stored_schema_version: int


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Upcasters:
    """Functions that lift an event's data from one schema version to the next."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, from_version: int, fn: Upcaster) -> None:
        self._steps[(event_type, from_version)] = fn

    def upcast(
        self, event_type: str, version: int, data: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        while (step := self._steps.get((event_type, version))) is not None:
            data = step(data)
            version += 1
        return version, data


# ---- the hash chain ----------------------------------------------------------


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:  # SQLite hands back the naive UTC value it was given
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_json(value: Any) -> str:
    """The one JSON form: sorted keys, no spaces, UTF-8 as is. Stored and hashed alike."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(
    stream: str,
    version: int,
    event_id: str,
    type_: str,
    schema_version: int,
    data_json: str,
    meta_json: str,
    recorded_at: datetime,
) -> bytes:
    """to_json() of the whole row, assembled from already-serialised data and metadata."""
    return (
        f'{{"data":{data_json},"event_id":{to_json(event_id)},"metadata":{meta_json},'
        f'"recorded_at":"{_utc_text(recorded_at)}","schema_version":{int(schema_version)},'
        f'"stream":{to_json(stream)},"type":{to_json(type_)},"version":{int(version)}}}'
    ).encode()


def canonical(
    stream: str,
    version: int,
    event_id: str,
    type_: str,
    schema_version: int,
    data: Any,
    meta: Any,
    recorded_at: datetime,
) -> bytes:
    return canonical_json(
        stream, version, event_id, type_, schema_version, to_json(data), to_json(meta), recorded_at
    )


def chain_hash(prev_hash: str, canonical_event: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_event).hexdigest()


# ---- verification ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    stream_id: str
    version: int
    kind: str  # edited, chain_broken, missing, out_of_order
    detail: str

    def __str__(self) -> str:
        return f"{self.stream_id} v{self.version}: {self.kind}: {self.detail}"


@dataclass
class VerifyReport:
    streams: int = 0
    events: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def broken_streams(self) -> list[str]:
        return sorted({p.stream_id for p in self.problems})


# ---- the store ---------------------------------------------------------------


def _engine(url: str, *, autocommit: bool = False) -> Engine:
    parsed = make_url(url)
    options = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    # Stored JSON is decoded with orjson: json.loads was the largest part of a
    # projection rebuild (BENCHMARKS.md). Only decoding; what is written and hashed
    # keeps going through to_json / canonical_json.
    decode = orjson.loads
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            parsed,
            connect_args={"timeout": 30, "check_same_thread": False},
            execution_options=options,
            json_deserializer=decode,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # transactions are begun explicitly below
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000"):
                dbapi_conn.execute(f"PRAGMA {pragma}")

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Writers take the write lock up front: no deadlock upgrading a read lock, and
            # positions are handed out in commit order (which keeps read_all gap-free).
            options = conn.get_execution_options()
            if options.get("isolation_level") == "AUTOCOMMIT":
                return  # one statement, one implicit transaction
            conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("write") else "BEGIN")

        return engine
    # No pre-ping: it costs a round trip per checkout. A connection broken by a database
    # restart fails its statement, SQLAlchemy discards the pool, and the caller retries.
    return create_engine(
        parsed,
        pool_size=10,
        max_overflow=10,
        execution_options=options,
        json_deserializer=decode,
    )


def safe_url(url: str) -> str:
    """``url`` with its password (in the authority or the query) masked."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "(an event store URL that cannot be parsed)"
    if "password" in parsed.query:
        parsed = parsed.update_query_dict({"password": "***"})
    return parsed.render_as_string(hide_password=True)


class SchemaError(Exception):
    """The database's schema is not the one this code needs; the message says what to run."""


class EventStore:
    """The event store at ``url``. Opening it checks the schema and changes nothing:
    only ``migrate`` (``petition migrate``, ``petition dev``, or ``create=True``)
    creates or upgrades it, so a role that may only read and append can open it."""

    def __init__(self, url: str, *, upcasters: Upcasters | None = None, create: bool = False):
        parsed = make_url(url)
        if (
            not create
            and parsed.get_backend_name() == "sqlite"
            and parsed.database not in (None, "", ":memory:")
            and not Path(str(parsed.database)).exists()
        ):
            # Opening would create an empty file: a store that does not exist says so.
            raise SchemaError(
                f"there is no event store at {safe_url(url)}: run `petition migrate` "
                "(or `petition dev`) to create it, or check --store / PETITIONFLOW_STORE_URL"
            )
        self.url = url
        self.engine = _engine(url)
        # Appends are single statements: their own engine keeps its connections in
        # autocommit instead of switching modes at every checkout.
        self.append_engine = _engine(url, autocommit=True)
        self.dialect = self.engine.dialect.name
        self.upcasters = upcasters or Upcasters()
        self._heads: dict[str, tuple[int, str]] = {}  # stream -> (version, hash) written here
        self.applied_now: list[int] = []  # migrations this instance applied (create=True)
        try:
            if create:
                self.applied_now = self.migrate()
            else:
                self.check_schema()
        except BaseException:
            self.close()
            raise

    @property
    def safe_url(self) -> str:
        """The URL without its password, for logs and messages."""
        return safe_url(self.url)

    def schema_version(self) -> int:
        """The newest migration applied here with every one before it; 0 for a database
        never migrated. (A migration numbered below one applied, merged from another
        branch later, counts as missing: ``petition migrate`` applies it.)

        SchemaError when this role may not read it: a missing grant is not a missing
        schema, and the fix is another command.
        """
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("schema_migrations"):
                if (
                    self.dialect == "postgresql"
                    and not conn.execute(
                        text("SELECT has_schema_privilege(current_schema(), 'USAGE')")
                    ).scalar()
                ):
                    raise self._not_granted(conn, "USAGE on the schema")
                return 0
            try:
                rows = conn.execute(text("SELECT version FROM schema_migrations"))
                return applied_through({int(v) for (v,) in rows})
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) == "42501":  # insufficient_privilege
                    conn.rollback()  # the failed statement ended the transaction
                    raise self._not_granted(conn, "SELECT on schema_migrations") from None
                raise

    def _not_granted(self, conn: Connection, right: str) -> SchemaError:
        role = conn.execute(text("SELECT current_user")).scalar()
        return SchemaError(
            f"the role {role} lacks {right} in the event store {self.safe_url}: the owner "
            "grants each process's role with `petition migrate --grant-worker ROLE` "
            "(--grant-projector, --grant-reader, --grant-api)"
        )

    def check_schema(self) -> None:
        have = self.schema_version()
        if have < LATEST:
            state = "has no schema" if have == 0 else f"has schema version {have} of {LATEST}"
            raise SchemaError(
                f"the event store {self.safe_url} {state}: run `petition migrate` "
                "as the database owner (the deployment's eventstore-migrate), then start again"
            )

    def migrate(self) -> list[int]:
        with self._write() as conn, conn.begin():
            return migrate(conn)

    def close(self) -> None:
        self.engine.dispose()
        self.append_engine.dispose()

    def _write(self) -> Connection:
        return self.engine.connect().execution_options(write=True)

    # ---- append --------------------------------------------------------------

    def append(self, stream: str, expected_version: int, events: Sequence[NewEvent]) -> list[int]:
        """Append atomically; return the events' global positions (see ``append_outcome``)."""
        return self.append_outcome(stream, expected_version, events).positions

    def append_outcome(
        self, stream: str, expected_version: int, events: Sequence[NewEvent]
    ) -> Appended:
        """Append atomically; return the events' global positions and whether they
        were written now.

        Re-appending events that are already stored (same ids, same stream, same
        versions) returns their original positions and writes nothing: an activity
        that Temporal retries after it committed is harmless.

        The write is one multi-row INSERT, atomic on its own, so it runs without an
        explicit transaction. The UNIQUE (stream_id, version) and UNIQUE (event_id)
        constraints decide every race. The previous event's hash comes from ``_heads``
        when this process wrote that event itself: stored rows never change, so a cached
        (version, hash) is a fact, and if it is no longer the head the INSERT of the
        next version collides. That saves a round trip on the common path, where a case
        is driven by one worker.
        """
        if not events:
            return Appended([], written=False)
        with self.append_engine.connect() as conn:
            head = self._heads.get(stream)
            if head is None or head[0] != expected_version:
                head = self._head(conn, stream)
            if head[0] != expected_version:
                existing = self._already_appended(conn, stream, events)
                if existing is not None:
                    return Appended(existing, written=False)
                raise ConcurrencyError(stream, expected_version, head[0])
            try:
                positions, new_head = self._insert(conn, stream, expected_version, head[1], events)
            except IntegrityError:
                self._heads.pop(stream, None)
                existing = self._already_appended(conn, stream, events)
                if existing is not None:
                    return Appended(existing, written=False)
                raise ConcurrencyError(
                    stream, expected_version, self._head(conn, stream)[0]
                ) from None
        if len(self._heads) >= _HEAD_CACHE_SIZE:
            self._heads.clear()
        self._heads[stream] = new_head
        return Appended(positions, written=True)

    def append_in(
        self, conn: Connection, stream: str, expected_version: int, events: Sequence[NewEvent]
    ) -> list[int]:
        """The same append inside a transaction the caller owns (no head cache)."""
        actual, prev = self._head(conn, stream)
        if actual != expected_version:
            existing = self._already_appended(conn, stream, events)
            if existing is not None:
                return existing
            raise ConcurrencyError(stream, expected_version, actual)
        return self._insert(conn, stream, expected_version, prev, events)[0]

    def _insert(
        self,
        conn: Connection,
        stream: str,
        expected_version: int,
        prev: str,
        events: Sequence[NewEvent],
    ) -> tuple[list[int], tuple[int, str]]:
        now = datetime.now(UTC)
        recorded_at: Any = now if self.dialect != "sqlite" else now.strftime(_SQLITE_TIME)
        params: dict[str, Any] = {}
        for i, e in enumerate(events):
            version, data_json, meta_json = (
                expected_version + i + 1,
                to_json(e.data),
                to_json(e.metadata),
            )
            event_id = str(e.event_id)
            digest = chain_hash(
                prev,
                canonical_json(
                    stream, version, event_id, e.type, e.schema_version, data_json, meta_json, now
                ),
            )
            params.update(
                {
                    f"s{i}": stream,
                    f"v{i}": version,
                    f"e{i}": event_id,
                    f"t{i}": e.type,
                    f"n{i}": e.schema_version,
                    f"d{i}": data_json,
                    f"m{i}": meta_json,
                    f"r{i}": recorded_at,
                    f"p{i}": prev,
                    f"h{i}": digest,
                }
            )
            prev = digest
        # Driver-level SQL: one statement for the batch, so atomic without BEGIN, and
        # the JSON goes over as the text that was hashed. Identity values are drawn in
        # VALUES order, so the sorted positions follow the versions.
        sql = _insert_sql(self.dialect, len(events))
        positions = sorted(row[0] for row in self._execute_returning(conn, sql, params))
        return positions, (expected_version + len(events), prev)

    def _execute_returning(self, conn: Connection, sql: str, params: dict[str, Any]) -> list[Any]:
        """Run on the DBAPI cursor: SQLAlchemy's result wrapping was a third of an append's
        CPU. Errors are translated as SQLAlchemy would, so callers see one family."""
        dbapi = self.engine.dialect.loaded_dbapi
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
        except dbapi.IntegrityError as exc:
            raise IntegrityError(sql, params, exc) from exc
        except dbapi.Error as exc:
            # A dead connection must not go back to the pool; the caller retries anew.
            conn.invalidate(exc)
            raise DBAPIError.instance(sql, params, exc, dbapi.Error) from exc
        finally:
            cursor.close()

    def _head(self, conn: Connection, stream: str) -> tuple[int, str]:
        row = conn.execute(
            select(t.c.version, t.c.hash)
            .where(t.c.stream_id == stream)
            .order_by(t.c.version.desc())
            .limit(1)
        ).first()
        return (row[0], row[1]) if row else (0, GENESIS)

    def _already_appended(
        self, conn: Connection, stream: str, events: Sequence[NewEvent]
    ) -> list[int] | None:
        ids = [str(e.event_id) for e in events]
        found = {
            row.event_id: row
            for row in conn.execute(
                select(t.c.event_id, t.c.stream_id, t.c.version, t.c.position).where(
                    t.c.event_id.in_(ids)
                )
            )
        }
        if not found:
            return None
        rows = [found.get(i) for i in ids]
        first = rows[0]
        if first is not None and all(
            r is not None and r.stream_id == stream and r.version == first.version + n
            for n, r in enumerate(rows)
        ):
            return [r.position for r in rows if r is not None]
        where = ", ".join(f"{r.stream_id} v{r.version}" for r in found.values())
        raise ConcurrencyError(
            stream,
            -1,
            self._head(conn, stream)[0],
            f"some of these event ids are already stored elsewhere: {where}",
        )

    # ---- reads -----------------------------------------------------------------

    def stream_heads(
        self, stream: str | None = None, *, containing: str | None = None
    ) -> dict[str, tuple[int, bool]]:
        """stream id -> (version, whether it holds an event of type ``containing``),
        for every stream or for ``stream`` alone, in one query."""
        has = func.max(case((t.c.type == containing, 1), else_=0)) if containing else literal(0)
        query = select(t.c.stream_id, func.max(t.c.version), has).group_by(t.c.stream_id)
        if stream is not None:
            query = query.where(t.c.stream_id == stream)
        with self.engine.connect() as conn:
            return {row[0]: (int(row[1]), bool(row[2])) for row in conn.execute(query)}

    def stream_version(self, stream: str) -> int:
        with self.engine.connect() as conn:
            return self._head(conn, stream)[0]

    def read_stream(
        self, stream: str, from_version: int = 1, limit: int | None = None
    ) -> list[RecordedEvent]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t)
                .where(t.c.stream_id == stream, t.c.version >= from_version)
                .order_by(t.c.version)
                .limit(limit)
            )
            return [self._recorded(row) for row in rows]

    def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """The next events after ``after_position`` (the last position a reader saw).

        Gap-free: a reader never passes over an event that commits later.

        PostgreSQL hands out identity values before commit, so positions commit out of
        order: a writer holding position 7 may still be open while 8 is visible, and a
        reader that took 8 and moved on would never see 7. Locking the table to
        serialise writers would fix it at the price of all write throughput. Instead
        each row stores the id of the transaction that wrote it (tx_id), and readers
        take only rows of transactions older than the oldest one still running
        (pg_snapshot_xmin), in (tx_id, position) order. Every transaction still in
        flight has tx_id >= that xmin, so anything that becomes visible later sorts
        after what was already read. Events therefore come in (tx_id, position) order,
        not strictly by position, and the cursor is the last position returned.

        SQLite serialises writers (BEGIN IMMEDIATE) and assigns positions inside the
        write lock, so there position order is commit order.
        """
        with self.engine.connect() as conn:
            return [self._recorded(row) for row in self._read_all(conn, [t], after_position, limit)]

    def read_all_data(
        self, after_position: int = 0, limit: int = 1000
    ) -> list[tuple[int, str, str, dict[str, Any]]]:
        """``read_all`` for projections: (position, stream, type, upcast data) only.

        The same gap-free order, without the metadata and the record objects that a
        rebuild would otherwise decode and build for every event.
        """
        # The registering office is the registration's actor, which is metadata: read for
        # that one event type only, and handed on in its data as ``_registered_by``.
        registrar = type_coerce(
            case((t.c.type == "PetitionRegistered", t.c.metadata), else_=null()),
            t.c.metadata.type,
        )
        columns = [t.c.position, t.c.stream_id, t.c.type, t.c.schema_version, t.c.data, registrar]
        with self.engine.connect() as conn:
            # fetched in one call: iterating the result fetched row by row, a tenth
            # of a PostgreSQL rebuild's time
            rows = self._read_all(conn, columns, after_position, limit).all()
            out = []
            for row in rows:
                data = self.upcasters.upcast(row[2], row[3], row[4])[1]
                if row[5] is not None:
                    data = {**data, "_registered_by": (row[5].get("actor") or {}).get("unit")}
                out.append((row[0], row[1], row[2], data))
            return out

    def _read_all(self, conn: Connection, columns: list[Any], after: int, limit: int) -> Any:
        if self.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            # Two statements in one snapshot: the cursor's transaction id first, so that
            # the row comparison below is a plain index range (a subquery in it made
            # PostgreSQL sort every remaining row on each call).
            cursor_tx = (
                conn.execute(
                    text("SELECT tx_id::text FROM events WHERE position = :after"),
                    {"after": after},
                ).scalar()
                or "0"
            )
            return conn.execute(
                select(*columns)
                .where(
                    text("tx_id < pg_snapshot_xmin(pg_current_snapshot())"),
                    tuple_(text("tx_id"), t.c.position)
                    > tuple_(text("CAST(:tx AS xid8)"), text(":after")),
                )
                .order_by(text("tx_id"), t.c.position)
                .limit(limit),
                {"after": after, "tx": cursor_tx},
            )
        return conn.execute(
            select(*columns).where(t.c.position > after).order_by(t.c.position).limit(limit)
        )

    def iter_all(self, after_position: int = 0, batch: int = 1000) -> Iterator[RecordedEvent]:
        while chunk := self.read_all(after_position, batch):
            yield from chunk
            after_position = chunk[-1].position

    def _recorded(self, row: Any) -> RecordedEvent:
        version, data = self.upcasters.upcast(row.type, row.schema_version, dict(row.data))
        recorded_at = row.recorded_at
        if recorded_at.tzinfo is None:
            recorded_at = recorded_at.replace(tzinfo=UTC)
        return RecordedEvent(
            position=row.position,
            stream_id=row.stream_id,
            version=row.version,
            event_id=UUID(row.event_id),
            type=row.type,
            schema_version=version,
            data=data,
            metadata=row.metadata,
            recorded_at=recorded_at,
            stored_schema_version=row.schema_version,
        )

    # ---- tamper evidence -----------------------------------------------------------

    def verify(self, stream: str | None = None) -> VerifyReport:
        """Recompute every stream's hash chain and report each row that does not fit.

        Catches rows edited, deleted or reordered behind the triggers' back. Deleting a
        stream's newest events leaves a shorter valid chain; the writer finds it when its
        next append conflicts with the version it holds.
        """
        report = VerifyReport()
        query = select(t).order_by(t.c.stream_id, t.c.version)
        if stream is not None:
            query = query.where(t.c.stream_id == stream)
        current, expected_version, prev_hash, last_position = None, 1, GENESIS, 0
        with self.engine.connect() as conn:
            for row in conn.execution_options(stream_results=True, yield_per=2000).execute(query):
                if row.stream_id != current:
                    current, expected_version, prev_hash, last_position = (
                        row.stream_id,
                        1,
                        GENESIS,
                        0,
                    )
                    report.streams += 1
                report.events += 1
                problems = report.problems
                if row.version != expected_version:
                    problems.append(
                        Problem(
                            row.stream_id,
                            expected_version,
                            "missing",
                            f"version {expected_version} is missing; next stored is {row.version}",
                        )
                    )
                if row.prev_hash != prev_hash:
                    problems.append(
                        Problem(
                            row.stream_id,
                            row.version,
                            "chain_broken",
                            "prev_hash does not match the hash of the version before it",
                        )
                    )
                recomputed = chain_hash(
                    row.prev_hash,
                    canonical(
                        row.stream_id,
                        row.version,
                        row.event_id,
                        row.type,
                        row.schema_version,
                        row.data,
                        row.metadata,
                        row.recorded_at,
                    ),
                )
                if recomputed != row.hash:
                    problems.append(
                        Problem(
                            row.stream_id,
                            row.version,
                            "edited",
                            "the stored content does not match its hash",
                        )
                    )
                if row.position <= last_position:
                    problems.append(
                        Problem(
                            row.stream_id,
                            row.version,
                            "out_of_order",
                            f"position {row.position} is not after {last_position}",
                        )
                    )
                expected_version, prev_hash, last_position = row.version + 1, row.hash, row.position
        return report
