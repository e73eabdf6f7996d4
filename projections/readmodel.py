"""The read models and how each event changes them.

- ``case_list``: one row per case (stage, place, unit, dates, overdue, rating, review,
  repeat petitions, skipped level).
- ``deadline_outcomes``: one row per obligation deadline that was met or missed, for
  on-time rates per stage, with the unit that owed it: the review unit
  (``review_unit``, from ``ReviewRequested``) for a review or re-review decision and for
  the delivery of its reply, else the case's unit. A miss the official holiday calendar later lifted
  (``DeadlineRecomputed`` with ``lifted_miss``) is deleted: the unit was not late.
- ``projection_checkpoints``: how far each projector has read, written in the same
  transaction as the rows, so a crash mid-batch neither skips nor double-counts.

Read models are disposable: ``--rebuild`` deletes their rows and projects the whole
store again. Their tables are created by the store's migrations (migration 4 in
``eventstore/schema.py``, 6 for the repeat and skipped-level columns, 7 for the review
unit), so a change
of shape is a new migration there, then a rebuild.

**Repeat petitions (重复信访)**: ``repeat_of`` and ``repeat_reason`` from the case's
``CaseLinked`` (relation ``repeat_of``); ``repeated_by`` counts the later petitions
linked to it.

**Skipped a level (越级)**: the petition was registered by an office above the level of
the unit it was routed to, i.e. filed above the competent level and routed down. From
what the events hold: the registering office is the registration's actor (its unit
name); its level is the deepest level of the case's place whose name is in the
office's name (喀什地区信访局 for a case in 喀什地区 > 疏附县: prefecture), or region when
the name has 自治区 or 省 and no place name; the competent level is that of the unit the
case was last routed to (transfer, assignment, or the joint conference's lead unit
before acceptance: a routing objected to and redone counts as the new one). Unknown
when the office's name names no level: not counted.

Events are applied from the stored records' JSON (no pydantic on this path: a rebuild
reads every event there is). Dates are ISO strings, which sort and compare as dates.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

case_list = Table(
    "case_list",
    metadata,
    Column("case_id", String, primary_key=True),
    Column("stage", String, nullable=False),
    Column("region", String),
    Column("prefecture", String),
    Column("county", String),
    Column("township", String),
    Column("unit", String),
    Column("classification", String),
    Column("channel", String),
    Column("received_on", String),
    Column("accepted_on", String),
    Column("replied_on", String),
    Column("closed_on", String),
    Column("closed_reason", String),
    Column("diverted_to", String),
    Column("overdue", Boolean, nullable=False, default=False),
    Column("supervised", Boolean, nullable=False, default=False),
    Column("extension_days", Integer, nullable=False, default=0),
    Column("rating", String),
    Column("decision", String),
    Column("review_level", Integer, nullable=False, default=0),
    Column("review_outcome", String),
    Column("re_review_outcome", String),
    Column("escalations", Integer, nullable=False, default=0),
    Column("deadlines", JSON, nullable=False),  # open deadlines: kind -> {"due", "missed"}
    # migration 6: repeat petitions and skipped levels
    Column("registered_by", String),
    Column("office_level", String),
    Column("routed_level", String),
    Column("skipped_level", Boolean, nullable=False, default=False),
    Column("repeat_of", String),
    Column("repeat_reason", String),
    Column("repeated_by", Integer, nullable=False, default=0),
    # migration 7: the unit the review or re-review was requested of
    Column("review_unit", String),
)

deadline_outcomes = Table(
    "deadline_outcomes",
    metadata,
    Column("case_id", String, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("kind", String, nullable=False),
    Column("due", String, nullable=False),
    Column("met", Boolean, nullable=False),
    Column("unit", String),
    Column("prefecture", String),
    Column("county", String),
    Column("decided_on", String, nullable=False),
)

checkpoints = Table(
    "projection_checkpoints",
    metadata,
    Column("name", String, primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("events", BigInteger, nullable=False),
)

OBLIGATIONS = {
    "routing",
    "notification",
    "handling",
    "supervision",
    "delivery",
    "review_decision",
    "re_review_decision",
}
STAGE_AFTER = {
    "PetitionRegistered": "registered",
    "PetitionTransferred": "routed",
    "PetitionAssigned": "routed",
    "RoutingObjected": "registered",
    "PetitionAccepted": "handling",
    "EscalatedToConference": "conference",
    "DecisionIssued": "replied",
    "CaseClosed": "closed",
}


LEVELS = ("region", "prefecture", "county", "township")


def office_level(office: str | None, place: dict[str, Any]) -> str | None:
    """The level of the registering office, from its name and the case's place (see the
    module's docstring); None when its name names none."""
    if not office:
        return None
    found = None
    for level in LEVELS:
        name = place.get(level)
        if name and name in office:
            found = level
    if found is None and ("自治区" in office or "省" in office):
        found = "region"
    return found


