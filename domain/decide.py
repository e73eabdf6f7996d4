"""``decide(state, command, now, policy)``: where every command is validated.

It returns :class:`Accepted` with the new events, or a :class:`Rejection` with a
stable code and a message for people. It never raises for a bad command, and it is
pure: event ids are derived from the case id, the command id and the event's index,
so deciding the same command twice gives byte-identical events, and a retried append
of them is an idempotent no-op in the event store.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from . import commands as c
from . import events as ev
from .events import Event
from .intake import field_errors
from .policy import Deadline, DeadlineKind, DeadlinePolicy
from .rules import CURRENT, Rules
from .state import CaseState, Stage, evolve
from .units import DirectoryUnit, UnitResolution, conference_id
from .values import (
    PETITIONER_UNIT,
    Actor,
    Candidate,
    CandidateStatus,
    Certainty,
    DeliveredDocument,
    Frozen,
    NotAcceptedReason,
    Rating,
    Unit,
)

EVENT_ID_NAMESPACE = uuid.UUID("5b0c7a52-3d2c-4bb6-9a53-6f1d5c0e9a11")


class Rejection(Frozen):
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class Accepted(Frozen):
    events: tuple[Event, ...]
    duplicate: bool = False  # the command_id was seen before; these are the first events


Decision = Accepted | Rejection

# Codes are part of the public contract (README); messages may be reworded.
CODES: dict[str, str] = {
    "case_not_registered": "the case does not exist yet; register_petition first",
    "case_already_registered": "register_petition was already done for this case",
    "case_closed": "the case is closed; nothing more can be recorded",
    "final_no_further_review": "the matter is final after re-review (不再受理)",
    "wrong_stage": "the command is not allowed in the case's current stage",
    "timestamp_in_future": "the command's issued_at is ahead of the engine's clock",
    "received_in_future": "the intake's received_at is ahead of the engine's clock",
    "unit_outside_jurisdiction": "the unit's jurisdiction does not cover the case's place",
    # the unit directory (domain/units.py), once one is loaded
    "unknown_unit": "the unit directory has no unit of that name; find it with "
    "`petition units show`",
    "unit_renamed": "the unit was renamed in the unit directory; name it as it is now",
    "unit_dissolved": "the unit was dissolved or merged in the unit directory; name the unit "
    "that took over its work",
    "unit_place_mismatch": "the unit directory places the unit elsewhere; give its "
    "jurisdiction as the directory has it",
    "not_the_receiving_unit": "only the unit the case was routed to may do this",
    "already_acknowledged": "receipt was already acknowledged",
    "objection_window_closed": "the objection period (working days) has passed",
    "mediation_requires_consent": "mediation needs the consent of both parties (Art 33)",
    "mediation_in_progress": "a mediation is in progress; record its result first",
    "no_mediation_in_progress": "there is no mediation in progress to record",
    "hearing_in_future": "a hearing can be recorded only after it was held",
    "extension_already_used": "the handling period can be extended only once (Art 34)",
    "extension_too_long": "the extension is longer than the policy allows (Art 34)",
    "handling_deadline_passed": "an extension must be approved before the period ends",
    "already_at_conference": "the case is already before the joint conference",
    "escalation_reason_not_met": "the stated escalation reason does not hold for this case",
    "no_implementation_pending": "there is no supported decision waiting for implementation",
    "not_awaiting_rating": "there is no written reply waiting for a rating",
    "already_rated": "the petitioner has already rated this reply",
    "evaluation_window_closed": "the satisfaction evaluation window has passed",
    "review_window_closed": "the review request window has passed (Art 35)",
    "re_review_window_closed": "the re-review request window has passed (Art 36)",
    "no_review_after_agreement": "a mediation or settlement agreement is not reviewed",
    "review_unit_wrong_level": "the request goes to the unit one level above (Arts 35, 36)",
    "no_higher_level": "there is no level above the deciding unit",
    "review_already_decided": "the review was already decided",
    "review_not_decided": "the review must be decided before it is replied",
    "no_open_deadline": "no such deadline is open",
    "deadline_already_missed": "the deadline was already recorded as missed",
    "deadline_not_due": "the deadline has not expired yet",
    "no_such_suggestion": "no repeat suggestion names that case; see repeat_suggestions",
    "invalid_command": "the payload is not a valid command; see the field errors",
    "invalid_start": "the workflow's start input is not a valid petition registration",
    "unknown_command": "there is no command of that name",
    # who may issue a command (rules.actor_checks)
    "not_the_registering_office": "only the office that registered the case routes it and "
    "rules on its repeat suggestions (Arts 19, 22, 23)",
    "not_the_handling_unit": "only the handling unit, or the lead unit the joint conference "
    "named, may do this (Arts 32 to 34)",
    "not_the_review_unit": "only the unit the review or re-review was requested from may do "
    "this (Arts 35, 36)",
    "not_the_conference_office": "the joint conference's decision is recorded by the office "
    "that registered the case, where its secretariat sits (Arts 11 to 13)",
    "not_allowed_to_escalate": "only the handling unit or the registering office escalates "
    "a case to the joint conference (Art 24)",
    "petitioner_only": "only the petitioner, through an authenticated channel (actor unit "
    f"'{PETITIONER_UNIT}'), rates, requests review or re-review and withdraws (Arts 21, 35, 36)",
    # delivery (rules.delivery)
    "reply_not_delivered": "the written reply is not recorded as delivered yet: the unit that "
    "issued it records record_delivery, and the petitioner's windows count from that day "
    "(Arts 35, 36)",
    "no_delivery_pending": "that document is not waiting to be delivered",
    "engine_only": "only the engine sends this command (its own timers, screening, links "
    "and calendar loads)",
    "delivery_date_invalid": "delivered_on must lie between the day the document was issued "
    "and today",
    "concluded_by_satisfied_rating": "the petitioner rated the reply satisfied, which "
    "concluded the case (办结); review (Art 35) is for a petitioner who disagrees with the "
    "reply; a new disagreement is a new petition",
}


def _reject(code: str, detail: str | None = None) -> Rejection:
    return Rejection(code=code, message=f"{CODES[code]} ({detail})" if detail else CODES[code])


class _Ctx:
    """One decision in progress: emitted events are folded as they are made."""

    def __init__(
        self,
        state: CaseState,
        cmd: c.CommandBase,
        now: datetime,
        policy: DeadlinePolicy,
        rules: Rules = CURRENT,
        units: UnitResolution | None = None,
    ) -> None:
        self.state = state
        self.rules = rules
        self.units = units
        self.cmd = cmd
        self.now = now
        self.policy = policy
        self.today = policy.local_date(now)
        self.events: list[Event] = []
        case_id = cmd.case_id if isinstance(cmd, c.RegisterPetition) else state.case_id
        assert case_id is not None  # decide() checked the case exists
        self.case_id: str = case_id

    def emit(
        self,
        cls: type[ev.EventBase],
        opened: tuple[Deadline, ...] = (),
        closed: tuple[DeadlineKind, ...] = (),
        **fields: Any,
    ) -> None:
        event = cls(
            event_id=event_id(self.case_id, self.cmd.command_id, len(self.events)),
            case_id=self.case_id,
            occurred_at=self.now,
            day=self.today,
            actor=self.cmd.actor,
            causation_id=self.cmd.command_id,
            correlation_id=self.state.correlation_id
            or self.cmd.correlation_id
            or self.cmd.command_id,
            deadlines_opened=opened,
            deadlines_closed=tuple(k for k in closed if k in self.state.deadlines),
            **fields,
        )
        self.events.append(event)  # type: ignore[arg-type]
        self.state = evolve(self.state, event)  # type: ignore[arg-type]

    def days(self, kind: DeadlineKind, days: int) -> Deadline:
        return self.policy.calendar_deadline(kind, self.today, days)

    def close_case(self, reason: str) -> None:
        self.emit(ev.CaseClosed, closed=tuple(self.state.deadlines), reason=reason)

    def stage(self, *allowed: Stage) -> Rejection | None:
        if self.state.stage in allowed:
            return None
        return _reject(
            "wrong_stage",
            f"{self.cmd.kind} is allowed when the case is "  # type: ignore[attr-defined]
            f"{' or '.join(s.value for s in allowed)}; it is {self.state.stage.value}",
        )

    def window(self, kind: DeadlineKind, code: str, since: str) -> Rejection | None:
        """Reject when the window is not open or has run out (its timer may not have fired)."""
        d = self.state.deadlines.get(kind)
        if d is not None and self.now < d.due_at:
            return None
        detail = f"{since}; the window ended {d.due.isoformat()}" if d else since
        return _reject(code, detail)


# Commands only the engine sends: registration starts the case, deadline expiry comes
# from the case's own timers, recomputation from the case when it is told a calendar
# year was loaded, screening from the registration, a link from the case that repeats
# this one.
# The actor unit of the commands the engine sends itself.
ENGINE_UNIT = "petitionflow"
INTERNAL_COMMANDS = (
    "register_petition",
    "expire_deadline",
    "recompute_deadlines",
    "screen_repeats",
    "record_link",
)
# Commands callers may send to a running case.
EXTERNAL_COMMANDS: dict[str, type[c.CommandBase]] = {
    kind: cls for kind, cls in c.COMMAND_TYPES.items() if kind not in INTERNAL_COMMANDS
}


def parse(
    kind: str, payload: Any, allowed: dict[str, type[c.CommandBase]] = EXTERNAL_COMMANDS
) -> c.CommandBase | Rejection:
    """Validate a raw payload (e.g. JSON from a Temporal update or signal) as ``kind``,
    one of ``allowed`` (the external commands unless the engine sends it)."""
    cls = allowed.get(kind)
    if cls is None:
        return _reject("unknown_command", f"{kind!r}; known: {', '.join(sorted(allowed))}")
    if isinstance(payload, Rejection):  # the payload could not even be decoded
        return payload
    if isinstance(payload, c.CommandBase):
        payload = payload.model_dump(mode="json")
    if not isinstance(payload, dict):
        return _reject("invalid_command", f"expected a JSON object, got {type(payload).__name__}")
    payload = {"kind": kind, **payload}
    try:
        return cls.model_validate(payload)
    except ValidationError as exc:
        return _reject("invalid_command", "; ".join(field_errors(exc)))


def issued_in_future(issued_at: datetime, now: datetime, max_skew: timedelta) -> Rejection | None:
    """``timestamp_in_future`` when a command was issued more than ``max_skew`` ahead of
    the engine's clock: the check every stream's ``decide`` (a case's, a dispute's, a
    conference's) makes first, after a repeated command_id."""
    if issued_at <= now + max_skew:
        return None
    return _reject(
        "timestamp_in_future", f"issued_at {issued_at.isoformat()}, engine time {now.isoformat()}"
    )


def event_id(case_id: str, command_id: str, index: int) -> uuid.UUID:
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"{case_id}/{command_id}/{index}")


