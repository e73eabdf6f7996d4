"""The petitioner index: which cases each petitioner has, by keyed hash only.

One row per case and key kind (``domain/repeat.py``: the ID number's key when there
is one, and the phone and name's), holding the HMAC of the key text
(``security/index.py``), the id of the key that made it, and the case id. The
worker writes a case's rows when it screens the case at registration and reads the
rows of earlier cases there; nothing else reads it. Rows are never changed; a row
written again (the activity retried) is left as it was, so ``seq`` keeps the order in
which cases were first indexed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, and_, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite

from .schema import petitioner_index as t


@dataclass(frozen=True)
class IndexHit:
    case_id: str
    key_kind: str
    seq: int


class PetitionerIndex:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def index_and_find(
        self,
        case_id: str,
        entries: dict[str, tuple[str, str]],
        lookup: list[tuple[list[str], tuple[str, ...]]],
        limit: int,
    ) -> list[IndexHit]:
        """Index ``case_id`` under ``entries`` (kind -> (key id, hash)); return the other
        cases indexed before it under one of ``lookup``'s hashes with one of its kinds,
        newest first."""
        now = datetime.now(UTC)
        pg = self.engine.dialect.name == "postgresql"
        dialect = postgresql if pg else sqlite
        with self.engine.begin() as conn:
            if pg:
                # Two registrations of one petitioner at once: the second waits for the
                # first to commit, so it finds it (SQLite's single writer does the same:
                # the insert below waits for the other's write lock). Sorted: no deadlock.
                keys = {d for _, d in entries.values()} | {h for hs, _ in lookup for h in hs}
                for digest in sorted(keys):
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                        {"key": f"petitionflow.index.{digest}"},
                    )
            for kind, (key_id, digest) in entries.items():
                conn.execute(
                    dialect.insert(t)
                    .values(
                        petitioner_key=digest,
                        key_kind=kind,
                        key_id=key_id,
                        case_id=case_id,
                        indexed_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["petitioner_key", "case_id"])
                )
            own = conn.execute(select(t.c.seq).where(t.c.case_id == case_id)).scalars().all()
            first = min(own) if own else None
            matches = or_(
                *(and_(t.c.petitioner_key.in_(h), t.c.key_kind.in_(k)) for h, k in lookup)
            )
            query = select(t.c.case_id, t.c.key_kind, t.c.seq).where(
                and_(matches, t.c.case_id != case_id)
            )
            if first is not None:
                query = query.where(t.c.seq < first)
            rows = conn.execute(query.order_by(t.c.seq.desc()).limit(limit * 2)).all()
        hits: dict[str, IndexHit] = {}
        for case, kind, seq in rows:
            hits.setdefault(case, IndexHit(case, kind, seq))
        return list(hits.values())[:limit]
