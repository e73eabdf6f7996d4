"""Test helpers for JointConferenceWorkflow on the real dev server (tests/temporal.py's
Harness gives the server, the worker and the store).

After a test, ``check`` asserts for the conference what the case harness asserts for a
case: folding its stream equals the workflow's state, no workflow task failed in any of
its runs, no event twice, and the hash chain verifies.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import WorkflowHandle

from petitionflow.activities.conference import from_record
from petitionflow.client.conference import (
    conference_start,
    conference_view,
    join_agenda,
    record_meeting,
)
from petitionflow.domain import commands as c
from petitionflow.domain import conference as cf
from petitionflow.domain.state import Stage
from petitionflow.domain.values import Actor, Jurisdiction
from petitionflow.workflows.conference_contract import ConferenceView, MeetingResult
from testkit.builders import CASE_PLACE, COUNTY_UNIT, PREFECTURE, REGION
from tests.temporal import Case, Harness

PLACE = Jurisdiction(region=REGION, prefecture=PREFECTURE)
OFFICE = "喀什地区信访局"  # the registering office of the harness's cases (BUREAU)
SECRETARY = Actor(unit=OFFICE, person="秘书 古丽")


class Conference:
    def __init__(self, h: Harness, history_limit: int = 2000) -> None:
        # a code of its own per test: workflow ids are shared by the session's server
        self.h, self.code = h, f"65{random.randrange(10**4):04d}{random.randrange(10**6):06d}"
        self.start = conference_start(self.code, PLACE, OFFICE, history_limit=history_limit)
        self.client = h.env.client
        self.handle: WorkflowHandle[Any, Any] | None = None
        self.first_run: str | None = None

    async def join(self, case_id: str, place: Jurisdiction = CASE_PLACE) -> cf.AgendaItemIn:
        item = cf.AgendaItemIn(
            command_id=f"agenda:case:{case_id}",
            subject="case",
            subject_id=case_id,
            reason="competence_dispute",
            place=place,
            issued_at=datetime.now(UTC),
        )
        handle = await join_agenda(
            self.client,
            self.code,
            PLACE,
            OFFICE,
            item,
            task_queue=self.h.task_queue,
            start=self.start,
        )
        if self.handle is None:
            self.handle, self.first_run = handle, handle.result_run_id
        return item

    async def view(self) -> ConferenceView:
        return await conference_view(self.client, self.code)

    async def until(
        self, what: str, check: Callable[[ConferenceView], bool], tries: int = 300
    ) -> ConferenceView:
        for _ in range(tries):
            view = await self.view()
            if check(view):
                return view
            await asyncio.sleep(0.05)
        raise AssertionError(f"conference {self.code}: never {what}; state {view.state}")

    async def advance(self, days: float) -> None:
        assert self.handle is not None
        await self.h.env.fast_forward(
            self.client.get_workflow_handle(self.handle.id), timedelta(days=days)
        )

    async def meeting(self, *decisions: cf.MeetingDecision) -> MeetingResult:
        return await record_meeting(
            self.client,
            self.code,
            cf.RecordMeeting(
                command_id=f"meeting-{uuid.uuid4().hex[:12]}",
                actor=SECRETARY,
                issued_at=datetime.now(UTC),
                held_at=datetime.now(UTC),
                attendance=(OFFICE, COUNTY_UNIT.name),
                decisions=decisions,
            ),
        )

    def events(self) -> list[Any]:
        return [from_record(r) for r in self.h.store.read_stream(cf.stream_id(self.code))]

    def types(self) -> list[str]:
        return [e.type for e in self.events()]

    async def runs(self) -> list[str]:
        """The run ids, first to latest, following the continue-as-new chain."""
        assert self.handle is not None and self.first_run is not None
        runs, run = [], self.first_run
        while run:
            runs.append(run)
            h = self.client.get_workflow_handle(self.handle.id, run_id=run)
            history = await h.fetch_history()
            last = history.events[-1]
            run = (
                last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
                else ""
            )
        return runs

    async def check(self) -> None:
        records = self.h.store.read_stream(cf.stream_id(self.code))
        assert [r.version for r in records] == list(range(1, len(records) + 1))
        assert len({r.event_id for r in records}) == len(records), "duplicate events"
        view = await self.view()
        folded = cf.fold(
            (from_record(r) for r in records),
            cf.ConferenceState(place_code=self.code, place=PLACE, office=OFFICE),
        )
        assert folded == view.state, f"store and workflow differ: {folded} / {view.state}"
        assert self.handle is not None
        for run in await self.runs():
            h = self.client.get_workflow_handle(self.handle.id, run_id=run)
            async for event in h.fetch_history_events():
                failed = event.workflow_task_failed_event_attributes
                # UnhandledCommand is the server's, not the code's: a signal came in while
                # the task continued as new, and the next task takes it (then continues).
                assert event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED or (
                    failed.cause
                    == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND
                ), f"workflow task failed: {failed}"
        assert self.h.store.verify(cf.stream_id(self.code)).ok

    async def stop(self) -> None:
        if self.handle is not None:
            await self.client.get_workflow_handle(self.handle.id).terminate("test over")


async def escalated_case(h: Harness) -> Case:
    """A real case, routed, then escalated to the joint conference (competence dispute)."""
    case = await h.submit()
    await case.ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    await case.ok(c.EscalateToConference, reason="competence_dispute")
    assert (await case.state()).stage is Stage.CONFERENCE
    return case


def decision(case: Case, **fields: object) -> cf.MeetingDecision:
    """The meeting's decision on ``case``: the county unit leads (``fields`` change it)."""
    return cf.MeetingDecision.model_validate(
        {
            "subject": "case",
            "subject_id": case.case_id,
            "lead_unit": COUNTY_UNIT.model_dump(mode="json"),
            "plan": "疏附县人社局牵头，住建局配合，限期解决欠薪",
            **fields,
        }
    )


async def meeting_due(conf: Conference) -> None:
    await conf.advance(8)  # a week and a day: the Tuesday meeting has come
    await conf.until("had a meeting due", lambda v: v.state.meeting_due is not None)
