"""The append activity: the only way a workflow writes events."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from petitionflow.domain import Event
from petitionflow.domain.state import CaseState, evolve
from petitionflow.eventstore import ConcurrencyError, EventStore, RecordedEvent
from petitionflow.security.sealing import Sealer

from .records import from_record, stream_id, to_record

# The most events one result hands back to catch up on (a case's whole stream, in
# practice; about 1 KB each, far below Temporal's 2 MB payload limit).
CATCH_UP_LIMIT = 500

# Why a case cannot go on with its stream as it is (``Blocked.reason``): the codes an
# operator sees in the ``NeedsAttention`` search attribute, with what each means.
NEEDS_ATTENTION: dict[str, str] = {
    "store_behind": (
        "the event store holds fewer events than the case has applied: stored events "
        "were lost (a restore from an older backup) or the worker uses another store"
    ),
    "unreadable_event": (
        "an event after the case's version cannot be read by this worker: unknown type "
        "or schema version (no upcaster), or sealed and no sealing key"
    ),
    "event_not_applicable": (
        "an event after the case's version does not fit the case: it names another "
        "case, or the case's state cannot take it"
    ),
    "event_ids_taken": (
        "the events this command makes are stored already, at other versions or in another stream"
    ),
}
# The type of the activity's error for each reason. A stream behind the workflow keeps
# the type it had before the others existed.
BLOCKED_TYPES: dict[str, str] = {
    reason: "StoreBehindWorkflow" if reason == "store_behind" else reason
    for reason in NEEDS_ATTENTION
}


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


class Blocked(BaseModel):
    """Why the stream does not let the case go on; nothing was written. The details of
    the activity's error, whose type is the reason's in ``BLOCKED_TYPES``.

    Only codes, versions, event types and field names: this reaches search attributes,
    the Web UI and logs, never the petition's material.
    """

    reason: str  # a key of NEEDS_ATTENTION
    expected_version: int  # the case's version
    stream_version: int | None = None  # the stream's
    event_version: int | None = None  # the stored event that cannot be read or applied
    detail: str = ""


class _Stop(Exception):
    """The stream does not let the case go on (raised on as a ``Blocked`` error)."""

    def __init__(self, reason: str, event_version: int | None = None, detail: str = "") -> None:
        super().__init__(reason)
        self.reason, self.event_version, self.detail = reason, event_version, detail


def _why(exc: Exception) -> str:
    """An error's kind and, for a validation error, the fields and what was wrong
    with them: never the values, which may be personal data."""
    if isinstance(exc, ValidationError):
        fields = [
            f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['type']}"
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        return f"{type(exc).__name__} ({'; '.join(fields[:5])})"
    return type(exc).__name__


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
        - a type of ``BLOCKED_TYPES``, with a ``Blocked`` as the details, for the
          workflow to wait on until an operator repairs the stream: it ends before the
          expected version (``StoreBehindWorkflow``: stored events were lost), or an
          event after it cannot be read or applied to the case, or the command's event
          ids are stored elsewhere (``NEEDS_ATTENTION`` says what each means).
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
        except ConcurrencyError:
            pass
        else:
            if outcome.written:
                return AppendResult(positions=outcome.positions, stored=request.events)
        after = self.store.read_stream(stream, request.expected_version + 1, limit=CATCH_UP_LIMIT)
        if not after:
            behind = self.store.stream_version(stream) < request.expected_version
            raise self._blocked(request, _Stop("store_behind" if behind else "event_ids_taken"))
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
        try:
            stored = self._read(after)
            if [e.event_id for e in stored] != ids:  # not only this command's own events
                self._check_applicable(request, after, stored)
        except _Stop as stop:
            raise self._blocked(request, stop) from None
        if not appended:
            activity.logger.warning(
                "catching up: %s has %d events after v%d that this workflow has not applied",
                stream,
                len(after),
                request.expected_version,
            )
        return AppendResult(positions=[r.position for r in after], stored=stored, appended=appended)

    def _read(self, records: Sequence[RecordedEvent]) -> list[Event]:
        events = []
        for r in records:
            try:
                events.append(from_record(r, self.sealer))
            except Exception as exc:  # the record, not the database: reading it again fails too
                detail = f"{r.type} (schema version {r.stored_schema_version}): {_why(exc)}"
                raise _Stop("unreadable_event", r.version, detail) from exc
        return events

    def _check_applicable(
        self, request: AppendEvents, after: Sequence[RecordedEvent], events: Sequence[Event]
    ) -> None:
        """Apply the stored events to the case as the workflow would. Here, because the
        verdict is then recorded as the activity's outcome: a later release that takes
        such an event still replays the case's history as it ran."""
        stream = stream_id(request.case_id)
        state = CaseState()
        for event in self._read(self.store.read_stream(stream, 1, limit=request.expected_version)):
            state = evolve(state, event)
        for record, event in zip(after, events, strict=True):
            if event.case_id != request.case_id:
                detail = f"{record.type} of another case"
                raise _Stop("event_not_applicable", record.version, detail)
            try:
                state = evolve(state, event)
            except Exception as exc:
                detail = f"{record.type}: the case's state cannot take it ({_why(exc)})"
                raise _Stop("event_not_applicable", record.version, detail) from exc

    def _blocked(self, request: AppendEvents, stop: _Stop) -> ApplicationError:
        blocked = Blocked(
            reason=stop.reason,
            expected_version=request.expected_version,
            stream_version=self.store.stream_version(stream_id(request.case_id)),
            event_version=stop.event_version,
            detail=stop.detail,
        )
        at = f", event v{blocked.event_version}" if blocked.event_version is not None else ""
        return ApplicationError(
            f"{blocked.reason}: {NEEDS_ATTENTION[blocked.reason]} (case "
            f"v{blocked.expected_version}, stream v{blocked.stream_version}{at})"
            + (f": {blocked.detail}" if blocked.detail else ""),
            blocked.model_dump(mode="json"),
            type=BLOCKED_TYPES[blocked.reason],
            non_retryable=True,
        )
