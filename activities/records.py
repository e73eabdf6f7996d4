"""Domain events <-> event store records.

The record's ``data`` is the event's own payload; its ``metadata`` holds who and why
(actor, causation and correlation ids) and, when written by a workflow, which one.
For an accusation (检举控告) the accuser's identity and the material are sealed with
the sealing key before they reach the store, bound to the event's id.
"""

from __future__ import annotations

from typing import Any

from petitionflow.domain import EVENT_ADAPTER, Event
from petitionflow.eventstore import NewEvent, RecordedEvent
from petitionflow.security.sealing import SEALED_FIELDS, SealedError, Sealer

_ENVELOPE = ("actor", "causation_id", "correlation_id")


def stream_id(case_id: str) -> str:
    return f"petition-{case_id}"


def to_record(
    event: Event, workflow: dict[str, str] | None = None, sealer: Sealer | None = None
) -> NewEvent:
    data = event.model_dump(mode="json")
    metadata: dict[str, Any] = {key: data.pop(key) for key in _ENVELOPE}
    if workflow:
        metadata["workflow"] = workflow
    del data["event_id"]
    intake = data.get("intake")
    if event.type == "PetitionRegistered" and intake and intake["classification"] == "accusation":
        if sealer is None:
            raise SealedError("an accusation is stored only sealed: configure the sealing keys")
        material = {k: intake.pop(k) for k in SEALED_FIELDS if k in intake}
        intake["sealed"] = sealer.seal(material, context=str(event.event_id))
    return NewEvent(
        event_id=event.event_id,
        type=data.pop("type"),
        schema_version=data.pop("schema_version"),
        data=data,
        metadata=metadata,
    )


def from_record(record: RecordedEvent, sealer: Sealer | None = None) -> Event:
    data = dict(record.data)
    intake = data.get("intake")
    if isinstance(intake, dict) and "sealed" in intake:
        if sealer is None:
            raise SealedError(
                f"{record.stream_id} is an accusation: its material is sealed and this "
                "process has no sealing key (PETITIONFLOW_SEALING_KEYS)"
            )
        intake = dict(intake)
        intake |= sealer.unseal(intake.pop("sealed"), context=str(record.event_id))
        data["intake"] = intake
    return EVENT_ADAPTER.validate_python(
        {
            **data,
            **{key: record.metadata[key] for key in _ENVELOPE},
            "event_id": record.event_id,
            "type": record.type,
            "schema_version": record.schema_version,
        }
    )
