"""Least privilege, proved on PostgreSQL: the worker, the projector, the CLI and the
HTTP API run as roles that own nothing and hold only what ``petition migrate`` grants
them (eventstore/grants.py), and an event cannot be changed or removed by privilege as
well as by the triggers.

A fresh database owned by a fresh owner role, four login roles, all with names of
this run's own (roles are cluster-wide), dropped afterwards. The owner takes PUBLIC's
CONNECT on the database and USAGE on its schema away first, as a hardened database
does, so the roles rely on the grants alone. The worker runs as its own process
against a dev server; ``petition`` runs as a subprocess, as a person runs it, and
``petition api`` as a subprocess too, trusting a development issuer this test serves.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import aiohttp
import psycopg
import pytest
from psycopg import sql
from temporalio.client import Client

from petitionflow import client as client_module
from petitionflow.api.app import issuer_app, serving
from petitionflow.client import PetitionClient
from petitionflow.domain.policy import DeadlinePolicy
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.grants import EXAMPLE_ROLES, TABLES, Roles, script
from petitionflow.eventstore.schema import APPEND_ONLY_MESSAGE
from petitionflow.identity.issuer import DevIssuer
from testkit.builders import COUNTY_UNIT, intake_data
from testkit.processes import DevServer, WorkerProcess, free_port, terminate
from tests.clistack import PETITION, ROOT, Call
from tests.conftest import PG_DSN

LABOUR = {"unit": "疏附县人力资源和社会保障局", "person": "王建国"}
PURPOSES = ("worker", "projector", "reader", "api")
DENIED = "42501"  # insufficient_privilege: a missing grant, and the triggers' errcode


@dataclass(frozen=True)
class Database:
    name: str
    owner: str
    roles: dict[str, str]  # purpose -> role

    def url(self, role: str) -> str:
        return f"postgresql://{role}@127.0.0.1:5432/{self.name}"

    def connect(self, role: str) -> psycopg.Connection[tuple[object, ...]]:
        params = psycopg.conninfo.conninfo_to_dict(PG_DSN)
        return psycopg.connect(
            host=params.get("host", "127.0.0.1"),
            port=params.get("port", 5432),
            dbname=self.name,
            user=role,
            autocommit=True,
        )


@pytest.fixture(scope="module")
def database(pg_available: None) -> Iterator[Database]:
    tag = f"pf_grants_{uuid.uuid4().hex[:8]}"
    db = Database(tag, f"{tag}_owner", {p: f"{tag}_{p}" for p in PURPOSES})
    try:
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            for role in (db.owner, *db.roles.values()):
                admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(db.name), sql.Identifier(db.owner)
                )
            )
        with db.connect(db.owner) as owner:
            owner.execute(
                sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(db.name))
            )
            owner.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        yield db
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db.name))
            )
            for role in (*db.roles.values(), db.owner):
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    dev = DevServer(tmp_path_factory.mktemp("grants-temporal"))
    dev.start()
    yield dev
    dev.stop()


class Runner:
    """``petition`` as one role, with the worker's Temporal address, queue and keys."""

    def __init__(self, db: Database, env: dict[str, str]) -> None:
        self.db, self.env = db, env

    def __call__(self, role: str, *args: str, **env: str) -> Call:
        started = time.monotonic()
        done = subprocess.run(
            [str(PETITION), *args],
            capture_output=True,
            text=True,
            env={**self.env, "PETITIONFLOW_STORE_URL": self.db.url(role), **env},
            cwd=ROOT,
            timeout=120,
        )
        return Call(
            list(args), done.returncode, done.stdout, done.stderr, time.monotonic() - started
        )


def _refused(db: Database, role: str, statement: str) -> psycopg.Error:
    with db.connect(role) as conn, pytest.raises(psycopg.Error) as caught:
        conn.execute(statement)
    assert caught.value.sqlstate == DENIED, f"{role}: {statement}: {caught.value}"
    return caught.value


