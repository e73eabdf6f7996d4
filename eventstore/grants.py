"""Least privilege on PostgreSQL: what the worker's, the projector's, the CLI's and the
HTTP API's roles may do, granted by the database owner after the migrations
(``petition migrate``).

Each process connects as a role that owns nothing and holds only the rights it uses:

- every role: CONNECT on the database, USAGE on the schema (PostgreSQL 15 gives PUBLIC
  no CREATE there, and a hardened database no USAGE either), and SELECT on
  ``schema_migrations``, which opening the store reads to check the schema version;
- the worker appends events (SELECT, INSERT on ``events``; ``position`` is an identity
  column, whose sequence needs no grant) and writes the outbox: stores a notification
  (SELECT, INSERT) and then marks it sent (UPDATE of ``sent_at`` and ``sender`` only),
  indexes each new case's petitioner and looks up the earlier cases (SELECT, INSERT on
  ``petitioner_index``: keyed hashes, never changed or removed), and reads the holiday
  calendar and the unit directory (SELECT on ``holiday_calendar``, ``unit_versions``
  and ``directory_loads``), which only the owner loads (``petition calendar load``,
  ``petition units load``);
- the projector reads the events and writes the read models: inserts and updates
  ``case_list`` and the checkpoint, inserts ``deadline_outcomes`` (and deletes a miss
  the holiday calendar lifted), and deletes their rows on ``--rebuild`` (its advisory
  lock needs no right);
- the reader (``petition history``, ``verify``, ``report``, ``calendar list``, ``units
  list``) reads the events, the read models, the holiday calendar and the unit
  directory, never the outbox or the petitioner index;
- the API (``petition api``) reads the events (a case's history, a stream's version
  before a registration, the events after its workflow's state) and the read models
  (``GET /v1/report``, which reports them as they are: it cannot project), and keeps
  its own records: the tables of :data:`API_TABLES`, each with its rights
  (idempotency, the petitioner's channel), and stores the petitioners' one-time codes
  in the outbox and marks them sent, like the worker its reminders; it reads the holiday
  calendar (the snapshot a new case starts with) and the unit directory (the offices a
  petitioner chooses, the unit a review goes to).

:func:`statements` starts by revoking everything on the store's tables from these
roles, so running it again converges on exactly these rights, and ends by revoking
UPDATE, DELETE and TRUNCATE on ``events`` explicitly: no role but the owner can change
or remove an event, and the owner is stopped by the triggers. The README holds
:func:`script` for the placeholder names, to paste into psql.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS

READ_MODELS = ("case_list", "deadline_outcomes", "projection_checkpoints", "dispute_list")
# The API's own tables and its rights on each: a new table of the API is one line here.
API_TABLES = {
    "api_requests": "SELECT, INSERT, UPDATE",  # idempotency records (migration 8)
    # the petitioner's channel (migration 9): query codes, one-time codes, sessions
    "petitioner_access": "SELECT, INSERT",
    "petitioner_otps": "SELECT, INSERT, UPDATE",
    "petitioner_sessions": "SELECT, INSERT",
}
# The unit directory (migration 10): the owner loads it (``petition units load``); the
# worker, the reader and the API read it.
DIRECTORY_TABLES = ("directory_loads", "unit_versions")
DIRECTORY = ", ".join(DIRECTORY_TABLES)
TABLES = (
    "schema_migrations",
    "events",
    "outbox",
    "petitioner_index",
    *READ_MODELS,
    "holiday_calendar",
    *DIRECTORY_TABLES,
    *API_TABLES,
)


# The names the README's script uses.
EXAMPLE_DATABASE = "petitionflow"
EXAMPLE_SCHEMA = "public"


class GrantError(Exception):
    """A role cannot be granted to (missing, or the owner); the message says why."""


@dataclass(frozen=True)
class Roles:
    """The login role of each process; None: grant nothing for that process."""

    worker: str | None = None
    projector: str | None = None
    reader: str | None = None
    api: str | None = None

    def named(self) -> dict[str, str]:
        """purpose -> role, for the roles given."""
        return {k: v for k, v in vars(self).items() if v}


EXAMPLE_ROLES = Roles(
    "petitionflow_worker", "petitionflow_projector", "petitionflow_reader", "petitionflow_api"
)


def _quote(name: str) -> str:
    """``name`` as an SQL identifier: as is when it can be, else in double quotes."""
    if re.fullmatch(r"[a-z_][a-z0-9_]*", name) and name not in RESERVED_WORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def _to(*roles: str | None) -> str:
    unique = dict.fromkeys(r for r in roles if r)
    return ", ".join(_quote(r) for r in unique)


def script(
    roles: Roles = EXAMPLE_ROLES, database: str = EXAMPLE_DATABASE, schema: str = EXAMPLE_SCHEMA
) -> str:
    """The grants as a psql script: a comment before each group of statements."""
    everyone = _to(roles.worker, roles.projector, roles.reader, roles.api)
    if not everyone:
        return ""
    w, p, r, a = roles.worker, roles.projector, roles.reader, roles.api
    groups: list[tuple[str, list[str]]] = [
        (
            "start from nothing: take back every right on the store's tables",
            [f"REVOKE ALL ON {', '.join(TABLES)} FROM {everyone};"],
        ),
        (
            "every role: connect, see the schema, and read its version when opening the store",
            [
                f"GRANT CONNECT ON DATABASE {_quote(database)} TO {everyone};",
                f"GRANT USAGE ON SCHEMA {_quote(schema)} TO {everyone};",
                f"GRANT SELECT ON schema_migrations TO {everyone};",
            ],
        ),
    ]
    if w:
        groups.append(
            (
                "the worker appends events, stores each notification and marks it sent,"
                " indexes and looks up petitioners (repeat petitions) and reads the holiday"
                " calendar and the unit directory",
                [
                    f"GRANT SELECT, INSERT ON events TO {_to(w)};",
                    f"GRANT SELECT, INSERT ON outbox TO {_to(w)};",
                    f"GRANT UPDATE (sent_at, sender) ON outbox TO {_to(w)};",
                    f"GRANT SELECT, INSERT ON petitioner_index TO {_to(w)};",
                    f"GRANT SELECT ON holiday_calendar, {DIRECTORY} TO {_to(w)};",
                ],
            )
        )
    if p:
        groups.append(
            (
                "the projector reads the events and writes the read models (--rebuild deletes)",
                [
                    f"GRANT SELECT ON events TO {_to(p)};",
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON case_list, projection_checkpoints,"
                    f" dispute_list TO {_to(p)};",
                    f"GRANT SELECT, INSERT, DELETE ON deadline_outcomes TO {_to(p)};",
                ],
            )
        )
    if r:
        groups.append(
            (
                "the CLI reads the events, the read models, the holiday calendar and the"
                " unit directory",
                [
                    f"GRANT SELECT ON events, {', '.join(READ_MODELS)}, holiday_calendar,"
                    f" {DIRECTORY} TO {_to(r)};"
                ],
            )
        )
    if a:
        groups.append(
            (
                "the API reads the events and the read models (it never projects), keeps"
                " its own records (idempotency, the petitioner's channel), puts the"
                " petitioners' one-time codes in the outbox, reads the holiday calendar (the"
                " snapshot a new case starts with) and the unit directory (the offices, the"
                " review units)",
                [
                    f"GRANT SELECT ON events, {', '.join(READ_MODELS)}, holiday_calendar,"
                    f" {DIRECTORY} TO {_to(a)};",
                    f"GRANT SELECT, INSERT ON outbox TO {_to(a)};",
                    f"GRANT UPDATE (sent_at, sender) ON outbox TO {_to(a)};",
                    *(
                        f"GRANT {rights} ON {table} TO {_to(a)};"
                        for table, rights in API_TABLES.items()
                    ),
                ],
            )
        )
    groups.append(
        (
            "no role changes or removes an event (the triggers stop the owner)",
            [f"REVOKE UPDATE, DELETE, TRUNCATE ON events FROM {everyone};"],
        )
    )
    return "\n".join(line for comment, group in groups for line in (f"-- {comment}", *group))


def statements(roles: Roles, database: str, schema: str) -> list[str]:
    """The statements of :func:`script`, without comments or the closing semicolons."""
    return [
        line.removesuffix(";")
        for line in script(roles, database, schema).splitlines()
        if line and not line.startswith("--")
    ]


def apply_grants(conn: Connection, roles: Roles) -> list[str]:
    """Grant ``roles`` their rights on this database's store; return the statements run.

    Run as the owner, in the caller's transaction, after the migrations. Raises
    :class:`GrantError` before granting anything when a role does not exist, or when
    it is a superuser or a member of the role that owns the tables: privileges cannot
    restrict such a role.
    """
    for purpose, role in roles.named().items():
        row = conn.execute(
            text(
                "SELECT rolsuper, pg_has_role(oid, (SELECT relowner FROM pg_class"
                " WHERE oid = 'events'::regclass), 'MEMBER') FROM pg_roles WHERE rolname = :r"
            ),
            {"r": role},
        ).first()
        if row is None:
            raise GrantError(
                f"the {purpose} role {role!r} does not exist: create it first "
                f"(CREATE ROLE {_quote(role)} LOGIN), then run `petition migrate` again"
            )
        if row[0] or row[1]:
            raise GrantError(
                f"the {purpose} role {role!r} is a superuser or the owner (or a member of "
                "it): no grant can restrict it; give the process a role that owns nothing"
            )
    database, schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
    issued = statements(roles, database, schema)
    for statement in issued:
        conn.exec_driver_sql(statement)
    return issued
