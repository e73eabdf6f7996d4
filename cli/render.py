"""What ``petition show``, ``history`` and ``list`` print for a person.

Personal data (the petitioner's and representatives' names, ID numbers, phones and
addresses) is masked unless the caller asks for it (``--reveal``); so is an
accusation's material (检举控告, Art 30). The masking keeps enough to recognise a case
on the phone (the first character of a name, the last four digits of a number).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from petitionflow.domain import events as ev
from petitionflow.domain.events import Event
from petitionflow.domain.policy import Deadline
from petitionflow.domain.state import CaseState
from petitionflow.domain.units import UnitResolution
from petitionflow.domain.values import Classification
from petitionflow.security.masking import (
    mask_name,
    mask_person,
)

BEIJING = timezone(timedelta(hours=8))  # the policies' default; days are Beijing days
WITHHELD = "(accusation: material withheld; --reveal to show)"


def console() -> Console:
    """stdout: a terminal gets its width and colours; a pipe or file plain text."""
    if sys.stdout.isatty():
        return Console(highlight=False)
    width = int(os.environ.get("COLUMNS") or 160)
    return Console(file=io.StringIO(), width=width, highlight=False, no_color=True, soft_wrap=False)


def emit(parts: Iterable[Any]) -> None:
    """Print renderables; to a pipe or file without the padding at the ends of lines."""
    out = console()
    for part in parts:
        out.print(part)
    if isinstance(out.file, io.StringIO):
        text = out.file.getvalue()
        sys.stdout.write("".join(line.rstrip() + "\n" for line in text.splitlines()))


# ---- small helpers -----------------------------------------------------------------


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def short(text: str | None, width: int = 48) -> str:
    if not text:
        return ""
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def local_day(instant: datetime | None) -> str:
    return instant.astimezone(BEIJING).date().isoformat() if instant else "—"


def due_day(due_at: datetime | None) -> str:
    """The last day of a deadline that expires at ``due_at`` (the end of that day)."""
    if due_at is None:
        return "—"
    return (due_at.astimezone(BEIJING) - timedelta(microseconds=1)).date().isoformat()


def deadline_status(d: Deadline, now: datetime) -> tuple[str, bool]:
    """A deadline's status for people and whether the case is late on it."""
    if d.missed:
        return ("MISSED: overdue", True) if d.kind.is_obligation else ("passed", False)
    if d.due_at <= now:
        if d.kind.is_obligation:
            return "OVERDUE (the reminder is pending)", True
        return "passed (closing)", False
    days = (d.due - now.astimezone(BEIJING).date()).days
    return (("due today" if days == 0 else f"{plural(days, 'day')} left"), False)


# ---- show --------------------------------------------------------------------------


def _in_directory(name: str, units: UnitResolution | None) -> str:
    """What the unit directory says of a unit the case names: its id, kind and level,
    and its name today if it was renamed or merged since."""
    if units is None or not units.loaded:
        return name
    found = units.get(name)
    if found is None or found.unit is None:
        return f"{name} (not in the unit directory)"
    u = found.unit
    text = f"{name} ({u.id}, {u.kind.value}, {u.level.value}"
    if not u.active:
        text += f"; {u.status.value}" + (f" into {found.successor.name}" if found.successor else "")
    elif u.name != name:
        text += f"; now {u.name}"
    return text + ")"


