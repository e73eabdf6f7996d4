"""The joint conference (联席会议) of one place as pure code: commands in, events out.

One conference per place (region, prefecture, county, township, pilot villages), run by
``JointConferenceWorkflow`` (``workflows/conference.py``), its events in the stream
``conference-<place code>``. Its office (the secretariat, 办公室) is the place's petition
bureau; only it records meetings.

- **Agenda.** A case or dispute joins by ``add_to_agenda`` (``AgendaItemIn``; a repeated
  command_id is a no-op, so a caller may send it as often as it likes).
- **Meetings.** When a meeting falls due with items on the agenda the workflow records
  ``ConferenceMeetingDue``; the secretary then records ``record_meeting``: who attended
  and one decision per agenda item decided (lead unit, plan, supervision, correction
  days). An item not on the agenda is refused (``not_on_agenda``).
- **Decisions reach their subject** as ``record_conference_decision`` (the workflow's
  activity); what the subject answered is recorded here as ``AgendaDecisionDelivered``
  by the engine. Accepted and not supervised, the item closes; refused, it goes back
  on the agenda for the next meeting (or closes when the subject has closed).
- **Supervision (督办).** A supervised decision stays open until the subject's
  correction is recorded (``record_correction``). With ``correction_days`` it has a
  correction deadline; passing it records ``SupervisionOverdue`` once.

Same style as ``domain/decide.py`` and ``domain/state.py``: ``decide`` never raises for
a bad command and is deterministic (event ids derive from the place, the command id and
the event's index); ``evolve`` is a pure fold. No I/O, no clock: ``now`` is given.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from .commands import CommandBase, CommandId
from .decide import Rejection, issued_in_future
from .intake import field_errors
from .values import Actor, Frozen, Jurisdiction, LongText, MediumText, ShortText, Unit

# Administrative division codes: region 650000, prefecture 653100, county 653121 (6
# digits), township 653121101 (9), village 653121101001 (12).
PlaceCode = Annotated[str, StringConstraints(pattern=r"^\d{6}(\d{3}){0,2}$")]
SubjectId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")]
ReasonCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Subject = Literal["case", "dispute"]

# Asia/Shanghai has kept UTC+8 without daylight saving since 1991, so a fixed offset is
# exact for every date the engine sees (and needs no tz database inside the sandbox).
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
EVENT_ID_NAMESPACE = uuid.UUID("a4b6f0c2-6f3e-4f5e-9d8a-2c1b7e5d9f10")
# The actor unit of what the engine decides itself (timers, delivery results).
ENGINE_UNIT = "petitionflow"
ENGINE_ACTOR = Actor(unit=ENGINE_UNIT, person="joint conference")
# Codes of a subject's refusal that mean it will never take a decision: the item closes.
SUBJECT_GONE = frozenset(
    {
        "case_closed",
        "case_not_found",
        "case_not_running",
        "final_no_further_review",
        "dispute_not_found",
    }
)
# How many recent meetings the state keeps (older ones are in the event store).
MEETINGS_KEPT = 20


def workflow_id(place_code: str) -> str:
    return f"conference-{place_code}"


def stream_id(place_code: str) -> str:
    return f"conference-{place_code}"


def item_key(subject: str, subject_id: str) -> str:
    return f"{subject}:{subject_id}"


def decision_command_id(place_code: str, meeting_no: int, subject_id: str) -> str:
    """The command_id of ``record_conference_decision`` sent to the subject (contract)."""
    return f"conference:{place_code}:{meeting_no}:{subject_id}"


def local_day(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


def end_of_day(day: date) -> datetime:
    """The instant a day ends in Beijing time (a deadline expires then), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), SHANGHAI).astimezone(UTC)


def correction_due(held_at: datetime, days: int) -> date:
    """The last day to report the correction: ``days`` calendar days after the meeting's
    day (the meeting day not counted). Simple on purpose: no rolling over holidays or
    rest days as the case's statutory periods do (domain/policy.py); the subject's own
    supervision deadline (opened by ``record_conference_decision``) is the legal one,
    this one is the conference's follow-up list."""
    return local_day(held_at) + timedelta(days=days)


