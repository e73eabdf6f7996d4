"""Events of the streams other than a case's (a conference's, a dispute's) as store
records: the envelope (actor, causation and correlation ids) goes to the metadata, the
rest is the data. A case's events have their own (``records.py``: sealing)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

from petitionflow.eventstore import NewEvent, RecordedEvent

ENVELOPE = ("actor", "causation_id", "correlation_id")


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
