"""``petition units load FILE``, ``petition units list`` and ``petition units show``:
the unit directory in the event store's database (eventstore/directory.py).

Loading is the owner's (or an administrator's) action. A file is the whole directory
as of ``--as-of``: each unit it changes gets a new dated version, a unit it lacks is
dissolved from that day, and loading the same file again stores nothing.
``--dry-run`` shows what would change.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from petitionflow.directory.files import XINJIANG, DirectoryFileError, read_directory
from petitionflow.domain.units import UNIT_LEVELS, UnitKind
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.directory import DirectoryOrderError, DirectoryStore, LoadReport

# How many changed units ``load`` names before it only counts them.
SHOWN_CHANGES = 30


def _today() -> date:
    return datetime.now(UTC).date()


def describe(report: LoadReport, dry_run: bool) -> str:
    label = " (generated data, not an official directory)" if report.generated else ""
    head = f"{report.source}{label}: {report.units:,} units as of {report.as_of}"
    if report.diff.empty:
        return f"{head}: unchanged, the directory holds this already (nothing stored)"
    counts = ", ".join(f"{n:,} {kind}" for kind, n in sorted(report.diff.counts.items()))
    verb = "would store" if dry_run else f"stored as load {report.load_id}"
    lines = [f"{head}: {verb}: {counts}; {report.diff.unchanged:,} unchanged"]
    shown = [c for c in report.diff.changes if c.before is not None][:SHOWN_CHANGES]
    lines += [f"  {c.describe()}" for c in shown]
    rest = sum(1 for c in report.diff.changes if c.before is not None) - len(shown)
    if rest > 0:
        lines.append(f"  … and {rest:,} more changes (--json lists them all)")
    if dry_run:
        lines.append("nothing stored (--dry-run)")
    return "\n".join(lines)


def cmd_units(args: argparse.Namespace, store: EventStore) -> int:
    from petitionflow.cli.main import CliError

    directory = DirectoryStore(store.engine)
    if args.units_command == "list":
        return _list(args, directory)
    if args.units_command == "show":
        return _show(args, directory)
    if bool(args.file) == bool(args.xinjiang):
        raise CliError("give a directory file, or --xinjiang for the generated one (not both)")
    path = args.file or str(XINJIANG)
    try:
        read = read_directory(path, source=args.source)
    except DirectoryFileError as exc:
        raise CliError(
            f"{exc}\nnothing was loaded; fix the file and run the command again"
        ) from None
    as_of = args.as_of or _today()
    print(f"read {len(read.units):,} units from {path}; comparing…", file=sys.stderr, flush=True)
    try:
        report = directory.load(read.units, as_of, read.source, read.generated, args.dry_run)
    except DirectoryOrderError as exc:
        raise CliError(str(exc)) from None
    except SQLAlchemyError as exc:
        if getattr(getattr(exc, "orig", None), "sqlstate", None) != "42501":  # privilege
            raise
        raise CliError(
            "loading the unit directory is the store owner's: this role may only read "
            "unit_versions; run `petition units load` with the owner in --store / "
            "PETITIONFLOW_STORE_URL (nothing was stored)"
        ) from None
    from petitionflow.cli.main import _out

    _out(args, report.as_json(), describe(report, args.dry_run))
    return 0


def _list(args: argparse.Namespace, directory: DirectoryStore) -> int:
    from rich import box
    from rich.table import Table

    from petitionflow.cli import render
    from petitionflow.cli.main import CliError, _out

    on = args.on or _today()
    last = directory.last_load()
    if last is None:
        raise CliError(
            "no unit directory is loaded: load one with `petition units load FILE` "
            "(the generated Xinjiang directory: `petition units load --xinjiang`)"
        )
    units = directory.units_on(on)
    if args.under:
        units = [u for u in units if u.place.startswith(args.under) or u.id == args.under]
    if args.level:
        units = [u for u in units if u.level.value == args.level]
    if args.kind:
        units = [u for u in units if u.kind.value == args.kind]
    counts = Counter((u.level, u.kind) for u in units)
    source = f"{last.source}{' (generated)' if last.generated else ''}, load {last.id} as of {last.as_of}"
    if args.json:
        _out(
            args,
            {
                "on": on.isoformat(),
                "source": source,
                "units": [u.model_dump(mode="json") for u in units[: args.limit]],
                "total": len(units),
            },
            "",
        )
        return 0
    table = Table(
        box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title=f"as of {on}: {source}"
    )
    table.add_column("level")
    for kind in UnitKind:
        table.add_column(kind.value, justify="right")
    table.add_column("all", justify="right")
    for level in UNIT_LEVELS:
        row = [counts.get((level, k), 0) for k in UnitKind]
        if sum(row):
            table.add_row(level.value, *(f"{n:,}" for n in row), f"{sum(row):,}")
    parts: list[Any] = [table]
    if args.under or args.level or args.kind:
        detail = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for column in ("id", "name", "kind", "level", "parent"):
            detail.add_column(column)
        for u in sorted(units, key=lambda u: u.id)[: args.limit]:
            detail.add_row(u.id, u.name, u.kind.value, u.level.value, u.parent or "")
        parts.append(detail)
        if len(units) > args.limit:
            parts.append(f"… {len(units) - args.limit:,} more (--limit)")
    render.emit(parts)
    return 0


def _show(args: argparse.Namespace, directory: DirectoryStore) -> int:
    from petitionflow.cli.main import CliError, _out

    on = args.on or _today()
    found = directory.find(args.unit, on)
    exact = [u for u in found if u.id == args.unit or u.name == args.unit]
    if exact:
        found = exact
    if not found:
        raise CliError(f"no unit with the id or a name containing {args.unit!r} as of {on}")
    if len(found) > 1:
        names = "\n".join(f"  {u.id}  {u.name}" for u in found[:20])
        raise CliError(f"{len(found)} units match {args.unit!r}; give one id:\n{names}")
    unit = found[0]
    history = directory.history(unit.id)
    parent = directory.get(unit.parent, on) if unit.parent else None
    payload = {
        "unit": unit.model_dump(mode="json"),
        "parent": parent.model_dump(mode="json") if parent else None,
        "versions": [
            {
                "version": v.version,
                "valid_from": v.valid_from.isoformat(),
                **v.unit.model_dump(mode="json"),
            }
            for v in history
        ],
    }
    lines = [
        f"{unit.id}  {unit.name}",
        f"  kind {unit.kind.value}, level {unit.level.value}, place {unit.place} ({unit.jurisdiction})",
        f"  above it: {parent.name} ({parent.id})" if parent else "  above it: none (region level)",
    ]
    if not unit.active:
        lines.append(
            f"  {unit.status.value}" + (f" into {unit.merged_into}" if unit.merged_into else "")
        )
    lines.append("  versions:")
    lines += [
        f"    v{v.version} from {v.valid_from}: {v.unit.name}, {v.unit.status.value}, parent {v.unit.parent or '-'}"
        for v in history
    ]
    _out(args, payload, "\n".join(lines))
    return 0
