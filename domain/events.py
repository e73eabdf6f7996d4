"""Events: what happened to a case. A discriminated union on ``type``.

Each type carries its own ``schema_version``. When a type's shape changes, bump its
version here and register an upcaster for the old one in :mod:`domain.upcasting`;
stored events are never rewritten.

Every event records the actor, the command that caused it (``causation_id``) and the
case's correlation id, and lists the deadlines it opens and closes. ``decide``
computes those deadlines; ``evolve`` only applies them.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, TypeAdapter

from .intake import Intake
from .policy import Deadline, DeadlineKind
from .values import (
    Actor,
    Candidate,
    DecisionOutcome,
    DeliveredDocument,
    DeliveryMethod,
    DivertDestination,
    EscalationReason,
    Frozen,
    NotAcceptedReason,
    Rating,
    Unit,
)


class EventBase(Frozen):
    event_id: UUID
    case_id: str
    occurred_at: AwareDatetime
    day: date  # occurred_at's date in the jurisdiction's time zone (policy.utc_offset_hours)
    actor: Actor
    causation_id: str  # the command_id that produced it
    correlation_id: str
    deadlines_opened: tuple[Deadline, ...] = ()  # opened or moved
    deadlines_closed: tuple[DeadlineKind, ...] = ()


class PetitionRegistered(EventBase):
    type: Literal["PetitionRegistered"] = "PetitionRegistered"
    schema_version: Literal[1] = 1
    intake: Intake


class PetitionTransferred(EventBase):
    type: Literal["PetitionTransferred"] = "PetitionTransferred"
    schema_version: Literal[1] = 1
    unit: Unit


class PetitionAssigned(EventBase):
    type: Literal["PetitionAssigned"] = "PetitionAssigned"
    schema_version: Literal[1] = 1
    unit: Unit
    due_days: int


class PetitionDiverted(EventBase):
    type: Literal["PetitionDiverted"] = "PetitionDiverted"
    schema_version: Literal[1] = 1
    destination: DivertDestination
    note: str | None = None


class PetitionNotAccepted(EventBase):
    type: Literal["PetitionNotAccepted"] = "PetitionNotAccepted"
    schema_version: Literal[1] = 1
    reason: NotAcceptedReason
    detail: str


class ReceiptAcknowledged(EventBase):
    type: Literal["ReceiptAcknowledged"] = "ReceiptAcknowledged"
    schema_version: Literal[1] = 1


class RoutingObjected(EventBase):
    type: Literal["RoutingObjected"] = "RoutingObjected"
    schema_version: Literal[1] = 1
    unit: Unit
    reason: str


class PetitionAccepted(EventBase):
    type: Literal["PetitionAccepted"] = "PetitionAccepted"
    schema_version: Literal[1] = 1
    unit: Unit


class MediationStarted(EventBase):
    type: Literal["MediationStarted"] = "MediationStarted"
    schema_version: Literal[1] = 1
    mediator: str
    settlement: bool


class MediationRecorded(EventBase):
    type: Literal["MediationRecorded"] = "MediationRecorded"
    schema_version: Literal[1] = 1
    agreed: bool
    agreement: str | None = None


class HearingRecorded(EventBase):
    type: Literal["HearingRecorded"] = "HearingRecorded"
    schema_version: Literal[1] = 1
    held_from: date
    held_to: date
    summary: str


class HandlingExtended(EventBase):
    type: Literal["HandlingExtended"] = "HandlingExtended"
    schema_version: Literal[1] = 1
    days: int
    reason: str
    approved_by: str


class EscalatedToConference(EventBase):
    type: Literal["EscalatedToConference"] = "EscalatedToConference"
    schema_version: Literal[1] = 1
    reason: EscalationReason
    note: str | None = None
    # The joint conference that holds the case (``conference-<place code>``: the
    # registering office's place, from the unit directory); None without a directory.
    conference_id: str | None = None


class ConferenceDecided(EventBase):
    type: Literal["ConferenceDecided"] = "ConferenceDecided"
    schema_version: Literal[1] = 1
    lead_unit: Unit
    plan: str
    supervise: bool


class DecisionIssued(EventBase):
    type: Literal["DecisionIssued"] = "DecisionIssued"
    schema_version: Literal[1] = 1
    outcome: DecisionOutcome
    decision: str
    legal_basis: str


class ImplementationReported(EventBase):
    type: Literal["ImplementationReported"] = "ImplementationReported"
    schema_version: Literal[1] = 1
    report: str


class DeliveryRecorded(EventBase):
    """送达 of a written reply: the petitioner's windows count from ``delivered_on``."""

    type: Literal["DeliveryRecorded"] = "DeliveryRecorded"
    schema_version: Literal[1] = 1
    document: DeliveredDocument
    delivered_on: date
    method: DeliveryMethod


class SatisfactionRated(EventBase):
    type: Literal["SatisfactionRated"] = "SatisfactionRated"
    schema_version: Literal[1] = 1
    rating: Rating


