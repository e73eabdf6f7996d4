"""The calendar store: each year's official holiday arrangement, by version.

Rows are only ever added (``holiday_calendar``, migration 5): loading a year whose
content differs from its newest version adds the next version; loading the same
content again adds nothing. The worker reads the newest version of each year
(``snapshot``) through the ``calendar_snapshot`` activity; loading is the owner's
(``petition calendar load``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from petitionflow.domain.calendar import CalendarSnapshot, YearArrangement

from .schema import holiday_calendar as t


@dataclass(frozen=True)
class StoredYear:
    arrangement: YearArrangement
    loaded_at: datetime


@dataclass(frozen=True)
class LoadResult:
    year: int
    version: int
    changed: bool  # a new version was stored
    previous: YearArrangement | None
    holidays_added: list[date] = field(default_factory=list)
    holidays_removed: list[date] = field(default_factory=list)
    workdays_added: list[date] = field(default_factory=list)
    workdays_removed: list[date] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def iso(days: list[date]) -> list[str]:
            return [d.isoformat() for d in days]

        return {
            "year": self.year,
            "version": self.version,
            "changed": self.changed,
            "previous_version": self.previous.version if self.previous else None,
            "holidays_added": iso(self.holidays_added),
            "holidays_removed": iso(self.holidays_removed),
            "workdays_added": iso(self.workdays_added),
            "workdays_removed": iso(self.workdays_removed),
        }


def _arrangement(row: Any) -> YearArrangement:
    return YearArrangement(
        year=row.year,
        version=row.version,
        source=row.source,
        holidays=tuple(date.fromisoformat(d) for d in json.loads(row.holidays)),
        workdays=tuple(date.fromisoformat(d) for d in json.loads(row.workdays)),
    )


class CalendarStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def newest(self, year: int) -> YearArrangement | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t).where(t.c.year == year).order_by(t.c.version.desc()).limit(1)
            ).first()
        return _arrangement(row) if row else None

    def snapshot(self, from_year: int = 0) -> CalendarSnapshot:
        """The newest version of each year from ``from_year`` on."""
        newest = (
            select(t.c.year, func.max(t.c.version).label("version"))
            .where(t.c.year >= from_year)
            .group_by(t.c.year)
            .subquery()
        )
        query = (
            select(t)
            .join(newest, (t.c.year == newest.c.year) & (t.c.version == newest.c.version))
            .order_by(t.c.year)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return CalendarSnapshot(years=tuple(_arrangement(r) for r in rows))

    def versions(self) -> list[StoredYear]:
        """Every stored version, by year and version."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.year, t.c.version)).all()
        return [StoredYear(_arrangement(r), r.loaded_at) for r in rows]

    def load(self, arrangement: YearArrangement) -> LoadResult:
        """Store ``arrangement`` as its year's next version, unless the newest version
        holds the same content (then nothing is written)."""
        previous = self.newest(arrangement.year)
        if previous is not None and previous.same_content(arrangement):
            return LoadResult(arrangement.year, previous.version, False, previous)
        version = previous.version + 1 if previous else 1
        stored = arrangement.model_copy(update={"version": version})
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(t).values(
                        year=stored.year,
                        version=version,
                        source=stored.source,
                        holidays=json.dumps([d.isoformat() for d in stored.holidays]),
                        workdays=json.dumps([d.isoformat() for d in stored.workdays]),
                        loaded_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:  # loaded at the same moment elsewhere: look again
            return self.load(arrangement)
        before_h = set(previous.holidays) if previous else set()
        before_w = set(previous.workdays) if previous else set()
        return LoadResult(
            stored.year,
            version,
            True,
            previous,
            sorted(set(stored.holidays) - before_h),
            sorted(before_h - set(stored.holidays)),
            sorted(set(stored.workdays) - before_w),
            sorted(before_w - set(stored.workdays)),
        )
