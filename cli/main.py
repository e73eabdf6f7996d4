"""``petition``: the command line of petitionflow.

Every command takes ``--store URL`` (default: $PETITIONFLOW_STORE_URL, else the SQLite
file ``data/events.db``) and ``--json``. Errors are one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from activities.records import from_record, stream_id
from domain.state import fold
from eventstore import EventStore

DEFAULT_DATA_DIR = Path("data")


def _store_url(args: argparse.Namespace) -> str:
    if args.store:
        return str(args.store)
    if env := os.environ.get("PETITIONFLOW_STORE_URL"):
        return env
    args.data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{args.data_dir / 'events.db'}"


def _print(args: argparse.Namespace, payload: Any, text: str) -> None:
    print(json.dumps(payload, ensure_ascii=False, indent=2, default=str) if args.json else text)


def cmd_migrate(args: argparse.Namespace, store: EventStore) -> int:
    applied = store.migrate()
    _print(args, {"applied": applied}, f"schema up to date (applied now: {applied or 'none'})")
    return 0


def cmd_dev(args: argparse.Namespace, store: EventStore) -> int:
    from cli.demo import SCENARIOS, run_demo

    say = (lambda *_: None) if args.json else print
    say(f"event store: {store.url}")
    if not args.demo:
        say("store ready; add --demo to run the demo cases")
        return 0
    prefix = "DEMO-" + datetime.now().strftime("%Y%m%d%H%M%S")
    runs = run_demo(store, prefix)
    rows = []
    for (title, _, _), run in zip(SCENARIOS, runs, strict=True):
        s = run.state
        rows.append(
            {
                "case": run.case_id,
                "path": title,
                "stage": s.stage.value,
                "closed": s.closed_reason,
                "rating": s.rating.value if s.rating else None,
                "events": s.version,
                "overdue_or_supervised": s.overdue or s.supervised,
                "rejected": [str(r) for r in run.rejections],
            }
        )
        say(f"{run.case_id}  {s.stage.value:<8} {s.version:>3} events  {title}")
        for rejection in run.rejections:
            say(f"    rejected as expected: {rejection}")
    report = store.verify()
    say(
        f"verify: {report.streams} streams, {report.events} events, "
        f"{'intact' if report.ok else 'BROKEN'}"
    )
    say(f"see one case with: petition history {runs[0].case_id}")
    if args.json:
        _print(args, rows, "")
    return 0 if report.ok else 1


def cmd_history(args: argparse.Namespace, store: EventStore) -> int:
    records = store.read_stream(stream_id(args.case))
    if not records:
        print(
            f"error: no events for case {args.case!r} in {store.url}; check the case id "
            "and --store",
            file=sys.stderr,
        )
        return 2
    events = [from_record(r) for r in records]
    state = fold(events)
    lines = [
        f"{r.version:>3}  {r.recorded_at:%Y-%m-%d %H:%M:%S}  {e.day}  {r.type:<24}"
        f"{e.actor.unit} / {e.actor.person}"
        for r, e in zip(records, events, strict=True)
    ]
    lines.append(
        f"stage: {state.stage.value}; open deadlines: "
        + (
            ", ".join(
                f"{d.kind.value} {d.due}" + (" (missed)" if d.missed else "")
                for d in state.deadlines.values()
            )
            or "none"
        )
    )
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
    _print(args, payload, "\n".join(lines))
    return 0


def cmd_verify(args: argparse.Namespace, store: EventStore) -> int:
    report = store.verify(stream_id(args.case) if args.case else None)
    text = f"{report.streams} streams, {report.events} events: " + (
        "intact" if report.ok else f"{len(report.broken_streams)} broken"
    )
    text += "".join(f"\n  {p}" for p in report.problems)
    _print(
        args,
        {
            "streams": report.streams,
            "events": report.events,
            "ok": report.ok,
            "problems": [asdict(p) for p in report.problems],
        },
        text,
    )
    return 0 if report.ok else 1


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", help="event store URL (sqlite:///path or postgresql://...)")
    common.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="where the default SQLite store lives (default: ./data)",
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")
    p = argparse.ArgumentParser(prog="petition", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", parents=[common], help="create or upgrade the event store schema")
    dev = sub.add_parser(
        "dev", parents=[common], help="prepare the local store; --demo runs demo cases"
    )
    dev.add_argument("--demo", action="store_true", help="drive the demo cases down every path")
    h = sub.add_parser("history", parents=[common], help="a case's events from the store")
    h.add_argument("case")
    v = sub.add_parser("verify", parents=[common], help="check every stream's hash chain")
    v.add_argument("case", nargs="?", help="only this case")
    return p


COMMANDS = {"migrate": cmd_migrate, "dev": cmd_dev, "history": cmd_history, "verify": cmd_verify}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    url = _store_url(args)
    try:
        store = EventStore(url)
        try:
            return COMMANDS[args.command](args, store)
        finally:
            store.close()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(
            f"error: event store {url}: {reason}; check --store / PETITIONFLOW_STORE_URL "
            "and that the database is running",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
