"""Domain events <-> event store records.

The record's ``data`` is the event's own payload; its ``metadata`` holds who and why
(actor, causation and correlation ids) and, when written by a workflow, which one.
"""

from __future__ import annotations

from typing import Any

from domain import EVENT_ADAPTER, Event
from eventstore import NewEvent, RecordedEvent

_ENVELOPE = ("actor", "causation_id", "correlation_id")


def stream_id(case_id: str) -> str:
    return f"petition-{case_id}"


def to_record(event: Event, workflow: dict[str, str] | None = None) -> NewEvent:
    data = event.model_dump(mode="json")
    metadata: dict[str, Any] = {key: data.pop(key) for key in _ENVELOPE}
    if workflow:
        metadata["workflow"] = workflow
    del data["event_id"]
    return NewEvent(
        event_id=event.event_id,
        type=data.pop("type"),
        schema_version=data.pop("schema_version"),
        data=data,
        metadata=metadata,
    )


def from_record(record: RecordedEvent) -> Event:
    return EVENT_ADAPTER.validate_python(
        {
            **record.data,
            **{key: record.metadata[key] for key in _ENVELOPE},
            "event_id": record.event_id,
            "type": record.type,
            "schema_version": record.schema_version,
        }
    )
