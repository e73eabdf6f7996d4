"""``petition``: the command line of petitionflow.

Settings come from :class:`petitionflow.config.Settings`: flags, then the environment
(Temporal through the SDK's ``TEMPORAL_*`` variables; the event store at --store /
$PETITIONFLOW_STORE_URL, by default the SQLite file ``data/events.db``). A command
opens only what it uses: ``codec-server`` and ``setup-cluster`` no event store, and no
command but ``migrate`` and ``dev`` changes the store's schema. Every command takes
``--json``. Errors are one line on stderr and exit code 2.

The ``petition`` program is :func:`entry`, which ends the process with ``os._exit``
once the output is flushed; :func:`main` returns the exit code (the tests call it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import psycopg
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from temporalio.client import Client

from petitionflow.activities.records import from_record, stream_id
from petitionflow.config import ConfigError, Settings
from petitionflow.domain.intake import Intake, field_errors
from petitionflow.domain.state import fold
from petitionflow.domain.units import UnitKind, UnitLevel
from petitionflow.domain.values import Actor
from petitionflow.eventstore import EventStore, SchemaError
from petitionflow.eventstore.store import safe_url
from petitionflow.security.keys import KeyConfigError, Keys
from petitionflow.security.masking import mask_event_json, mask_state_json
from petitionflow.security.sealing import SealedError, Sealer

DEFAULT_ACTOR = {"unit": "信访工作机构", "person": "petition-cli"}


class CliError(Exception):
    """A one-line error for the user; exit code 2."""


def _settings(args: argparse.Namespace) -> Settings:
    settings: Settings = args.settings
    return settings


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


def _out(args: argparse.Namespace, payload: Any, text: str) -> None:
    if args.json:
        print(json.dumps(_dump(payload), ensure_ascii=False, indent=2, default=str))
    else:
        print(text)


# ---- store commands ---------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace, store: EventStore) -> int:
    """Opened with ``create=True``: the migrations have run; say which, then grant the
    roles given (--grant-worker... or $PETITIONFLOW_WORKER_ROLE...) their rights."""
    from petitionflow.eventstore.grants import GrantError, Roles, apply_grants

    settings = _settings(args)
    roles = Roles(
        worker=args.grant_worker or settings.worker_role,
        projector=args.grant_projector or settings.projector_role,
        reader=args.grant_reader or settings.reader_role,
        api=args.grant_api or settings.api_role,
    )
    applied, version = store.applied_now, store.schema_version()
    text = (
        f"schema of {store.safe_url} up to date at version {version} "
        f"(applied now: {', '.join(map(str, applied)) or 'none'})"
    )
    granted = roles.named()
    if granted and store.dialect != "postgresql":
        print(
            f"grants do not apply to {store.dialect}: roles "
            f"{', '.join(granted.values())} ignored (PostgreSQL only)",
            file=sys.stderr,
        )
        granted = {}
    elif granted:
        try:
            with store.engine.begin() as conn:
                apply_grants(conn, roles)
        except GrantError as exc:
            raise CliError(f"{exc} (the schema is migrated; no rights were granted)") from None
        text += "; granted " + ", ".join(f"{k} {v}" for k, v in granted.items()) + " their rights"
    _out(args, {"applied": applied, "version": version, "granted": granted}, text)
    return 0


def cmd_history(args: argparse.Namespace, store: EventStore) -> int:
    from petitionflow.cli import render

    records = store.read_stream(stream_id(args.case))
    if not records:
        raise CliError(
            f"case_not_found: no events for case {args.case!r} in {store.safe_url}; "
            "check the case id and --store"
        )
    sealer = _sealer(args)  # the keys are read once, not per event
    events = [from_record(r, sealer) for r in records]
    if args.json:
        payload = [
            {
                "version": r.version,
                "position": r.position,
                "type": r.type,
                "data": r.data if args.reveal else mask_event_json(r.data),
                "metadata": r.metadata,
                "recorded_at": r.recorded_at,
            }
            for r in records
        ]
        _out(args, payload, "")
        return 0
    state = fold(events)
    render.emit(
        [
            *render.history(
                args.case, events, [r.recorded_at for r in records], reveal=args.reveal
            ),
            f"now: {state.stage.value}; open deadlines: {_deadlines_text(state)}",
        ]
    )
    return 0


def cmd_verify(args: argparse.Namespace, store: EventStore) -> int:
    from petitionflow.cli.render import plural

    stream = stream_id(args.case) if args.case else None
    report = store.verify(stream)
    if args.case and report.streams == 0:
        raise CliError(
            f"case_not_found: there is no case {args.case!r} in the event store {store.safe_url}; "
            "check the case id and --store"
        )
    text = f"{plural(report.streams, 'stream')}, {plural(report.events, 'event')}: " + (
        "intact" if report.ok else f"{len(report.broken_streams)} broken"
    )
    text += "".join(f"\n  {p}" for p in report.problems)
    payload: dict[str, Any] = {
        "streams": report.streams,
        "events": report.events,
        "ok": report.ok,
        "problems": [asdict(p) for p in report.problems],
    }
    ok = report.ok
    if args.live:
        from petitionflow.cli.live import check_live

        live = asyncio.run(check_live(args, store, stream))
        payload["live"] = live.as_json()
        text += "\n" + live.text()
        ok = ok and live.ok
    _out(args, payload, text)
    return 0 if ok else 1


def cmd_project(args: argparse.Namespace, store: EventStore) -> int:
    from petitionflow.projections.projector import Projector

    projector = Projector(store)
    if args.rebuild:
        projector.rebuild()
    last = [0.0]

    def progress(events: int, position: int, rate: float) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0:  # at most once a second on long runs
            last[0] = now
            print(
                f"  {events:,} events projected (position {position}, {rate:,.0f}/s)",
                file=sys.stderr,
                flush=True,
            )

    if args.follow:
        print("projecting new events as they come; Ctrl-C to stop", file=sys.stderr)
        projector.run_forever(progress=progress)
        return 0
    started = time.monotonic()
    done = projector.run_once(batch=args.batch, progress=progress)
    position, total = projector.position()
    seconds = time.monotonic() - started
    _out(
        args,
        {"projected": done, "position": position, "events": total, "seconds": seconds},
        f"projected {done:,} events in {seconds:.1f} s; read models at position {position} "
        f"({total:,} events)",
    )
    return 0


def cmd_report(args: argparse.Namespace, store: EventStore) -> int:
    from petitionflow.projections.projector import Projector
    from petitionflow.projections.report import provisional_warning, render, statistics

    # Catch the read models up first, so a report always counts what the store holds
    # now, whether or not a `petition project --follow` runs (petition dev has none).
    # A role that may only read them (eventstore/grants.py) reports them as they are.
    projector = Projector(store)
    try:
        caught_up = projector.run_once()
    except Exception as exc:  # SQLAlchemy's wrapper, or psycopg's own from the COPY
        if getattr(getattr(exc, "orig", exc), "sqlstate", None) != "42501":  # privilege
            raise
        print(
            "read models not brought up to date: this role may only read them; reporting "
            f"them as they are (at position {projector.position()[0]}); `petition project`, "
            "run as the projector's role, brings them up to date",
            file=sys.stderr,
        )
        caught_up = 0
    if caught_up:
        print(f"read models caught up: {caught_up:,} new events projected", file=sys.stderr)
    from petitionflow.eventstore.directory import DirectoryStore
    from petitionflow.projections.report import most_complaints

    directory = DirectoryStore(store.engine).index()
    if directory is None and args.by in ("level", "kind"):
        raise CliError(
            f"a report by {args.by} needs the unit directory: load it with "
            "`petition units load FILE` (nothing reported)"
        )
    if args.top is not None and args.by != "unit":
        raise CliError("--top ranks units: use it with --by unit (the default)")
    report = statistics(store.engine, args.by, args.since, directory=directory)
    if args.top is not None:
        report = most_complaints(report, args.top)
    warning = provisional_warning(report)
    if warning and (args.json or args.format != "table"):
        print(warning, file=sys.stderr)  # the table says it itself
    if args.format == "html" and not args.json:
        from petitionflow.projections.html import backlog_over_time, render_html

        page = render_html(
            report,
            args.by,
            backlog_over_time(store.engine),
            datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
        path = Path(args.output or "report.html")
        try:
            path.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot write {path}: {exc.strerror}; pass --output PATH") from None
        print(f"wrote {path} ({len(page):,} bytes, no external assets)")
        return 0
    text = render(report, args.by, "json" if args.json else args.format)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


def _deadlines_text(state: Any) -> str:
    return (
        ", ".join(
            f"{d.kind.value} {d.due}" + (" (missed)" if d.missed else "")
            for d in state.deadlines.values()
        )
        or "none"
    )


# ---- Temporal commands ------------------------------------------------------------


def _keys(args: argparse.Namespace) -> Keys:
    try:
        return _settings(args).keys()
    except KeyConfigError as exc:
        raise CliError(str(exc)) from None


def _sealer(args: argparse.Namespace) -> Sealer | None:
    """The sealing key if this process has one; reading an accusation needs it."""
    try:
        return Sealer(_settings(args).keys().sealing)
    except KeyConfigError:
        return None


async def _temporal(args: argparse.Namespace, keys: Keys | None) -> Client:
    """A Temporal client, or one line saying which address did not answer."""
    from petitionflow.workers.main import TemporalUnreachable, connect

    try:
        return await connect(_settings(args), keys)
    except TemporalUnreachable as exc:
        raise CliError(str(exc)) from None


async def _petitions(args: argparse.Namespace, store: EventStore | None = None) -> Any:
    from petitionflow.client import PetitionClient

    settings = _settings(args)
    keys = _keys(args)
    temporal = await _temporal(args, keys)
    return PetitionClient(
        temporal, task_queue=settings.task_queue, store=store, sealer=Sealer(keys.sealing)
    )


def read_json(value: str, what: str) -> Any:
    """JSON given inline, or read from a file as ``@FILE`` (``@-``: standard input).

    Inline JSON may be of any length: it is never taken for a file name.
    """
    source = "inline"
    if value.startswith("@"):
        name = value[1:]
        if name == "-":
            raw, source = sys.stdin.read(), "standard input"
        else:
            path = Path(name)
            if not path.is_file():
                problem = "is a folder" if path.is_dir() else "does not exist"
                raise CliError(f"{what}: the file {name!r} {problem}; check the path")
            try:
                raw = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CliError(f"{what}: cannot read {name!r} ({exc})") from None
            source = name
    else:
        raw = value
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        hint = ""
        if source == "inline" and not value.lstrip().startswith(("{", "[")):
            hint = f"; to read a file, write @{value}"
        near = raw[max(0, exc.pos - 20) : exc.pos + 20].replace("\n", " ")
        raise CliError(
            f"{what} ({source}) is not valid JSON: {exc.msg.removesuffix(' at')} at line "
            f"{exc.lineno} column "
            f"{exc.colno} (near {near!r}){hint}"
        ) from None


async def cmd_submit(args: argparse.Namespace, store: EventStore) -> int:
    source = args.file if args.file.startswith("@") else "@" + args.file
    body = read_json(source, "the petition file")
    if not isinstance(body, dict) or "case_id" not in body or "intake" not in body:
        raise CliError('the file must hold {"case_id": ..., "intake": {...}, "actor": {...}?}')
    if isinstance(body["intake"], dict):
        # Like issued_at for a command: received now unless the file says when.
        body["intake"].setdefault("received_at", datetime.now(UTC).isoformat())
    try:
        intake = Intake.model_validate(body["intake"])
        actor = Actor.model_validate(body.get("actor", DEFAULT_ACTOR))
    except ValidationError as exc:
        raise CliError("invalid intake: " + "; ".join(field_errors(exc))) from None
    petitions = await _petitions(args, store)
    handle = await petitions.submit(str(body["case_id"]), intake, actor)
    _out(
        args,
        {"case_id": body["case_id"], "workflow_id": handle.id},
        f"submitted {body['case_id']} (workflow {handle.id})",
    )
    return 0


async def cmd_send(args: argparse.Namespace) -> int:
    data = read_json(args.data, "--data") if args.data else {}
    if not isinstance(data, dict):
        raise CliError("--data must be a JSON object with the command's fields")
    data.setdefault("command_id", f"cli-{uuid.uuid4()}")
    data.setdefault("actor", DEFAULT_ACTOR)
    data.setdefault("issued_at", datetime.now(UTC).isoformat())
    petitions = await _petitions(args)
    result = await petitions.send(args.case, args.command, data, wait=not args.no_wait)
    if result is None:
        _out(
            args,
            {"signalled": args.command, "command_id": data["command_id"]},
            f"signalled {args.command} ({data['command_id']})",
        )
    else:
        _out(
            args,
            result,
            f"{args.command}: {', '.join(result.events) or 'no new events'}"
            + (" (repeat of an earlier command)" if result.duplicate else "")
            + f"; stage {result.stage}, version {result.version}",
        )
    return 0


async def cmd_show(args: argparse.Namespace) -> int:
    from petitionflow.cli import render

    petitions = await _petitions(args)
    state = await petitions.state(args.case)
    if args.json:
        payload = state.model_dump(mode="json", exclude={"commands"})
        _out(args, payload if args.reveal else mask_state_json(payload), "")
        return 0
    names = [u.name for u in (state.handling_unit, state.review_unit) if u is not None]
    units = _directory_answer(args, names) if names else None
    render.emit(render.show(args.case, state, reveal=args.reveal, units=units))
    return 0


def _directory_answer(args: argparse.Namespace, names: list[str]) -> Any:
    """The unit directory's answer for ``names`` today, when the store holds one (the
    store is only read, and only when it exists: ``show`` needs Temporal alone)."""
    from petitionflow.eventstore.directory import DirectoryStore

    settings = _settings(args)
    if settings.store_url is None and not (settings.data_dir / "events.db").exists():
        return None
    try:
        store = EventStore(settings.store)
    except (SchemaError, SQLAlchemyError):
        return None
    try:
        return DirectoryStore(store.engine).resolve(names, datetime.now(UTC).date())
    except SQLAlchemyError:
        return None
    finally:
        store.close()


async def cmd_list(args: argparse.Namespace) -> int:
    from petitionflow.cli import render

    petitions = await _petitions(args)
    rows = render.sort_rows(await petitions.list(args.query, limit=args.limit), args.sort)
    if args.json:
        _out(args, rows, "")
        return 0
    if not rows:
        print("no cases" + (f" match {args.query}" if args.query else ""))
        return 0
    render.emit(render.case_list(rows, args.limit))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from petitionflow.workers import logs
    from petitionflow.workers.main import serve

    logs.configure()
    return serve(_settings(args))


async def cmd_api(args: argparse.Namespace, store: EventStore) -> int:
    from petitionflow.api.serve import run_api

    return await run_api(args, store)


def cmd_token(args: argparse.Namespace) -> int:
    from petitionflow.api.serve import print_token

    return print_token(args)


async def cmd_codec_server(args: argparse.Namespace) -> int:
    from petitionflow.security.codec import EncryptionCodec
    from petitionflow.security.codec_server import CodecServer
    from petitionflow.workers import logs

    settings = _settings(args)
    token = settings.codec_token.get_secret_value() if settings.codec_token else ""
    if len(token) < 16:
        raise CliError(
            "set PETITIONFLOW_CODEC_TOKEN (16+ characters) to the bearer token the "
            "operators' UI requests must carry"
        )
    logs.configure()
    namespaces = args.namespace or [settings.namespace]
    verifier = None
    if settings.oidc_issuer and settings.oidc_jwks_url:
        from petitionflow.identity.tokens import TokenVerifier

        # operator scopes: the UI forwards each operator's access token
        # (TEMPORAL_CODEC_PASS_ACCESS_TOKEN=true) and only their cases are decoded
        verifier = TokenVerifier(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            jwks_url=settings.oidc_jwks_url,
            leeway_seconds=settings.oidc_leeway,
        )
    server = CodecServer(
        EncryptionCodec(_keys(args).payload),
        token,
        args.origin,
        host=args.host,
        port=args.port,
        namespaces=namespaces,
        max_body=args.max_body_mb * 1024 * 1024,
        verifier=verifier,
    )
    try:
        await server.start()
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    print(
        f"codec server on http://{args.host}:{server.port} for {', '.join(args.origin)}, "
        f"namespace {', '.join(namespaces)}"
        + (", operator scopes from the token issuer" if verifier else "")
        + " (health: GET /health)",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
    return 0


async def cmd_setup_cluster(args: argparse.Namespace) -> int:
    from petitionflow.workflows.search import ensure_namespace, register_search_attributes

    settings = _settings(args)
    temporal = await _temporal(args, None)  # namespace and search attributes: no payloads
    created = await ensure_namespace(temporal, settings.namespace, settings.retention_days)
    added = await register_search_attributes(temporal, settings.namespace)
    _out(
        args,
        {"namespace": settings.namespace, "namespace_created": created, "added": added},
        f"namespace {settings.namespace}{' (created)' if created else ''}: search attributes registered"
        + (f" (added {', '.join(added)})" if added else " (all present already)"),
    )
    return 0


def cmd_calendar(args: argparse.Namespace, store: EventStore) -> int:
    from petitionflow.cli.calendar import cmd_calendar as run

    return run(args, store)


def cmd_units(args: argparse.Namespace, store: EventStore) -> int:
    from petitionflow.cli.units import cmd_units as run

    return run(args, store)


async def cmd_dispute(args: argparse.Namespace, store: EventStore) -> int:
    from petitionflow.cli.dispute import cmd_dispute as run

    keys = _keys(args)
    temporal = await _temporal(args, keys)
    return await run(args, store, (temporal, _settings(args)))


def cmd_disputes(args: argparse.Namespace, store: EventStore) -> int:
    from petitionflow.cli.dispute import cmd_disputes_report

    return cmd_disputes_report(args, store)


async def cmd_conference(args: argparse.Namespace) -> int:
    from petitionflow.cli.conference import cmd_conference as run

    return await run(args)


async def cmd_dev(args: argparse.Namespace, store: EventStore) -> int:
    from petitionflow.cli.dev import run_dev

    return await run_dev(args, store)


# ---- wiring -------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", help="event store URL (sqlite:///path or postgresql://...)")
    common.add_argument(
        "--data-dir",
        type=Path,
        help="where local state lives (default: $PETITIONFLOW_DATA_DIR or ./data)",
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")
    p = argparse.ArgumentParser(prog="petition", description=(__doc__ or "").splitlines()[0])
    sub = p.add_subparsers(dest="command_name", required=True)

    dev = sub.add_parser(
        "dev", parents=[common], help="Temporal dev server with its UI, a worker, and --demo cases"
    )
    dev.add_argument("--demo", action="store_true", help="submit demo cases down every path")
    dev.add_argument("--port", type=int, default=7233, help="Temporal frontend port")
    dev.add_argument("--ui-port", type=int, default=8233, help="Temporal Web UI port")
    dev.add_argument("--codec-port", type=int, default=8081, help="codec server port")
    dev.add_argument("--api-port", type=int, default=8089, help="HTTP API port")
    dev.add_argument("--issuer-port", type=int, default=8090, help="dev token issuer port")
    dev.add_argument(
        "--operator-scopes",
        action="store_true",
        help="the codec server decodes only the cases in the operator's jurisdiction "
        "(the operator's token from `petition token`, as Authorization: Bearer)",
    )
    api = sub.add_parser(
        "api", parents=[common], help="serve the HTTP API (staff, services, petitioners)"
    )
    api.add_argument("--host", help="listen address (PETITIONFLOW_API_HOST)")
    api.add_argument("--port", type=int, help="listen port (PETITIONFLOW_API_PORT)")
    tok = sub.add_parser(
        "token", parents=[common], help="print a token from the development issuer"
    )
    tok.add_argument("--unit", required=True, help="the unit the person acts for")
    tok.add_argument(
        "--role",
        action="append",
        required=True,
        help="a role (repeat for more): registrar, handler, supervisor, "
        "conference_secretary, reviewer, analyst, administrator, petitioner_proxy",
    )
    tok.add_argument("--person", help="the person's name (default: <unit>/staff)")
    tok.add_argument(
        "--juris",
        help="the unit's jurisdiction, top first, / between levels (default: 新疆维吾尔自治区)",
    )
    tok.add_argument("--client", help="a backend service's client id (the azp claim)")
    tok.add_argument("--ttl", type=int, default=8 * 3600, help="seconds the token is valid")
    cs = sub.add_parser(
        "codec-server", parents=[common], help="serve /encode and /decode for the Temporal UI"
    )
    cs.add_argument("--port", type=int, default=8081)
    cs.add_argument("--host", default="127.0.0.1")
    cs.add_argument(
        "--origin",
        action="append",
        required=True,
        help="the Temporal UI's origin, e.g. https://temporal.example.gov.cn",
    )
    cs.add_argument(
        "--namespace",
        action="append",
        help="a namespace whose payloads it serves (X-Namespace); repeatable "
        "(default: TEMPORAL_NAMESPACE or default)",
    )
    cs.add_argument(
        "--max-body-mb", type=int, default=8, help="larger requests get 413 (default 8)"
    )
    sub.add_parser(
        "setup-cluster",
        parents=[common],
        help="register the search attributes on a real cluster (idempotent)",
    )
    sub.add_parser("worker", parents=[common], help="run a worker (until SIGTERM)")
    mg = sub.add_parser(
        "migrate",
        parents=[common],
        help="create or upgrade the event store schema (as its owner) and grant the roles",
    )
    for purpose, rights in (
        ("worker", "append events, write the outbox"),
        ("projector", "read events, write the read models"),
        ("reader", "read events and read models: the CLI"),
        ("api", "read events and read models, keep its idempotency records: petition api"),
    ):
        mg.add_argument(
            f"--grant-{purpose}",
            metavar="ROLE",
            help=f"PostgreSQL: grant this existing role the {purpose}'s rights ({rights}) "
            f"and no others (default: $PETITIONFLOW_{purpose.upper()}_ROLE)",
        )
    pj = sub.add_parser(
        "project", parents=[common], help="bring the read models up to date from the event store"
    )
    pj.add_argument("--rebuild", action="store_true", help="drop them and start from 0")
    pj.add_argument("--follow", action="store_true", help="keep running, projecting new events")
    pj.add_argument("--batch", type=int, default=2000)
    rp = sub.add_parser("report", parents=[common], help="statistics from the read models")
    rp.add_argument(
        "--by",
        choices=["unit", "prefecture", "county", "level", "kind"],
        default="unit",
        help="group by handling unit (its directory name), place, or the unit's level or kind "
        "in the unit directory",
    )
    rp.add_argument(
        "--top",
        type=int,
        metavar="N",
        help="only the N units with the most petitions (Art 41), most first",
    )
    rp.add_argument("--since", help="only cases received on or after this date (YYYY-MM-DD)")
    rp.add_argument("--format", choices=["table", "csv", "json", "html"], default="table")
    rp.add_argument("--output", help="write the report to this file (html: report.html)")
    s = sub.add_parser("submit", parents=[common], help="register a petition from a JSON file")
    s.add_argument(
        "file",
        help='a JSON file {"case_id": ..., "intake": {...}, "actor": {...}?} (- for stdin); '
        "intake.received_at defaults to now",
    )
    send = sub.add_parser("send", parents=[common], help="send a command to a case")
    send.add_argument("case")
    send.add_argument("command", help="e.g. accept_petition (see the README)")
    send.add_argument(
        "--data",
        metavar="JSON|@FILE|@-",
        help="the command's fields: inline JSON, @FILE to read a file, @- for stdin",
    )
    send.add_argument("--no-wait", action="store_true", help="signal instead of update")
    show = sub.add_parser("show", parents=[common], help="a case's current state (query)")
    show.add_argument("case")
    show.add_argument("--reveal", action="store_true", help="show personal data unmasked")
    h = sub.add_parser("history", parents=[common], help="a case's events from the store")
    h.add_argument("case")
    h.add_argument("--reveal", action="store_true", help="show personal data unmasked")
    ls = sub.add_parser("list", parents=[common], help="cases from Temporal visibility")
    ls.add_argument("--query", help='e.g. Stage = "handling" AND Overdue = true')
    ls.add_argument("--limit", type=int, default=100, help="at most this many (newest first)")
    ls.add_argument(
        "--sort",
        choices=["deadline", "case"],
        default="deadline",
        help="deadline: overdue first, then the nearest next deadline (default); case: by id",
    )
    cal = sub.add_parser("calendar", help="the official holiday calendar: load a year, list")
    cal_sub = cal.add_subparsers(dest="calendar_command", required=True)
    load = cal_sub.add_parser(
        "load",
        parents=[common],
        help="load a year's holiday arrangement (as the store's owner) and tell the cases",
    )
    load.add_argument(
        "file",
        help='a JSON file {"year": 2027, "source": "...", "holidays": ["2027-01-01", ...], '
        '"workdays": ["2027-02-20", ...]} (- for stdin)',
    )
    load.add_argument(
        "--no-notify",
        action="store_true",
        help="only store it; the cases are told when the command is run again without it",
    )
    cal_sub.add_parser(
        "list", parents=[common], help="the years loaded, their versions and sources"
    )
    un = sub.add_parser("units", help="the unit directory: load a file, list, show a unit")
    un_sub = un.add_subparsers(dest="units_command", required=True)
    uload = un_sub.add_parser(
        "load",
        parents=[common],
        help="load a directory file (CSV or JSON, the whole directory) as the store's owner",
    )
    uload.add_argument(
        "file",
        nargs="?",
        help="CSV with the header id,name,kind,level,place,region,prefecture,county,township,"
        'parent,status,merged_into, or JSON {"source": ..., "units": [...]}',
    )
    uload.add_argument(
        "--as-of", type=date.fromisoformat, help="the day the file holds from (default today)"
    )
    uload.add_argument(
        "--xinjiang",
        action="store_true",
        help="the generated directory of Xinjiang shipped with petitionflow (test and demo data)",
    )
    uload.add_argument("--source", help="where the file comes from (default: its name)")
    uload.add_argument("--dry-run", action="store_true", help="show the changes, store nothing")
    ulist = un_sub.add_parser(
        "list", parents=[common], help="units per level and kind; --under/--level/--kind lists them"
    )
    ushow = un_sub.add_parser(
        "show", parents=[common], help="one unit, the unit above it, its versions"
    )
    ushow.add_argument("unit", help="a unit id, its name or part of it")
    for q in (ulist, ushow):
        q.add_argument("--on", type=date.fromisoformat, help="as of this day (default today)")
    ulist.add_argument("--under", help="only units whose place code starts with this")
    ulist.add_argument("--level", choices=[lv.value for lv in UnitLevel])
    ulist.add_argument("--kind", choices=[k.value for k in UnitKind])
    ulist.add_argument("--limit", type=int, default=200, help="most units listed (default 200)")
    from petitionflow.cli.dispute import add_parsers

    add_parsers(sub, common)
    from petitionflow.cli.conference import add_parser as add_conference

    add_conference(sub, common)
    v = sub.add_parser("verify", parents=[common], help="check every stream's hash chain")
    v.add_argument("case", nargs="?", help="only this case")
    v.add_argument(
        "--live",
        action="store_true",
        help="also compare each open case's stored version with its workflow's state",
    )
    return p


# What each command opens: the event store (checked, never migrated), the store
# migrated first (``migrate``, ``dev``), or no store at all.
WITH_STORE: dict[str, Callable[[argparse.Namespace, EventStore], int]] = {
    "calendar": cmd_calendar,
    "units": cmd_units,
    "history": cmd_history,
    "verify": cmd_verify,
    "project": cmd_project,
    "report": cmd_report,
    "disputes": cmd_disputes,
}
WITHOUT_STORE: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "conference": cmd_conference,
    "send": cmd_send,
    "show": cmd_show,
    "list": cmd_list,
    "codec-server": cmd_codec_server,
    "setup-cluster": cmd_setup_cluster,
}
MIGRATING = {"migrate", "dev"}


def _run(args: argparse.Namespace) -> int:
    name = args.command_name
    if name == "worker":  # opens its own store before its event loop starts
        return cmd_worker(args)
    if name == "token":  # signs with the development issuer's key file; nothing else
        return cmd_token(args)
    if name in WITHOUT_STORE:
        return asyncio.run(WITHOUT_STORE[name](args))
    settings = _settings(args)
    if settings.store_url is None and name in MIGRATING:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = EventStore(settings.store, create=name in MIGRATING)
    try:
        if name == "migrate":
            return cmd_migrate(args, store)
        if name == "dev":
            return asyncio.run(cmd_dev(args, store))
        if name == "api":
            return asyncio.run(cmd_api(args, store))
        if name == "submit":
            return asyncio.run(cmd_submit(args, store))
        if name == "dispute":
            return asyncio.run(cmd_dispute(args, store))
        return WITH_STORE[name](args, store)
    finally:
        store.close()


def main(argv: Sequence[str] | None = None) -> int:
    from temporalio.client import WorkflowQueryFailedError

    from petitionflow.client import PetitionError

    args = parser().parse_args(argv)
    try:
        args.settings = Settings.load(store_url=args.store, data_dir=args.data_dir)
        return _run(args)
    except (SQLAlchemyError, psycopg.Error) as exc:
        # psycopg.Error: the projector's COPY goes to psycopg directly.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        url = args.settings.store if hasattr(args, "settings") else "?"
        return _fail(
            f"event store {safe_url(url)}: {reason}; check --store / "
            "PETITIONFLOW_STORE_URL and that the database is running"
        )
    except PetitionError as exc:
        return _fail(str(exc))
    except WorkflowQueryFailedError:
        return _fail(
            "query_failed: a worker took the query but could not answer it; see the "
            "worker's log (a worker running older code than workflows/ on disk?)"
        )
    except (CliError, SealedError, KeyConfigError, ConfigError, SchemaError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return 0


def entry() -> NoReturn:
    """The ``petition`` program: :func:`main`, then flush and end the process.

    Why ``os._exit``: the Temporal SDK's client runs on a Rust (tokio) runtime whose
    threads call back into Python, and it has no shutdown. When the interpreter
    finalizes while one of those threads takes or releases the GIL, CPython aborts
    with ``Fatal Python error: PyGILState_Release ... finalizing`` (exit 134;
    temporalio/sdk-python#300): 7 of 209 calls here, after their output was written.
    Everything that must outlive the process is done when ``main`` returns (output
    written, the store's connections closed, a worker or dev server stopped), so
    after flushing stdout, stderr and the log handlers the process ends without
    finalizing, and no Rust thread can race it.
    """
    try:
        code = main()
    except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (| head)
            stream.flush()
    os._exit(code)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    entry()
