"""Case state and ``evolve``, the pure fold of events into state."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import Field

from . import events as ev
from .events import Event
from .intake import Intake
from .policy import Deadline, DeadlineKind
from .values import (
    Candidate,
    DecisionOutcome,
    DeliveredDocument,
    Frozen,
    Jurisdiction,
    Rating,
    Unit,
)


class Stage(StrEnum):
    NEW = "new"  # no event yet
    REGISTERED = "registered"  # S0/S1: waiting to be routed
    ROUTED = "routed"  # S1: transferred or assigned, waiting for acceptance
    HANDLING = "handling"  # S2
    CONFERENCE = "conference"  # escalated to the joint conference
    REPLIED = "replied"  # S3: written reply given; rating and review window open
    REVIEW = "review"  # S4: review requested
    REVIEW_REPLIED = "review_replied"  # S4 done; re-review window open
    RE_REVIEW = "re_review"  # S5
    CLOSED = "closed"  # S6


class CaseState(Frozen):
    case_id: str | None = None
    version: int = 0  # events applied; the event store's expected version
    correlation_id: str | None = None
    stage: Stage = Stage.NEW
    intake: Intake | None = None
    registered_on: date | None = None
    registered_by: str | None = None  # the unit that registered it (信访工作机构)
    handling_unit: Unit | None = None
    assigned: bool = False  # 交办 rather than 转送
    assigned_days: int | None = None
    acknowledged: bool = False
    accepted_on: date | None = None
    deadlines: dict[DeadlineKind, Deadline] = Field(default_factory=dict)
    extension_days_used: int = 0
    mediation: str | None = None  # None, "in_progress", "agreed", "failed"
    hearings: int = 0
    escalations: int = 0
    stage_before_conference: Stage | None = None
    conference_id: str | None = None  # the joint conference holding the case, if any
    supervised: bool = False
    decision: DecisionOutcome | None = None
    implementation_pending: bool = False
    replied_on: date | None = None
    # The written document waiting to be delivered (送达), and the days each was received.
    delivery_pending: DeliveredDocument | None = None
    delivered: dict[DeliveredDocument, date] = Field(default_factory=dict)
    rating: Rating | None = None
    review_level: int = 0  # 0 none, 1 review (复查), 2 re-review (复核)
    review_unit: Unit | None = None
    review_decided: bool = False
    review_replied_on: date | None = None
    diverted_to: str | None = None
    closed_reason: str | None = None
    closed_on: date | None = None
    final: bool = False  # 不再受理 after re-review
    # Repeat petitions: the cases linked to this one (either way), the one it repeats,
    # and the suggestions the registering office has not confirmed or dismissed yet.
    linked_cases: tuple[str, ...] = ()
    repeat_of: str | None = None
    repeat_suggestions: dict[str, Candidate] = Field(default_factory=dict)
    last_event_type: str | None = None
    # command_id -> the events it produced, so a repeated command gets the same answer
    commands: dict[str, tuple[Event, ...]] = Field(default_factory=dict)

    @property
    def overdue(self) -> bool:
        return any(d.missed and d.kind.is_obligation for d in self.deadlines.values())

    @property
    def jurisdiction(self) -> Jurisdiction | None:
        return self.intake.jurisdiction if self.intake else None

    @property
    def provisional(self) -> list[Deadline]:
        """Open deadlines counted across a year with no official holiday arrangement
        (missed ones too: the official calendar may lift the miss)."""
        return sorted(
            (d for d in self.deadlines.values() if d.provisional),
            key=lambda d: d.due_at,
        )

    def timers(self) -> list[Deadline]:
        """Deadlines a timer should wait for: open and not yet marked missed."""
        return sorted((d for d in self.deadlines.values() if not d.missed), key=lambda d: d.due_at)


def evolve(state: CaseState, event: Event) -> CaseState:
    deadlines = {k: v for k, v in state.deadlines.items() if k not in event.deadlines_closed}
    for d in event.deadlines_opened:
        deadlines[d.kind] = d
    cmds = dict(state.commands)
    cmds[event.causation_id] = (*cmds.get(event.causation_id, ()), event)
    changes: dict[str, Any] = {
        "version": state.version + 1,
        "deadlines": deadlines,
        "commands": cmds,
        "last_event_type": event.type,
    }
    day = event.day

    match event:
        case ev.PetitionRegistered():
            changes |= {
                "case_id": event.case_id,
                "correlation_id": event.correlation_id,
                "stage": Stage.REGISTERED,
                "intake": event.intake,
                "registered_on": day,
                "registered_by": event.actor.unit,
            }
        case ev.PetitionTransferred() | ev.PetitionAssigned():
            assigned = isinstance(event, ev.PetitionAssigned)
            changes |= {
                "stage": Stage.ROUTED,
                "handling_unit": event.unit,
                "assigned": assigned,
                "assigned_days": event.due_days if isinstance(event, ev.PetitionAssigned) else None,
                "acknowledged": False,
            }
        case ev.PetitionDiverted():
            changes["diverted_to"] = event.destination.value
        case ev.ReceiptAcknowledged():
            changes["acknowledged"] = True
        case ev.RoutingObjected():
            changes |= {
                "stage": Stage.REGISTERED,
                "handling_unit": None,
                "assigned": False,
                "assigned_days": None,
            }
        case ev.PetitionAccepted():
            changes |= {"stage": Stage.HANDLING, "accepted_on": day}
        case ev.MediationStarted():
            changes["mediation"] = "in_progress"
        case ev.MediationRecorded():
            changes["mediation"] = "agreed" if event.agreed else "failed"
            if event.agreed:
                changes |= {"stage": Stage.REPLIED, "replied_on": day}
        case ev.HearingRecorded():
            changes["hearings"] = state.hearings + 1
        case ev.HandlingExtended():
            changes["extension_days_used"] = state.extension_days_used + event.days
        case ev.EscalatedToConference():
            changes |= {
                "stage": Stage.CONFERENCE,
                "stage_before_conference": state.stage,
                "escalations": state.escalations + 1,
                "conference_id": event.conference_id,
            }
        case ev.ConferenceDecided():
            back = Stage.HANDLING if state.accepted_on else Stage.ROUTED
            changes |= {
                "stage": back,
                "stage_before_conference": None,
                "handling_unit": event.lead_unit,
                "supervised": state.supervised or event.supervise,
            }
            if back is Stage.ROUTED:
                changes["acknowledged"] = False
        case ev.DecisionIssued():
            changes |= {
                "stage": Stage.REPLIED,
                "decision": event.outcome,
                "implementation_pending": event.outcome is DecisionOutcome.SUPPORT,
                "replied_on": day,
                "delivery_pending": _awaits_delivery(event, DeliveredDocument.REPLY),
            }
        case ev.DeliveryRecorded():
            changes |= {
                "delivery_pending": None,
                "delivered": {**state.delivered, event.document: event.delivered_on},
            }
        case ev.ImplementationReported():
            changes["implementation_pending"] = False
        case ev.SatisfactionRated():
            changes["rating"] = event.rating
        case ev.ReviewRequested():
            changes |= {
                "stage": Stage.REVIEW if event.level == 1 else Stage.RE_REVIEW,
                "review_level": event.level,
                "review_unit": event.review_unit,
                "review_decided": False,
            }
        case ev.ReviewDecided():
            changes |= {"review_decided": True, "decision": event.outcome}
            if event.outcome is DecisionOutcome.SUPPORT:
                changes["implementation_pending"] = True
        case ev.ReviewReplied():
            document = (
                DeliveredDocument.REVIEW_REPLY
                if event.level == 1
                else DeliveredDocument.RE_REVIEW_REPLY
            )
            changes |= {
                "stage": Stage.REVIEW_REPLIED,
                "review_replied_on": day,
                "delivery_pending": _awaits_delivery(event, document),
            }
        case ev.DeadlineMissed():
            deadlines[event.deadline] = deadlines[event.deadline].model_copy(
                update={"missed": True}
            )
            changes["supervised"] = state.supervised or event.supervised
        case ev.WindowClosed():
            if event.deadline is DeadlineKind.EVALUATION and state.rating is None:
                changes["rating"] = Rating.NOT_EVALUATED
        case ev.CaseClosed():
            if DeadlineKind.EVALUATION in state.deadlines and state.rating is None:
                changes["rating"] = Rating.NOT_EVALUATED
            changes |= {
                "stage": Stage.CLOSED,
                "delivery_pending": None,
                "closed_reason": event.reason,
                "closed_on": day,
                "final": event.reason == "final",
            }
        case ev.RepeatSuggested():
            changes["repeat_suggestions"] = {
                **state.repeat_suggestions,
                **{c.case_id: c for c in event.candidates},
            }
        case ev.RepeatConfirmed() | ev.RepeatDismissed():
            changes["repeat_suggestions"] = {
                k: v for k, v in state.repeat_suggestions.items() if k != event.other_case_id
            }
        case ev.CaseLinked():
            if event.other_case_id not in state.linked_cases:
                changes["linked_cases"] = (*state.linked_cases, event.other_case_id)
            if event.relation == "repeat_of":
                changes["repeat_of"] = event.other_case_id
        case ev.DeadlineRecomputed():
            pass  # the deadline as it now stands is in deadlines_opened
        case ev.PetitionNotAccepted() | ev.PetitionWithdrawn() | ev.CommandRejected():
            pass
    return state.model_copy(update=changes)


def _awaits_delivery(event: ev.EventBase, document: DeliveredDocument) -> DeliveredDocument | None:
    """The document waits for delivery when its event opened a delivery deadline (cases
    decided under the rules before delivery was recorded never do)."""
    opened = any(d.kind is DeadlineKind.DELIVERY for d in event.deadlines_opened)
    return document if opened else None


def fold(events: Iterable[Event], state: CaseState | None = None) -> CaseState:
    result = state or CaseState()
    for event in events:
        result = evolve(result, event)
    return result
