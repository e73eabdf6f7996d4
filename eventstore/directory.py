"""The unit directory store: dated unit versions (``unit_versions``, migration 10).

Rows are only added. Loading a file (``petition units load``) stores, for each unit
the file changes, its next version valid from the load's date; a unit the file lacks
is dissolved from that date. Loads go in date order, so each unit's versions are too.

Readers ask "as of a day": the version of each unit with the latest ``valid_from`` on
or before it. The worker's ``resolve_units`` activity answers from an in-memory index
of all versions, rebuilt when a new load is seen (one small query per call).
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select

from petitionflow.domain.units import (
    Diff,
    DirectoryIndex,
    DirectoryUnit,
    UnitResolution,
    UnitVersion,
    diff,
)
from petitionflow.domain.values import Jurisdiction

from .schema import directory_loads as loads_t
from .schema import unit_versions as t


class DirectoryOrderError(ValueError):
    """A load dated before the newest load: the directory's history goes forward only."""


@dataclass(frozen=True)
class LoadReport:
    load_id: int | None  # None: nothing changed, nothing stored (or a dry run)
    as_of: date
    source: str
    generated: bool
    units: int
    diff: Diff

    def as_json(self) -> dict[str, Any]:
        return {
            "load_id": self.load_id,
            "as_of": self.as_of.isoformat(),
            "source": self.source,
            "generated": self.generated,
            "units": self.units,
            "unchanged": self.diff.unchanged,
            "changes": dict(self.diff.counts),
            "changed_units": [c.describe() for c in self.diff.changes],
        }


@dataclass(frozen=True)
class LoadInfo:
    id: int
    loaded_at: datetime
    as_of: date
    source: str
    generated: bool
    changes: int


def _unit(row: Any) -> DirectoryUnit:
    return DirectoryUnit(
        id=row.unit_id,
        name=row.name,
        kind=row.kind,
        level=row.level,
        place=row.place,
        jurisdiction=Jurisdiction.model_validate_json(row.jurisdiction),
        parent=row.parent,
        status=row.status,
        merged_into=row.merged_into,
    )


def file_digest(units: Sequence[DirectoryUnit]) -> str:
    h = hashlib.sha256()
    for u in units:
        h.update(u.model_dump_json().encode())
    return h.hexdigest()


class DirectoryStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._index: DirectoryIndex | None = None
        self._lock = threading.Lock()

    # ---- loading ------------------------------------------------------------------

    def last_load(self) -> LoadInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(loads_t).order_by(loads_t.c.id.desc()).limit(1)).first()
        if row is None:
            return None
        return LoadInfo(row.id, row.loaded_at, row.as_of, row.source, row.generated, row.changes)

    def loads(self) -> list[LoadInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(loads_t).order_by(loads_t.c.id)).all()
        return [
            LoadInfo(r.id, r.loaded_at, r.as_of, r.source, r.generated, r.changes) for r in rows
        ]

    def load(
        self,
        units: Sequence[DirectoryUnit],
        as_of: date,
        source: str,
        generated: bool = False,
        dry_run: bool = False,
    ) -> LoadReport:
        """Store ``units`` as the whole directory from ``as_of``: one new version per
        changed unit, in one transaction. Loading the same file again stores nothing."""
        with self.engine.begin() as conn:
            last = conn.execute(
                select(loads_t.c.id, loads_t.c.as_of).order_by(loads_t.c.id.desc()).limit(1)
            ).first()
            if last is not None and as_of < last.as_of:
                raise DirectoryOrderError(
                    f"the directory was last loaded as of {last.as_of}; a load as of {as_of} "
                    "would rewrite its past. Load files in date order (--as-of)"
                )
            current, versions = self._latest(conn)
            changes = diff(current, units)
            if dry_run or changes.empty:
                return LoadReport(None, as_of, source, generated, len(units), changes)
            load_id = (last.id if last else 0) + 1
            conn.execute(
                insert(loads_t).values(
                    id=load_id,
                    loaded_at=datetime.now(UTC),
                    as_of=as_of,
                    source=source,
                    generated=generated,
                    file_sha256=file_digest(units),
                    changes=len(changes.changes),
                )
            )
            rows = [
                {
                    "unit_id": ch.after.id,
                    "version": versions.get(ch.after.id, 0) + 1,
                    "valid_from": as_of,
                    "load_id": load_id,
                    "name": ch.after.name,
                    "kind": ch.after.kind.value,
                    "level": ch.after.level.value,
                    "place": ch.after.place,
                    "jurisdiction": ch.after.jurisdiction.model_dump_json(exclude_none=True),
                    "parent": ch.after.parent,
                    "status": ch.after.status.value,
                    "merged_into": ch.after.merged_into,
                }
                for ch in changes.changes
            ]
            for i in range(0, len(rows), 2000):
                conn.execute(insert(t), rows[i : i + 2000])
        return LoadReport(load_id, as_of, source, generated, len(units), changes)

    def _latest(self, conn: Any) -> tuple[list[DirectoryUnit], dict[str, int]]:
        newest = (
            select(t.c.unit_id, func.max(t.c.version).label("v")).group_by(t.c.unit_id).subquery()
        )
        rows = conn.execute(
            select(t).join(newest, (t.c.unit_id == newest.c.unit_id) & (t.c.version == newest.c.v))
        ).all()
        return [_unit(r) for r in rows], {r.unit_id: r.version for r in rows}

    # ---- reading ------------------------------------------------------------------

    def index(self) -> DirectoryIndex | None:
        """The in-memory index, rebuilt when a load newer than it exists."""
        with self.engine.connect() as conn:
            newest = conn.execute(select(func.max(loads_t.c.id))).scalar()
        if newest is None:
            return None
        with self._lock:
            if self._index is None or self._index.load_id != newest:
                with self.engine.connect() as conn:
                    rows = conn.execute(
                        select(t).where(t.c.load_id <= newest).order_by(t.c.unit_id, t.c.version)
                    ).all()
                self._index = DirectoryIndex(
                    newest,
                    (UnitVersion(_unit(r), r.version, r.valid_from, r.load_id) for r in rows),
                )
            return self._index

    def resolve(self, names: Sequence[str], on: date) -> UnitResolution:
        index = self.index()
        if index is None:
            return UnitResolution(on=on, loaded=False)
        return index.resolve(names, on)

    def units_on(self, on: date, *, include_inactive: bool = False) -> list[DirectoryUnit]:
        index = self.index()
        if index is None:
            return []
        found = (index.on(uid, on) for uid in index.by_unit)
        return [u for u in found if u is not None and (include_inactive or u.active)]

    def get(self, unit_id: str, on: date) -> DirectoryUnit | None:
        index = self.index()
        return index.on(unit_id, on) if index else None

    def history(self, unit_id: str) -> list[UnitVersion]:
        index = self.index()
        return list(index.by_unit.get(unit_id, ())) if index else []

    def find(self, text: str, on: date) -> list[DirectoryUnit]:
        """Units valid on ``on`` whose id is ``text`` or whose name contains it."""
        return [u for u in self.units_on(on) if u.id == text or text in u.name]

    def counts(self, on: date) -> Counter[tuple[str, str]]:
        return Counter((u.level.value, u.kind.value) for u in self.units_on(on))