def parent_codes(place_code: str) -> list[str]:
    """The place's code and the codes above it, by the code's shape: 653121101 →
    650000, 653100, 653121, 653121101 (for the ``ConferencePlace`` search attribute)."""
    out = [place_code[:2] + "0000", place_code[:4] + "00", place_code[:6]]
    if len(place_code) >= 9:
        out.append(place_code[:9])
    if len(place_code) == 12:
        out.append(place_code)
    return list(dict.fromkeys(out))


# ---- the meeting schedule -------------------------------------------------------------


class MeetingPolicy(Frozen):
    """When the conference meets: the first meeting on the next ``weekday`` at ``at``
    (Beijing time), then every ``interval_days`` days from it. Default weekly, Tuesday
    10:00. A meeting that falls due with nothing on the agenda is skipped silently."""

    weekday: int = Field(1, ge=0, le=6)  # Monday 0 ... Sunday 6
    at: time = time(10, 0)
    interval_days: int = Field(7, ge=1, le=366)

    def first_after(self, instant: datetime) -> datetime:
        """The first meeting time strictly after ``instant`` on the policy's weekday."""
        local = instant.astimezone(SHANGHAI)
        day = local.date() + timedelta(days=(self.weekday - local.weekday()) % 7)
        slot = datetime.combine(day, self.at, SHANGHAI)
        if slot <= local:
            slot += timedelta(days=7)
        return slot.astimezone(UTC)

    def next_after(self, scheduled: datetime, instant: datetime) -> datetime:
        """The meeting after ``scheduled`` that is still ahead of ``instant``."""
        step = timedelta(days=self.interval_days)
        slot = scheduled + step
        if slot <= instant:
            slot += step * ((instant - slot) // step + 1)
        return slot


# ---- commands --------------------------------------------------------------------------


class AgendaItemIn(Frozen):
    """``add_to_agenda``: a case or dispute joins the conference's agenda (contract).

    command_id ``agenda:case:<case id>`` or ``agenda:dispute:<dispute id>``; a repeat is
    ignored. ``place`` is the subject's Jurisdiction, ``reason`` a snake_case code
    (``competence_dispute``, ``mediation_failed``...)."""

    command_id: CommandId
    subject: Subject
    subject_id: SubjectId
    reason: ReasonCode
    place: Jurisdiction
    issued_at: AwareDatetime

    kind: Literal["add_to_agenda"] = Field("add_to_agenda", exclude=True)


class MeetingDecision(Frozen):
    """One agenda item's decision: who leads, the plan, supervision (挂牌督办) and the
    correction deadline in days (needs ``supervise``)."""

    subject: Subject
    subject_id: SubjectId
    lead_unit: Unit
    plan: LongText
    supervise: bool = False
    correction_days: int | None = Field(default=None, ge=1, le=365)

    @model_validator(mode="after")
    def _correction(self) -> MeetingDecision:
        if self.correction_days is not None and not self.supervise:
            raise ValueError("correction_days: a correction deadline needs supervise=true")
        return self


class RecordMeeting(CommandBase):
    """The secretary's minutes: when it was held, who attended, one decision per agenda
    item decided at this meeting (none is fine: a meeting can defer everything)."""

    kind: Literal["record_meeting"] = "record_meeting"
    held_at: AwareDatetime
    attendance: tuple[ShortText, ...] = Field(min_length=1, max_length=200)
    decisions: tuple[MeetingDecision, ...] = Field(default=(), max_length=500)

    @model_validator(mode="after")
    def _one_per_item(self) -> RecordMeeting:
        keys = [item_key(d.subject, d.subject_id) for d in self.decisions]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"decisions: one decision per agenda item; twice: {', '.join(twice)}")
        return self


