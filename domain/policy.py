"""Deadline policy: the regulation's periods as values, and how due dates are counted.

``decide`` is the only caller that computes due dates; the workflow only sets timers
for the ``due_at`` instants it finds in the state.

Counting follows Civil Code Arts 200-204 by default: the start day is not counted,
and a period whose last day is not a working day (a public holiday or a rest day
that is not an adjusted working day) runs to the next working day. Working-day
periods (the 5-day objection, Art 23) count only working days.

Which days are working days: with ``DeadlinePolicy.calendar`` (a
:class:`~.calendar.CalendarSnapshot`, from the calendar store, recorded in the case's
history) the official arrangements it holds; a year it lacks counts Monday to Friday
and the deadline is marked ``provisional``. Without one (cases from before the
calendar store) the pinned ``chinesecalendar`` package, as ever.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from functools import lru_cache
from typing import Literal

import chinese_calendar
from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from .calendar import CalendarSnapshot
from .values import Frozen, Jurisdiction


class DeadlineKind(StrEnum):
    # obligations of a unit: when missed, the case is overdue and reminded (催办)
    ROUTING = "routing"  # register and route, 15 days (Art 22)
    NOTIFICATION = "notification"  # tell the petitioner it was received, 15 days (Art 23)
    HANDLING = "handling"  # 60 days from acceptance (Art 34), +1 extension
    SUPERVISION = "supervision"  # correction deadline set by the joint conference
    DELIVERY = "delivery"  # deliver the written reply (送达), a policy period
    REVIEW_DECISION = "review_decision"  # 30 days from the review request (Art 35)
    RE_REVIEW_DECISION = "re_review_decision"  # 30 days from the request (Art 36)
    # windows of the petitioner or a unit: when they pass, the chance is gone
    OBJECTION = "objection"  # 5 working days to object to a transfer (Art 23)
    EVALUATION = "evaluation"  # satisfaction rating (Art 21), from delivery of the reply
    REVIEW_REQUEST = "review_request"  # 30 days from receiving the reply (Art 35)
    RE_REVIEW_REQUEST = "re_review_request"  # 30 days from receiving the review reply (Art 36)

    @property
    def is_obligation(self) -> bool:
        return self in _OBLIGATIONS


_OBLIGATIONS = frozenset(
    {
        DeadlineKind.ROUTING,
        DeadlineKind.NOTIFICATION,
        DeadlineKind.HANDLING,
        DeadlineKind.SUPERVISION,
        DeadlineKind.DELIVERY,
        DeadlineKind.REVIEW_DECISION,
        DeadlineKind.RE_REVIEW_DECISION,
    }
)


class Deadline(Frozen):
    kind: DeadlineKind
    start: date  # the day of the triggering event (not counted)
    due: date  # the last day
    due_at: datetime  # the instant it expires: the end of ``due``, local time
    counting: Literal["calendar", "working"] = "calendar"
    missed: bool = False
    # Counted with a calendar snapshot (else these keep their defaults):
    # a day it looked at lies in a year with no official arrangement (counted Mon-Fri)
    provisional: bool = False
    # the arrangements it was counted with, e.g. "2026.v1+2027.v1"
    calendar: str | None = None
    # what was counted: ``days`` from ``counted_from`` (the start), then each of
    # ``extensions`` calendar days from the due date before it, so the deadline can be
    # counted again (DeadlineRecomputed). Extended before ``extensions`` was recorded,
    # ``counted_from`` is the due date it extended and ``days`` the extension.
    counted_from: date | None = None
    days: int | None = None
    extensions: tuple[int, ...] = ()

    @model_serializer(mode="wrap")
    def _without_no_extensions(self, handler: SerializerFunctionWrapHandler) -> object:
        # A deadline never extended is stored as it was before ``extensions`` existed.
        data = handler(self)
        if not self.extensions and isinstance(data, dict):
            data.pop("extensions", None)
        return data


class DeadlinePolicy(Frozen):
    """Defaults of the 2022 regulation. Provinces override them per jurisdiction."""

    routing_days: int = Field(15, ge=1)
    notification_days: int = Field(15, ge=1)
    objection_working_days: int = Field(5, ge=1)
    handling_days: int = Field(60, ge=1)
    max_extension_days: int = Field(30, ge=0)
    # The regulation sets no period for delivering a written reply; this is the
    # province's. Missed, it is reminded and supervised like any obligation.
    delivery_days: int = Field(7, ge=1)
    evaluation_days: int = Field(30, ge=1)
    review_request_days: int = Field(30, ge=1)
    review_decision_days: int = Field(30, ge=1)
    re_review_request_days: int = Field(30, ge=1)
    re_review_decision_days: int = Field(30, ge=1)
    # A satisfied or basically satisfied rating concludes the case (办结) at once:
    # review (Art 35) is for a petitioner who disagrees with the reply. False keeps
    # the review window open until it ends, whatever the rating.
    close_on_satisfied_rating: bool = True
    # Civil Code Art 203: a period ending on a holiday runs to the next working day.
    roll_to_working_day: bool = True
    # "cn": China's official holidays and adjusted working days; "weekends": Mon-Fri.
    holiday_calendar: Literal["cn", "weekends"] = "cn"
    # The official arrangements to count with (domain/calendar.py); None: the pinned
    # chinesecalendar package, as cases started before the calendar store count.
    calendar: CalendarSnapshot | None = None
    # Beijing time. Days are counted in this offset, whatever the server's clock zone.
    utc_offset_hours: int = Field(8, ge=-12, le=14)
    # What happens when a unit misses an obligation deadline (Arts 38-40).
    supervise_when_overdue: bool = True
    escalate_overdue_handling_to_conference: bool = False
    # How far a command's own timestamp may run ahead of the engine's clock.
    max_clock_skew_seconds: int = Field(300, ge=0)

    # ---- counting -------------------------------------------------------------

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(hours=self.utc_offset_hours))

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.tz).date()

    def snapshot_from(self, instant: datetime) -> int:
        """The first year a calendar snapshot taken at ``instant`` holds: the years a
        case still counts in, from the year before this one."""
        return self.local_date(instant).year - 1

    def is_working_day(self, day: date) -> bool:
        return self._working(day)[0]

    def _working(self, day: date) -> tuple[bool, bool]:
        """Whether ``day`` is a working day, and whether that answer is provisional."""
        if self.holiday_calendar != "cn":
            return day.weekday() < 5, False
        if self.calendar is not None:
            return self.calendar.is_working_day(day)
        return _cn_working_day(day), False

    def _deadline(
        self,
        kind: DeadlineKind,
        start: date,
        due: date,
        counting: Literal["calendar", "working"],
        looked_at: list[tuple[int, bool]],
        days: int,
    ) -> Deadline:
        deadline = Deadline(
            kind=kind, start=start, due=due, due_at=self._end_of(due), counting=counting
        )
        if self.calendar is None or self.holiday_calendar != "cn":
            return deadline
        return deadline.model_copy(
            update={
                "provisional": any(p for _, p in looked_at),
                "calendar": self.calendar.labels(y for y, _ in looked_at),
                "counted_from": start,
                "days": days,
            }
        )

    def calendar_deadline(self, kind: DeadlineKind, start: date, days: int) -> Deadline:
        due = start + timedelta(days=days)
        looked_at: list[tuple[int, bool]] = []
        if self.roll_to_working_day:
            while True:
                working, provisional = self._working(due)
                looked_at.append((due.year, provisional))
                if working:
                    break
                due += timedelta(days=1)
        return self._deadline(kind, start, due, "calendar", looked_at, days)

    def working_deadline(self, kind: DeadlineKind, start: date, days: int) -> Deadline:
        due, counted = start, 0
        looked_at: list[tuple[int, bool]] = []
        while counted < days:
            due += timedelta(days=1)
            working, provisional = self._working(due)
            looked_at.append((due.year, provisional))
            if working:
                counted += 1
        return self._deadline(kind, start, due, "working", looked_at, days)

    def extended(self, deadline: Deadline, days: int) -> Deadline:
        """The same deadline with ``days`` more calendar days, rolled like any period end.

        Counted with a calendar snapshot, it keeps what its base period was counted from
        and records the extension, so a recount moves the base and extends it again."""
        moved = self.calendar_deadline(deadline.kind, deadline.due, days)
        if moved.counted_from is None or deadline.counted_from is None or deadline.days is None:
            return moved.model_copy(update={"start": deadline.start})
        labels = {*(deadline.calendar or "").split("+"), *(moved.calendar or "").split("+")}
        return moved.model_copy(
            update={
                "start": deadline.start,
                "counting": deadline.counting,
                "provisional": deadline.provisional or moved.provisional,
                "calendar": "+".join(sorted(labels - {""})) or None,
                "counted_from": deadline.counted_from,
                "days": deadline.days,
                "extensions": (*deadline.extensions, days),
            }
        )

    def dated(self, deadline: Deadline, due: date) -> Deadline:
        """``deadline`` with ``due`` as its last day (expiring at that day's end)."""
        return deadline.model_copy(update={"due": due, "due_at": self._end_of(due)})

    def _end_of(self, due: date) -> datetime:
        """The instant a deadline whose last day is ``due`` expires: that day's end."""
        return datetime.combine(due + timedelta(days=1), time(0), tzinfo=self.tz).astimezone(UTC)

    def recounted(self, deadline: Deadline) -> Deadline | None:
        """``deadline`` counted again with this policy's calendar: the same days from the
        same day, then the same extensions. None when it cannot be (counted without a
        calendar snapshot)."""
        if self.calendar is None or deadline.counted_from is None or deadline.days is None:
            return None
        count = self.working_deadline if deadline.counting == "working" else self.calendar_deadline
        again = count(deadline.kind, deadline.counted_from, deadline.days)
        for days in deadline.extensions:
            again = self.extended(again, days)
        return again.model_copy(update={"start": deadline.start, "missed": deadline.missed})


@lru_cache(maxsize=4096)
def _cn_working_day(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # The package knows the years whose State Council notice has been published.
        # Beyond them only weekends are known; the next package release adds the year.
        return day.weekday() < 5


class PolicyBook(Frozen):
    """The default policy and per-jurisdiction overrides, most specific path wins.

    ``overrides`` maps a jurisdiction path joined with ``/`` (``"新疆维吾尔自治区/喀什地区"``)
    to the fields it changes.
    """

    default: DeadlinePolicy = DeadlinePolicy()
    overrides: Mapping[str, Mapping[str, object]] = Field(default_factory=dict)

    def for_jurisdiction(self, jurisdiction: Jurisdiction) -> DeadlinePolicy:
        path = jurisdiction.path
        changes: dict[str, object] = {}
        for depth in range(1, len(path) + 1):
            changes.update(self.overrides.get("/".join(path[:depth]), {}))
        if not changes:
            return self.default
        return DeadlinePolicy.model_validate({**self.default.model_dump(), **changes})
