"""Temporal orchestration: deterministic, no business rules (those are in domain/)."""