class RecordCorrection(CommandBase):
    """The supervised subject reported its correction (整改): the item closes."""

    kind: Literal["record_correction"] = "record_correction"
    subject: Subject
    subject_id: SubjectId
    report: MediumText | None = None


class WithdrawItem(CommandBase):
    """The subject was closed another way (resolved, withdrawn, converted): off the agenda."""

    kind: Literal["withdraw_item"] = "withdraw_item"
    subject: Subject
    subject_id: SubjectId
    reason: ReasonCode = "closed_otherwise"


# The engine's own commands (never sent from outside).


class MarkMeetingDue(CommandBase):
    kind: Literal["mark_meeting_due"] = "mark_meeting_due"
    scheduled_for: AwareDatetime


class ExpireCorrection(CommandBase):
    kind: Literal["expire_correction"] = "expire_correction"
    subject: Subject
    subject_id: SubjectId


class RecordDecisionResult(CommandBase):
    """What the subject answered to ``record_conference_decision``."""

    kind: Literal["record_decision_result"] = "record_decision_result"
    subject: Subject
    subject_id: SubjectId
    decision_command_id: CommandId
    accepted: bool
    code: str | None = None  # the rejection code when refused
    message: str | None = None
    subject_events: tuple[str, ...] = ()  # the event types the subject recorded
    subject_version: int | None = None


ConferenceCommand = (
    AgendaItemIn
    | RecordMeeting
    | RecordCorrection
    | WithdrawItem
    | MarkMeetingDue
    | ExpireCorrection
    | RecordDecisionResult
)
# Commands callers send (as signals; record_meeting, record_correction and
# withdraw_item also as updates).
EXTERNAL: dict[str, type[Any]] = {
    "add_to_agenda": AgendaItemIn,
    "record_meeting": RecordMeeting,
    "record_correction": RecordCorrection,
    "withdraw_item": WithdrawItem,
}
INTERNAL: dict[str, type[Any]] = {
    "mark_meeting_due": MarkMeetingDue,
    "expire_correction": ExpireCorrection,
    "record_decision_result": RecordDecisionResult,
}


# ---- events ------------------------------------------------------------------------


class ConferenceEventBase(Frozen):
    event_id: uuid.UUID
    place_code: str
    occurred_at: AwareDatetime
    day: date  # occurred_at's date in Beijing time
    actor: Actor
    causation_id: str  # the command that produced it
    correlation_id: str


class AgendaItemAdded(ConferenceEventBase):
    type: Literal["AgendaItemAdded"] = "AgendaItemAdded"
    schema_version: Literal[1] = 1
    subject: Subject
    subject_id: str
    reason: str
    place: Jurisdiction
    issued_at: AwareDatetime


class ConferenceMeetingDue(ConferenceEventBase):
    """A meeting fell due with items on the agenda: the secretary records it."""

    type: Literal["ConferenceMeetingDue"] = "ConferenceMeetingDue"
    schema_version: Literal[1] = 1
    meeting_no: int
    scheduled_for: AwareDatetime
    items: tuple[str, ...]  # item keys (case:<id>, dispute:<id>)


class ConferenceMeetingHeld(ConferenceEventBase):
    type: Literal["ConferenceMeetingHeld"] = "ConferenceMeetingHeld"
    schema_version: Literal[1] = 1
    meeting_no: int
    held_at: AwareDatetime
    attendance: tuple[str, ...]


class AgendaItemDecided(ConferenceEventBase):
    type: Literal["AgendaItemDecided"] = "AgendaItemDecided"
    schema_version: Literal[1] = 1
    meeting_no: int
    subject: Subject
    subject_id: str
    decision_command_id: str  # conference:<place code>:<meeting no>:<subject id>
    held_at: AwareDatetime  # the meeting's: the decision's issued_at at its subject
    lead_unit: Unit
    plan: str
    supervise: bool
    correction_days: int | None = None
    correction_due: date | None = None


