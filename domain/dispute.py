"""Village dispute screening (矛盾纠纷排查化解): one dispute, as pure code.

A village information officer (信访信息员) reports a dispute found in the village; a
mediator unit takes it up at village or township level within a time limit set by
policy; it ends in exactly one of three ways:

- **resolved**: the mediation reached an agreement (``record_resolution``) and a
  follow-up visit confirmed it (``record_follow_up``), which closes the dispute;
- **converted** into a petition case (``convert_to_petition``): a real
  ``PetitionWorkflow`` case whose registration carries the correlation id
  ``dispute:<dispute id>``, and ``DisputeConverted`` names the case: linked both ways;
- **escalated** to the township's joint conference (``escalate_to_conference``), whose
  decision comes back as ``record_conference_decision`` and closes it.

``decide(state, command, now, policy)`` returns :class:`~.decide.Accepted` with the
new events or a :class:`~.decide.Rejection` with a snake_case code; ``evolve`` folds
an event into :class:`DisputeState`. No I/O, no clock: event ids derive from the
dispute id, the command id and the event's index, as a case's do.

Event types are prefixed ``Dispute`` so that they never collide with a case's
(``domain/events.py``); they live in the stream ``dispute-<dispute id>``.

Personal data: the parties (names, phones, addresses, ID numbers) and the free-text
summary and agreement are in the events and the state only, never in the dispute's
place, codes, status or anything else that reaches search attributes, logs, the
Web UI's details or notifications.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from .conference import AgendaItemIn
from .decide import Rejection, issued_in_future
from .intake import IdNumber, Intake, Phone, field_errors
from .units import UnitKind, UnitLookup
from .values import (
    Actor,
    Channel,
    Classification,
    Frozen,
    Jurisdiction,
    LongText,
    MediumText,
    ShortText,
    Unit,
)

# ---- values ------------------------------------------------------------------------

# Contract: "any id of letters, digits and -" (the demo's: D-<township code>-<serial>).
DisputeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")]
CommandId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")]
CaseId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
VillageCode = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
ReasonCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]

ENGINE_UNIT = "petitionflow"


class DisputeKind(StrEnum):
    LAND_CONTRACT = "land_contract"  # 土地承包 / 合同
    WAGES = "wages"  # 劳资 / 欠薪
    FAMILY_MARRIAGE = "family_marriage"  # 婚姻家庭
    NEIGHBOURS = "neighbours"  # 邻里
    PROPERTY_HOUSING = "property_housing"  # 房屋 / 宅基地
    COMPENSATION = "compensation"  # 损害赔偿 / 征地补偿
    OTHER = "other"


class Urgency(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class MediationLevel(StrEnum):
    VILLAGE = "village"  # 村（居）人民调解委员会
    TOWNSHIP = "township"  # 乡镇人民调解委员会 / 司法所


class DisputeStatus(StrEnum):
    NEW = "new"  # nothing recorded yet
    REPORTED = "reported"  # found, waiting for a mediator
    MEDIATING = "mediating"  # under mediation, the time limit running
    RESOLVED = "resolved"  # agreement reached; the follow-up visit is due
    ESCALATED = "escalated"  # before the township's joint conference
    CLOSED = "closed"


class Outcome(StrEnum):
    RESOLVED = "resolved"
    CONVERTED = "converted"
    ESCALATED = "escalated"


class DisputePlace(Frozen):
    """Where the dispute is: the jurisdiction down to the township, and the village.

    The place codes follow the administrative division codes (contract): the village's
    12 digits; its township is the first 9, its county the first 6."""

    jurisdiction: Jurisdiction
    village: ShortText
    village_code: VillageCode

    @model_validator(mode="after")
    def _down_to_township(self) -> DisputePlace:
        if self.jurisdiction.township is None:
            raise ValueError(
                "jurisdiction: give region > prefecture > county > township; a dispute is "
                "found in a village of a township"
            )
        return self

    @property
    def township_code(self) -> str:
        return self.village_code[:9]

    @property
    def county_code(self) -> str:
        return self.village_code[:6]


class Party(Frozen):
    """A party to the dispute. Personal data: events and state only."""

    name: ShortText
    phone: Phone
    address: MediumText | None = None
    id_number: IdNumber | None = None


class DisputePolicy(Frozen):
    """Mediation time limits, in calendar days from the day mediation starts (that day
    not counted); a limit ends at the end of its last day, Beijing time, and does not
    roll over holidays.

    Policy defaults, not statute: the People's Mediation Law (人民调解法) sets no
    period. These follow the common provincial practice for 矛盾纠纷排查化解 (a village
    committee mediates within 15 days, 7 when urgent; the township within 30, 15 when
    urgent); a province overrides them.
    """

    village_days: int = Field(15, ge=1)
    village_urgent_days: int = Field(7, ge=1)
    township_days: int = Field(30, ge=1)
    township_urgent_days: int = Field(15, ge=1)
    utc_offset_hours: int = Field(8, ge=-12, le=14)
    max_clock_skew_seconds: int = Field(300, ge=0)

    def mediation_days(self, level: MediationLevel, urgency: Urgency) -> int:
        urgent = urgency is Urgency.URGENT
        if level is MediationLevel.VILLAGE:
            return self.village_urgent_days if urgent else self.village_days
        return self.township_urgent_days if urgent else self.township_days

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(hours=self.utc_offset_hours))

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.tz).date()

    def end_of(self, day: date) -> datetime:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.tz).astimezone(UTC)


# ---- commands ----------------------------------------------------------------------


class DisputeCommandBase(Frozen):
    command_id: CommandId
    actor: Actor
    issued_at: AwareDatetime
    correlation_id: CommandId | None = None


class ReportDispute(DisputeCommandBase):
    """信息员 reports a dispute found in the village (the workflow's start)."""

    kind: Literal["report_dispute"] = "report_dispute"
    dispute_id: DisputeId
    place: DisputePlace
    parties: tuple[Party, ...] = Field(min_length=1, max_length=20)
    category: DisputeKind
    urgency: Urgency = Urgency.NORMAL
    summary: LongText


class StartMediation(DisputeCommandBase):
    """A mediator unit (the actor's unit) takes the dispute up at village or township level."""

    kind: Literal["start_mediation"] = "start_mediation"
    level: MediationLevel


class RecordResolution(DisputeCommandBase):
    """The parties agreed (调解协议)."""

    kind: Literal["record_resolution"] = "record_resolution"
    agreement: LongText


class RecordFollowUp(DisputeCommandBase):
    """The follow-up visit (回访) after the agreement; it closes the dispute."""

    kind: Literal["record_follow_up"] = "record_follow_up"
    visited_on: date
    outcome: MediumText
    agreement_kept: bool = True


class ConvertToPetition(DisputeCommandBase):
    """Mediation cannot settle it: it becomes a petition case, registered by
    ``registering_office`` with party ``petitioner`` (an index into the parties) as
    the petitioner. ``case_id`` defaults to the dispute's id."""

    kind: Literal["convert_to_petition"] = "convert_to_petition"
    registering_office: ShortText
    petitioner: int = Field(0, ge=0)
    request: LongText
    reasons: LongText | None = None
    case_id: CaseId | None = None


class EscalateToConference(DisputeCommandBase):
    """Send the dispute to the township's joint conference (联席会议)."""

    kind: Literal["escalate_to_conference"] = "escalate_to_conference"
    reason: ReasonCode = "mediation_failed"
    note: MediumText | None = None


class RecordConferenceDecision(DisputeCommandBase):
    """The conference's decision on the dispute (contract payload, as a case's)."""

    kind: Literal["record_conference_decision"] = "record_conference_decision"
    lead_unit: Unit
    plan: LongText
    supervise: bool = False
    correction_days: int | None = Field(default=None, ge=1, le=365)


class ExpireMediation(DisputeCommandBase):
    """The engine's own: the mediation's time limit passed (its timer fired)."""

    kind: Literal["expire_mediation"] = "expire_mediation"


DisputeCommand = Annotated[
    ReportDispute
    | StartMediation
    | RecordResolution
    | RecordFollowUp
    | ConvertToPetition
    | EscalateToConference
    | RecordConferenceDecision
    | ExpireMediation,
    Field(discriminator="kind"),
]

COMMAND_TYPES: dict[str, type[DisputeCommandBase]] = {
    cls.model_fields["kind"].default: cls for cls in DisputeCommandBase.__subclasses__()
}
INTERNAL_COMMANDS = ("report_dispute", "expire_mediation")
# What callers may send to a running dispute (updates and signals of these names).
EXTERNAL_COMMANDS: dict[str, type[DisputeCommandBase]] = {
    k: v for k, v in COMMAND_TYPES.items() if k not in INTERNAL_COMMANDS
}


# ---- events ------------------------------------------------------------------------


class DisputeEventBase(Frozen):
    event_id: uuid.UUID
    dispute_id: str
    occurred_at: AwareDatetime
    day: date  # occurred_at's date in Beijing (policy.utc_offset_hours)
    actor: Actor
    causation_id: str
    correlation_id: str


class DisputeReported(DisputeEventBase):
    type: Literal["DisputeReported"] = "DisputeReported"
    schema_version: Literal[1] = 1
    place: DisputePlace
    parties: tuple[Party, ...]
    category: DisputeKind
    urgency: Urgency
    summary: str


class DisputeMediationStarted(DisputeEventBase):
    type: Literal["DisputeMediationStarted"] = "DisputeMediationStarted"
    schema_version: Literal[1] = 1
    level: MediationLevel
    mediator: str
    days: int
    due: date  # the last day
    due_at: AwareDatetime  # the end of that day


class DisputeOverdue(DisputeEventBase):
    """The mediation's time limit passed without an outcome (recorded once)."""

    type: Literal["DisputeOverdue"] = "DisputeOverdue"
    schema_version: Literal[1] = 1
    due: date


class DisputeResolved(DisputeEventBase):
    type: Literal["DisputeResolved"] = "DisputeResolved"
    schema_version: Literal[1] = 1
    agreement: str


class DisputeFollowedUp(DisputeEventBase):
    type: Literal["DisputeFollowedUp"] = "DisputeFollowedUp"
    schema_version: Literal[1] = 1
    visited_on: date
    outcome: str
    agreement_kept: bool


class DisputeConverted(DisputeEventBase):
    """The petition case ``case_id`` exists (its registration's correlation id is
    ``dispute:<dispute id>``): the dispute and the case name each other."""

    type: Literal["DisputeConverted"] = "DisputeConverted"
    schema_version: Literal[1] = 1
    case_id: str
    registering_office: str


class DisputeEscalated(DisputeEventBase):
    """On the agenda of ``conference_id`` (``conference-<township code>``)."""

    type: Literal["DisputeEscalated"] = "DisputeEscalated"
    schema_version: Literal[1] = 1
    conference_id: str
    reason: str
    note: str | None = None


class DisputeConferenceDecided(DisputeEventBase):
    type: Literal["DisputeConferenceDecided"] = "DisputeConferenceDecided"
    schema_version: Literal[1] = 1
    lead_unit: Unit
    plan: str
    supervise: bool
    correction_days: int | None = None


class DisputeClosed(DisputeEventBase):
    type: Literal["DisputeClosed"] = "DisputeClosed"
    schema_version: Literal[1] = 1
    outcome: Outcome


class DisputeCommandRejected(DisputeEventBase):
    """A fire-and-forget command (a signal) that was refused; kept so nothing is lost."""

    type: Literal["DisputeCommandRejected"] = "DisputeCommandRejected"
    schema_version: Literal[1] = 1
    command_kind: str
    code: str
    message: str


DisputeEvent = Annotated[
    DisputeReported
    | DisputeMediationStarted
    | DisputeOverdue
    | DisputeResolved
    | DisputeFollowedUp
    | DisputeConverted
    | DisputeEscalated
    | DisputeConferenceDecided
    | DisputeClosed
    | DisputeCommandRejected,
    Field(discriminator="type"),
]
DISPUTE_EVENT_ADAPTER: TypeAdapter[DisputeEvent] = TypeAdapter(DisputeEvent)
EVENT_TYPES: frozenset[str] = frozenset(
    cls.model_fields["type"].default for cls in DisputeEventBase.__subclasses__()
)


# ---- the agenda item (the contract's ``add_to_agenda`` payload) ------------------------


def conference_id(township_code: str) -> str:
    return f"conference-{township_code}"


# ---- state and evolve ----------------------------------------------------------------


class DisputeState(Frozen):
    dispute_id: str | None = None
    version: int = 0
    correlation_id: str | None = None
    status: DisputeStatus = DisputeStatus.NEW
    place: DisputePlace | None = None
    parties: tuple[Party, ...] = ()
    category: DisputeKind | None = None
    urgency: Urgency | None = None
    summary: str | None = None
    reported_on: date | None = None
    reported_by: str | None = None  # the information officer's unit
    mediation_level: MediationLevel | None = None
    mediator: str | None = None
    mediation_started_on: date | None = None
    due: date | None = None
    due_at: datetime | None = None
    overdue: bool = False
    resolved_on: date | None = None
    followed_up_on: date | None = None
    outcome: Outcome | None = None
    case_id: str | None = None  # the petition case it became
    conference_id: str | None = None
    conference_decided: bool = False
    closed_on: date | None = None
    commands: dict[str, tuple[DisputeEvent, ...]] = Field(default_factory=dict)
    last_event_type: str | None = None

    def timer(self) -> datetime | None:
        """When the mediation's time limit runs out, while it runs and is not overdue."""
        if self.status is DisputeStatus.MEDIATING and not self.overdue:
            return self.due_at
        return None


def evolve(state: DisputeState, event: DisputeEvent) -> DisputeState:
    cmds = dict(state.commands)
    cmds[event.causation_id] = (*cmds.get(event.causation_id, ()), event)
    changes: dict[str, Any] = {
        "version": state.version + 1,
        "commands": cmds,
        "last_event_type": event.type,
    }
    match event:
        case DisputeReported():
            changes |= {
                "dispute_id": event.dispute_id,
                "correlation_id": event.correlation_id,
                "status": DisputeStatus.REPORTED,
                "place": event.place,
                "parties": event.parties,
                "category": event.category,
                "urgency": event.urgency,
                "summary": event.summary,
                "reported_on": event.day,
                "reported_by": event.actor.unit,
            }
        case DisputeMediationStarted():
            changes |= {
                "status": DisputeStatus.MEDIATING,
                "mediation_level": event.level,
                "mediator": event.mediator,
                "mediation_started_on": event.day,
                "due": event.due,
                "due_at": event.due_at,
            }
        case DisputeOverdue():
            changes["overdue"] = True
        case DisputeResolved():
            changes |= {"status": DisputeStatus.RESOLVED, "resolved_on": event.day}
        case DisputeFollowedUp():
            changes["followed_up_on"] = event.visited_on
        case DisputeConverted():
            changes["case_id"] = event.case_id
        case DisputeEscalated():
            changes |= {"status": DisputeStatus.ESCALATED, "conference_id": event.conference_id}
        case DisputeConferenceDecided():
            changes["conference_decided"] = True
        case DisputeClosed():
            changes |= {
                "status": DisputeStatus.CLOSED,
                "outcome": event.outcome,
                "closed_on": event.day,
            }
        case DisputeCommandRejected():
            pass
    return state.model_copy(update=changes)


def fold(events: Iterable[DisputeEvent], state: DisputeState | None = None) -> DisputeState:
    state = state or DisputeState()
    for e in events:
        state = evolve(state, e)
    return state


# ---- decide ------------------------------------------------------------------------


class Accepted(Frozen):
    """The events a command makes (``duplicate``: its command_id was seen before, and
    these are the events it made then)."""

    events: tuple[DisputeEvent, ...]
    duplicate: bool = False


EVENT_ID_NAMESPACE = uuid.UUID("9d6f4c1e-2b7a-4e0b-8f57-3a1c6d2e9b40")

# Codes are part of the contract (README section on disputes); messages may change.
CODES: dict[str, str] = {
    "unknown_village": "the unit directory has no active village of that code in that "
    "township; find it with `petition units list --under <township code> --kind village`",
    "dispute_not_reported": "the dispute does not exist yet; report_dispute first",
    "dispute_already_reported": "this dispute id was reported already",
    "dispute_closed": "the dispute is closed; nothing more can be recorded",
    "wrong_status": "the command is not allowed in the dispute's current status",
    "timestamp_in_future": "the command's issued_at is ahead of the engine's clock",
    "mediation_not_started": "no mediation has been started; start_mediation first",
    "mediation_already_started": "the dispute is under mediation already",
    "not_the_mediator": "only the mediator unit that took the dispute up may do this",
    "no_such_party": "the petitioner index names no party of the dispute",
    "invalid_petition": "the petition built from the dispute is not a valid intake",
    "follow_up_in_future": "a follow-up visit can be recorded only after it took place",
    "follow_up_before_resolution": "the follow-up visit cannot be before the agreement",
    "not_escalated": "the dispute is not before the joint conference",
    "not_the_conference": "the decision's command_id must be "
    "conference:<township code>:<meeting no>:<dispute id> of the dispute's township",
    "deadline_not_due": "the mediation's time limit has not passed yet",
    "engine_only": "only the engine sends this command (its own timer)",
    "invalid_command": "the payload is not a valid command; see the field errors",
    "invalid_start": "the workflow's start input is not a valid dispute report",
    "unknown_command": "there is no command of that name",
}


def _reject(code: str, detail: str | None = None) -> Rejection:
    return Rejection(code=code, message=f"{CODES[code]} ({detail})" if detail else CODES[code])


def event_id(dispute_id: str, command_id: str, index: int) -> uuid.UUID:
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"dispute/{dispute_id}/{command_id}/{index}")


