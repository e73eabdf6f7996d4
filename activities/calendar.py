"""The calendar activity: the workflow's only way to the holiday calendar store.

Run as a local activity, so its result, the snapshot, is recorded in the case's
history: ``decide`` counts days only with what history holds, and a replay (or a later
release of the calendar) counts the same days.
"""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from petitionflow.domain.calendar import CalendarSnapshot
from petitionflow.eventstore.calendar import CalendarStore


class SnapshotRequest(BaseModel):
    from_year: int  # the years a case still counts in: from the year before today's


class CalendarActivities:
    def __init__(self, calendar: CalendarStore) -> None:
        self.calendar = calendar

    @activity.defn(name="calendar_snapshot")
    def calendar_snapshot(self, request: SnapshotRequest) -> CalendarSnapshot:
        return self.calendar.snapshot(request.from_year)