def show(
    case_id: str,
    state: CaseState,
    *,
    reveal: bool,
    now: datetime | None = None,
    units: UnitResolution | None = None,
) -> list[Any]:
    """The renderables of ``petition show``; ``units``, the unit directory's answer for
    the units the case names, adds what the directory says of them."""
    now = now or datetime.now(UTC)
    intake = state.intake
    head = Text(f"{case_id}", style="bold")
    head.append(f" · {state.stage.value}")
    if state.closed_reason:
        head.append(f" ({state.closed_reason})")
    if state.overdue:
        head.append(" · OVERDUE", style="bold red")
    if state.supervised:
        head.append(" · supervised (督办)", style="yellow")
    if state.final:
        head.append(" · final (不再受理)")

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column()
    accusation = intake is not None and intake.classification is Classification.ACCUSATION
    if intake is not None:
        subject = intake.request if (reveal or not accusation) else WITHHELD
        grid.add_row("subject", short(subject, 120))
        grid.add_row(
            "type",
            f"{intake.classification.value} via {intake.channel.value}"
            + (
                f", group visit ({plural(len(intake.representatives), 'representative')})"
                if intake.is_group
                else ""
            ),
        )
        grid.add_row("place", str(intake.jurisdiction))
        grid.add_row("petitioner", _person(intake.petitioner.model_dump(), reveal))
        for rep in intake.representatives:
            grid.add_row("representative", _person(rep.model_dump(), reveal))
    unit = state.handling_unit
    if unit is not None:
        how = "assigned (交办)" if state.assigned else "transferred (转送)"
        if state.assigned_days:
            how += f", {plural(state.assigned_days, 'day')}"
        how += " · receipt acknowledged" if state.acknowledged else " · receipt not acknowledged"
        grid.add_row("handling unit", f"{_in_directory(unit.name, units)} · {how}")
    else:
        grid.add_row("handling unit", f"— (with {state.registered_by or 'the petition office'})")
    dates = [
        ("received", local_day(intake.received_at) if intake else None),
        ("registered", state.registered_on),
        ("accepted", state.accepted_on),
        ("replied", state.replied_on),
        *(
            (f"{doc.value.replace('_', ' ')} delivered", day)
            for doc, day in state.delivered.items()
        ),
        ("review replied", state.review_replied_on),
        ("closed", state.closed_on),
    ]
    grid.add_row("dates", " · ".join(f"{k} {v}" for k, v in dates if v))
    if state.decision:
        grid.add_row(
            "decision",
            state.decision.value
            + ("; implementation pending" if state.implementation_pending else ""),
        )
    if state.mediation:
        grid.add_row("mediation", state.mediation.replace("_", " "))
    if state.extension_days_used:
        grid.add_row("extension", plural(state.extension_days_used, "day"))
    if state.delivery_pending:
        grid.add_row(
            "delivery",
            f"{state.delivery_pending.value.replace('_', ' ')} not delivered yet: the "
            "petitioner's windows start when record_delivery is recorded",
        )
    grid.add_row("rating", state.rating.value if state.rating else "— (not rated yet)")
    if state.review_level:
        level = "review (复查)" if state.review_level == 1 else "re-review (复核)"
        grid.add_row(
            "review",
            f"{level} by "
            f"{_in_directory(state.review_unit.name, units) if state.review_unit else '—'}"
            + ("; decided" if state.review_decided else ""),
        )
    if state.diverted_to:
        grid.add_row("diverted to", state.diverted_to)
    for other in state.linked_cases:
        grid.add_row(
            "repeat of" if other == state.repeat_of else "repeated by",
            f"{other} (重复信访)",
        )
    for other, candidate in state.repeat_suggestions.items():
        grid.add_row(
            "possible repeat of",
            f"{other} ({candidate.status.value}, score {candidate.score:.2f}): "
            "confirm_repeat or dismiss_repeat",
        )
    grid.add_row("events", f"{state.version}, last {state.last_event_type}")

    parts: list[Any] = [head, grid]
    deadlines = sorted(state.deadlines.values(), key=lambda d: d.due_at)
    if deadlines:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        table.add_column("open deadline")
        table.add_column("due")
        table.add_column("counting")
        table.add_column("status")
        for d in deadlines:
            status, late = deadline_status(d, now)
            table.add_row(
                d.kind.value,
                d.due.isoformat() + (" (provisional)" if d.provisional else ""),
                d.counting + (f" · calendar {d.calendar}" if d.calendar else ""),
                Text(status, "bold red" if late else ""),
            )
        parts += [Text(""), table]
        if state.provisional:
            years = sorted({d.due.year for d in state.provisional})
            parts.append(
                Text(
                    "provisional: counted Monday to Friday, as "
                    f"{', '.join(map(str, years))} has no official holiday arrangement loaded "
                    "yet; `petition calendar load` the State Council notice and the case "
                    "recomputes these dates",
                    style="yellow",
                )
            )
    else:
        parts.append(Text("no open deadlines", style="dim"))
    return parts