def decide(
    state: CaseState,
    command: c.CommandBase,
    now: datetime,
    policy: DeadlinePolicy,
    rules: Rules = CURRENT,
    units: UnitResolution | None = None,
) -> Decision:
    """What ``command`` does to the case: its events, or why not.

    ``units`` is the unit directory's answer for the units the command names
    (``units_named``), as the workflow's local activity returned it; without it, or
    while no directory is loaded, units are checked by their jurisdiction alone."""
    prior = state.commands.get(command.command_id)
    if prior is not None:
        return Accepted(events=prior, duplicate=True)
    skew = timedelta(seconds=policy.max_clock_skew_seconds)
    if (early := issued_in_future(command.issued_at, now, skew)) is not None:
        return early
    kind: str = command.kind  # type: ignore[attr-defined]
    if state.stage is Stage.NEW and kind != "register_petition":
        return _reject("case_not_registered")
    if state.stage is Stage.CLOSED and kind not in ("report_implementation", "record_link"):
        if state.final and kind in ("request_review", "request_re_review"):
            return _reject("final_no_further_review", f"final since {state.closed_on}")
        if (
            rules.delivery
            and kind == "request_review"
            and state.review_level == 0
            and state.closed_reason == "resolved"
            and state.rating in (Rating.SATISFIED, Rating.BASICALLY_SATISFIED)
            and policy.close_on_satisfied_rating
        ):
            return _reject(
                "concluded_by_satisfied_rating",
                f"rated {state.rating.value}, concluded {state.closed_on}",
            )
        received = state.delivered
        if kind == "request_review" and state.review_level == 0 and state.decision is not None:
            day = received.get(DeliveredDocument.REPLY, state.replied_on)
            return _reject("review_window_closed", f"reply received {day}")
        if kind == "request_re_review" and state.review_level == 1 and state.review_replied_on:
            day = received.get(DeliveredDocument.REVIEW_REPLY, state.review_replied_on)
            return _reject("re_review_window_closed", f"review reply received {day}")
        if kind != "register_petition":
            return _reject("case_closed", f"closed {state.closed_on}: {state.closed_reason}")
    ctx = _Ctx(state, command, now, policy, rules, units)
    rejection = (_who(ctx, kind) if rules.actor_checks else None) or _HANDLERS[kind](ctx, command)
    if rejection is not None:
        return rejection
    return Accepted(events=tuple(ctx.events))