class ReviewRequested(EventBase):
    """Level 1 is review (复查), level 2 re-review (复核)."""

    type: Literal["ReviewRequested"] = "ReviewRequested"
    schema_version: Literal[1] = 1
    level: Literal[1, 2]
    review_unit: Unit
    reasons: str


class ReviewDecided(EventBase):
    type: Literal["ReviewDecided"] = "ReviewDecided"
    schema_version: Literal[1] = 1
    level: Literal[1, 2]
    outcome: DecisionOutcome
    decision: str
    legal_basis: str


class ReviewReplied(EventBase):
    type: Literal["ReviewReplied"] = "ReviewReplied"
    schema_version: Literal[1] = 1
    level: Literal[1, 2]


class PetitionWithdrawn(EventBase):
    type: Literal["PetitionWithdrawn"] = "PetitionWithdrawn"
    schema_version: Literal[1] = 1
    reason: str | None = None


class DeadlineMissed(EventBase):
    """An obligation deadline passed: overdue, reminded (催办), supervised per policy."""

    type: Literal["DeadlineMissed"] = "DeadlineMissed"
    schema_version: Literal[1] = 1
    deadline: DeadlineKind
    due: date
    supervised: bool


class WindowClosed(EventBase):
    """A window (objection, evaluation, review request) passed unused."""

    type: Literal["WindowClosed"] = "WindowClosed"
    schema_version: Literal[1] = 1
    deadline: DeadlineKind
    due: date


class CaseClosed(EventBase):
    type: Literal["CaseClosed"] = "CaseClosed"
    schema_version: Literal[1] = 1
    reason: Literal["diverted", "not_accepted", "resolved", "withdrawn", "final"]


class RepeatSuggested(EventBase):
    """Screening at registration found earlier cases of the same petitioner that may be
    the same matter, not certainly: the registering office confirms or dismisses each."""

    type: Literal["RepeatSuggested"] = "RepeatSuggested"
    schema_version: Literal[1] = 1
    candidates: tuple[Candidate, ...]


class RepeatConfirmed(EventBase):
    type: Literal["RepeatConfirmed"] = "RepeatConfirmed"
    schema_version: Literal[1] = 1
    other_case_id: str


class RepeatDismissed(EventBase):
    type: Literal["RepeatDismissed"] = "RepeatDismissed"
    schema_version: Literal[1] = 1
    other_case_id: str


class CaseLinked(EventBase):
    """Two cases are the same petitioner's same matter. ``repeat_of``: this case repeats
    the other (and is not accepted); ``repeated_by``: the other repeats this one."""

    type: Literal["CaseLinked"] = "CaseLinked"
    schema_version: Literal[1] = 1
    other_case_id: str
    relation: Literal["repeat_of", "repeated_by"]
    reason: NotAcceptedReason


class DeadlineRecomputed(EventBase):
    """A provisional deadline counted again once its year's official arrangement was
    loaded (``deadlines_opened`` holds it as it now stands).

    ``official_due`` is what the arrangement gives; ``due`` what applies. They differ
    only when the official date is earlier than the provisional one: a recomputed
    deadline never moves earlier (``kept_later``), so no unit is overdue on a day it
    was told was still open and no petitioner's window shrinks. ``lifted_miss``: the
    deadline had been recorded as missed on a provisional date that the official
    calendar moves later; it is open again until ``due``.
    """

    type: Literal["DeadlineRecomputed"] = "DeadlineRecomputed"
    schema_version: Literal[1] = 1
    deadline: DeadlineKind
    previous_due: date
    official_due: date
    due: date
    calendar: str | None  # the arrangements counted with, e.g. "2026.v1+2027.v1"
    provisional: bool  # still counted across a year with no arrangement
    kept_later: bool = False
    lifted_miss: bool = False


class CommandRejected(EventBase):
    """A fire-and-forget command that failed ``decide``; kept so nothing is lost."""

    type: Literal["CommandRejected"] = "CommandRejected"
    schema_version: Literal[1] = 1
    command_kind: str
    code: str
    message: str


Event = Annotated[
    PetitionRegistered
    | PetitionTransferred
    | PetitionAssigned
    | PetitionDiverted
    | PetitionNotAccepted
    | ReceiptAcknowledged
    | RoutingObjected
    | PetitionAccepted
    | MediationStarted
    | MediationRecorded
    | HearingRecorded
    | HandlingExtended
    | EscalatedToConference
    | ConferenceDecided
    | DecisionIssued
    | ImplementationReported
    | DeliveryRecorded
    | SatisfactionRated
    | ReviewRequested
    | ReviewDecided
    | ReviewReplied
    | PetitionWithdrawn
    | DeadlineMissed
    | WindowClosed
    | CaseClosed
    | RepeatSuggested
    | RepeatConfirmed
    | RepeatDismissed
    | CaseLinked
    | DeadlineRecomputed
    | CommandRejected,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_TYPES: dict[str, type[EventBase]] = {
    cls.model_fields["type"].default: cls for cls in EventBase.__subclasses__()
}
