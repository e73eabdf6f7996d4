"""The events table and its versioned migrations (SQLite and PostgreSQL).

Migrations are plain, numbered DDL per dialect, applied in order inside one
transaction and recorded in ``schema_migrations``; running ``migrate`` again applies
nothing. On PostgreSQL an advisory lock keeps two processes from migrating at once.

Production: the database owner runs the migrations (``petition migrate``, with the
owner in the store URL); the worker, the projector and the CLI each connect as a role
that owns nothing and holds only the rights it uses. ``eventstore/grants.py`` says
which and ``petition migrate --grant-worker ROLE ...`` (or ``PETITIONFLOW_*_ROLE``)
grants them after migrating; the README has the same statements for psql, and
``tests/test_grants.py`` runs each process as its role and shows every refusal.

The triggers below stop even the owner; the grants stop every other role before a
trigger runs, and keep the right to drop a trigger with the owner alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# The shape the queries use. The DDL that creates it is in MIGRATIONS below; on
# PostgreSQL the table also has tx_id (the writing transaction, for read_all).
events = Table(
    "events",
    metadata,
    Column("position", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("stream_id", String, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("event_id", String, nullable=False),
    Column("type", String, nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("data", JSON().with_variant(JSONB, "postgresql"), nullable=False),
    Column("metadata", JSON().with_variant(JSONB, "postgresql"), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("prev_hash", String, nullable=False),
    Column("hash", String, nullable=False),
)

APPEND_ONLY_MESSAGE = "petitionflow events are append-only"


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "events table",
        sqlite=(
            """CREATE TABLE events (
                position INTEGER PRIMARY KEY AUTOINCREMENT,
                stream_id TEXT NOT NULL,
                version INTEGER NOT NULL CHECK (version >= 1),
                event_id TEXT NOT NULL UNIQUE,
                type TEXT NOT NULL,
                schema_version INTEGER NOT NULL,
                data TEXT NOT NULL,
                metadata TEXT NOT NULL,
                recorded_at DATETIME NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL,
                UNIQUE (stream_id, version)
            )""",
        ),
        postgresql=(
            """CREATE TABLE events (
                position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                stream_id TEXT NOT NULL,
                version BIGINT NOT NULL CHECK (version >= 1),
                event_id TEXT NOT NULL UNIQUE,
                type TEXT NOT NULL,
                schema_version INTEGER NOT NULL,
                data JSONB NOT NULL,
                metadata JSONB NOT NULL,
                recorded_at TIMESTAMPTZ NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL,
                tx_id XID8 NOT NULL DEFAULT pg_current_xact_id(),
                UNIQUE (stream_id, version)
            )""",
            "CREATE INDEX events_tx_position ON events (tx_id, position)",
        ),
    ),
    Migration(
        2,
        "append-only triggers",
        sqlite=(
            f"""CREATE TRIGGER events_no_update BEFORE UPDATE ON events
                BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}: UPDATE is not allowed'); END""",
            f"""CREATE TRIGGER events_no_delete BEFORE DELETE ON events
                BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}: DELETE is not allowed'); END""",
        ),
        postgresql=(
            f"""CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}: % is not allowed', TG_OP
                    USING ERRCODE = 'insufficient_privilege',
                          HINT = 'correct a case by appending a new event';
                END $$""",
            """CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
                FOR EACH ROW EXECUTE FUNCTION events_append_only()""",
            """CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
                FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()""",
        ),
    ),
)

_OUTBOX = """CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at {ts} NOT NULL,
    sent_at {ts},
    sender TEXT
)"""

