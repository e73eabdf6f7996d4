"""The append activity: the only way a workflow writes events."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain import Event
from eventstore import ConcurrencyError, EventStore
from security.sealing import Sealer

from .records import from_record, stream_id, to_record


class AppendEvents(BaseModel):
    case_id: str
    expected_version: int
    events: list[Event]


class AppendResult(BaseModel):
    positions: list[int]
    # Set when the events were stored already, by an earlier attempt: the workflow
    # applies these rather than its own. A workflow task that is retried decides the
    # same command again at a later ``workflow.now()``; the ids match, the times may
    # not, and the store's copy is the one that counts.
    stored: list[Event] | None = None


class StoreActivities:
    def __init__(self, store: EventStore, sealer: Sealer) -> None:
        self.store = store
        self.sealer = sealer

    @activity.defn(name="append_events")
    def append_events(self, request: AppendEvents) -> AppendResult:
        """Append with the workflow's expected version; idempotent when retried.

        A version conflict is not retryable: the workflow's state and the stream
        disagree, and trying again cannot change that. Anything else (the database is
        down or restarting) is raised as is and retried by the activity's policy.
        """
        info = activity.info()
        workflow = {"workflow_id": info.workflow_id or "", "run_id": info.workflow_run_id or ""}
        stream = stream_id(request.case_id)
        try:
            outcome = self.store.append_outcome(
                stream,
                request.expected_version,
                [to_record(e, workflow, self.sealer) for e in request.events],
            )
        except ConcurrencyError as exc:
            raise ApplicationError(str(exc), type="ConcurrencyError", non_retryable=True) from exc
        if outcome.written:
            return AppendResult(positions=outcome.positions)
        records = self.store.read_stream(
            stream, request.expected_version + 1, limit=len(outcome.positions)
        )
        return AppendResult(
            positions=outcome.positions, stored=[from_record(r, self.sealer) for r in records]
        )