def _person(p: dict[str, Any], reveal: bool) -> str:
    shown = p if reveal else mask_person(p)
    bits = [shown["name"], shown["phone"]]
    if shown.get("id_number"):
        bits.append(f"ID {shown['id_number']}")
    if shown.get("address"):
        bits.append(shown["address"])
    return " · ".join(bits)


# ---- history -----------------------------------------------------------------------


def summary(event: Event, *, reveal: bool) -> str:
    """One line on what an event says."""
    match event:
        case ev.PetitionRegistered(intake=i):
            accusation = i.classification is Classification.ACCUSATION
            subject = i.request if (reveal or not accusation) else "(material withheld)"
            name = i.petitioner.name if reveal else mask_name(i.petitioner.name)
            return f"{i.classification.value} via {i.channel.value} from {name}: {short(subject)}"
        case ev.PetitionTransferred(unit=u):
            return f"transferred to {u.name}"
        case ev.PetitionAssigned(unit=u, due_days=days):
            return f"assigned to {u.name}, {plural(days, 'day')} to report"
        case ev.PetitionDiverted(destination=dest, note=note):
            return f"diverted to {dest.value}" + (f": {short(note)}" if note else "")
        case ev.PetitionNotAccepted(reason=reason, detail=detail):
            return f"not accepted ({reason.value}): {short(detail)}"
        case ev.ReceiptAcknowledged():
            return "receipt acknowledged to the petitioner"
        case ev.RoutingObjected(unit=u, reason=reason):
            return f"{u.name} objects to the routing: {short(reason)}"
        case ev.PetitionAccepted(unit=u):
            return f"accepted by {u.name}"
        case ev.MediationStarted(mediator=m, settlement=s):
            return f"{'settlement' if s else 'mediation'} started by {m}"
        case ev.MediationRecorded(agreed=agreed, agreement=text):
            return f"agreed: {short(text)}" if agreed else "mediation failed"
        case ev.HearingRecorded(held_from=a, held_to=b, summary=text):
            return f"hearing {a}" + (f" to {b}" if b != a else "") + f": {short(text)}"
        case ev.HandlingExtended(days=days, reason=reason, approved_by=who):
            return f"extended by {plural(days, 'day')}, approved by {who}: {short(reason)}"
        case ev.EscalatedToConference(reason=reason, note=note):
            return f"to the joint conference ({reason.value})" + (
                f": {short(note)}" if note else ""
            )
        case ev.ConferenceDecided(lead_unit=u, plan=plan, supervise=sup):
            return f"lead unit {u.name}" + (", supervised" if sup else "") + f": {short(plan)}"
        case ev.DecisionIssued(outcome=o, decision=text):
            return f"decision, {o.value}: {short(text)}"
        case ev.ImplementationReported(report=text):
            return f"implemented: {short(text)}"
        case ev.DeliveryRecorded(document=doc, delivered_on=day, method=via):
            return f"{doc.value.replace('_', ' ')} delivered {day} ({via.value})"
        case ev.SatisfactionRated(rating=r):
            return f"rated {r.value}"
        case ev.ReviewRequested(level=lvl, review_unit=u, reasons=reasons):
            return f"{_level(lvl)} requested at {u.name}: {short(reasons)}"
        case ev.ReviewDecided(level=lvl, outcome=o, decision=text):
            return f"{_level(lvl)} decided, {o.value}: {short(text)}"
        case ev.ReviewReplied(level=lvl):
            return f"{_level(lvl)} reply given"
        case ev.PetitionWithdrawn(reason=reason):
            return "withdrawn" + (f": {short(reason)}" if reason else "")
        case ev.DeadlineMissed(deadline=k, due=due, supervised=sup):
            return f"{k.value} deadline {due} missed: reminder sent" + (
                ", supervised" if sup else ""
            )
        case ev.WindowClosed(deadline=k, due=due):
            return f"{k.value} window closed ({due})"
        case ev.DeadlineRecomputed(deadline=k, previous_due=old, due=due, calendar=cal):
            official = event.official_due
            return (
                f"{k.value} deadline recomputed with calendar {cal or '—'}: {old} → {due}"
                + (f" (official {official}; the later date kept)" if event.kept_later else "")
                + (", the miss lifted" if event.lifted_miss else "")
                + (", still provisional" if event.provisional else "")
            )
        case ev.CaseClosed(reason=reason):
            return f"case closed: {reason}"
        case ev.CommandRejected(command_kind=kind, code=code):
            return f"{kind} refused: {code}"
        case ev.RepeatSuggested(candidates=found):
            return "possible repeat of " + ", ".join(
                f"{k.case_id} ({k.status.value}, {k.score:.2f})" for k in found
            )
        case ev.RepeatConfirmed(other_case_id=other):
            return f"repeat of {other} confirmed"
        case ev.RepeatDismissed(other_case_id=other):
            return f"not a repeat of {other}"
        case ev.CaseLinked(other_case_id=other, relation=relation, reason=reason):
            how = "repeat of" if relation == "repeat_of" else "repeated by"
            return f"linked: {how} {other} ({reason.value})"
    return event.type


