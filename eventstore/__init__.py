"""Persistence: the append-only, hash-chained event store (SQLite or PostgreSQL)."""

from .store import (
    Appended,
    ConcurrencyError,
    EventStore,
    NewEvent,
    Problem,
    RecordedEvent,
    SchemaError,
    Upcasters,
    VerifyReport,
)

__all__ = [
    "Appended",
    "ConcurrencyError",
    "EventStore",
    "NewEvent",
    "Problem",
    "RecordedEvent",
    "SchemaError",
    "Upcasters",
    "VerifyReport",
]