class AgendaDecisionDelivered(ConferenceEventBase):
    """The subject's answer to the decision: its events, or the rejection code."""

    type: Literal["AgendaDecisionDelivered"] = "AgendaDecisionDelivered"
    schema_version: Literal[1] = 1
    subject: Subject
    subject_id: str
    decision_command_id: str
    accepted: bool
    code: str | None = None
    message: str | None = None
    subject_events: tuple[str, ...] = ()
    subject_version: int | None = None


class SupervisionOverdue(ConferenceEventBase):
    type: Literal["SupervisionOverdue"] = "SupervisionOverdue"
    schema_version: Literal[1] = 1
    subject: Subject
    subject_id: str
    due: date


class AgendaItemClosed(ConferenceEventBase):
    type: Literal["AgendaItemClosed"] = "AgendaItemClosed"
    schema_version: Literal[1] = 1
    subject: Subject
    subject_id: str
    # decided: accepted, not supervised; corrected: the supervised correction reported;
    # withdrawn: closed another way; subject_closed: the subject will take no decision
    reason: Literal["decided", "corrected", "withdrawn", "subject_closed"]
    note: str | None = None


class ConferenceCommandRejected(ConferenceEventBase):
    """A fire-and-forget command (a signal) that was refused, kept so nothing is lost."""

    type: Literal["ConferenceCommandRejected"] = "ConferenceCommandRejected"
    schema_version: Literal[1] = 1
    command_kind: str
    code: str
    message: str


ConferenceEvent = Annotated[
    AgendaItemAdded
    | ConferenceMeetingDue
    | ConferenceMeetingHeld
    | AgendaItemDecided
    | AgendaDecisionDelivered
    | SupervisionOverdue
    | AgendaItemClosed
    | ConferenceCommandRejected,
    Field(discriminator="type"),
]
CONFERENCE_EVENT_ADAPTER: TypeAdapter[ConferenceEvent] = TypeAdapter(ConferenceEvent)
CONFERENCE_EVENT_TYPES: dict[str, type[ConferenceEventBase]] = {
    cls.model_fields["type"].default: cls for cls in ConferenceEventBase.__subclasses__()
}


# ---- state -----------------------------------------------------------------------


class ItemDecision(Frozen):
    meeting_no: int
    decision_command_id: str
    lead_unit: Unit
    plan: str
    supervise: bool
    correction_days: int | None = None
    correction_due: date | None = None
    decided_by: Actor  # the secretary who recorded it (the actor sent to the subject)
    held_at: datetime


class AgendaItem(Frozen):
    subject: Subject
    subject_id: str
    reason: str
    place: Jurisdiction
    added_on: date
    # pending: on the agenda; decided: the decision is on its way to the subject;
    # supervised: taken, waiting for the correction report
    status: Literal["pending", "decided", "supervised"] = "pending"
    decision: ItemDecision | None = None
    overdue: bool = False
    refusals: int = 0  # decisions the subject refused (it went back on the agenda)
    last_refusal: str | None = None  # the code

    @property
    def key(self) -> str:
        return item_key(self.subject, self.subject_id)

    @property
    def correction_due_at(self) -> datetime | None:
        d = self.decision
        if d is None or d.correction_due is None or self.overdue or self.status == "pending":
            return None
        return end_of_day(d.correction_due)


class MeetingRecord(Frozen):
    meeting_no: int
    scheduled_for: datetime | None = None
    held_at: datetime | None = None
    attendance: tuple[str, ...] = ()
    decided: tuple[str, ...] = ()  # item keys
    command_id: str | None = None  # the record_meeting that recorded it


