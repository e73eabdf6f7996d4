"""``petition conference``: look at a joint conference, record its meeting.

- ``petition conference show <place code>``: the agenda, the meeting due or the next
  one, the open items with their decisions and correction deadlines.
- ``petition conference meeting <place code> --file meeting.json``: the secretary's
  minutes (the update ``record_meeting``), e.g.::

      {"attendance": ["喀什地区信访局", "疏附县人力资源和社会保障局"],
       "decisions": [{"subject": "case", "subject_id": "KS-0001",
                      "lead_unit": {"name": "疏附县人力资源和社会保障局",
                                    "jurisdiction": {"region": "新疆维吾尔自治区",
                                                     "prefecture": "喀什地区", "county": "疏附县"}},
                      "plan": "人社局牵头", "supervise": true, "correction_days": 10}]}

  ``held_at`` and ``issued_at`` default to now, ``command_id`` to a new one, ``actor``
  to the conference's office (person ``petition-cli``).
"""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from petitionflow.domain.conference import SHANGHAI, RecordMeeting
from petitionflow.domain.intake import field_errors


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    conf = sub.add_parser(
        "conference", help="a joint conference (联席会议): show, record a meeting"
    )
    conf_sub = conf.add_subparsers(dest="conference_command", required=True)
    show = conf_sub.add_parser(
        "show", parents=[common], help="the agenda, the next meeting and the open items"
    )
    show.add_argument("place", help="the place code, e.g. 653121 (疏附县)")
    meeting = conf_sub.add_parser(
        "meeting", parents=[common], help="record a meeting's minutes and decisions"
    )
    meeting.add_argument("place", help="the place code, e.g. 653121 (疏附县)")
    meeting.add_argument(
        "--file",
        required=True,
        help='a JSON file {"attendance": [...], "decisions": [...], "held_at"?, "actor"?} '
        "(- for stdin)",
    )


async def cmd_conference(args: argparse.Namespace) -> int:
    from petitionflow.cli.main import _keys, _out, _temporal
    from petitionflow.client.conference import conference_view

    client = await _temporal(args, _keys(args))
    view = await conference_view(client, args.place)
    if args.conference_command == "show":
        payload = view.model_dump(mode="json", exclude={"state": {"commands"}})
        _out(args, payload, show_text(view))
        return 0
    return await _meeting(args, client, view)


async def _meeting(args: argparse.Namespace, client: Any, view: Any) -> int:
    from petitionflow.cli.main import CliError, _out, read_json
    from petitionflow.client.conference import record_meeting

    source = args.file if args.file.startswith("@") else "@" + args.file
    body = read_json(source, "the meeting file")
    if not isinstance(body, dict):
        raise CliError('the file must hold {"attendance": [...], "decisions": [...]}')
    now = datetime.now(UTC).isoformat()
    body.setdefault("command_id", f"cli-{uuid.uuid4()}")
    body.setdefault("actor", {"unit": view.state.office, "person": "petition-cli"})
    body.setdefault("issued_at", now)
    body.setdefault("held_at", now)
    try:
        meeting = RecordMeeting.model_validate(body)
    except ValidationError as exc:
        raise CliError("invalid meeting: " + "; ".join(field_errors(exc))) from None
    result = await record_meeting(client, args.place, meeting)
    lines = [
        f"meeting no. {result.meeting_no} of conference {args.place} recorded"
        + (" (repeat of an earlier command)" if result.duplicate else "")
        + f"; {len(result.decided)} decision(s), each sent to its subject:"
    ]
    for d in result.decided:
        due = f", correction due {d.correction_due}" if d.correction_due else ""
        lines.append(f"  {d.subject} {d.subject_id}: {d.decision_command_id}{due}")
    _out(args, result, "\n".join(lines))
    return 0


def show_text(view: Any) -> str:
    state = view.state
    due = state.meeting_due
    lines = [
        f"joint conference {state.place_code} ({state.place}), office {state.office}",
        (
            f"meeting no. {due.meeting_no} due since "
            f"{due.scheduled_for.astimezone(SHANGHAI):%Y-%m-%d %H:%M}: record it with "
            f"`petition conference meeting {state.place_code} --file meeting.json`"
            if due is not None and due.scheduled_for is not None
            else "next meeting: "
            + (
                f"{view.next_meeting_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M} (Beijing)"
                if view.next_meeting_at
                else "not scheduled"
            )
        ),
        f"{len(state.items)} open item(s), {len(state.overdue_items)} overdue, "
        f"{state.meetings_held} meeting(s) held, {state.closed_items} item(s) closed",
    ]
    for item in state.open_items:
        d = item.decision
        text = f"  {item.key:<28} {item.status:<10} since {item.added_on}  {item.reason}"
        if d is not None:
            text += f"  meeting {d.meeting_no}, lead {d.lead_unit.name}"
            if d.correction_due:
                text += f", correction due {d.correction_due}"
        if item.overdue:
            text += "  OVERDUE (督办)"
        if item.last_refusal:
            text += f"  last decision refused: {item.last_refusal}"
        lines.append(text)
    return "\n".join(lines)
