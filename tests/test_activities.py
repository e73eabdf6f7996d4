"""The append activity on its own (ActivityEnvironment), against both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.testing import ActivityEnvironment

from activities.store import AppendEvents, StoreActivities
from domain import commands as c
from domain.decide import Accepted, decide
from domain.policy import DeadlinePolicy
from domain.state import CaseState
from eventstore import EventStore
from tests.builders import BUREAU, make_intake
from tests.keys import SEALER


def _registration(case_id: str, now: datetime) -> Accepted:
    command = c.RegisterPetition(
        command_id=f"register-{case_id}",
        actor=BUREAU,
        issued_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
        case_id=case_id,
        intake=make_intake(),
    )
    decision = decide(CaseState(), command, now, DeadlinePolicy())
    assert isinstance(decision, Accepted)
    return decision


async def test_a_retried_decision_gets_the_stored_events_back(store: EventStore) -> None:
    # A workflow task that ran the append and then was lost is retried: the command is
    # decided again, later. Same event ids, other timestamps. The store keeps the first
    # and the activity hands those back, so the workflow's state matches the stream.
    activities = StoreActivities(store, SEALER)
    env = ActivityEnvironment()
    first_at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    first = _registration("ACT1", first_at)
    again = _registration("ACT1", first_at + timedelta(seconds=7))
    assert [e.event_id for e in first.events] == [e.event_id for e in again.events]
    assert first.events != again.events

    written = env.run(
        activities.append_events,
        AppendEvents(case_id="ACT1", expected_version=0, events=list(first.events)),
    )
    assert written.stored is None
    retried = env.run(
        activities.append_events,
        AppendEvents(case_id="ACT1", expected_version=0, events=list(again.events)),
    )
    assert retried.positions == written.positions
    assert retried.stored == list(first.events)
