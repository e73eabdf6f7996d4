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

        When the stream has moved past the expected version, the events after it are
        returned (``appended=False``) for the workflow to catch up on. A stream that
        is *behind* the workflow cannot happen unless stored events were lost (a
        restore from an old backup): that is raised as a retryable error, so the case
        waits, and ``petition verify --live`` names it, rather than failing for good.
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
            after = self.store.read_stream(stream, request.expected_version + 1)
            if not after:
                raise ApplicationError(
                    f"{exc}; the stream is behind the workflow: restore the missing events",
                    type="StoreBehindWorkflow",
                ) from exc
            activity.logger.warning(
                "catching up: %s has %d events after v%d that this workflow has not applied",
                stream,
                len(after),
                request.expected_version,
            )
            return AppendResult(
                positions=[r.position for r in after],
                stored=[from_record(r, self.sealer) for r in after],
                appended=False,
            )
        if outcome.written:
            return AppendResult(positions=outcome.positions, stored=request.events)
        records = self.store.read_stream(
            stream, request.expected_version + 1, limit=len(outcome.positions)
        )
        return AppendResult(
            positions=outcome.positions, stored=[from_record(r, self.sealer) for r in records]
        )
