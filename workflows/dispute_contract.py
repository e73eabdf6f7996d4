"""What clients and DisputeWorkflow exchange: its type, ids, inputs and results.

Apart from the workflow module for the same reason as ``contract.py``: the sandbox
re-imports a workflow's module for every run; these models are passed through.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from petitionflow.domain.dispute import DisputePolicy, ReportDispute

DISPUTE_WORKFLOW_TYPE = "DisputeWorkflow"


def dispute_workflow_id(dispute_id: str) -> str:
    return f"dispute-{dispute_id}"


def dispute_stream_id(dispute_id: str) -> str:
    """The dispute's stream in the event store (cases' are ``petition-<case id>``)."""
    return f"dispute-{dispute_id}"


class PendingDisputeSignal(BaseModel):
    kind: str
    payload: Any = None
    undecodable: str | None = None


class StartDispute(BaseModel):
    report: ReportDispute
    policy: DisputePolicy = DisputePolicy()
    carried_signals: list[PendingDisputeSignal] = Field(default_factory=list)


class DisputeCommandResult(BaseModel):
    command_id: str
    duplicate: bool
    events: list[str]  # event types
    version: int
    status: str
    case_id: str | None = None  # after convert_to_petition: the petition case
    conference_id: str | None = None  # after escalate_to_conference


class DisputeSummary(BaseModel):
    dispute_id: str
    status: str
    outcome: str | None
    case_id: str | None
    version: int