def rejected_event(
    state: CaseState,
    command: c.CommandBase,
    rejection: Rejection,
    now: datetime,
    policy: DeadlinePolicy,
) -> ev.CommandRejected:
    """The event that records a rejected fire-and-forget command (a Temporal signal).

    Only meaningful once the case exists: before registration there is no stream.
    """
    case_id = state.case_id
    if case_id is None:
        raise ValueError("a rejection is recorded on a registered case only")
    return ev.CommandRejected(
        event_id=event_id(case_id, command.command_id, 0),
        case_id=case_id,
        occurred_at=now,
        day=policy.local_date(now),
        actor=command.actor,
        causation_id=command.command_id,
        correlation_id=state.correlation_id or command.correlation_id or command.command_id,
        command_kind=command.kind,  # type: ignore[attr-defined]
        code=rejection.code,
        message=rejection.message,
    )


INVALID_ACTOR = Actor(unit="(invalid command)", person="(unknown)")


def invalid_command_event(
    state: CaseState,
    kind: str,
    command_id: str,
    rejection: Rejection,
    now: datetime,
    policy: DeadlinePolicy,
    new_event_id: uuid.UUID,
) -> ev.CommandRejected:
    """The event that records a signal that is no valid command at all: an unknown
    name (``unknown_command``) or a payload that is not one (``invalid_command``).

    Its actor is unknown (the payload did not say, or said it wrongly), so the caller
    supplies the event id: there is no trustworthy command id to derive one from.
    """
    if state.case_id is None:
        raise ValueError("a rejection is recorded on a registered case only")
    return ev.CommandRejected(
        event_id=new_event_id,
        case_id=state.case_id,
        occurred_at=now,
        day=policy.local_date(now),
        actor=INVALID_ACTOR,
        causation_id=command_id,
        correlation_id=state.correlation_id or command_id,
        command_kind=kind[:100],
        code=rejection.code,
        message=rejection.message[:2000],
    )


# ---- who may issue a command (rules.actor_checks) -----------------------------------
#
# The actor's unit is compared with the unit the case names for the role. When the case
# names no unit for it yet, the handler's stage check answers (``wrong_stage``). The
# receiving unit's commands (acknowledge, accept, object) were always checked in their
# handlers. The README's table "Who may issue each command" is this table.

PETITIONER_COMMANDS = frozenset(
    {"record_rating", "request_review", "request_re_review", "withdraw_petition"}
)
_ROUTING_COMMANDS = frozenset(
    {
        "transfer_petition",
        "assign_petition",
        "divert_petition",
        "not_accept_petition",
        "confirm_repeat",
        "dismiss_repeat",
    }
)
_HANDLING_COMMANDS = frozenset(
    {
        "start_mediation",
        "record_mediation",
        "extend_handling",
        "issue_decision",
        "report_implementation",
    }
)
_REVIEW_COMMANDS = frozenset(
    {"decide_review", "reply_review", "decide_re_review", "reply_re_review"}
)


def _is(x: _Ctx, unit: str | None, code: str, role: str) -> Rejection | None:
    if unit is None or x.cmd.actor.unit == unit:
        return None
    return _reject(code, f"the {role} is {unit}; the actor is {x.cmd.actor.unit}")


def _who(x: _Ctx, kind: str) -> Rejection | None:
    s = x.state
    if kind in INTERNAL_COMMANDS and kind != "register_petition":
        if x.cmd.actor.unit == ENGINE_UNIT:
            return None
        return _reject("engine_only", f"{kind} from {x.cmd.actor.unit}")
    handler = s.handling_unit.name if s.handling_unit else None
    reviewer = s.review_unit.name if s.review_unit else None
    if kind in PETITIONER_COMMANDS:
        if x.cmd.actor.unit == PETITIONER_UNIT:
            return None
        return _reject("petitioner_only", f"the actor is {x.cmd.actor.unit}")
    if kind in _ROUTING_COMMANDS:
        return _is(x, s.registered_by, "not_the_registering_office", "registering office")
    if kind == "record_conference_decision":
        return _is(x, s.registered_by, "not_the_conference_office", "registering office")
    if kind in _HANDLING_COMMANDS or (kind == "record_hearing" and s.stage is Stage.HANDLING):
        return _is(x, handler, "not_the_handling_unit", "handling unit")
    if kind in _REVIEW_COMMANDS or kind == "record_hearing":
        return _is(x, reviewer, "not_the_review_unit", "review unit")
    if kind == "record_delivery":
        document = getattr(x.cmd, "document", None)
        if document is DeliveredDocument.REPLY:
            return _is(x, handler, "not_the_handling_unit", "handling unit")
        return _is(x, reviewer, "not_the_review_unit", "review unit")
    if kind == "escalate_to_conference" and x.cmd.actor.unit not in (handler, s.registered_by):
        return _reject(
            "not_allowed_to_escalate",
            f"the handling unit is {handler or 'not named yet'} and the registering office "
            f"{s.registered_by}; the actor is {x.cmd.actor.unit}",
        )
    return None