def _level(level: int) -> str:
    return "review" if level == 1 else "re-review"


def history(
    case_id: str, events: Sequence[Event], recorded: Sequence[datetime], *, reveal: bool
) -> list[Any]:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("day")
    table.add_column("event")
    table.add_column("actor")
    table.add_column("what", overflow="fold")
    for n, (event, _at) in enumerate(zip(events, recorded, strict=True), 1):
        due = [f"{d.kind.value} due {d.due}" for d in event.deadlines_opened]
        what = summary(event, reveal=reveal) + (f" [{', '.join(due)}]" if due else "")
        table.add_row(
            str(n),
            event.day.isoformat(),
            event.type,
            f"{event.actor.unit} / {event.actor.person}",
            what,
        )
    return [Text(f"{case_id}: {plural(len(events), 'event')}", style="bold"), table]


# ---- list --------------------------------------------------------------------------


def sort_rows(rows: Iterable[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """``case``: by case id. ``deadline``: overdue first, then the nearest next deadline
    (cases without one last), then case id. Either way the order does not change
    between two calls on the same cases."""
    far = datetime.max.replace(tzinfo=UTC)
    if by == "case":
        return sorted(rows, key=lambda r: r["case_id"])
    return sorted(
        rows,
        key=lambda r: (not r["overdue"], r["next_deadline"] or far, r["case_id"]),
    )


def case_list(rows: Sequence[dict[str, Any]], limit: int) -> list[Any]:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in ("case", "status", "stage", "handling unit", "next deadline", "overdue"):
        table.add_column(name, no_wrap=name != "handling unit")
    for r in rows:
        status = (r["status"] or "").lower().replace("_", " ")
        table.add_row(
            r["case_id"],
            status,
            r["stage"] or "",
            r["handling_unit"] or "—",
            due_day(r["next_deadline"]),
            Text("OVERDUE", "bold red") if r["overdue"] else "",
        )
    more = f" (the first {limit}; --limit for more)" if len(rows) >= limit else ""
    return [table, Text(plural(len(rows), "case") + more, style="dim")]
