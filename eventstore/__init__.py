"""Persistence: the append-only, hash-chained event store (SQLite or PostgreSQL)."""

from .store import (
    ConcurrencyError,
    EventStore,
    NewEvent,
    Problem,
    RecordedEvent,
    Upcasters,
    VerifyReport,
)

__all__ = [
    "ConcurrencyError",
    "EventStore",
    "NewEvent",
    "Problem",
    "RecordedEvent",
    "Upcasters",
    "VerifyReport",
]
