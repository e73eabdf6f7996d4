"""The append activity: the only way a workflow writes events."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain import Event
from eventstore import ConcurrencyError, EventStore
from security.sealing import Sealer

from .records import stream_id, to_record


class AppendEvents(BaseModel):
    case_id: str
    expected_version: int
    events: list[Event]


class StoreActivities:
    def __init__(self, store: EventStore, sealer: Sealer) -> None:
        self.store = store
        self.sealer = sealer

    @activity.defn(name="append_events")
    def append_events(self, request: AppendEvents) -> list[int]:
        """Append with the workflow's expected version; idempotent when retried.

        A version conflict is not retryable: the workflow's state and the stream
        disagree, and trying again cannot change that. Anything else (the database is
        down or restarting) is raised as is and retried by the activity's policy.
        """
        info = activity.info()
        workflow = {"workflow_id": info.workflow_id or "", "run_id": info.workflow_run_id or ""}
        try:
            return self.store.append(
                stream_id(request.case_id),
                request.expected_version,
                [to_record(e, workflow, self.sealer) for e in request.events],
            )
        except ConcurrencyError as exc:
            raise ApplicationError(str(exc), type="ConcurrencyError", non_retryable=True) from exc
