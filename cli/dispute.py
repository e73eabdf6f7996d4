"""``petition dispute report-new FILE``, ``petition dispute show ID`` and ``petition
disputes report [--by county|township|village] [--county CODE]``: village disputes
(矛盾纠纷排查化解) from the command line.

``report-new`` starts a ``DisputeWorkflow`` from a JSON file with the report's fields
(``dispute_id``, ``place``, ``parties``, ``category``, ``urgency``, ``summary``, and
optionally ``actor``, ``command_id``, ``issued_at``). ``show`` masks the parties unless
``--reveal``. ``report`` catches the read models up first, as ``petition report`` does.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from rich import box
from rich.table import Table

from petitionflow.domain import dispute as d
from petitionflow.domain.intake import field_errors
from petitionflow.eventstore import EventStore
from petitionflow.security.masking import mask_name, mask_number

DEFAULT_OFFICER = {"unit": "村民委员会", "person": "petition-cli"}


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    one = sub.add_parser("dispute", help="village disputes (矛盾纠纷排查化解): report, show")
    one_sub = one.add_subparsers(dest="dispute_command", required=True)
    new = one_sub.add_parser("report-new", parents=[common], help="report a dispute (JSON file)")
    new.add_argument("--file", required=True, help="the report's JSON file (- for stdin)")
    show = one_sub.add_parser("show", parents=[common], help="a dispute's state")
    show.add_argument("dispute")
    show.add_argument("--reveal", action="store_true", help="show the parties unmasked")
    many = sub.add_parser("disputes", help="village disputes' statistics")
    many_sub = many.add_subparsers(dest="disputes_command", required=True)
    rp = many_sub.add_parser("report", parents=[common], help="found, resolved, converted...")
    rp.add_argument("--by", choices=["county", "township", "village"], default="township")
    rp.add_argument("--county", help="only this county's code (6 digits), e.g. 653121")


def _masked(state: d.DisputeState, reveal: bool) -> dict[str, Any]:
    data = state.model_dump(mode="json", exclude={"commands"})
    if not reveal:
        data["parties"] = [
            {"name": mask_name(p.name), "phone": mask_number(p.phone)} for p in state.parties
        ]
        data["summary"] = "(masked)"
    return data


async def cmd_dispute(args: argparse.Namespace, store: EventStore | None, clients: Any) -> int:
    from petitionflow.cli.main import CliError, _out, read_json
    from petitionflow.client.dispute import DisputeClient

    temporal, settings = clients
    disputes = DisputeClient(temporal, task_queue=settings.task_queue, store=store)
    if args.dispute_command == "report-new":
        source = args.file if args.file.startswith("@") else "@" + args.file
        body = read_json(source, "the dispute file")
        if not isinstance(body, dict):
            raise CliError("the file must hold one JSON object with the report's fields")
        body.setdefault("actor", DEFAULT_OFFICER)
        body.setdefault("issued_at", datetime.now(UTC).isoformat())
        body.setdefault("command_id", f"report-{body.get('dispute_id')}")
        try:
            report = d.ReportDispute.model_validate(body)
        except ValidationError as exc:
            raise CliError("invalid dispute: " + "; ".join(field_errors(exc))) from None
        handle = await disputes.report(report)
        _out(
            args,
            {"dispute_id": report.dispute_id, "workflow_id": handle.id},
            f"reported {report.dispute_id} (workflow {handle.id})",
        )
        return 0
    state = await disputes.state(args.dispute)
    data = _masked(state, args.reveal)
    if args.json:
        _out(args, data, "")
        return 0
    lines = [
        f"dispute {args.dispute}: {state.status.value}"
        + (f" ({state.outcome.value})" if state.outcome else "")
        + (" · overdue" if state.overdue else ""),
        f"place: {state.place.jurisdiction} > {state.place.village} ({state.place.village_code})"
        if state.place
        else "place: —",
        f"kind: {state.category.value if state.category else '—'}, "
        f"urgency: {state.urgency.value if state.urgency else '—'}",
        "parties: " + ", ".join(f"{p['name']} {p['phone']}" for p in data["parties"]),
        f"mediator: {state.mediator or '—'}"
        + (
            f" ({state.mediation_level.value}), limit {state.due}"
            if state.due and state.mediation_level
            else ""
        ),
    ]
    if state.case_id:
        lines.append(f"petition case: {state.case_id}")
    if state.conference_id:
        lines.append(f"joint conference: {state.conference_id}")
    print("\n".join(lines))
    return 0


def cmd_disputes_report(args: argparse.Namespace, store: EventStore) -> int:
    from petitionflow.cli import render
    from petitionflow.cli.main import _out
    from petitionflow.projections.disputes import FIGURES, dispute_statistics
    from petitionflow.projections.projector import Projector

    caught_up = Projector(store).run_once()
    if caught_up:
        print(f"read models caught up: {caught_up:,} new events projected", file=sys.stderr)
    rows = dispute_statistics(store, args.by, args.county)
    if args.json:
        _out(args, rows, "")
        return 0
    table = Table(
        box=box.SIMPLE_HEAD,
        title=f"village disputes by {args.by}" + (f", county {args.county}" if args.county else ""),
        title_justify="left",
    )
    table.add_column(args.by)
    table.add_column("code")
    for figure in FIGURES:
        table.add_column(figure, justify="right")
    for row in rows:
        table.add_row(row["place"], row["code"], *(str(row[f]) for f in FIGURES))
    if rows:
        table.add_row("total", "", *(str(sum(r[f] for r in rows)) for f in FIGURES))
    render.emit([table])
    return 0