def parse(
    kind: str, payload: Any, allowed: dict[str, type[DisputeCommandBase]] = EXTERNAL_COMMANDS
) -> DisputeCommandBase | Rejection:
    """A raw payload (JSON from an update or signal) as the command ``kind``."""
    cls = allowed.get(kind)
    if cls is None:
        return _reject("unknown_command", f"{kind!r}; known: {', '.join(sorted(allowed))}")
    if isinstance(payload, Rejection):
        return payload
    if isinstance(payload, DisputeCommandBase):
        payload = payload.model_dump(mode="json")
    if not isinstance(payload, dict):
        return _reject("invalid_command", f"expected a JSON object, got {type(payload).__name__}")
    try:
        return cls.model_validate({**payload, "kind": kind})
    except ValidationError as exc:
        return _reject("invalid_command", "; ".join(field_errors(exc)))


class _Ctx:
    def __init__(
        self,
        state: DisputeState,
        cmd: DisputeCommandBase,
        now: datetime,
        policy: DisputePolicy,
        village: UnitLookup | None = None,
    ) -> None:
        self.state, self.cmd, self.now, self.policy = state, cmd, now, policy
        self.village = village
        self.today = policy.local_date(now)
        self.events: list[DisputeEvent] = []
        did = cmd.dispute_id if isinstance(cmd, ReportDispute) else state.dispute_id
        assert did is not None
        self.dispute_id: str = did

    def emit(self, cls: type[DisputeEventBase], **fields: Any) -> None:
        event = cls(
            event_id=event_id(self.dispute_id, self.cmd.command_id, len(self.events)),
            dispute_id=self.dispute_id,
            occurred_at=self.now,
            day=self.today,
            actor=self.cmd.actor,
            causation_id=self.cmd.command_id,
            correlation_id=self.state.correlation_id
            or self.cmd.correlation_id
            or f"dispute:{self.dispute_id}",
            **fields,
        )
        self.events.append(event)  # type: ignore[arg-type]
        self.state = evolve(self.state, event)  # type: ignore[arg-type]

    def mediator(self) -> Rejection | None:
        s = self.state
        if s.mediator is None:
            return _reject("mediation_not_started")
        if self.cmd.actor.unit != s.mediator:
            return _reject(
                "not_the_mediator",
                f"the mediator is {s.mediator}; the actor is {self.cmd.actor.unit}",
            )
        return None

    def status(self, *allowed: DisputeStatus) -> Rejection | None:
        if self.state.status in allowed:
            return None
        if self.state.status is DisputeStatus.REPORTED and DisputeStatus.MEDIATING in allowed:
            return _reject("mediation_not_started")
        kind: str = self.cmd.kind  # type: ignore[attr-defined]
        return _reject(
            "wrong_status",
            f"{kind} is allowed when the dispute is {' or '.join(s.value for s in allowed)}; "
            f"it is {self.state.status.value}",
        )


