"""``petition calendar load FILE`` and ``petition calendar list``: the official holiday
calendar in the event store's database (``holiday_calendar``, eventstore/calendar.py).

Loading is the owner's (or an administrator's) action: it writes the table, then tells
every running case with a provisional deadline (``ProvisionalDeadline = true``) to
recompute, one signal each, with progress on stderr. Loading the same file again
stores nothing but tells the cases again, so an interrupted load is simply run again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from petitionflow.domain.calendar import CalendarError, parse_arrangement
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.calendar import CalendarStore, LoadResult

# How many years ahead ``list`` looks for years with no arrangement.
AHEAD = 2


def _days(label: str, days: list[Any]) -> str:
    return f"{label} {', '.join(d.isoformat() for d in days)}" if days else ""


def describe(result: LoadResult, holidays: int, workdays: int, source: str) -> str:
    if not result.changed:
        return (
            f"{result.year}: unchanged, version {result.version} holds this content already "
            "(nothing stored)"
        )
    if result.previous is None:
        return (
            f"{result.year}: stored as version 1 ({holidays} days off, {workdays} adjusted "
            f"working days; source: {source})"
        )
    changes = [
        _days("days off added", result.holidays_added),
        _days("days off removed", result.holidays_removed),
        _days("working days added", result.workdays_added),
        _days("working days removed", result.workdays_removed),
    ]
    if result.previous.source != source:
        changes.append(f"source now: {source}")
    return (
        f"{result.year}: stored as version {result.version}, replacing version "
        f"{result.previous.version}: " + "; ".join(c for c in changes if c)
    )


def cmd_calendar(args: argparse.Namespace, store: EventStore) -> int:
    from petitionflow.cli.main import CliError, _out, read_json

    calendar = CalendarStore(store.engine)
    if args.calendar_command == "list":
        return _list(args, calendar)
    source = args.file if args.file.startswith("@") else "@" + args.file
    raw = read_json(source, "the calendar file")
    try:
        arrangement = parse_arrangement(raw)
    except CalendarError as exc:
        raise CliError(f"{args.file}: {exc}") from None
    try:
        result = calendar.load(arrangement)
    except SQLAlchemyError as exc:
        if getattr(getattr(exc, "orig", None), "sqlstate", None) != "42501":  # privilege
            raise
        raise CliError(
            "loading the holiday calendar is the store owner's: this role may only read "
            "holiday_calendar; run `petition calendar load` with the owner in --store / "
            "PETITIONFLOW_STORE_URL (nothing was stored)"
        ) from None
    text = describe(
        result, len(arrangement.holidays), len(arrangement.workdays), arrangement.source
    )
    payload: dict[str, Any] = result.as_json()
    if args.no_notify:
        text += "\ncases not told (--no-notify): run `petition calendar load` again to tell them"
        payload["signalled"] = None
        _out(args, payload, text)
        return 0
    print(text, file=sys.stderr if args.json else sys.stdout, flush=True)
    try:
        signalled = asyncio.run(_notify(args))
    except CliError as exc:
        raise CliError(
            f"{result.year} version {result.version} is stored, but the cases were not told "
            f"({exc}); run the same command again (it stores nothing twice)"
        ) from None
    payload["signalled"] = signalled
    _out(
        args,
        payload,
        f"told {len(signalled)} running case{'s' if len(signalled) != 1 else ''} with "
        "provisional deadlines to recompute them",
    )
    return 0


async def _notify(args: argparse.Namespace) -> list[str]:
    from petitionflow.cli.main import _temporal
    from petitionflow.client import PetitionClient

    # Signals without input and a visibility query: no payload, so no keys needed.
    temporal = await _temporal(args, None)
    client = PetitionClient(temporal)

    def progress(n: int, total: int) -> None:
        if n == total or n % 100 == 0:
            print(f"  signalled {n:,}/{total:,} cases", file=sys.stderr, flush=True)

    return await client.calendar_loaded(progress=progress)


def _list(args: argparse.Namespace, calendar: CalendarStore) -> int:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from petitionflow.cli import render

    stored = calendar.versions()
    newest = {s.arrangement.year: s for s in stored}
    this_year = datetime.now(UTC).year
    ahead = [y for y in range(this_year, this_year + AHEAD + 1) if y not in newest]
    if args.json:
        render_json = {
            "years": [
                {
                    "year": s.arrangement.year,
                    "version": s.arrangement.version,
                    "source": s.arrangement.source,
                    "holidays": len(s.arrangement.holidays),
                    "workdays": len(s.arrangement.workdays),
                    "loaded_at": s.loaded_at.isoformat(),
                    "newest": newest[s.arrangement.year] is s,
                }
                for s in stored
            ],
            "provisional_years": ahead,
        }
        from petitionflow.cli.main import _out

        _out(args, render_json, "")
        return 0
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in ("year", "version", "days off", "worked", "loaded", "source"):
        table.add_column(column)
    for year in sorted(newest):
        s = newest[year]
        versions = sum(1 for x in stored if x.arrangement.year == year)
        table.add_row(
            str(year),
            f"v{s.arrangement.version}" + (f" (of {versions})" if versions > 1 else ""),
            str(len(s.arrangement.holidays)),
            str(len(s.arrangement.workdays)),
            s.loaded_at.strftime("%Y-%m-%d"),
            render.short(s.arrangement.source, 60),
        )
    parts: list[Any] = [table]
    for year in ahead:
        parts.append(
            Text(
                f"{year}: no arrangement loaded: deadlines counted in it are provisional "
                "(Monday to Friday); load the State Council notice with "
                "`petition calendar load FILE` once it is published",
                style="yellow",
            )
        )
    render.emit(parts)
    return 0
