"""The official holiday calendar as versioned data: pure, no I/O.

Each year the State Council's General Office publishes the arrangement of the public
holidays (放假安排): the days off, and the weekend days worked in exchange (调休). A
:class:`YearArrangement` is one such arrangement as loaded, with a version number
(a corrected notice is a new version) and its source. A :class:`CalendarSnapshot` is
the arrangements a case counts with: it answers whether a day is a working day, and
whether that answer is only provisional (a year with no arrangement: Monday to
Friday, until its notice is loaded).

The workflow never reads the calendar store itself: an activity reads it, so the
snapshot is in the case's history and a replay counts the same days (see
``DeadlinePolicy.calendar``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from pydantic import Field, ValidationError

from .values import Frozen


class CalendarError(ValueError):
    """An arrangement that cannot be loaded; the message says what to fix, on one line."""


class YearArrangement(Frozen):
    year: int = Field(ge=1949, le=2200)
    version: int = Field(1, ge=1)
    source: str = Field(min_length=1, max_length=500)
    holidays: tuple[date, ...]  # days off, weekends inside a holiday included
    workdays: tuple[date, ...] = ()  # weekend days worked in exchange (调休)

    @property
    def label(self) -> str:
        return f"{self.year}.v{self.version}"

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def same_content(self, other: YearArrangement) -> bool:
        return (self.year, self.source, self.holidays, self.workdays) == (
            other.year,
            other.source,
            other.holidays,
            other.workdays,
        )


def check_arrangement(
    year: int, holidays: Iterable[date], workdays: Iterable[date]
) -> tuple[tuple[date, ...], tuple[date, ...]]:
    """The lists sorted and without repeats, or :class:`CalendarError` with what to fix."""
    days_off, worked = sorted(set(holidays)), sorted(set(workdays))
    if not days_off:
        raise CalendarError(
            f"holidays is empty: list every day off of {year} (each day of each holiday)"
        )
    for name, days in (("holidays", days_off), ("workdays", worked)):
        outside = [d for d in days if d.year != year]
        if outside:
            raise CalendarError(
                f"{name} holds {outside[0].isoformat()}, which is not in {year}: "
                f"a file holds one year; load {outside[0].year} from its own file"
            )
    both = sorted(set(days_off) & set(worked))
    if both:
        raise CalendarError(
            f"{both[0].isoformat()} is in both holidays and workdays: a day is either off "
            "or worked; remove it from one list"
        )
    weekday = [d for d in worked if d.weekday() < 5]
    if weekday:
        raise CalendarError(
            f"workdays holds {weekday[0].isoformat()}, a {weekday[0]:%A}: adjusted working "
            "days (调休) fall on a Saturday or Sunday; list only those"
        )
    return tuple(days_off), tuple(worked)


def parse_arrangement(raw: Any, version: int = 1) -> YearArrangement:
    """A calendar file's content (``{"year", "source", "holidays", "workdays"}``) as an
    arrangement, or :class:`CalendarError` saying on one line what is wrong."""
    if not isinstance(raw, dict):
        raise CalendarError(
            'the file must hold one JSON object: {"year": 2027, "source": "...", '
            '"holidays": ["2027-01-01", ...], "workdays": [...]}'
        )
    unknown = sorted(set(raw) - {"year", "source", "holidays", "workdays"})
    if unknown:
        raise CalendarError(
            f"unknown field {unknown[0]!r}: the fields are year, source, holidays, workdays"
        )
    try:
        arrangement = YearArrangement.model_validate({"workdays": [], **raw, "version": version})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        value = f" (got {err['input']!r})" if err["type"] != "missing" else ""
        hint = {
            "year": "the year as a number, e.g. 2027",
            "source": "the notice's title and number, e.g. "
            "国务院办公厅关于2027年部分节假日安排的通知（国办发明电〔2026〕N号）",
        }.get(where.split(".")[0], "dates as YYYY-MM-DD strings in a list")
        msg = "missing" if err["type"] == "missing" else err["msg"]
        raise CalendarError(f"{where or 'file'}: {msg}{value}; expected {hint}") from None
    days_off, worked = check_arrangement(
        arrangement.year, arrangement.holidays, arrangement.workdays
    )
    return arrangement.model_copy(update={"holidays": days_off, "workdays": worked})


class CalendarSnapshot(Frozen):
    """The arrangements a case counts with, at most one per year (the newest version)."""

    years: tuple[YearArrangement, ...] = ()

    def arrangement(self, year: int) -> YearArrangement | None:
        return next((a for a in self.years if a.year == year), None)

    def is_working_day(self, day: date) -> tuple[bool, bool]:
        """Whether ``day`` is a working day, and whether that is provisional (its year
        has no arrangement: Monday to Friday until the notice is loaded)."""
        arrangement = self.arrangement(day.year)
        if arrangement is None:
            return day.weekday() < 5, True
        return arrangement.is_working_day(day), False

    def labels(self, years: Iterable[int]) -> str | None:
        """The versions of these years, e.g. ``"2026.v1+2027.v2"``; None when none is
        covered."""
        found = [a.label for y in sorted(set(years)) if (a := self.arrangement(y))]
        return "+".join(found) or None

    @property
    def label(self) -> str:
        return self.labels(a.year for a in self.years) or "empty"
