"""The HTTP API's idempotency records: same caller and key, same request → same answer.

``claim`` stores the request's hash the first time a key is seen. A later request with
the key and the same hash gets the stored answer (or, when the first never finished,
is sent again: the command id derived from the key makes the workflow answer it as a
repeat). Another hash under the same key is a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from .schema import api_requests as t


@dataclass(frozen=True, slots=True)
class Claim:
    fresh: bool  # first time this key was seen
    same_request: bool
    status: int | None  # the stored answer, when the first request was answered
    response: str | None


class RequestLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, caller: str, key: str, request_hash: str, case_id: str) -> Claim:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(t).values(
                        caller=caller,
                        idem_key=key,
                        request_hash=request_hash,
                        case_id=case_id,
                        created_at=datetime.now(UTC),
                    )
                )
            return Claim(True, True, None, None)
        except IntegrityError:
            pass
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.c.request_hash, t.c.status, t.c.response).where(
                    t.c.caller == caller, t.c.idem_key == key
                )
            ).one()
        return Claim(False, row.request_hash == request_hash, row.status, row.response)

    def answer(self, caller: str, key: str, status: int, response: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.caller == caller, t.c.idem_key == key)
                .values(status=status, response=response)
            )