def _value(conn: psycopg.Connection[tuple[object, ...]], query: str, *params: object) -> object:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def _wait_for_outbox(db: Database, case_id: str) -> list[tuple[object, ...]]:
    deadline = time.monotonic() + 60
    with db.connect(db.owner) as owner:
        while True:
            rows = owner.execute(
                "SELECT kind, sent_at, sender FROM outbox WHERE case_id = %s", (case_id,)
            ).fetchall()
            if rows and all(r[1] is not None for r in rows):
                return rows
            assert time.monotonic() < deadline, f"no notification sent for {case_id}: {rows}"
            time.sleep(0.5)


# The rights each role must hold on each table, and no others (has_table_privilege).
RIGHTS = {
    "worker": {
        "schema_migrations": {"SELECT"},
        "events": {"SELECT", "INSERT"},
        "outbox": {"SELECT", "INSERT"},  # and UPDATE of sent_at, sender: checked apart
        "petitioner_index": {"SELECT", "INSERT"},
        "holiday_calendar": {"SELECT"},  # the calendar_snapshot activity
        "unit_versions": {"SELECT"},  # the resolve_units activity
        "directory_loads": {"SELECT"},
    },
    "projector": {
        "schema_migrations": {"SELECT"},
        "events": {"SELECT"},
        "case_list": {"SELECT", "INSERT", "UPDATE", "DELETE"},
        "dispute_list": {"SELECT", "INSERT", "UPDATE", "DELETE"},
        "projection_checkpoints": {"SELECT", "INSERT", "UPDATE", "DELETE"},
        "deadline_outcomes": {"SELECT", "INSERT", "DELETE"},
    },
    "reader": {
        "schema_migrations": {"SELECT"},
        "events": {"SELECT"},
        "case_list": {"SELECT"},
        "dispute_list": {"SELECT"},
        "deadline_outcomes": {"SELECT"},
        "projection_checkpoints": {"SELECT"},
        "holiday_calendar": {"SELECT"},
        "unit_versions": {"SELECT"},  # petition units list, report --by level
        "directory_loads": {"SELECT"},
    },
    "api": {  # a table of the API's own: one line here, one in grants.API_TABLES
        "schema_migrations": {"SELECT"},
        "events": {"SELECT"},
        "case_list": {"SELECT"},  # GET /v1/report reads the read models as they are
        "dispute_list": {"SELECT"},
        "deadline_outcomes": {"SELECT"},
        "projection_checkpoints": {"SELECT"},
        "api_requests": {"SELECT", "INSERT", "UPDATE"},  # idempotency records
        "petitioner_access": {"SELECT", "INSERT"},
        "petitioner_otps": {"SELECT", "INSERT", "UPDATE"},
        "petitioner_sessions": {"SELECT", "INSERT"},
        "outbox": {"SELECT", "INSERT"},  # one-time codes; UPDATE of sent_at, sender apart
        "holiday_calendar": {"SELECT"},  # the snapshot a new case starts with
        "unit_versions": {"SELECT"},  # the petitioner's offices and review units
        "directory_loads": {"SELECT"},
    },
}
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def _api_as_its_role(db: Database, env: dict[str, str], tmp: Path) -> None:
    """``petition api`` as the API's role, trusting a development issuer served here:
    register a case, route it with an Idempotency-Key sent twice, read it and its
    events, and the report, which cannot project and reads the read models as they are."""
    issuer_port, api_port = free_port(), free_port()
    base = f"http://127.0.0.1:{issuer_port}"
    issuer = DevIssuer.load_or_create(tmp / "issuer.json", issuer=base)
    log = tmp / "api.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(PETITION), "api", "--host", "127.0.0.1", "--port", str(api_port)],
            env={
                **{k: v for k, v in env.items() if k != "PETITIONFLOW_INDEX_KEYS"},  # worker's
                "PETITIONFLOW_STORE_URL": db.url(db.roles["api"]),
                "PETITIONFLOW_OIDC_ISSUER": base,
                "PETITIONFLOW_OIDC_JWKS_URL": f"{base}/jwks.json",
            },
            stdout=out,
            stderr=out,
            cwd=ROOT,
        )
    try:
        asyncio.run(_through_http(proc, log, issuer, issuer_port, api_port))
    finally:
        terminate(proc)
    text = log.read_text(encoding="utf-8")
    assert "permission denied" not in text and "Traceback" not in text, text
    assert "calendar not read" not in text, text  # the registration sent the snapshot
    with db.connect(db.owner) as owner:
        assert _value(owner, "SELECT count(*) FROM api_requests") == 2
        assert _value(owner, "SELECT count(*) FROM projection_checkpoints") == 0


