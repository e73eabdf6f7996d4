"""The append activity: the only way a workflow writes events."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from petitionflow.domain import Event
from petitionflow.eventstore import ConcurrencyError, EventStore
from petitionflow.security.sealing import Sealer

from .records import from_record, stream_id, to_record

# The most events one result hands back to catch up on (a case's whole stream, in
# practice; about 1 KB each, far below Temporal's 2 MB payload limit).
CATCH_UP_LIMIT = 500


class AppendEvents(BaseModel):
    case_id: str
    expected_version: int
    events: list[Event]


class AppendResult(BaseModel):
    """What the stream holds after ``expected_version`` once the append was tried.

    The workflow applies ``stored``, never its own copy: an event that reached the
    store happened, and the store's copy is the one that counts. That covers a
    workflow task lost after its append, whose retry decides again at a later
    ``workflow.now()``: the same command gives the same event ids with other
    timestamps (``appended`` is true, ``stored`` holds the first copy), and a later
    clock may decide something else first, a deadline that fell due meanwhile
    (``appended`` is false: ``stored`` holds what the lost task wrote, and the
    workflow applies it and decides its command again on the caught-up state).

    Results recorded before ``appended`` existed read as appended; their ``stored``
    is ``None`` when the events were written then (the workflow's own copy counts).
    """

    positions: list[int]
    stored: list[Event] | None = None
    appended: bool = True


class StoreActivities:
    def __init__(self, store: EventStore, sealer: Sealer) -> None:
        self.store = store
        self.sealer = sealer

    @activity.defn(name="append_events")
    def append_events(self, request: AppendEvents) -> AppendResult:
        """Append with the workflow's expected version; idempotent when retried.

        Whatever happened, the result holds the stream's events after the expected
        version (at most ``CATCH_UP_LIMIT``; the workflow's next append reads on).
        ``appended`` says whether the request's events are the first of them, by id:
        written now, or by an earlier attempt whose task was lost.

        Refused, never retried:
        - ``duplicate_case``: a registration finds the stream started by another
          workflow run. The case id was used before (Temporal forgets a closed
          workflow after its retention; the store never does).
        Raised for the workflow to wait on (see ``PetitionWorkflow._commit``):
        - ``StoreBehindWorkflow``: the stream ends before the expected version, so
          stored events were lost (a restore from an old backup).
        Anything else (the database is down or restarting) is raised as is and
        retried by the activity's policy.
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
            conflict: ConcurrencyError | None = exc
        else:
            conflict = None
            if outcome.written:
                return AppendResult(positions=outcome.positions, stored=request.events)
        after = self.store.read_stream(
            stream, request.expected_version + 1, limit=CATCH_UP_LIMIT
        )
        if not after:
            raise ApplicationError(
                f"{conflict}; the stream is behind the workflow: restore the missing events",
                type="StoreBehindWorkflow",
                non_retryable=True,
            )
        ids = [e.event_id for e in request.events]
        appended = [r.event_id for r in after[: len(ids)]] == ids
        written_by = after[0].metadata.get("workflow") or {}
        if request.expected_version == 0 and written_by.get("run_id") != workflow["run_id"]:
            raise ApplicationError(
                f"case {request.case_id} already has {len(after)}+ stored events from "
                "another workflow: its id was used before; register it under a new case id",
                type="duplicate_case",
                non_retryable=True,
            )
        if not appended:
            activity.logger.warning(
                "catching up: %s has %d events after v%d that this workflow has not applied",
                stream,
                len(after),
                request.expected_version,
            )
        return AppendResult(
            positions=[r.position for r in after],
            stored=[from_record(r, self.sealer) for r in after],
            appended=appended,
        )