Handler = Callable[[_Ctx, Any], Rejection | None]
_HANDLERS: dict[str, Handler] = {}


def _handles(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[kind] = fn
        return fn

    return register


def decide(
    state: DisputeState,
    command: DisputeCommandBase,
    now: datetime,
    policy: DisputePolicy,
    village: UnitLookup | None = None,
) -> Accepted | Rejection:
    """``village``: the unit directory's answer for a report's village code (the
    workflow's local activity); without it, or with no directory loaded, the place is
    taken as given."""
    prior = state.commands.get(command.command_id)
    if prior is not None:
        return Accepted(events=prior, duplicate=True)
    skew = timedelta(seconds=policy.max_clock_skew_seconds)
    if (early := issued_in_future(command.issued_at, now, skew)) is not None:
        return early
    kind: str = command.kind  # type: ignore[attr-defined]
    if state.status is DisputeStatus.NEW and kind != "report_dispute":
        return _reject("dispute_not_reported")
    if kind == "report_dispute" and state.status is not DisputeStatus.NEW:
        return _reject("dispute_already_reported", f"reported {state.reported_on}")
    if state.status is DisputeStatus.CLOSED:
        return _reject("dispute_closed", f"closed {state.closed_on}: {state.outcome}")
    if kind == "expire_mediation" and command.actor.unit != ENGINE_UNIT:
        return _reject("engine_only", f"{kind} from {command.actor.unit}")
    ctx = _Ctx(state, command, now, policy, village)
    rejection = _HANDLERS[kind](ctx, command)
    if rejection is not None:
        return rejection
    return Accepted(events=tuple(ctx.events))


@_handles("report_dispute")
def _report(x: _Ctx, cmd: ReportDispute) -> Rejection | None:
    found = x.village
    if found is not None and found.loaded:
        place = cmd.place
        unit = found.unit
        if (
            unit is None
            or not unit.active
            or unit.kind is not UnitKind.VILLAGE
            or unit.id != place.village_code
            or unit.jurisdiction != place.jurisdiction
            or not unit.name.endswith(place.village)
        ):
            has = f"{unit.name} in {unit.jurisdiction} ({unit.status.value})" if unit else "none"
            return _reject(
                "unknown_village",
                f"{place.village_code} {place.village} in {place.jurisdiction}; the directory "
                f"has {has} as of {found.on}",
            )
    x.emit(
        DisputeReported,
        place=cmd.place,
        parties=cmd.parties,
        category=cmd.category,
        urgency=cmd.urgency,
        summary=cmd.summary,
    )
    return None


@_handles("start_mediation")
def _start_mediation(x: _Ctx, cmd: StartMediation) -> Rejection | None:
    if x.state.status is not DisputeStatus.REPORTED:
        return _reject("mediation_already_started", f"by {x.state.mediator}")
    assert x.state.urgency is not None
    days = x.policy.mediation_days(cmd.level, x.state.urgency)
    due = x.today + timedelta(days=days)
    x.emit(
        DisputeMediationStarted,
        level=cmd.level,
        mediator=cmd.actor.unit,
        days=days,
        due=due,
        due_at=x.policy.end_of(due),
    )
    return None


@_handles("expire_mediation")
def _expire(x: _Ctx, cmd: ExpireMediation) -> Rejection | None:
    s = x.state
    if s.status is not DisputeStatus.MEDIATING or s.overdue or s.due_at is None:
        return _reject("wrong_status", f"status {s.status.value}, overdue {s.overdue}")
    if x.now < s.due_at:
        return _reject("deadline_not_due", f"due {s.due}")
    assert s.due is not None
    x.emit(DisputeOverdue, due=s.due)
    return None


@_handles("record_resolution")
def _resolve(x: _Ctx, cmd: RecordResolution) -> Rejection | None:
    if r := x.status(DisputeStatus.MEDIATING) or x.mediator():
        return r
    x.emit(DisputeResolved, agreement=cmd.agreement)
    return None


@_handles("record_follow_up")
def _follow_up(x: _Ctx, cmd: RecordFollowUp) -> Rejection | None:
    if r := x.status(DisputeStatus.RESOLVED):
        return r
    s = x.state
    if cmd.actor.unit not in (s.mediator, s.reported_by):
        return _reject(
            "not_the_mediator",
            f"the follow-up is the mediator's ({s.mediator}) or the reporting village's "
            f"({s.reported_by}); the actor is {cmd.actor.unit}",
        )
    if cmd.visited_on > x.today:
        return _reject("follow_up_in_future", f"visited on {cmd.visited_on}, today {x.today}")
    if s.resolved_on is not None and cmd.visited_on < s.resolved_on:
        return _reject("follow_up_before_resolution", f"agreement of {s.resolved_on}")
    x.emit(
        DisputeFollowedUp,
        visited_on=cmd.visited_on,
        outcome=cmd.outcome,
        agreement_kept=cmd.agreement_kept,
    )
    x.emit(DisputeClosed, outcome=Outcome.RESOLVED)
    return None


def conversion_case_id(state: DisputeState, cmd: ConvertToPetition) -> str:
    assert state.dispute_id is not None
    return cmd.case_id or state.dispute_id


def conversion_intake(state: DisputeState, cmd: ConvertToPetition) -> Intake | Rejection:
    """The petition a conversion registers: the chosen party as the petitioner, the
    dispute's place, the dispute's summary as the facts. Received when the command was
    issued (the activity takes the earlier of that and its own clock)."""
    if cmd.petitioner >= len(state.parties):
        return _reject("no_such_party", f"{cmd.petitioner}; the dispute has {len(state.parties)}")
    party = state.parties[cmd.petitioner]
    place = state.place
    assert place is not None and state.summary is not None
    try:
        return Intake.model_validate(
            {
                "channel": Channel.VISIT,
                "petitioner": {
                    "name": party.name,
                    "address": party.address or "".join(place.jurisdiction.path) + place.village,
                    "phone": party.phone,
                    "id_number": party.id_number,
                },
                "request": cmd.request,
                "facts": state.summary,
                "reasons": cmd.reasons or state.summary,
                "classification": Classification.APPEAL,
                "jurisdiction": place.jurisdiction,
                "received_at": cmd.issued_at,
            }
        )
    except ValidationError as exc:
        return _reject("invalid_petition", "; ".join(field_errors(exc))[:1000])


@_handles("convert_to_petition")
def _convert(x: _Ctx, cmd: ConvertToPetition) -> Rejection | None:
    if r := x.status(DisputeStatus.MEDIATING) or x.mediator():
        return r
    intake = conversion_intake(x.state, cmd)
    if isinstance(intake, Rejection):
        return intake
    x.emit(
        DisputeConverted,
        case_id=conversion_case_id(x.state, cmd),
        registering_office=cmd.registering_office,
    )
    x.emit(DisputeClosed, outcome=Outcome.CONVERTED)
    return None


@_handles("escalate_to_conference")
def _escalate(x: _Ctx, cmd: EscalateToConference) -> Rejection | None:
    if r := x.status(DisputeStatus.MEDIATING) or x.mediator():
        return r
    assert x.state.place is not None
    x.emit(
        DisputeEscalated,
        conference_id=conference_id(x.state.place.township_code),
        reason=cmd.reason,
        note=cmd.note,
    )
    return None


@_handles("record_conference_decision")
def _conference_decision(x: _Ctx, cmd: RecordConferenceDecision) -> Rejection | None:
    if x.state.status is not DisputeStatus.ESCALATED:
        return _reject("not_escalated", f"status {x.state.status.value}")
    assert x.state.place is not None
    prefix = f"conference:{x.state.place.township_code}:"
    if not cmd.command_id.startswith(prefix):
        return _reject("not_the_conference", f"{cmd.command_id} does not start with {prefix}")
    x.emit(
        DisputeConferenceDecided,
        lead_unit=cmd.lead_unit,
        plan=cmd.plan,
        supervise=cmd.supervise,
        correction_days=cmd.correction_days,
    )
    x.emit(DisputeClosed, outcome=Outcome.ESCALATED)
    return None


_MISSING = set(COMMAND_TYPES) - set(_HANDLERS)
assert not _MISSING, f"dispute commands without a handler: {_MISSING}"


def agenda_item(state: DisputeState, escalated: DisputeEscalated) -> AgendaItemIn:
    """What the township's conference is sent (signal ``add_to_agenda``): ids, the
    reason code and the place, never the parties."""
    assert state.place is not None
    return AgendaItemIn(
        command_id=f"agenda:dispute:{escalated.dispute_id}",
        subject="dispute",
        subject_id=escalated.dispute_id,
        reason=escalated.reason,
        place=state.place.jurisdiction,
        issued_at=escalated.occurred_at,
    )


def rejected_event(
    state: DisputeState,
    kind: str,
    command_id: str,
    actor: Actor,
    rejection: Rejection,
    now: datetime,
    policy: DisputePolicy,
    new_event_id: uuid.UUID | None = None,
) -> DisputeCommandRejected:
    """The event that records a refused signal (only once the dispute exists)."""
    if state.dispute_id is None:
        raise ValueError("a rejection is recorded on a reported dispute only")
    return DisputeCommandRejected(
        event_id=new_event_id or event_id(state.dispute_id, command_id, 0),
        dispute_id=state.dispute_id,
        occurred_at=now,
        day=policy.local_date(now),
        actor=actor,
        causation_id=command_id,
        correlation_id=state.correlation_id or command_id,
        command_kind=kind[:100],
        code=rejection.code,
        message=rejection.message[:2000],
    )