def unit_level(unit: dict[str, Any]) -> str:
    place = unit["jurisdiction"]
    return [lvl for lvl in LEVELS if place.get(lvl)][-1]


def skipped(office: str | None, routed: str | None) -> bool:
    return bool(office and routed and LEVELS.index(routed) > LEVELS.index(office))


def new_row(case_id: str) -> dict[str, Any]:
    return {c.name: None for c in case_list.columns} | {
        "case_id": case_id,
        "stage": "new",
        "overdue": False,
        "supervised": False,
        "extension_days": 0,
        "review_level": 0,
        "escalations": 0,
        "deadlines": {},
        "skipped_level": False,
        "repeated_by": 0,
    }


def apply(
    row: dict[str, Any],
    event_type: str,
    data: dict[str, Any],
    outcomes: list[dict[str, Any]],
    lifted: list[dict[str, Any]] | None = None,
) -> None:
    """Change ``row`` for one event; append met/missed obligation deadlines to ``outcomes``.

    A miss the official calendar lifted (``DeadlineRecomputed`` with ``lifted_miss``) no
    longer counts: its outcome is taken out of ``outcomes``, or, written by an earlier
    batch, appended to ``lifted`` (case, kind, due) for the projector to delete."""
    day = data.get("day")
    deadlines: dict[str, dict[str, Any]] = dict(row["deadlines"])
    for kind in data.get("deadlines_closed", ()):
        closed = deadlines.pop(kind, None)
        # An obligation is met when the event that fulfils it closes it unmissed; a case
        # that closes (withdrawn, diverted) ends its deadlines without meeting them.
        if closed and kind in OBLIGATIONS and not closed["missed"] and event_type != "CaseClosed":
            outcomes.append(_outcome(row, kind, closed["due"], True, day))
    for d in data.get("deadlines_opened", ()):
        deadlines[d["kind"]] = {"due": d["due"], "missed": d["missed"]}
        if d.get("provisional"):  # counted across a year with no official calendar
            deadlines[d["kind"]]["provisional"] = True
    if event_type in STAGE_AFTER:
        row["stage"] = STAGE_AFTER[event_type]
    match event_type:
        case "PetitionRegistered":
            intake = data["intake"]
            place = intake["jurisdiction"]
            row |= {
                "region": place.get("region"),
                "prefecture": place.get("prefecture"),
                "county": place.get("county"),
                "township": place.get("township"),
                "classification": intake["classification"],
                "channel": intake["channel"],
                "received_on": day,
                "registered_by": data.get("_registered_by"),
                "office_level": office_level(data.get("_registered_by"), place),
            }
        case "PetitionTransferred" | "PetitionAssigned" | "PetitionAccepted":
            row["unit"] = data["unit"]["name"]
            if event_type == "PetitionAccepted":
                row["accepted_on"] = day
            else:
                row["routed_level"] = unit_level(data["unit"])
                row["skipped_level"] = skipped(row["office_level"], row["routed_level"])
        case "PetitionDiverted":
            row["diverted_to"] = data["destination"]
        case "EscalatedToConference":
            row["escalations"] += 1
        case "ConferenceDecided":
            row["unit"] = data["lead_unit"]["name"]
            if not row["accepted_on"]:  # after acceptance it leads the handling: no routing
                row["routed_level"] = unit_level(data["lead_unit"])
                row["skipped_level"] = skipped(row["office_level"], row["routed_level"])
            row["stage"] = "handling" if row["accepted_on"] else "routed"
            row["supervised"] = row["supervised"] or data["supervise"]
        case "HandlingExtended":
            row["extension_days"] += data["days"]
        case "MediationRecorded" if data["agreed"]:
            row |= {"stage": "replied", "replied_on": day, "decision": "mediated"}
        case "DecisionIssued":
            row |= {"replied_on": day, "decision": data["outcome"]}
        case "SatisfactionRated":
            row["rating"] = data["rating"]
        case "ReviewRequested":
            row |= {
                "review_level": data["level"],
                "review_unit": data["review_unit"]["name"],
                "stage": "review" if data["level"] == 1 else "re_review",
            }
        case "ReviewDecided":
            row["review_outcome" if data["level"] == 1 else "re_review_outcome"] = data["outcome"]
        case "ReviewReplied":  # a re-review reply closes the case on delivery (or at once)
            row["stage"] = "review_replied"
        case "RoutingObjected":
            row |= {"routed_level": None, "skipped_level": False}
        case "DeadlineMissed":
            kind = data["deadline"]
            deadlines[kind] = {**deadlines[kind], "missed": True}
            row["supervised"] = row["supervised"] or data["supervised"]
            outcomes.append(_outcome(row, kind, data["due"], False, day))
        case "DeadlineRecomputed" if data.get("lifted_miss"):
            _lift(row["case_id"], data["deadline"], data["previous_due"], outcomes, lifted)
        case "WindowClosed" if data["deadline"] == "evaluation" and row["rating"] is None:
            row["rating"] = "not_evaluated"
        case "CaseLinked" if data["relation"] == "repeat_of":
            row |= {"repeat_of": data["other_case_id"], "repeat_reason": data["reason"]}
        case "CaseLinked":
            row["repeated_by"] += 1
        case "CaseClosed":
            if "evaluation" in row["deadlines"] and row["rating"] is None:
                row["rating"] = "not_evaluated"
            row |= {"closed_on": day, "closed_reason": data["reason"]}
    row["deadlines"] = deadlines
    row["overdue"] = any(d["missed"] and k in OBLIGATIONS for k, d in deadlines.items())