async def _through_http(
    proc: subprocess.Popen[bytes], log: Path, issuer: DevIssuer, issuer_port: int, api_port: int
) -> None:
    url = f"http://127.0.0.1:{api_port}"
    juris = ("新疆维吾尔自治区", "喀什地区")
    registrar = issuer.token(unit="喀什地区信访局", roles=["registrar"], jurisdiction=juris)
    analyst = issuer.token(unit="喀什地区信访局", roles=["analyst"], jurisdiction=juris)

    def started() -> str:
        assert proc.poll() is None, log.read_text(encoding="utf-8")
        return log.read_text(encoding="utf-8")

    async with (
        serving(issuer_app(issuer, issuer.issuer), "127.0.0.1", issuer_port),
        aiohttp.ClientSession() as http,
    ):

        async def call(
            method: str, path: str, token: str, body: object = None, key: str = ""
        ) -> tuple[int, object, str]:
            headers = {"Authorization": f"Bearer {token}"}
            if key:
                headers["Idempotency-Key"] = key
            async with http.request(method, url + path, json=body, headers=headers) as r:
                answer = await r.json(content_type=None)
                return r.status, answer, r.headers.get("Idempotent-Replayed", "")

        deadline = time.monotonic() + 60
        while True:
            try:
                async with http.get(url + "/healthz") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                pass
            assert time.monotonic() < deadline, started()
            started()
            await asyncio.sleep(0.2)

        case = f"GA-{uuid.uuid4().hex[:6]}"
        body = {"case_id": case, "intake": intake_data(case)}
        registered = await call("POST", "/v1/cases", registrar, body, f"register-{case}")
        assert registered[:2] == (201, {"case_id": case, "workflow_id": f"petition-{case}"})
        path = f"/v1/cases/{case}/commands/transfer_petition"
        route = {"to_unit": COUNTY_UNIT.model_dump(mode="json")}
        first = await call("POST", path, registrar, route, f"route-{case}")
        again = await call("POST", path, registrar, route, f"route-{case}")
        assert first[0] == 200 and first[2] == "", first
        assert again == (200, first[1], "true"), again
        shown = await call("GET", f"/v1/cases/{case}", registrar)
        assert shown[0] == 200 and isinstance(shown[1], dict), shown
        assert shown[1]["stage"] == "routed"
        events = await call("GET", f"/v1/cases/{case}/events", registrar)
        assert events[0] == 200 and isinstance(events[1], list), events
        assert [e["type"] for e in events[1]].count("PetitionTransferred") == 1
        # the read models as they are: nothing projected yet, and the API cannot project
        report = await call("GET", "/v1/report", analyst)
        assert report[0] == 200 and isinstance(report[1], dict), report
        assert report[1]["projected"] == 0 and report[1]["within"] == list(juris)