# ---- handlers: one per command kind ----------------------------------------------
# Each returns a Rejection, or None after emitting its events through the context.

Handler = Callable[[_Ctx, Any], Rejection | None]
_HANDLERS: dict[str, Handler] = {}


def _handles(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[kind] = fn
        return fn

    return register


def units_named(state: CaseState, command: c.CommandBase) -> tuple[str, ...]:
    """The unit names ``decide`` asks the unit directory about for this command: the unit
    it routes to or names to lead, and for a review request the unit asked and the unit
    whose decision is reviewed (the directory says which unit is above it)."""
    if isinstance(command, c.TransferPetition | c.AssignPetition):
        return (command.to_unit.name,)
    if isinstance(command, c.RecordConferenceDecision):
        return (command.lead_unit.name,)
    if isinstance(command, c.RequestReview | c.RequestReReview):
        below = state.handling_unit if isinstance(command, c.RequestReview) else state.review_unit
        return (command.review_unit.name, *((below.name,) if below else ()))
    if isinstance(command, c.EscalateToConference) and state.registered_by:
        return (state.registered_by,)  # its place's joint conference takes the case
    return ()


def conference_office(state: CaseState, units: UnitResolution | None) -> DirectoryUnit | None:
    """The registering office as the unit directory has it: the secretariat of the joint
    conference a case escalated by it goes to (the conference of the office's place)."""
    found = (
        units.get(state.registered_by) if units and units.loaded and state.registered_by else None
    )
    if found is None or found.unit is None or not found.unit.active:
        return None
    return found.unit


def _in_directory(x: _Ctx, unit: Unit) -> Rejection | None:
    """The unit exists in the directory on the engine's day, under this name, active,
    in this place."""
    found = x.units.get(unit.name) if x.units and x.units.loaded else None
    if found is None:
        return None  # no directory loaded, or asked without one
    on = x.units.on if x.units else None
    known = found.unit
    if known is None:
        return _reject("unknown_unit", f"{unit.name} is not in the directory as of {on}")
    if not known.active:
        where = f"; its work went to {found.successor.name}" if found.successor else ""
        return _reject("unit_dissolved", f"{unit.name} ({known.id}) is {known.status.value}{where}")
    if known.name != unit.name:
        return _reject("unit_renamed", f"{unit.name} ({known.id}) is {known.name} as of {on}")
    if known.jurisdiction != unit.jurisdiction:
        return _reject(
            "unit_place_mismatch",
            f"{unit.name} is in {known.jurisdiction} in the directory; the command says "
            f"{unit.jurisdiction}",
        )
    return None


def _unit_above(x: _Ctx, below: Unit, asked: Unit) -> Rejection | None:
    """Review goes to the unit the directory has above the one that decided."""
    found = x.units.get(below.name) if x.units and x.units.loaded else None
    if found is None or found.unit is None or found.parent is None:
        return None  # decided by a unit the directory does not know: by jurisdiction only
    if asked.name == found.parent.name:
        return None
    return _reject(
        "review_unit_wrong_level",
        f"in the unit directory the unit above {below.name} is {found.parent.name}; "
        f"the request names {asked.name}",
    )


def _covers(x: _Ctx, unit: Unit) -> Rejection | None:
    place = x.state.jurisdiction
    assert place is not None
    if unit.jurisdiction.contains(place):
        return None
    return _reject(
        "unit_outside_jurisdiction",
        f"{unit.name} is in {unit.jurisdiction}; the case is in {place}",
    )


def _receiving_unit(x: _Ctx) -> Rejection | None:
    unit = x.state.handling_unit
    if unit is not None and x.cmd.actor.unit == unit.name:
        return None
    return _reject(
        "not_the_receiving_unit",
        f"the case is with {unit.name if unit else 'no unit'}; actor is {x.cmd.actor.unit}",
    )


@_handles("register_petition")
def _register(x: _Ctx, cmd: c.RegisterPetition) -> Rejection | None:
    if x.state.stage is not Stage.NEW:
        return _reject("case_already_registered", f"registered {x.state.registered_on}")
    skew = timedelta(seconds=x.policy.max_clock_skew_seconds)
    if cmd.intake.received_at > x.now + skew:
        return _reject("received_in_future", f"received_at {cmd.intake.received_at.isoformat()}")
    received = x.policy.local_date(cmd.intake.received_at)
    routing = x.policy.calendar_deadline(DeadlineKind.ROUTING, received, x.policy.routing_days)
    x.emit(ev.PetitionRegistered, opened=(routing,), intake=cmd.intake)
    return None


def _route(x: _Ctx, cmd: c.TransferPetition | c.AssignPetition) -> Rejection | None:
    if r := x.stage(Stage.REGISTERED) or _in_directory(x, cmd.to_unit) or _covers(x, cmd.to_unit):
        return r
    opened = (
        x.days(DeadlineKind.NOTIFICATION, x.policy.notification_days),
        x.policy.working_deadline(DeadlineKind.OBJECTION, x.today, x.policy.objection_working_days),
    )
    if isinstance(cmd, c.AssignPetition):
        x.emit(
            ev.PetitionAssigned,
            opened=opened,
            closed=(DeadlineKind.ROUTING,),
            unit=cmd.to_unit,
            due_days=cmd.due_days,
        )
    else:
        x.emit(
            ev.PetitionTransferred, opened=opened, closed=(DeadlineKind.ROUTING,), unit=cmd.to_unit
        )
    return None


_handles("transfer_petition")(_route)
_handles("assign_petition")(_route)


@_handles("divert_petition")
def _divert(x: _Ctx, cmd: c.DivertPetition) -> Rejection | None:
    if r := x.stage(Stage.REGISTERED, Stage.ROUTED):
        return r
    x.emit(ev.PetitionDiverted, destination=cmd.destination, note=cmd.note)
    x.close_case("diverted")
    return None


@_handles("not_accept_petition")
def _not_accept(x: _Ctx, cmd: c.NotAcceptPetition) -> Rejection | None:
    if r := x.stage(Stage.REGISTERED, Stage.ROUTED):
        return r
    x.emit(ev.PetitionNotAccepted, reason=cmd.reason, detail=cmd.detail)
    x.close_case("not_accepted")
    return None


@_handles("acknowledge_receipt")
def _acknowledge(x: _Ctx, cmd: c.AcknowledgeReceipt) -> Rejection | None:
    if r := x.stage(Stage.ROUTED, Stage.HANDLING, Stage.CONFERENCE) or _receiving_unit(x):
        return r
    if x.state.acknowledged:
        return _reject("already_acknowledged")
    x.emit(ev.ReceiptAcknowledged, closed=(DeadlineKind.NOTIFICATION,))
    return None


@_handles("accept_petition")
def _accept(x: _Ctx, cmd: c.AcceptPetition) -> Rejection | None:
    if r := x.stage(Stage.ROUTED) or _receiving_unit(x):
        return r
    days = x.state.assigned_days or x.policy.handling_days
    assert x.state.handling_unit is not None
    x.emit(
        ev.PetitionAccepted,
        opened=(x.days(DeadlineKind.HANDLING, days),),
        closed=(DeadlineKind.OBJECTION,),
        unit=x.state.handling_unit,
    )
    return None


@_handles("object_to_routing")
def _object(x: _Ctx, cmd: c.ObjectToRouting) -> Rejection | None:
    if r := x.stage(Stage.ROUTED) or _receiving_unit(x):
        return r
    objection = x.state.deadlines.get(DeadlineKind.OBJECTION)
    since = f"routed {objection.start}" if objection else "the conference routed it"
    if r := x.window(DeadlineKind.OBJECTION, "objection_window_closed", since):
        return r
    assert x.state.handling_unit is not None
    x.emit(
        ev.RoutingObjected,
        opened=(x.days(DeadlineKind.ROUTING, x.policy.routing_days),),
        closed=(DeadlineKind.OBJECTION, DeadlineKind.NOTIFICATION),
        unit=x.state.handling_unit,
        reason=cmd.reason,
    )
    return None


@_handles("start_mediation")
def _start_mediation(x: _Ctx, cmd: c.StartMediation) -> Rejection | None:
    if r := x.stage(Stage.HANDLING):
        return r
    if x.state.mediation == "in_progress":
        return _reject("mediation_in_progress")
    if not (cmd.petitioner_consents and cmd.other_party_consents):
        return _reject(
            "mediation_requires_consent",
            f"petitioner_consents={cmd.petitioner_consents}, "
            f"other_party_consents={cmd.other_party_consents}",
        )
    x.emit(ev.MediationStarted, mediator=cmd.mediator, settlement=cmd.settlement)
    return None


@_handles("record_mediation")
def _record_mediation(x: _Ctx, cmd: c.RecordMediation) -> Rejection | None:
    if r := x.stage(Stage.HANDLING):
        return r
    if x.state.mediation != "in_progress":
        return _reject("no_mediation_in_progress")
    if not cmd.agreed:
        x.emit(ev.MediationRecorded, agreed=False)
        return None
    # An agreement settles the matter: no written decision, no review; it is still rated.
    x.emit(
        ev.MediationRecorded,
        opened=(x.days(DeadlineKind.EVALUATION, x.policy.evaluation_days),),
        closed=(DeadlineKind.HANDLING, DeadlineKind.SUPERVISION, DeadlineKind.NOTIFICATION),
        agreed=True,
        agreement=cmd.agreement,
    )
    return None


@_handles("record_hearing")
def _record_hearing(x: _Ctx, cmd: c.RecordHearing) -> Rejection | None:
    if r := x.stage(Stage.HANDLING, Stage.RE_REVIEW):
        return r
    if cmd.held_to > x.today:
        return _reject("hearing_in_future", f"held_to {cmd.held_to}, today {x.today}")
    opened: tuple[Deadline, ...] = ()
    decision = x.state.deadlines.get(DeadlineKind.RE_REVIEW_DECISION)
    if x.state.stage is Stage.RE_REVIEW and decision is not None and not decision.missed:
        # Art 36: hearing time does not count toward the re-review period.
        opened = (x.policy.extended(decision, cmd.days),)
    x.emit(
        ev.HearingRecorded,
        opened=opened,
        held_from=cmd.held_from,
        held_to=cmd.held_to,
        summary=cmd.summary,
    )
    return None


@_handles("extend_handling")
def _extend(x: _Ctx, cmd: c.ExtendHandling) -> Rejection | None:
    if r := x.stage(Stage.HANDLING, Stage.CONFERENCE):
        return r
    handling = x.state.deadlines.get(DeadlineKind.HANDLING)
    if handling is None:
        return _reject("wrong_stage", "the handling period has not started")
    if x.state.extension_days_used:
        return _reject("extension_already_used", f"{x.state.extension_days_used} days granted")
    if cmd.days > x.policy.max_extension_days:
        return _reject(
            "extension_too_long", f"asked {cmd.days} days, at most {x.policy.max_extension_days}"
        )
    if handling.missed or x.now >= handling.due_at:
        return _reject("handling_deadline_passed", f"the period ended {handling.due}")
    x.emit(
        ev.HandlingExtended,
        opened=(x.policy.extended(handling, cmd.days),),
        days=cmd.days,
        reason=cmd.reason,
        approved_by=cmd.approved_by,
    )
    return None


@_handles("escalate_to_conference")
def _escalate(x: _Ctx, cmd: c.EscalateToConference) -> Rejection | None:
    if x.state.stage is Stage.CONFERENCE:
        return _reject("already_at_conference")
    if r := x.stage(Stage.REGISTERED, Stage.ROUTED, Stage.HANDLING):
        return r
    holds = {
        "competence_dispute": x.state.stage in (Stage.REGISTERED, Stage.ROUTED),
        "mediation_failed": x.state.mediation == "failed",
        "major_or_urgent": True,
        "overdue_supervision": x.state.overdue,
    }[cmd.reason.value]
    if not holds:
        return _reject(
            "escalation_reason_not_met",
            f"{cmd.reason.value} with stage={x.state.stage.value}, "
            f"mediation={x.state.mediation}, overdue={x.state.overdue}",
        )
    office = conference_office(x.state, x.units)
    x.emit(
        ev.EscalatedToConference,
        reason=cmd.reason,
        note=cmd.note,
        conference_id=conference_id(office) if office else None,
    )
    return None


@_handles("record_conference_decision")
def _conference_decision(x: _Ctx, cmd: c.RecordConferenceDecision) -> Rejection | None:
    if r := (
        x.stage(Stage.CONFERENCE) or _in_directory(x, cmd.lead_unit) or _covers(x, cmd.lead_unit)
    ):
        return r
    opened: list[Deadline] = []
    closed: tuple[DeadlineKind, ...] = ()
    if cmd.correction_days:
        opened.append(x.days(DeadlineKind.SUPERVISION, cmd.correction_days))
    if x.state.accepted_on is None:
        # The conference routed the case: the lead unit must still accept and notify.
        opened.append(x.days(DeadlineKind.NOTIFICATION, x.policy.notification_days))
        closed = (DeadlineKind.ROUTING, DeadlineKind.OBJECTION)
    x.emit(
        ev.ConferenceDecided,
        opened=tuple(opened),
        closed=closed,
        lead_unit=cmd.lead_unit,
        plan=cmd.plan,
        supervise=cmd.supervise,
    )
    return None


@_handles("issue_decision")
def _issue_decision(x: _Ctx, cmd: c.IssueDecision) -> Rejection | None:
    if r := x.stage(Stage.HANDLING):
        return r
    if x.state.mediation == "in_progress":
        return _reject("mediation_in_progress")
    windows = (
        # Arts 35, 36: the windows count from delivery (record_delivery opens them)
        (x.days(DeadlineKind.DELIVERY, x.policy.delivery_days),)
        if x.rules.delivery
        else (
            x.days(DeadlineKind.EVALUATION, x.policy.evaluation_days),
            x.days(DeadlineKind.REVIEW_REQUEST, x.policy.review_request_days),
        )
    )
    x.emit(
        ev.DecisionIssued,
        opened=windows,
        closed=(DeadlineKind.HANDLING, DeadlineKind.SUPERVISION, DeadlineKind.NOTIFICATION),
        outcome=cmd.outcome,
        decision=cmd.decision,
        legal_basis=cmd.legal_basis,
    )
    return None


@_handles("report_implementation")
def _report_implementation(x: _Ctx, cmd: c.ReportImplementation) -> Rejection | None:
    if x.state.closed_reason == "withdrawn":
        return _reject("case_closed", "withdrawn")
    if not x.state.implementation_pending:
        return _reject("no_implementation_pending", f"decision={x.state.decision}")
    x.emit(ev.ImplementationReported, report=cmd.report)
    return None


def _close_if_settled(x: _Ctx) -> None:
    """After a reply, the case closes once no rating or review request can still come."""
    s = x.state
    if (
        s.stage is Stage.REPLIED
        and s.delivery_pending is None
        and not ({DeadlineKind.EVALUATION, DeadlineKind.REVIEW_REQUEST} & s.deadlines.keys())
    ):
        x.close_case("resolved")


def _delivered(x: _Ctx, document: DeliveredDocument) -> Rejection | None:
    """The petitioner's windows have not started while the reply waits for delivery."""
    if x.rules.delivery and x.state.delivery_pending is document:
        return _reject("reply_not_delivered", f"{document.value} issued, not delivered")
    return None


@_handles("record_delivery")
def _record_delivery(x: _Ctx, cmd: c.RecordDelivery) -> Rejection | None:
    s = x.state
    if s.delivery_pending is not cmd.document:
        waiting = s.delivery_pending.value if s.delivery_pending else "nothing"
        if not x.rules.delivery:
            waiting += "; this case runs under the rules from before delivery was recorded: "
            waiting += "its windows count from the day each reply was issued"
        return _reject("no_delivery_pending", f"{cmd.document.value}; waiting: {waiting}")
    issued = s.replied_on if cmd.document is DeliveredDocument.REPLY else s.review_replied_on
    assert issued is not None
    day = cmd.delivered_on or x.today
    if not issued <= day <= x.today:
        return _reject(
            "delivery_date_invalid", f"delivered_on {day}, issued {issued}, today {x.today}"
        )
    # The windows count from the day of receipt (Arts 35, 36). Until delivery is
    # recorded the petitioner's requests are refused (reply_not_delivered), so a
    # delivery recorded later than the delivery period after it happened would let a
    # window lapse that the petitioner could not use: its windows count from the day
    # it is recorded instead (the event keeps the day of receipt).
    late = (x.today - day).days > x.policy.delivery_days
    day = x.today if late else day
    opened: tuple[Deadline, ...] = {
        DeliveredDocument.REPLY: (
            x.policy.calendar_deadline(DeadlineKind.EVALUATION, day, x.policy.evaluation_days),
            x.policy.calendar_deadline(
                DeadlineKind.REVIEW_REQUEST, day, x.policy.review_request_days
            ),
        ),
        DeliveredDocument.REVIEW_REPLY: (
            x.policy.calendar_deadline(
                DeadlineKind.RE_REVIEW_REQUEST, day, x.policy.re_review_request_days
            ),
        ),
        DeliveredDocument.RE_REVIEW_REPLY: (),
    }[cmd.document]
    x.emit(
        ev.DeliveryRecorded,
        opened=opened,
        closed=(DeadlineKind.DELIVERY,),
        document=cmd.document,
        delivered_on=cmd.delivered_on or x.today,
        method=cmd.method,
    )
    if cmd.document is DeliveredDocument.RE_REVIEW_REPLY:
        x.close_case("final")  # Art 36: the re-review reply is final once received
    return None


@_handles("record_rating")
def _record_rating(x: _Ctx, cmd: c.RecordRating) -> Rejection | None:
    if x.state.rating is not None:
        return _reject("already_rated", f"rated {x.state.rating.value}")
    if x.state.replied_on is None:
        return _reject("not_awaiting_rating", "no written reply has been given yet")
    if r := _delivered(x, DeliveredDocument.REPLY):
        return r
    if r := x.window(
        DeadlineKind.EVALUATION, "evaluation_window_closed", f"replied {x.state.replied_on}"
    ):
        return r
    content = cmd.rating in (Rating.SATISFIED, Rating.BASICALLY_SATISFIED)
    closed: tuple[DeadlineKind, ...] = (DeadlineKind.EVALUATION,)
    concludes = x.policy.close_on_satisfied_rating or not x.rules.delivery
    if content and concludes and x.state.stage is Stage.REPLIED:
        closed += (DeadlineKind.REVIEW_REQUEST,)  # resolved and evaluated: S6
    x.emit(ev.SatisfactionRated, closed=closed, rating=cmd.rating)
    _close_if_settled(x)
    return None


def _request_appeal(
    x: _Ctx, cmd: c.RequestReview | c.RequestReReview, level: int
) -> Rejection | None:
    if level == 1:
        stage, window, code, since = (
            Stage.REPLIED,
            DeadlineKind.REVIEW_REQUEST,
            "review_window_closed",
            f"reply received {x.state.delivered.get(DeliveredDocument.REPLY, x.state.replied_on)}",
        )
        below, decision_kind, days = (
            x.state.handling_unit,
            DeadlineKind.REVIEW_DECISION,
            x.policy.review_decision_days,
        )
    else:
        stage, window, code, since = (
            Stage.REVIEW_REPLIED,
            DeadlineKind.RE_REVIEW_REQUEST,
            "re_review_window_closed",
            "review reply received "
            f"{x.state.delivered.get(DeliveredDocument.REVIEW_REPLY, x.state.review_replied_on)}",
        )
        below, decision_kind, days = (
            x.state.review_unit,
            DeadlineKind.RE_REVIEW_DECISION,
            x.policy.re_review_decision_days,
        )
    if level == 2 and x.state.review_level == 2:
        return _reject("final_no_further_review", "the re-review was decided and replied")
    if r := x.stage(stage):
        return r
    if level == 1 and x.state.mediation == "agreed":
        return _reject("no_review_after_agreement")
    document = DeliveredDocument.REPLY if level == 1 else DeliveredDocument.REVIEW_REPLY
    if r := _delivered(x, document):
        return r
    if r := x.window(window, code, since):
        return r
    assert below is not None
    above = below.jurisdiction.up()
    if above is None:
        return _reject(
            "no_higher_level", f"{below.name} is at {below.jurisdiction.level.value} level"
        )
    if cmd.review_unit.jurisdiction != above:
        return _reject(
            "review_unit_wrong_level",
            f"{below.name} is in {below.jurisdiction}, so the request goes to a unit in {above}; "
            f"{cmd.review_unit.name} is in {cmd.review_unit.jurisdiction}",
        )
    if r := _in_directory(x, cmd.review_unit) or _unit_above(x, below, cmd.review_unit):
        return r
    x.emit(
        ev.ReviewRequested,
        opened=(x.days(decision_kind, days),),
        closed=(window,),
        level=level,
        review_unit=cmd.review_unit,
        reasons=cmd.reasons,
    )
    return None


def _decide_appeal(x: _Ctx, cmd: c.DecideReview | c.DecideReReview, level: int) -> Rejection | None:
    if r := x.stage(Stage.REVIEW if level == 1 else Stage.RE_REVIEW):
        return r
    if x.state.review_decided:
        return _reject("review_already_decided")
    kind = DeadlineKind.REVIEW_DECISION if level == 1 else DeadlineKind.RE_REVIEW_DECISION
    x.emit(
        ev.ReviewDecided,
        closed=(kind,),
        level=level,
        outcome=cmd.outcome,
        decision=cmd.decision,
        legal_basis=cmd.legal_basis,
    )
    return None


def _reply_appeal(x: _Ctx, level: int) -> Rejection | None:
    if r := x.stage(Stage.REVIEW if level == 1 else Stage.RE_REVIEW):
        return r
    if not x.state.review_decided:
        return _reject("review_not_decided")
    if x.rules.delivery:
        # the re-review window (Art 36), or finality, comes with delivery
        delivery = x.days(DeadlineKind.DELIVERY, x.policy.delivery_days)
        x.emit(ev.ReviewReplied, opened=(delivery,), level=level)
    elif level == 1:
        window = x.days(DeadlineKind.RE_REVIEW_REQUEST, x.policy.re_review_request_days)
        x.emit(ev.ReviewReplied, opened=(window,), level=1)
    else:
        x.emit(ev.ReviewReplied, level=2)
        x.close_case("final")
    return None


_handles("request_review")(lambda x, cmd: _request_appeal(x, cmd, 1))
_handles("request_re_review")(lambda x, cmd: _request_appeal(x, cmd, 2))
_handles("decide_review")(lambda x, cmd: _decide_appeal(x, cmd, 1))
_handles("decide_re_review")(lambda x, cmd: _decide_appeal(x, cmd, 2))
_handles("reply_review")(lambda x, cmd: _reply_appeal(x, 1))
_handles("reply_re_review")(lambda x, cmd: _reply_appeal(x, 2))


@_handles("withdraw_petition")
def _withdraw(x: _Ctx, cmd: c.WithdrawPetition) -> Rejection | None:
    x.emit(ev.PetitionWithdrawn, reason=cmd.reason)
    x.close_case("withdrawn")
    return None


@_handles("expire_deadline")
def _expire(x: _Ctx, cmd: c.ExpireDeadline) -> Rejection | None:
    d = x.state.deadlines.get(cmd.deadline)
    if d is None:
        return _reject("no_open_deadline", cmd.deadline.value)
    if d.missed:
        return _reject("deadline_already_missed", f"{d.kind.value} due {d.due}")
    if x.now < d.due_at:
        return _reject("deadline_not_due", f"{d.kind.value} expires {d.due_at.isoformat()}")
    if d.kind.is_obligation:
        x.emit(
            ev.DeadlineMissed,
            deadline=d.kind,
            due=d.due,
            supervised=x.policy.supervise_when_overdue,
        )
        if (
            d.kind is DeadlineKind.HANDLING
            and x.policy.escalate_overdue_handling_to_conference
            and x.state.stage is Stage.HANDLING
        ):
            x.emit(ev.EscalatedToConference, reason="overdue_supervision", note="automatic")
        return None
    x.emit(ev.WindowClosed, closed=(d.kind,), deadline=d.kind, due=d.due)
    if d.kind in (DeadlineKind.REVIEW_REQUEST, DeadlineKind.RE_REVIEW_REQUEST):
        x.close_case("resolved")  # no appeal came: the last reply stands
    else:
        _close_if_settled(x)
    return None


# ---- repeat petitions (Art 19(3); 不再受理 after re-review) --------------------------

_NOT_ACCEPTED = {
    CandidateStatus.OPEN: NotAcceptedReason.DUPLICATE_IN_PROGRESS,
    CandidateStatus.FINAL: NotAcceptedReason.FINAL_AFTER_RE_REVIEW,
}


def _repeat_detail(other: str, reason: NotAcceptedReason) -> str:
    if reason is NotAcceptedReason.FINAL_AFTER_RE_REVIEW:
        return f"同一信访事项已经复核终结（案件 {other}），不再受理（《信访工作条例》第三十六条）"
    return (
        f"同一信访事项已由案件 {other} 受理，尚在法定办理期限内，不予受理"
        "（《信访工作条例》第十九条）"
    )


def _repeat_not_accepted(x: _Ctx, candidate: Candidate) -> None:
    reason = _NOT_ACCEPTED[candidate.status]
    x.emit(ev.CaseLinked, other_case_id=candidate.case_id, relation="repeat_of", reason=reason)
    x.emit(ev.PetitionNotAccepted, reason=reason, detail=_repeat_detail(candidate.case_id, reason))
    x.close_case("not_accepted")


@_handles("screen_repeats")
def _screen_repeats(x: _Ctx, cmd: c.ScreenRepeats) -> Rejection | None:
    if r := x.stage(Stage.REGISTERED):
        return r
    ranked = [k for k in cmd.candidates if k.status in _NOT_ACCEPTED and k.case_id != x.case_id]
    certain = [k for k in ranked if k.certainty is Certainty.CERTAIN]
    if certain:
        _repeat_not_accepted(x, certain[0])
    elif ranked:
        x.emit(ev.RepeatSuggested, candidates=tuple(ranked))
    return None


def _registrar(x: _Ctx, other: str) -> Rejection | None:
    """The suggestion exists (who may answer it, the registering office, is ``_who``'s)."""
    if other not in x.state.repeat_suggestions:
        pending = ", ".join(sorted(x.state.repeat_suggestions)) or "none"
        return _reject("no_such_suggestion", f"{other}; pending: {pending}")
    return None


@_handles("confirm_repeat")
def _confirm_repeat(x: _Ctx, cmd: c.ConfirmRepeat) -> Rejection | None:
    if r := _registrar(x, cmd.other_case_id) or x.stage(Stage.REGISTERED, Stage.ROUTED):
        return r
    candidate = x.state.repeat_suggestions[cmd.other_case_id]
    x.emit(ev.RepeatConfirmed, other_case_id=cmd.other_case_id)
    _repeat_not_accepted(x, candidate)
    return None


@_handles("dismiss_repeat")
def _dismiss_repeat(x: _Ctx, cmd: c.DismissRepeat) -> Rejection | None:
    if r := _registrar(x, cmd.other_case_id):
        return r
    x.emit(ev.RepeatDismissed, other_case_id=cmd.other_case_id)
    return None


@_handles("record_link")
def _record_link(x: _Ctx, cmd: c.RecordLink) -> Rejection | None:
    if cmd.other_case_id not in x.state.linked_cases and cmd.other_case_id != x.case_id:
        x.emit(
            ev.CaseLinked,
            other_case_id=cmd.other_case_id,
            relation="repeated_by",
            reason=cmd.reason,
        )
    return None


@_handles("recompute_deadlines")
def _recompute(x: _Ctx, cmd: c.RecomputeDeadlines) -> Rejection | None:
    """Count each provisional deadline again with the policy's calendar snapshot: one
    ``DeadlineRecomputed`` per deadline whose date or provisional mark changes.

    - The official date is later: the deadline moves to it. Recorded as missed on the
      provisional date, the miss is lifted (the unit was not late by the official
      calendar) and the deadline is open again; a reminder already sent stays sent,
      and a supervision (督办) stays recorded.
    - The official date is earlier: the provisional date is kept (``kept_later``),
      so no unit is overdue on a day it was told was still open and no petitioner's
      window shrinks; the event records both dates.
    Counted with no new arrangement for its years, a deadline does not change.
    """
    for d in x.state.provisional:
        again = x.policy.recounted(d)
        if again is None:
            continue
        kept_later = again.due < d.due
        due = d.due if kept_later else again.due
        if due == d.due and again.provisional:
            continue  # nothing new for its years
        lifted = d.missed and due > d.due
        moved = x.policy.dated(again, due).model_copy(update={"missed": d.missed and not lifted})
        x.emit(
            ev.DeadlineRecomputed,
            opened=(moved,),
            deadline=d.kind,
            previous_due=d.due,
            official_due=again.due,
            due=due,
            calendar=moved.calendar,
            provisional=moved.provisional,
            kept_later=kept_later,
            lifted_miss=lifted,
        )
    return None


_MISSING = set(c.COMMAND_TYPES) - set(_HANDLERS)
assert not _MISSING, f"commands without a handler: {_MISSING}"