class ConferenceState(Frozen):
    """Everything the conference knows: the fold of its stream from the start's fields."""

    place_code: str
    place: Jurisdiction
    office: str  # the secretariat's unit (the place's petition bureau)
    version: int = 0
    items: dict[str, AgendaItem] = Field(default_factory=dict)  # open items only
    meetings_held: int = 0
    meeting_due: MeetingRecord | None = None  # due, minutes not recorded yet
    meetings: dict[int, MeetingRecord] = Field(default_factory=dict)  # the latest few
    closed_items: int = 0
    last_event_type: str | None = None
    # command_id -> version after it (a repeat is a no-op); kept for good, so a
    # subject that joined once is not added again by a repeated signal
    commands: dict[str, int] = Field(default_factory=dict)

    @property
    def open_items(self) -> list[AgendaItem]:
        return sorted(self.items.values(), key=lambda i: (i.added_on, i.key))

    @property
    def pending(self) -> list[AgendaItem]:
        return [i for i in self.open_items if i.status == "pending"]

    @property
    def overdue_items(self) -> list[AgendaItem]:
        return [i for i in self.open_items if i.overdue]

    @property
    def undelivered(self) -> list[AgendaItem]:
        """Decided items whose decision has not reached its subject yet."""
        return [i for i in self.open_items if i.status == "decided"]

    def next_correction(self) -> AgendaItem | None:
        timed = [i for i in self.open_items if i.correction_due_at is not None]
        return min(timed, key=lambda i: (i.correction_due_at, i.key)) if timed else None


def evolve(state: ConferenceState, event: ConferenceEvent) -> ConferenceState:
    items = dict(state.items)
    changes: dict[str, Any] = {
        "version": state.version + 1,
        "last_event_type": event.type,
        "commands": {**state.commands, event.causation_id: state.version + 1},
    }
    match event:
        case AgendaItemAdded():
            items[item_key(event.subject, event.subject_id)] = AgendaItem(
                subject=event.subject,
                subject_id=event.subject_id,
                reason=event.reason,
                place=event.place,
                added_on=event.day,
            )
        case ConferenceMeetingDue():
            changes["meeting_due"] = MeetingRecord(
                meeting_no=event.meeting_no, scheduled_for=event.scheduled_for
            )
        case ConferenceMeetingHeld():
            due = state.meeting_due
            record = MeetingRecord(
                meeting_no=event.meeting_no,
                scheduled_for=due.scheduled_for if due else None,
                held_at=event.held_at,
                attendance=event.attendance,
                command_id=event.causation_id,
            )
            kept = {**state.meetings, event.meeting_no: record}
            changes["meetings"] = {n: kept[n] for n in sorted(kept)[-MEETINGS_KEPT:]}
            changes["meetings_held"] = event.meeting_no
            changes["meeting_due"] = None
        case AgendaItemDecided():
            key = item_key(event.subject, event.subject_id)
            items[key] = items[key].model_copy(
                update={
                    "status": "decided",
                    "overdue": False,
                    "decision": ItemDecision(
                        meeting_no=event.meeting_no,
                        decision_command_id=event.decision_command_id,
                        lead_unit=event.lead_unit,
                        plan=event.plan,
                        supervise=event.supervise,
                        correction_days=event.correction_days,
                        correction_due=event.correction_due,
                        decided_by=event.actor,
                        held_at=event.held_at,
                    ),
                }
            )
            meetings = dict(changes.get("meetings", state.meetings))
            if event.meeting_no in meetings:
                m = meetings[event.meeting_no]
                meetings[event.meeting_no] = m.model_copy(update={"decided": (*m.decided, key)})
                changes["meetings"] = meetings
        case AgendaDecisionDelivered():
            key = item_key(event.subject, event.subject_id)
            item = items[key]
            if event.accepted:
                items[key] = item.model_copy(update={"status": "supervised"})
            else:
                items[key] = item.model_copy(
                    update={
                        "status": "pending",
                        "decision": None,
                        "overdue": False,
                        "refusals": item.refusals + 1,
                        "last_refusal": event.code,
                    }
                )
        case SupervisionOverdue():
            key = item_key(event.subject, event.subject_id)
            items[key] = items[key].model_copy(update={"overdue": True})
        case AgendaItemClosed():
            items.pop(item_key(event.subject, event.subject_id), None)
            changes["closed_items"] = state.closed_items + 1
        case ConferenceCommandRejected():
            pass
    changes["items"] = items
    return state.model_copy(update=changes)


