"""The notification outbox: a row per reminder, written before anything is sent.

A notification is stored first (idempotently, by id) and marked sent afterwards, so a
crash between the two resends at most once more and never loses a reminder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from .schema import outbox as t


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: str
    case_id: str
    kind: str
    recipient: str
    message: str
    created_at: datetime
    sent_at: datetime | None
    sender: str | None


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, id: str, case_id: str, kind: str, recipient: str, message: str) -> bool:
        """Store a notification; False when one with this id is already there."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(t).values(
                        id=id,
                        case_id=case_id,
                        kind=kind,
                        recipient=recipient,
                        message=message,
                        created_at=datetime.now(UTC),
                    )
                )
            return True
        except IntegrityError:
            return False

    def get(self, id: str) -> OutboxRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == id)).first()
        return OutboxRow(**row._mapping) if row else None

    def mark_sent(self, id: str, sender: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.id == id, t.c.sent_at.is_(None))
                .values(sent_at=datetime.now(UTC), sender=sender)
            )

    def for_case(self, case_id: str) -> list[OutboxRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.case_id == case_id).order_by(t.c.created_at))
            return [OutboxRow(**row._mapping) for row in rows]
