"""What clients and JointConferenceWorkflow exchange: its type, inputs and results.

Apart from the workflow module for the reason ``workflows/contract.py`` gives: the
sandbox re-imports a workflow's module for every run; these models are passed through.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from petitionflow.domain.conference import (
    ConferenceState,
    MeetingPolicy,
    PlaceCode,
    Subject,
    correction_due,
    decision_command_id,
    parent_codes,
)
from petitionflow.domain.values import Jurisdiction, ShortText
from petitionflow.workflows.contract import PendingSignal

WORKFLOW_TYPE = "JointConferenceWorkflow"
AGENDA_SIGNAL = "add_to_agenda"
MEETING_UPDATE = "record_meeting"
# The history length at which a run continues as new (unless the server suggests it
# first). A week with a meeting and a few items is some 60 events.
HISTORY_LIMIT = 2000


class StartConference(BaseModel):
    """The start input (``client.conference.conference_start`` builds it)."""

    place_code: PlaceCode
    place: Jurisdiction
    office: ShortText  # the secretariat's unit: the place's petition bureau
    policy: MeetingPolicy = MeetingPolicy()
    history_limit: int = Field(HISTORY_LIMIT, ge=20)
    # Set when the conference continues as new.
    carried_state: ConferenceState | None = None
    next_meeting_at: datetime | None = None
    carried_signals: list[PendingSignal] = Field(default_factory=list)


class DecidedItem(BaseModel):
    subject: Subject
    subject_id: str
    decision_command_id: str  # the record_conference_decision sent to the subject
    supervise: bool
    correction_due: date | None = None


class MeetingResult(BaseModel):
    """The answer to ``record_meeting``: the meeting's number and what was decided."""

    command_id: str
    duplicate: bool
    meeting_no: int
    decided: list[DecidedItem]
    version: int


class ConferenceCommandResult(BaseModel):
    command_id: str
    duplicate: bool
    events: list[str]
    version: int


class ConferenceView(BaseModel):
    """The ``view`` query: the state and the schedule."""

    state: ConferenceState
    policy: MeetingPolicy
    next_meeting_at: datetime | None
    history_length: int


def meeting_result(
    place_code: str, meeting_no: int, command: Any, duplicate: bool, version: int
) -> MeetingResult:
    """The result of a record_meeting command, the same for its repeats."""
    return MeetingResult(
        command_id=command.command_id,
        duplicate=duplicate,
        meeting_no=meeting_no,
        decided=[
            DecidedItem(
                subject=d.subject,
                subject_id=d.subject_id,
                decision_command_id=decision_command_id(place_code, meeting_no, d.subject_id),
                supervise=d.supervise,
                correction_due=(
                    correction_due(command.held_at, d.correction_days)
                    if d.correction_days
                    else None
                ),
            )
            for d in command.decisions
        ],
        version=version,
    )


__all__ = [
    "AGENDA_SIGNAL",
    "HISTORY_LIMIT",
    "MEETING_UPDATE",
    "WORKFLOW_TYPE",
    "ConferenceCommandResult",
    "ConferenceView",
    "DecidedItem",
    "MeetingResult",
    "StartConference",
    "meeting_result",
    "parent_codes",
]