def fold(events: Iterable[ConferenceEvent], state: ConferenceState) -> ConferenceState:
    for event in events:
        state = evolve(state, event)
    return state


# ---- decide --------------------------------------------------------------------------

CODES: dict[str, str] = {
    "not_the_conference_office": "only the conference's office (its secretariat, the "
    "place's petition bureau) records meetings and withdraws items",
    "not_on_agenda": "that subject is not on the conference's agenda as an item to decide",
    "not_under_supervision": "that item has no supervised decision to report a correction on",
    "not_the_lead_unit": "a correction is reported by the lead unit the conference named "
    "(or by the office)",
    "outside_conference_place": "the subject's place lies outside the conference's place",
    "meeting_in_future": "a meeting is recorded only after it was held",
    "timestamp_in_future": "the command's issued_at is ahead of the engine's clock",
    "engine_only": "only the engine sends this command",
    "invalid_command": "the payload is not a valid command; see the field errors",
    "unknown_command": "there is no command of that name",
}
MAX_CLOCK_SKEW = timedelta(minutes=5)


def reject(code: str, detail: str | None = None) -> Rejection:
    return Rejection(code=code, message=f"{CODES[code]} ({detail})" if detail else CODES[code])


class Accepted(Frozen):
    events: tuple[ConferenceEvent, ...]
    duplicate: bool = False  # the command_id was seen before: nothing new


ConferenceDecision = Accepted | Rejection


def parse(kind: str, payload: Any, allowed: dict[str, type[Any]] = EXTERNAL) -> Any:
    """A raw payload (JSON) as the command ``kind``, or a Rejection saying why not."""
    cls = allowed.get(kind)
    if cls is None:
        return reject("unknown_command", f"{kind!r}; known: {', '.join(sorted(allowed))}")
    if isinstance(payload, Rejection):
        return payload
    if isinstance(payload, Frozen):
        payload = payload.model_dump(mode="json")
    if not isinstance(payload, dict):
        return reject("invalid_command", f"expected a JSON object, got {type(payload).__name__}")
    payload = {k: v for k, v in payload.items() if k != "kind"}
    try:
        return cls.model_validate(payload)
    except ValidationError as exc:
        return reject("invalid_command", "; ".join(field_errors(exc)))


def event_id(place_code: str, command_id: str, index: int) -> uuid.UUID:
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"conference-{place_code}/{command_id}/{index}")


class _Ctx:
    def __init__(self, state: ConferenceState, command_id: str, actor: Actor, now: datetime):
        self.state, self.command_id, self.actor, self.now = state, command_id, actor, now
        self.events: list[ConferenceEvent] = []

    def emit(self, cls: type[ConferenceEventBase], **fields: Any) -> None:
        event = cls(
            event_id=event_id(self.state.place_code, self.command_id, len(self.events)),
            place_code=self.state.place_code,
            occurred_at=self.now,
            day=local_day(self.now),
            actor=self.actor,
            causation_id=self.command_id,
            correlation_id=self.command_id,
            **fields,
        )
        self.events.append(event)  # type: ignore[arg-type]
        self.state = evolve(self.state, event)  # type: ignore[arg-type]


def actor_of(command: Any) -> Actor:
    actor = getattr(command, "actor", None)
    if isinstance(actor, Actor):
        return actor
    # an agenda item carries no actor: the engine adds it for the subject
    return Actor(unit=ENGINE_UNIT, person=f"{command.subject} {command.subject_id}")


def decide(state: ConferenceState, command: Any, now: datetime) -> ConferenceDecision:
    """The events ``command`` makes on ``state`` at ``now``, or why not."""
    if command.command_id in state.commands:
        return Accepted(events=(), duplicate=True)
    # An agenda item's issued_at is when its subject asked, by the subject's clock (a
    # case's clock may run ahead under time skipping): informational, never refused.
    if (
        command.kind != "add_to_agenda"
        and (early := issued_in_future(command.issued_at, now, MAX_CLOCK_SKEW)) is not None
    ):
        return early
    x = _Ctx(state, command.command_id, actor_of(command), now)
    rejection = _HANDLERS[command.kind](x, command)
    if rejection is not None:
        return rejection
    return Accepted(events=tuple(x.events))