REVIEW_DECISIONS = {"review_decision", "re_review_decision"}


def owed_by(row: dict[str, Any], kind: str) -> str | None:
    """The unit that owes deadline ``kind``: the review unit its decision and the
    delivery of its reply (the reply of the first decision is delivered before a review
    can be requested), else the case's unit (None: the registering office)."""
    if kind in REVIEW_DECISIONS or (kind == "delivery" and row["review_level"]):
        return row["review_unit"]  # type: ignore[no-any-return]
    return row["unit"]  # type: ignore[no-any-return]


def _outcome(
    row: dict[str, Any], kind: str, due: str, met: bool, day: str | None
) -> dict[str, Any]:
    return {
        "case_id": row["case_id"],
        "kind": kind,
        "due": due,
        "met": met,
        "unit": owed_by(row, kind),
        "prefecture": row["prefecture"],
        "county": row["county"],
        "decided_on": day,
    }


def _lift(
    case_id: str,
    kind: str,
    due: str,
    outcomes: list[dict[str, Any]],
    lifted: list[dict[str, Any]] | None,
) -> None:
    key = {"case_id": case_id, "kind": kind, "due": due}
    for i in range(len(outcomes) - 1, -1, -1):
        o = outcomes[i]
        if not o["met"] and {k: o[k] for k in key} == key:
            del outcomes[i]
            return
    if lifted is not None:
        lifted.append(key)
