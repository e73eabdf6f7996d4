"""Events of the streams other than a case's (a conference's, a dispute's) as store
records: the envelope (actor, causation and correlation ids) goes to the metadata, the
rest is the data; and their append. A case's events have their own (``records.py``:
sealing; ``store.py``: its append, which also checks what it catches up on)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from pydantic import BaseModel, TypeAdapter
from temporalio import activity
from temporalio.exceptions import ApplicationError

from petitionflow.eventstore import ConcurrencyError, EventStore, NewEvent, RecordedEvent

ENVELOPE = ("actor", "causation_id", "correlation_id")
# The most stored events one append's result hands back; the workflow's next append
# reads on.
CATCH_UP_LIMIT = 500


def to_record(event: BaseModel, workflow: dict[str, str] | None = None) -> NewEvent:
    data = event.model_dump(mode="json")
    metadata: dict[str, Any] = {key: data.pop(key) for key in ENVELOPE}
    if workflow:
        metadata["workflow"] = workflow
    del data["event_id"]
    return NewEvent(
        event_id=event.event_id,  # type: ignore[attr-defined]
        type=data.pop("type"),
        schema_version=data.pop("schema_version"),
        data=data,
        metadata=metadata,
    )


def from_record(record: RecordedEvent, adapter: TypeAdapter[Any]) -> Any:
    return adapter.validate_python(
        {
            **record.data,
            **{key: record.metadata[key] for key in ENVELOPE},
            "event_id": record.event_id,
            "type": record.type,
            "schema_version": record.schema_version,
        }
    )


class Appended(NamedTuple):
    """What the stream holds after the expected version once the append was tried;
    ``appended``: the request's events lead it (written now or by a lost attempt)."""

    positions: list[int]
    stored: list[Any]
    appended: bool


def append(
    store: EventStore,
    stream: str,
    expected_version: int,
    events: Sequence[BaseModel],
    adapter: TypeAdapter[Any],
    behind: Callable[[], ApplicationError],
) -> Appended:
    """Append ``events`` to ``stream`` after ``expected_version``, inside the activity the
    workflow runs for it. Idempotent (event ids derive from the command): when the
    stream had moved on, by this request's lost attempt or anything else, it hands back
    the stored events instead, for the workflow to apply. ``behind``: the error raised
    (and retried) when the stream holds nothing after the expected version, so nothing
    can be written."""
    info = activity.info()
    workflow = {"workflow_id": info.workflow_id or "", "run_id": info.workflow_run_id or ""}
    try:
        outcome = store.append_outcome(
            stream, expected_version, [to_record(e, workflow) for e in events]
        )
    except ConcurrencyError:
        pass
    else:
        if outcome.written:
            return Appended(positions=outcome.positions, stored=list(events), appended=True)
    after = store.read_stream(stream, expected_version + 1, limit=CATCH_UP_LIMIT)
    if not after:
        raise behind()
    ids = [e.event_id for e in events]  # type: ignore[attr-defined]
    appended = [r.event_id for r in after[: len(ids)]] == ids
    if not appended:
        activity.logger.warning(
            "catching up: %s has %d events after v%d that this workflow has not applied",
            stream,
            len(after),
            expected_version,
        )
    return Appended(
        positions=[r.position for r in after],
        stored=[from_record(r, adapter) for r in after],
        appended=appended,
    )