def rejected_event(
    state: ConferenceState,
    kind: str,
    command_id: str,
    actor: Actor,
    rejection: Rejection,
    now: datetime,
) -> ConferenceCommandRejected:
    """The event that records a refused signal."""
    return ConferenceCommandRejected(
        event_id=event_id(state.place_code, command_id, 0),
        place_code=state.place_code,
        occurred_at=now,
        day=local_day(now),
        actor=actor,
        causation_id=command_id,
        correlation_id=command_id,
        command_kind=kind[:100],
        code=rejection.code,
        message=rejection.message[:2000],
    )


_Handler = Callable[[_Ctx, Any], Rejection | None]
_HANDLERS: dict[str, _Handler] = {}


def _handles(kind: str) -> Callable[[_Handler], _Handler]:
    def register(fn: _Handler) -> _Handler:
        _HANDLERS[kind] = fn
        return fn

    return register


def _office(x: _Ctx, allow_engine: bool = False) -> Rejection | None:
    unit = x.actor.unit
    if unit == x.state.office or (allow_engine and unit == ENGINE_UNIT):
        return None
    return reject(
        "not_the_conference_office", f"the office is {x.state.office}; the actor is {unit}"
    )


def _engine(x: _Ctx) -> Rejection | None:
    if x.actor.unit == ENGINE_UNIT:
        return None
    return reject("engine_only", f"from {x.actor.unit}")


@_handles("add_to_agenda")
def _add(x: _Ctx, cmd: AgendaItemIn) -> Rejection | None:
    if not x.state.place.contains(cmd.place):
        return reject(
            "outside_conference_place",
            f"{cmd.subject} {cmd.subject_id} is in {cmd.place}; the conference is {x.state.place}",
        )
    if item_key(cmd.subject, cmd.subject_id) in x.state.items:
        return None  # on the agenda already (under another command id): nothing new
    x.emit(
        AgendaItemAdded,
        subject=cmd.subject,
        subject_id=cmd.subject_id,
        reason=cmd.reason,
        place=cmd.place,
        issued_at=cmd.issued_at,
    )
    return None


@_handles("mark_meeting_due")
def _due(x: _Ctx, cmd: MarkMeetingDue) -> Rejection | None:
    if r := _engine(x):
        return r
    if x.state.meeting_due is not None or not x.state.pending:
        return None  # one due already, or nothing to decide: no meeting
    x.emit(
        ConferenceMeetingDue,
        meeting_no=x.state.meetings_held + 1,
        scheduled_for=cmd.scheduled_for,
        items=tuple(i.key for i in x.state.pending),
    )
    return None


@_handles("record_meeting")
def _meeting(x: _Ctx, cmd: RecordMeeting) -> Rejection | None:
    if r := _office(x):
        return r
    if cmd.held_at > x.now + MAX_CLOCK_SKEW:
        return reject("meeting_in_future", f"held_at {cmd.held_at.isoformat()}")
    for d in cmd.decisions:
        item = x.state.items.get(item_key(d.subject, d.subject_id))
        if item is None or item.status != "pending":
            why = "not on the agenda" if item is None else f"its decision is {item.status}"
            return reject("not_on_agenda", f"{d.subject} {d.subject_id}: {why}")
    no = x.state.meetings_held + 1
    x.emit(ConferenceMeetingHeld, meeting_no=no, held_at=cmd.held_at, attendance=cmd.attendance)
    for d in cmd.decisions:
        x.emit(
            AgendaItemDecided,
            meeting_no=no,
            subject=d.subject,
            subject_id=d.subject_id,
            decision_command_id=decision_command_id(x.state.place_code, no, d.subject_id),
            held_at=cmd.held_at,
            lead_unit=d.lead_unit,
            plan=d.plan,
            supervise=d.supervise,
            correction_days=d.correction_days,
            correction_due=(
                correction_due(cmd.held_at, d.correction_days) if d.correction_days else None
            ),
        )
    return None


