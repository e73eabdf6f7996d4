"""What clients and PetitionWorkflow exchange: its type, ids, inputs and results.

Kept apart from the workflow module on purpose. The worker's sandbox re-imports the
module that defines a workflow for every new run; these models are imported through
it (``imports_passed_through``) and built once per process, not once per case.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field

from petitionflow.domain.commands import RegisterPetition
from petitionflow.domain.policy import DeadlinePolicy
from petitionflow.domain.state import CaseState

WORKFLOW_TYPE = "PetitionWorkflow"
TASK_QUEUE = "petitions"
# The events are appended inside the workflow task (a local activity), so a worker
# that dies mid-task holds the case until this runs out; then another worker retries
# it. Temporal's default is 10 s. A local append that takes longer (the database is
# away) keeps the task alive with heartbeats, at 80% of this.
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=5)
# The signal ``petition calendar load`` sends to cases with a provisional deadline: read
# the calendar store again and recompute them (no input).
CALENDAR_SIGNAL = "calendar_loaded"


def workflow_id(case_id: str) -> str:
    return f"petition-{case_id}"


class PendingSignal(BaseModel):
    kind: str
    payload: Any = None
    undecodable: str | None = None  # why the payload could not be read at all
    internal: bool = False  # the engine's own signal (``record_link``), not a caller's


class StartPetition(BaseModel):
    registration: RegisterPetition
    policy: DeadlinePolicy = DeadlinePolicy()
    # Set when the case continues as new: the state so far and signals not yet handled.
    carried_state: CaseState | None = None
    carried_signals: list[PendingSignal] = Field(default_factory=list)


class CommandResult(BaseModel):
    command_id: str
    duplicate: bool
    events: list[str]  # event types
    version: int
    stage: str


class CaseSummary(BaseModel):
    case_id: str
    stage: str
    closed_reason: str | None
    final: bool
    version: int
