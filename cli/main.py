"""``petition``: the command line of petitionflow.

Commands talk to Temporal at $TEMPORAL_ADDRESS (default 127.0.0.1:7233) and to the
event store at --store / $PETITIONFLOW_STORE_URL (default: the SQLite file
``data/events.db``). Every command takes ``--json``. Errors are one line on stderr
and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from activities.records import from_record, stream_id
from domain.intake import Intake, field_errors
from domain.state import fold
from domain.values import Actor
from eventstore import EventStore
from security.keys import KeyConfigError, Keys, load_keys
from security.sealing import SealedError, Sealer

DEFAULT_DATA_DIR = Path("data")
DEFAULT_ACTOR = {"unit": "信访工作机构", "person": "petition-cli"}


class CliError(Exception):
    """A one-line error for the user; exit code 2."""


def _store_url(args: argparse.Namespace) -> str:
    if args.store:
        return str(args.store)
    if env := os.environ.get("PETITIONFLOW_STORE_URL"):
        return env
    args.data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{args.data_dir / 'events.db'}"


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
    applied = store.migrate()
    _out(args, {"applied": applied}, f"schema up to date (applied now: {applied or 'none'})")
    return 0


def cmd_history(args: argparse.Namespace, store: EventStore) -> int:
    records = store.read_stream(stream_id(args.case))
    if not records:
        raise CliError(
            f"no events for case {args.case!r} in {store.url}; check the case id and --store"
        )
    events = [from_record(r, _sealer(args)) for r in records]
    state = fold(events)
    lines = [
        f"{r.version:>3}  {r.recorded_at:%Y-%m-%d %H:%M:%S}  {e.day}  {r.type:<24}"
        f"{e.actor.unit} / {e.actor.person}"
        for r, e in zip(records, events, strict=True)
    ]
    lines.append(f"stage: {state.stage.value}; open deadlines: " + _deadlines_text(state))
    payload = [
        {
            "version": r.version,
            "position": r.position,
            "type": r.type,
            "data": r.data,
            "metadata": r.metadata,
            "recorded_at": r.recorded_at,
        }
        for r in records
    ]
    _out(args, payload, "\n".join(lines))
    return 0


def cmd_verify(args: argparse.Namespace, store: EventStore) -> int:
    report = store.verify(stream_id(args.case) if args.case else None)
    text = f"{report.streams} streams, {report.events} events: " + (
        "intact" if report.ok else f"{len(report.broken_streams)} broken"
    )
    text += "".join(f"\n  {p}" for p in report.problems)
    payload = {
        "streams": report.streams,
        "events": report.events,
        "ok": report.ok,
        "problems": [asdict(p) for p in report.problems],
    }
    _out(args, payload, text)
    return 0 if report.ok else 1


def cmd_project(args: argparse.Namespace, store: EventStore) -> int:
    from projections.projector import Projector

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
    from projections.projector import Projector
    from projections.report import render, statistics

    if Projector(store).position() == (0, 0) and store.read_all(0, 1):
        raise CliError("the read models are empty: run `petition project` first")
    report = statistics(store.engine, args.by, args.since)
    if args.format == "html" and not args.json:
        from projections.html import backlog_over_time, render_html

        page = render_html(
            report,
            args.by,
            backlog_over_time(store.engine),
            datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
        path = Path(args.output or "report.html")
        path.write_text(page, encoding="utf-8")
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
        return load_keys(args.data_dir / "keys.json")
    except KeyConfigError as exc:
        raise CliError(str(exc)) from None


def _sealer(args: argparse.Namespace) -> Sealer | None:
    """The sealing key if this process has one; reading an accusation needs it."""
    try:
        return Sealer(load_keys(args.data_dir / "keys.json").sealing)
    except KeyConfigError:
        return None


async def _petitions(args: argparse.Namespace, store: EventStore | None = None) -> Any:
    from client import PetitionClient
    from workers.main import Settings, connect

    settings = Settings()
    keys = _keys(args)
    try:
        temporal = await connect(settings, keys)
    except RuntimeError as exc:
        raise CliError(
            f"cannot reach Temporal at {settings.temporal_address} ({exc}); start it with "
            "`petition dev` or set TEMPORAL_ADDRESS"
        ) from None
    return PetitionClient(
        temporal, task_queue=settings.task_queue, store=store, sealer=Sealer(keys.sealing)
    )


def _load_json(text_or_path: str) -> Any:
    path = Path(text_or_path)
    raw = path.read_text(encoding="utf-8") if path.exists() else text_or_path
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CliError(f"not valid JSON ({exc})") from None


async def cmd_submit(args: argparse.Namespace, store: EventStore) -> int:
    body = _load_json(args.file)
    if not isinstance(body, dict) or "case_id" not in body or "intake" not in body:
        raise CliError('the file must hold {"case_id": ..., "intake": {...}, "actor": {...}?}')
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


async def cmd_send(args: argparse.Namespace, store: EventStore) -> int:
    data = _load_json(args.data) if args.data else {}
    if not isinstance(data, dict):
        raise CliError("--data must be a JSON object with the command's fields")
    data.setdefault("command_id", f"cli-{uuid.uuid4()}")
    data.setdefault("actor", DEFAULT_ACTOR)
    data.setdefault("issued_at", datetime.now(UTC).isoformat())
    petitions = await _petitions(args, store)
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


async def cmd_show(args: argparse.Namespace, store: EventStore) -> int:
    petitions = await _petitions(args, store)
    state = await petitions.state(args.case)
    text = "\n".join(
        [
            f"case {args.case}: {state.stage.value}"
            + (" (overdue)" if state.overdue else "")
            + (" supervised" if state.supervised else ""),
            f"handling unit: {state.handling_unit.name if state.handling_unit else '—'}",
            f"open deadlines: {_deadlines_text(state)}",
            f"rating: {state.rating.value if state.rating else '—'}; review level: {state.review_level}"
            + ("; final" if state.final else ""),
            f"events: {state.version}, last {state.last_event_type}",
        ]
    )
    _out(args, state.model_dump(mode="json", exclude={"commands"}), text)
    return 0


async def cmd_list(args: argparse.Namespace, store: EventStore) -> int:
    petitions = await _petitions(args, store)
    rows = await petitions.list(args.query, limit=args.limit)
    text = (
        "\n".join(
            f"{r['case_id']:<28} {r['status'] or '':<10} {r['stage'] or '':<14} "
            f"{'overdue ' if r['overdue'] else ''}{r['handling_unit'] or ''}"
            for r in rows
        )
        or "no cases"
    )
    _out(args, rows, text)
    return 0


async def cmd_worker(args: argparse.Namespace, store: EventStore) -> int:
    from workers import logs
    from workers.main import Settings, run

    logs.configure()
    store.close()
    await run(Settings(store_url=store.url))
    return 0


async def cmd_codec_server(args: argparse.Namespace, store: EventStore) -> int:
    from security.codec import EncryptionCodec
    from security.codec_server import CodecServer
    from workers import logs

    token = os.environ.get("PETITIONFLOW_CODEC_TOKEN", "")
    if len(token) < 16:
        raise CliError(
            "set PETITIONFLOW_CODEC_TOKEN (16+ characters) to the bearer token the "
            "operators' UI requests must carry"
        )
    logs.configure()
    namespaces = args.namespace or [os.environ.get("TEMPORAL_NAMESPACE", "default")]
    server = CodecServer(
        EncryptionCodec(_keys(args).payload),
        token,
        args.origin,
        host=args.host,
        port=args.port,
        namespaces=namespaces,
        max_body=args.max_body_mb * 1024 * 1024,
    )
    try:
        await server.start()
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    print(
        f"codec server on http://{args.host}:{server.port} for {', '.join(args.origin)}, "
        f"namespace {', '.join(namespaces)} (health: GET /health)",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
    return 0


async def cmd_setup_cluster(args: argparse.Namespace, store: EventStore) -> int:
    from workers.main import Settings, connect
    from workflows.search import ensure_namespace, register_search_attributes

    settings = Settings()
    temporal = await connect(settings, _keys(args))
    created = await ensure_namespace(
        temporal, settings.namespace, int(os.environ.get("TEMPORAL_RETENTION_DAYS", "30"))
    )
    added = await register_search_attributes(temporal, settings.namespace)
    _out(
        args,
        {"namespace": settings.namespace, "namespace_created": created, "added": added},
        f"namespace {settings.namespace}{' (created)' if created else ''}: search attributes registered"
        + (f" (added {', '.join(added)})" if added else " (all present already)"),
    )
    return 0


async def cmd_dev(args: argparse.Namespace, store: EventStore) -> int:
    from cli.dev import run_dev

    return await run_dev(args, store)


# ---- wiring -------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", help="event store URL (sqlite:///path or postgresql://...)")
    common.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="where local state lives (default: ./data)",
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
    sub.add_parser("migrate", parents=[common], help="create or upgrade the event store schema")
    pj = sub.add_parser(
        "project", parents=[common], help="bring the read models up to date from the event store"
    )
    pj.add_argument("--rebuild", action="store_true", help="drop them and start from 0")
    pj.add_argument("--follow", action="store_true", help="keep running, projecting new events")
    pj.add_argument("--batch", type=int, default=2000)
    rp = sub.add_parser("report", parents=[common], help="statistics from the read models")
    rp.add_argument("--by", choices=["unit", "prefecture", "county"], default="unit")
    rp.add_argument("--since", help="only cases received on or after this date (YYYY-MM-DD)")
    rp.add_argument("--format", choices=["table", "csv", "json", "html"], default="table")
    rp.add_argument("--output", help="write the report to this file (html: report.html)")
    s = sub.add_parser("submit", parents=[common], help="register a petition from a JSON file")
    s.add_argument("file", help='JSON: {"case_id": ..., "intake": {...}, "actor": {...}}')
    send = sub.add_parser("send", parents=[common], help="send a command to a case")
    send.add_argument("case")
    send.add_argument("command", help="e.g. accept_petition (see the README)")
    send.add_argument("--data", help="the command's fields as JSON (or a file)")
    send.add_argument("--no-wait", action="store_true", help="signal instead of update")
    show = sub.add_parser("show", parents=[common], help="a case's current state (query)")
    show.add_argument("case")
    h = sub.add_parser("history", parents=[common], help="a case's events from the store")
    h.add_argument("case")
    ls = sub.add_parser("list", parents=[common], help="cases from Temporal visibility")
    ls.add_argument("--query", help='e.g. Stage = "handling" AND Overdue = true')
    ls.add_argument("--limit", type=int, default=100)
    v = sub.add_parser("verify", parents=[common], help="check every stream's hash chain")
    v.add_argument("case", nargs="?", help="only this case")
    return p


SYNC = {
    "migrate": cmd_migrate,
    "history": cmd_history,
    "verify": cmd_verify,
    "project": cmd_project,
    "report": cmd_report,
}
ASYNC = {
    "dev": cmd_dev,
    "worker": cmd_worker,
    "submit": cmd_submit,
    "send": cmd_send,
    "show": cmd_show,
    "list": cmd_list,
    "codec-server": cmd_codec_server,
    "setup-cluster": cmd_setup_cluster,
}


def main(argv: Sequence[str] | None = None) -> int:
    from client import PetitionError

    args = parser().parse_args(argv)
    url = _store_url(args)
    try:
        store = EventStore(url)
        try:
            if args.command_name in SYNC:
                return SYNC[args.command_name](args, store)
            return asyncio.run(ASYNC[args.command_name](args, store))
        finally:
            store.close()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return _fail(
            f"event store {url}: {reason}; check --store / PETITIONFLOW_STORE_URL "
            "and that the database is running"
        )
    except PetitionError as exc:
        return _fail(str(exc))
    except (CliError, SealedError, KeyConfigError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return 0


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