@pytest.mark.postgres
def test_each_process_runs_with_only_its_rights(
    database: Database, server: DevServer, tmp_path: Path
) -> None:
    db = database
    worker = WorkerProcess(
        server, db.url(db.roles["worker"]), f"grants-{uuid.uuid4().hex[:6]}", tmp_path / "w.log"
    )
    petition = Runner(db, {**worker.env, "COLUMNS": "160"})
    roles_env = {f"PETITIONFLOW_{p.upper()}_ROLE": r for p, r in db.roles.items()}

    # A role that does not exist: one line, exit 2, nothing granted.
    missing = petition(db.owner, "migrate", "--grant-reader", f"{db.name}_nobody")
    assert missing.returncode == 2, missing
    assert missing.stderr.count("\n") == 1 and "does not exist" in missing.stderr, missing.stderr

    # The owner migrates and grants, from the environment's role settings.
    migrated = petition(db.owner, "migrate", "--json", **roles_env)
    assert migrated.returncode == 0, migrated.stderr
    assert json.loads(migrated.stdout)["granted"] == db.roles

    with db.connect(db.owner) as owner:
        # Every table of the store, so a new one is checked for every role, and covered
        # by grants.TABLES (whose REVOKE ALL makes granting again converge).
        tables = {
            str(t)
            for (t,) in owner.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
        assert tables == set(TABLES)
        for purpose, role in db.roles.items():
            held = {
                (table, p)
                for table in tables
                for p in PRIVILEGES
                if _value(owner, "SELECT has_table_privilege(%s, %s, %s)", role, table, p)
            }
            wanted = {(t, p) for t, ps in RIGHTS[purpose].items() for p in ps}
            assert held == wanted, purpose
            columns = {
                c
                for c in ("id", "case_id", "kind", "recipient", "message", "sent_at", "sender")
                if _value(owner, "SELECT has_column_privilege(%s, 'outbox', %s, 'UPDATE')", role, c)
            }
            assert columns == ({"sent_at", "sender"} if purpose in ("worker", "api") else set()), (
                purpose
            )

    # The worker, as its role, appends a case's events and sends its reminders (the
    # petition was received 40 days ago: the routing deadline has passed). The CLI
    # submits and sends as the reader: it reads the store, Temporal does the writing.
    worker.start()
    try:
        case = f"GR-{uuid.uuid4().hex[:6]}"
        body = json.loads((ROOT / "examples" / "intake.json").read_text(encoding="utf-8"))
        body["case_id"] = case
        body["intake"]["received_at"] = (datetime.now(UTC) - timedelta(days=40)).isoformat()
        intake = tmp_path / "intake.json"
        intake.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
        reader = db.roles["reader"]
        steps = [
            ("submit", str(intake)),
            ("send", case, "transfer_petition", "--data", "@examples/transfer.json"),
            ("send", case, "acknowledge_receipt", "--data", json.dumps({"actor": LABOUR})),
            ("send", case, "accept_petition", "--data", json.dumps({"actor": LABOUR})),
            ("send", case, "issue_decision", "--data", "@examples/decision.json"),
            (
                "send",
                case,
                "record_delivery",
                "--data",
                json.dumps({"actor": LABOUR, "document": "reply", "method": "post"}),
            ),
            (
                "send",
                case,
                "report_implementation",
                "--data",
                json.dumps({"actor": LABOUR, "report": "工资已补发"}),
            ),
            (
                "send",
                case,
                "record_rating",
                "--data",
                json.dumps({"actor": {"unit": "信访人", "person": "短信"}, "rating": "satisfied"}),
            ),
        ]
        for step in steps:
            call = petition(reader, *step)
            assert call.returncode == 0, call
        assert "stage closed" in call.stdout
        sent = _wait_for_outbox(db, case)
        assert {r[0] for r in sent} >= {"reminder"} and {r[2] for r in sent} == {"log"}

        live = petition(reader, "verify", case, "--live")
        assert live.returncode == 0 and "intact" in live.stdout, live

        # The HTTP API, as its role: a case registered, routed, read and reported.
        _api_as_its_role(db, worker.env, tmp_path)
    finally:
        worker.stop()
    assert "permission denied" not in worker.log.read_text(encoding="utf-8")

    # The reader reports the read models as they are and says why they are behind.
    behind = petition(reader, "report", "--format", "csv")
    assert behind.returncode == 0, behind
    assert "this role may only read them" in behind.stderr
    assert "`petition project`" in behind.stderr and behind.stderr.count("\n") == 1
    assert LABOUR["unit"] not in behind.stdout

    # The projector brings them up to date, from scratch too; then the reader's report
    # counts the case and has nothing to say on stderr.
    with db.connect(db.owner) as owner:
        events = _value(owner, "SELECT count(*) FROM events")
    projector = db.roles["projector"]
    for args in (("project",), ("project", "--rebuild")):
        projected = petition(projector, *args)
        assert projected.returncode == 0, projected
        assert f"projected {events} events" in projected.stdout, projected.stdout
    report = petition(reader, "report", "--format", "csv")
    assert report.returncode == 0 and report.stderr == "", report
    assert LABOUR["unit"] in report.stdout
    history = petition(reader, "history", case)
    assert history.returncode == 0 and "CaseClosed" in history.stdout, history
    verified = petition(reader, "verify")
    assert verified.returncode == 0 and f"2 streams, {events} events: intact" in verified.stdout

    # The holiday calendar: the reader lists it; loading it is the owner's.
    sample = str(ROOT / "tests" / "fixtures" / "calendar_2027_sample.json")
    listed = petition(reader, "calendar", "list")
    assert listed.returncode == 0 and "chinesecalendar 1.11.0" in listed.stdout, listed
    refused = petition(reader, "calendar", "load", sample, "--no-notify")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused
    assert "is the store owner's" in refused.stderr, refused.stderr
    loaded = petition(db.owner, "calendar", "load", sample, "--no-notify")
    assert loaded.returncode == 0 and "2027: stored as version 1" in loaded.stdout, loaded

    # What each role may not do: refused by privilege (42501, "permission denied").
    insert_event = (
        "INSERT INTO events (stream_id, version, event_id, type, schema_version, data,"
        " metadata, recorded_at, prev_hash, hash) SELECT stream_id, version + 100,"
        " event_id || 'x', type, schema_version, data, metadata, recorded_at, prev_hash,"
        " hash FROM events LIMIT 1"
    )
    denied = {
        "reader": [
            insert_event,
            "INSERT INTO case_list SELECT * FROM case_list",
            "UPDATE case_list SET stage = 'closed'",
            "DELETE FROM deadline_outcomes",
            "UPDATE projection_checkpoints SET position = 0",
            "SELECT * FROM outbox",
            "SELECT * FROM petitioner_index",
        ],
        "projector": [
            insert_event,
            "SELECT * FROM outbox",
            "UPDATE deadline_outcomes SET met = true",
            "SELECT * FROM petitioner_index",
        ],
        "api": [
            insert_event,
            "INSERT INTO case_list SELECT * FROM case_list",
            "UPDATE case_list SET stage = 'closed'",
            "DELETE FROM deadline_outcomes",
            "INSERT INTO projection_checkpoints SELECT * FROM projection_checkpoints",
            "UPDATE projection_checkpoints SET position = 0",
            "DELETE FROM api_requests",
            "UPDATE outbox SET message = 'x'",
            "DELETE FROM petitioner_access",
            "UPDATE petitioner_access SET phone = 'x'",
            "DELETE FROM petitioner_sessions",
            "SELECT * FROM petitioner_index",
            "DELETE FROM holiday_calendar",
        ],
        "worker": [
            "UPDATE outbox SET message = 'x'",
            "DELETE FROM outbox",
            "SELECT * FROM case_list",
            "UPDATE petitioner_index SET case_id = 'x'",
            "DELETE FROM petitioner_index",
            "INSERT INTO holiday_calendar SELECT year + 100, version, source, holidays,"
            " workdays, loaded_at FROM holiday_calendar LIMIT 1",
        ],
    }
    for purpose, statements in denied.items():
        for statement in statements:
            assert "permission denied" in str(_refused(db, db.roles[purpose], statement))

    # No role may change or remove an event: the privilege is missing, before any
    # trigger runs. The owner holds it, and the triggers stop the owner.
    tamper = ("UPDATE events SET type = 'Forged'", "DELETE FROM events", "TRUNCATE events")
    for role in db.roles.values():
        for statement in tamper:
            error = _refused(db, role, statement)
            assert "permission denied for table events" in str(error), error
    for statement in tamper:
        error = _refused(db, db.owner, statement)
        assert APPEND_ONLY_MESSAGE in str(error), error
    with db.connect(db.owner) as owner:
        assert _value(owner, "SELECT count(*) FROM events") == events


@pytest.mark.postgres
def test_migrate_converges_on_the_rights(database: Database) -> None:
    """Rights granted by hand are taken back when ``migrate`` grants again."""
    db = database
    petition = Runner(db, dict(os.environ))
    reader = db.roles["reader"]
    assert petition(db.owner, "migrate").returncode == 0
    with db.connect(db.owner) as owner:
        owner.execute(sql.SQL("GRANT ALL ON events, outbox TO {}").format(sql.Identifier(reader)))
    again = petition(db.owner, "migrate", "--grant-reader", reader)
    assert again.returncode == 0, again
    assert "applied now: none" in again.stdout
    _refused(db, reader, "SELECT * FROM outbox")
    # by privilege, not only by the trigger (which raises the same SQLSTATE)
    assert "permission denied for table events" in str(_refused(db, reader, "DELETE FROM events"))


class _Said:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def warning(self, event: str, **fields: object) -> None:
        self.lines.append(event)


@pytest.mark.postgres
def test_an_api_role_granted_before_the_calendar_read_still_registers(
    database: Database,
) -> None:
    """The client reads the calendar for a new case's start; a role granted before it
    did may not: the start goes without the snapshot (the case reads it itself) and the
    log says which grant is missing and how to give it."""
    db = database
    petition = Runner(db, dict(os.environ))
    api = db.roles["api"]
    assert petition(db.owner, "migrate", "--grant-api", api).returncode == 0
    store = EventStore(db.url(api))
    client = PetitionClient(cast(Client, None), store=store)
    policy = DeadlinePolicy()
    now = datetime.now(UTC)
    try:
        stored, granted = client._stored_and_calendar("GC-1", policy, now)
        assert stored == 0 and granted.calendar is not None and granted.calendar.years
        with db.connect(db.owner) as owner:
            owner.execute(
                sql.SQL("REVOKE SELECT ON holiday_calendar FROM {}").format(sql.Identifier(api))
            )
        # the client's own logger, replaced: structlog caches a logger on first use, so
        # capturing by configuration depends on which test used it first
        logged: list[str] = []
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(client_module, "log", _Said(logged))
            stored, without = client._stored_and_calendar("GC-1", policy, now)
        assert stored == 0 and without.calendar is None
        assert len(logged) == 1, logged
        assert "may not read holiday_calendar" in logged[0] and "--grant-" in logged[0]
    finally:
        store.close()


@pytest.mark.postgres
def test_a_role_without_its_grants_is_told_which_grant_not_to_migrate(
    database: Database,
) -> None:
    """A missing grant is not a missing schema: the message names the right and the
    command that grants it."""
    db = database
    petition = Runner(db, dict(os.environ))
    assert petition(db.owner, "migrate").returncode == 0
    reader = db.roles["reader"]
    with db.connect(db.owner) as owner:
        owner.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(db.name), sql.Identifier(reader)
            )
        )
        owner.execute(sql.SQL("REVOKE ALL ON SCHEMA public FROM {}").format(sql.Identifier(reader)))
    try:
        call = petition(reader, "history", "X-1")
        assert call.returncode == 2
        assert f"the role {reader} lacks USAGE on the schema" in call.stderr, call.stderr
        assert (
            "petition migrate --grant-worker" in call.stderr and "has no schema" not in call.stderr
        )
        with db.connect(db.owner) as owner:
            owner.execute(
                sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(reader))
            )
            owner.execute(
                sql.SQL("REVOKE ALL ON schema_migrations FROM {}").format(sql.Identifier(reader))
            )
        call = petition(reader, "history", "X-1")
        assert call.returncode == 2
        assert "lacks SELECT on schema_migrations" in call.stderr, call.stderr
    finally:
        assert petition(db.owner, "migrate", "--grant-reader", reader).returncode == 0


def test_sqlite_says_grants_do_not_apply(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(PETITION), "migrate", "--grant-worker", "petitionflow_worker"],
        capture_output=True,
        text=True,
        env={**os.environ, "PETITIONFLOW_STORE_URL": f"sqlite:///{tmp_path / 'events.db'}"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("\n") == 1 and "grants do not apply" in done.stderr


def test_the_readme_grants_are_the_ones_migrate_issues() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n(.*?)```", readme, re.S)
    grants = [b for b in blocks if "GRANT USAGE ON SCHEMA" in b]
    assert grants == [script(EXAMPLE_ROLES) + "\n"]
    # Each role alone gets the shared grants and its own.
    only_reader = script(Roles(reader="r"))
    assert "GRANT SELECT ON events, case_list" in only_reader and "outbox TO" not in only_reader
    only_api = script(Roles(api="a"))
    assert "GRANT SELECT, INSERT, UPDATE ON api_requests TO a;" in only_api
    assert "petitioner_index TO" not in only_api and "api_requests TO" not in only_reader