@_handles("record_decision_result")
def _result(x: _Ctx, cmd: RecordDecisionResult) -> Rejection | None:
    if r := _engine(x):
        return r
    item = x.state.items.get(item_key(cmd.subject, cmd.subject_id))
    if (
        item is None
        or item.decision is None
        or item.decision.decision_command_id != cmd.decision_command_id
    ):
        return None  # the item moved on (withdrawn meanwhile): nothing to record
    fields = {"subject": cmd.subject, "subject_id": cmd.subject_id}
    x.emit(
        AgendaDecisionDelivered,
        **fields,
        decision_command_id=cmd.decision_command_id,
        accepted=cmd.accepted,
        code=cmd.code,
        message=(cmd.message or "")[:2000] or None,
        subject_events=cmd.subject_events,
        subject_version=cmd.subject_version,
    )
    if cmd.accepted and not item.decision.supervise:
        x.emit(AgendaItemClosed, **fields, reason="decided")
    elif not cmd.accepted and cmd.code in SUBJECT_GONE:
        x.emit(AgendaItemClosed, **fields, reason="subject_closed", note=cmd.code)
    return None


@_handles("expire_correction")
def _expire(x: _Ctx, cmd: ExpireCorrection) -> Rejection | None:
    if r := _engine(x):
        return r
    item = x.state.items.get(item_key(cmd.subject, cmd.subject_id))
    due_at = item.correction_due_at if item else None
    if item is None or due_at is None or x.now < due_at:
        return None
    assert item.decision is not None and item.decision.correction_due is not None
    x.emit(
        SupervisionOverdue,
        subject=cmd.subject,
        subject_id=cmd.subject_id,
        due=item.decision.correction_due,
    )
    return None


@_handles("record_correction")
def _correction(x: _Ctx, cmd: RecordCorrection) -> Rejection | None:
    item = x.state.items.get(item_key(cmd.subject, cmd.subject_id))
    if item is None or item.decision is None or not item.decision.supervise:
        return reject("not_under_supervision", f"{cmd.subject} {cmd.subject_id}")
    lead = item.decision.lead_unit.name
    if x.actor.unit not in (lead, x.state.office):
        return reject("not_the_lead_unit", f"the lead unit is {lead}; the actor is {x.actor.unit}")
    x.emit(
        AgendaItemClosed,
        subject=cmd.subject,
        subject_id=cmd.subject_id,
        reason="corrected",
        note=cmd.report,
    )
    return None


@_handles("withdraw_item")
def _withdraw(x: _Ctx, cmd: WithdrawItem) -> Rejection | None:
    if r := _office(x, allow_engine=True):
        return r
    if item_key(cmd.subject, cmd.subject_id) not in x.state.items:
        return reject("not_on_agenda", f"{cmd.subject} {cmd.subject_id}")
    x.emit(
        AgendaItemClosed,
        subject=cmd.subject,
        subject_id=cmd.subject_id,
        reason="withdrawn",
        note=cmd.reason,
    )
    return None


def invalid_signal_event(
    state: ConferenceState, kind: str, command_id: str, rejection: Rejection, now: datetime
) -> ConferenceCommandRejected:
    """A signal that is no valid command at all (its actor is unknown)."""
    return rejected_event(
        state, kind, command_id, Actor(unit="(invalid command)", person="(unknown)"), rejection, now
    )


def summary_line(state: ConferenceState) -> str:
    """One line for people: the open items, those overdue. No personal data."""
    return (
        f"{len(state.items)} open item(s), {len(state.overdue_items)} overdue, "
        f"{state.meetings_held} meeting(s) held"
    )