MIGRATIONS += (
    Migration(
        3,
        "notification outbox",
        sqlite=(
            _OUTBOX.format(ts="DATETIME"),
            "CREATE INDEX outbox_unsent ON outbox (created_at) WHERE sent_at IS NULL",
        ),
        postgresql=(
            _OUTBOX.format(ts="TIMESTAMPTZ"),
            "CREATE INDEX outbox_unsent ON outbox (created_at) WHERE sent_at IS NULL",
        ),
    ),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", String, primary_key=True),
    Column("case_id", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("recipient", String, nullable=False),
    Column("message", String, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("sender", String),
)

# The read models (projections/readmodel.py holds their Table shapes). Created here,
# with the rest of the database, so the projector's role needs no CREATE right. IF NOT
# EXISTS: databases from before this migration had them created by the projector.
_READ_MODELS = (
    """CREATE TABLE IF NOT EXISTS case_list (
    case_id VARCHAR NOT NULL PRIMARY KEY,
    stage VARCHAR NOT NULL,
    region VARCHAR, prefecture VARCHAR, county VARCHAR, township VARCHAR, unit VARCHAR,
    classification VARCHAR, channel VARCHAR,
    received_on VARCHAR, accepted_on VARCHAR, replied_on VARCHAR, closed_on VARCHAR,
    closed_reason VARCHAR, diverted_to VARCHAR,
    overdue BOOLEAN NOT NULL, supervised BOOLEAN NOT NULL, extension_days INTEGER NOT NULL,
    rating VARCHAR, decision VARCHAR,
    review_level INTEGER NOT NULL, review_outcome VARCHAR, re_review_outcome VARCHAR,
    escalations INTEGER NOT NULL,
    deadlines JSON NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS deadline_outcomes (
    case_id VARCHAR NOT NULL, seq INTEGER NOT NULL,
    kind VARCHAR NOT NULL, due VARCHAR NOT NULL, met BOOLEAN NOT NULL,
    unit VARCHAR, prefecture VARCHAR, county VARCHAR, decided_on VARCHAR NOT NULL,
    PRIMARY KEY (case_id, seq)
)""",
    """CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name VARCHAR NOT NULL PRIMARY KEY, position BIGINT NOT NULL, events BIGINT NOT NULL
)""",
)

MIGRATIONS += (Migration(4, "read models", sqlite=_READ_MODELS, postgresql=_READ_MODELS),)

# The official holiday calendar (eventstore/calendar.py): one row per year and version
# of the State Council's arrangement, never changed once written (a corrected notice
# is a new version). Seeded with the years the pinned chinesecalendar package knows,
# labelled with it as their source, so cases count as before until a year is loaded.
# IF NOT EXISTS and ON CONFLICT DO NOTHING: applied again (its record lost), it
# changes nothing.
CALENDAR_SEED_SOURCE = "chinesecalendar 1.11.0 (its table of the State Council notices 2004-2026)"
_CALENDAR = """CREATE TABLE IF NOT EXISTS holiday_calendar (
    year INTEGER NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    source TEXT NOT NULL,
    holidays TEXT NOT NULL,
    workdays TEXT NOT NULL,
    loaded_at {ts} NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (year, version)
)"""


def _calendar_seed() -> tuple[str, ...]:
    """INSERTs of the package's years, 2004-2026: dates and a fixed source, no input."""
    from chinese_calendar import constants

    years = sorted({d.year for d in constants.holidays})
    rows = []
    for year in years:
        holidays = sorted(d.isoformat() for d in constants.holidays if d.year == year)
        workdays = sorted(d.isoformat() for d in constants.workdays if d.year == year)
        rows.append(
            "INSERT INTO holiday_calendar (year, version, source, holidays, workdays) VALUES "
            f"({year}, 1, '{CALENDAR_SEED_SOURCE}', "
            f"'{json.dumps(holidays)}', '{json.dumps(workdays)}') ON CONFLICT DO NOTHING"
        )
    return tuple(rows)


MIGRATIONS += (
    Migration(
        5,
        "holiday calendar",
        sqlite=(_CALENDAR.format(ts="DATETIME"), *_calendar_seed()),
        postgresql=(_CALENDAR.format(ts="TIMESTAMPTZ"), *_calendar_seed()),
    ),
)

holiday_calendar = Table(
    "holiday_calendar",
    metadata,
    Column("year", Integer, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("source", String, nullable=False),
    Column("holidays", String, nullable=False),  # a JSON list of ISO dates
    Column("workdays", String, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
)

# Migration 6 needs nothing from 5: ``migrate`` applies each missing version, and
# ``applied_through`` counts a gap as missing.
_PETITIONER_INDEX = """CREATE TABLE IF NOT EXISTS petitioner_index (
    seq {seq},
    petitioner_key TEXT NOT NULL,
    key_kind TEXT NOT NULL CHECK (key_kind IN ('id', 'phone_name', 'phone_name_id')),
    key_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    indexed_at {ts} NOT NULL,
    UNIQUE (petitioner_key, case_id)
)"""
# The case list's figures on repeat petitions and petitions that skipped a level
# (projections/readmodel.py). Rows projected before are filled on `petition project
# --rebuild`.
_CASE_LIST_REPEATS = (
    "ALTER TABLE case_list ADD COLUMN registered_by VARCHAR",
    "ALTER TABLE case_list ADD COLUMN office_level VARCHAR",
    "ALTER TABLE case_list ADD COLUMN routed_level VARCHAR",
    "ALTER TABLE case_list ADD COLUMN skipped_level BOOLEAN NOT NULL DEFAULT {false}",
    "ALTER TABLE case_list ADD COLUMN repeat_of VARCHAR",
    "ALTER TABLE case_list ADD COLUMN repeat_reason VARCHAR",
    "ALTER TABLE case_list ADD COLUMN repeated_by INTEGER NOT NULL DEFAULT 0",
)
MIGRATIONS += (
    Migration(
        6,
        "petitioner index (repeat petitions); repeat and skipped-level columns of case_list",
        sqlite=(
            _PETITIONER_INDEX.format(seq="INTEGER PRIMARY KEY AUTOINCREMENT", ts="DATETIME"),
            *(s.format(false="0") for s in _CASE_LIST_REPEATS),
        ),
        postgresql=(
            _PETITIONER_INDEX.format(
                seq="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", ts="TIMESTAMPTZ"
            ),
            *(s.format(false="FALSE") for s in _CASE_LIST_REPEATS),
        ),
    ),
)

# Migration 7: the unit a review or re-review was requested of, which owes its decision
# and the delivery of its reply (deadline_outcomes counts those against it). Rows
# projected before are filled on `petition project --rebuild`.
MIGRATIONS += (
    Migration(
        7,
        "review unit of case_list",
        sqlite=("ALTER TABLE case_list ADD COLUMN review_unit VARCHAR",),
        postgresql=("ALTER TABLE case_list ADD COLUMN review_unit VARCHAR",),
    ),
)

# The index of petitioners to their cases: a keyed hash (security/index.py), never the
# ID number, phone or name. ``seq`` orders registrations: a case is screened against
# the cases indexed before it.
petitioner_index = Table(
    "petitioner_index",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("petitioner_key", String, nullable=False),
    Column("key_kind", String, nullable=False),
    Column("key_id", String, nullable=False),
    Column("case_id", String, nullable=False),
    Column("indexed_at", DateTime(timezone=True), nullable=False),
)

# Migration 8: the HTTP API's idempotency records (api/idempotency.py). One row per
# caller and Idempotency-Key: a hash of the request and, once answered, the answer.
# Holds no request body, so no personal data.
_API_REQUESTS = """
CREATE TABLE api_requests (
    caller VARCHAR NOT NULL,
    idem_key VARCHAR NOT NULL,
    request_hash VARCHAR NOT NULL,
    case_id VARCHAR NOT NULL,
    status INTEGER,
    response TEXT,
    created_at {ts} NOT NULL,
    PRIMARY KEY (caller, idem_key)
)"""
MIGRATIONS += (
    Migration(
        8,
        "API idempotency records",
        sqlite=(_API_REQUESTS.format(ts="DATETIME"),),
        postgresql=(_API_REQUESTS.format(ts="TIMESTAMPTZ"),),
    ),
)

api_requests = Table(
    "api_requests",
    metadata,
    Column("caller", String, primary_key=True),
    Column("idem_key", String, primary_key=True),
    Column("request_hash", String, nullable=False),
    Column("case_id", String, nullable=False),
    Column("status", Integer),
    Column("response", String),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Migration 9: the petitioner's channel (api/petitioner.py, eventstore/access.py). Only
# hashes of the query code, the one-time codes and the session tokens, and the phone
# encrypted with the payload key (to send the one-time code to): no personal data in
# plain text.
_PETITIONER_CHANNEL = (
    """
CREATE TABLE petitioner_access (
    case_id VARCHAR NOT NULL PRIMARY KEY,
    code_hash VARCHAR NOT NULL UNIQUE,
    phone VARCHAR NOT NULL,
    created_at {ts} NOT NULL
)""",
    """
CREATE TABLE petitioner_otps (
    id {seq},
    code_hash VARCHAR NOT NULL,
    otp_hash VARCHAR NOT NULL,
    expires_at {ts} NOT NULL,
    attempts INTEGER NOT NULL,
    used BOOLEAN NOT NULL
)""",
    "CREATE INDEX petitioner_otps_code ON petitioner_otps (code_hash)",
    """
CREATE TABLE petitioner_sessions (
    token_hash VARCHAR NOT NULL PRIMARY KEY,
    case_id VARCHAR NOT NULL,
    expires_at {ts} NOT NULL
)""",
)
MIGRATIONS += (
    Migration(
        9,
        "petitioner channel: query codes, one-time codes, sessions",
        sqlite=tuple(
            s.format(ts="DATETIME", seq="INTEGER PRIMARY KEY AUTOINCREMENT")
            for s in _PETITIONER_CHANNEL
        ),
        postgresql=tuple(
            s.format(ts="TIMESTAMPTZ", seq="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
            for s in _PETITIONER_CHANNEL
        ),
    ),
)

petitioner_access = Table(
    "petitioner_access",
    metadata,
    Column("case_id", String, primary_key=True),
    Column("code_hash", String, nullable=False),
    Column("phone", String, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
petitioner_otps = Table(
    "petitioner_otps",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("code_hash", String, nullable=False),
    Column("otp_hash", String, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("used", Boolean, nullable=False),
)
petitioner_sessions = Table(
    "petitioner_sessions",
    metadata,
    Column("token_hash", String, primary_key=True),
    Column("case_id", String, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


def applied_through(versions: set[int]) -> int:
    """The newest migration applied with every one before it (0: none)."""
    have = 0
    for m in MIGRATIONS:
        if m.version not in versions:
            break
        have = m.version
    return have


def migrate(conn: Connection) -> list[int]:
    """Apply the migrations this database lacks; return the versions applied."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7350001)"))
    conn.execute(
        text(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
            " applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
    )
    done = {row[0] for row in conn.execute(text("SELECT version FROM schema_migrations"))}
    applied = []
    for m in MIGRATIONS:
        if m.version in done:
            continue
        for statement in m.sqlite if dialect == "sqlite" else m.postgresql:
            conn.execute(text(statement))
        conn.execute(
            text("INSERT INTO schema_migrations (version, description) VALUES (:v, :d)"),
            {"v": m.version, "d": m.description},
        )
        applied.append(m.version)
    return applied


# Migration 10: the unit directory (eventstore/directory.py). Rows are only added: a
# unit's change is its next version, valid from its date until the unit's next
# version's; ``directory_loads`` says which file each version came from.
_DIRECTORY = (
    """
CREATE TABLE directory_loads (
    id INTEGER NOT NULL PRIMARY KEY,
    loaded_at {ts} NOT NULL,
    as_of DATE NOT NULL,
    source VARCHAR NOT NULL,
    generated BOOLEAN NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    changes INTEGER NOT NULL
)""",
    """
CREATE TABLE unit_versions (
    unit_id VARCHAR NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    valid_from DATE NOT NULL,
    load_id INTEGER NOT NULL REFERENCES directory_loads (id),
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    level VARCHAR NOT NULL,
    place VARCHAR NOT NULL,
    jurisdiction VARCHAR NOT NULL,
    parent VARCHAR,
    status VARCHAR NOT NULL,
    merged_into VARCHAR,
    PRIMARY KEY (unit_id, version)
)""",
    "CREATE INDEX unit_versions_name ON unit_versions (name)",
)
MIGRATIONS += (
    Migration(
        10,
        "unit directory: dated unit versions and the loads they came from",
        sqlite=tuple(s.format(ts="DATETIME") for s in _DIRECTORY),
        postgresql=tuple(s.format(ts="TIMESTAMPTZ") for s in _DIRECTORY),
    ),
)

directory_loads = Table(
    "directory_loads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("source", String, nullable=False),
    Column("generated", Boolean, nullable=False),
    Column("file_sha256", String, nullable=False),
    Column("changes", Integer, nullable=False),
)
unit_versions = Table(
    "unit_versions",
    metadata,
    Column("unit_id", String, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("valid_from", Date, nullable=False),
    Column("load_id", Integer, nullable=False),
    Column("name", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("level", String, nullable=False),
    Column("place", String, nullable=False),
    Column("jurisdiction", String, nullable=False),
    Column("parent", String),
    Column("status", String, nullable=False),
    Column("merged_into", String),
)

# Village disputes' read model (projections/disputes.py): one row per dispute, for the
# statistics per village, township and county.
_DISPUTE_LIST = (
    """CREATE TABLE IF NOT EXISTS dispute_list (
    dispute_id VARCHAR NOT NULL PRIMARY KEY,
    status VARCHAR NOT NULL, outcome VARCHAR,
    category VARCHAR, urgency VARCHAR,
    region VARCHAR, prefecture VARCHAR, county VARCHAR, township VARCHAR, village VARCHAR,
    county_code VARCHAR, township_code VARCHAR, village_code VARCHAR,
    reported_on VARCHAR, mediation_level VARCHAR, mediator VARCHAR, due VARCHAR,
    overdue BOOLEAN NOT NULL, resolved_on VARCHAR, closed_on VARCHAR,
    escalated BOOLEAN NOT NULL, case_id VARCHAR, conference_id VARCHAR
)""",
    "CREATE INDEX IF NOT EXISTS dispute_list_county ON dispute_list (county_code)",
)
MIGRATIONS += (
    Migration(11, "village disputes' read model", sqlite=_DISPUTE_LIST, postgresql=_DISPUTE_LIST),
)

LATEST = MIGRATIONS[-1].version
