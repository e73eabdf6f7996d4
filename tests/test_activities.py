"""The append activity on its own (ActivityEnvironment), against both backends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from petitionflow.activities.records import to_record
from petitionflow.activities.store import AppendEvents, AppendResult, StoreActivities
from petitionflow.domain import commands as c
from petitionflow.domain.decide import Accepted, decide
from petitionflow.domain.events import Event
from petitionflow.domain.policy import DeadlinePolicy
from petitionflow.domain.state import CaseState, fold
from petitionflow.eventstore import EventStore
from testkit.builders import BUREAU, PETITIONER, make_intake
from testkit.keys import SEALER


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
    assert written.stored == list(first.events) and written.appended
    retried = env.run(
        activities.append_events,
        AppendEvents(case_id="ACT1", expected_version=0, events=list(again.events)),
    )
    assert retried.positions == written.positions
    assert retried.stored == list(first.events)


async def test_a_stream_that_moved_on_is_handed_back_to_catch_up_on(store: EventStore) -> None:
    # A lost task wrote v2; its retry decided something else first at v1 -> v2. The
    # activity writes nothing and returns what the stream holds after v1, so that the
    # workflow applies it and decides again (no ConcurrencyError, no failed case).
    activities = StoreActivities(store, SEALER)
    at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    state = _registered(activities, "ACT2", at)
    lost = decide(state, _withdraw("w-1"), at + timedelta(minutes=1), DeadlinePolicy())
    other = decide(state, _withdraw("w-2"), at + timedelta(minutes=2), DeadlinePolicy())
    assert isinstance(lost, Accepted) and isinstance(other, Accepted)
    _append(activities, "ACT2", 1, lost.events)
    result = _append(activities, "ACT2", 1, other.events)
    assert not result.appended
    assert result.stored == list(lost.events)
    assert store.stream_version("petition-ACT2") == 1 + len(lost.events)


async def test_a_stream_behind_the_workflow_is_refused_for_the_workflow_to_wait(
    store: EventStore,
) -> None:
    activities = StoreActivities(store, SEALER)
    registration = _registration("ACT3", datetime(2026, 3, 2, 10, tzinfo=UTC))
    with pytest.raises(ApplicationError) as raised:
        ActivityEnvironment().run(
            activities.append_events,
            AppendEvents(case_id="ACT3", expected_version=4, events=list(registration.events)),
        )
    assert raised.value.type == "StoreBehindWorkflow"
    assert raised.value.non_retryable  # not retried inside the task: the task fails instead


async def test_a_registration_into_a_stream_of_another_run_is_a_duplicate_case(
    store: EventStore,
) -> None:
    # Temporal forgets a closed workflow after its retention; the store never does. A
    # new workflow under the same case id must not adopt the old case's events.
    activities = StoreActivities(store, SEALER)
    at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    old = _registration("ACT4", at)
    store.append(
        "petition-ACT4",
        0,
        [
            to_record(e, {"workflow_id": "petition-ACT4", "run_id": "an-old-run"}, SEALER)
            for e in old.events
        ],
    )
    with pytest.raises(ApplicationError) as raised:
        ActivityEnvironment().run(
            activities.append_events,
            AppendEvents(case_id="ACT4", expected_version=0, events=list(old.events)),
        )
    assert raised.value.type == "duplicate_case" and raised.value.non_retryable


async def test_a_repeat_hands_back_everything_the_lost_task_wrote(store: EventStore) -> None:
    # The lost task wrote a withdrawal's two events; a retry whose append starts with
    # the same first event gets both back, so the workflow is level with the stream.
    activities = StoreActivities(store, SEALER)
    at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    state = _registered(activities, "ACT5", at)
    first = decide(state, _withdraw("w-1"), at, DeadlinePolicy())
    again = decide(state, _withdraw("w-1"), at + timedelta(seconds=9), DeadlinePolicy())
    assert isinstance(first, Accepted) and isinstance(again, Accepted)
    assert len(first.events) == 2
    _append(activities, "ACT5", 1, first.events)
    result = _append(activities, "ACT5", 1, again.events[:1])
    assert result.appended
    assert result.stored == list(first.events)


def _append(
    activities: StoreActivities, case_id: str, expected: int, events: Sequence[Event]
) -> AppendResult:
    return ActivityEnvironment().run(
        activities.append_events,
        AppendEvents(case_id=case_id, expected_version=expected, events=list(events)),
    )


def _registered(activities: StoreActivities, case_id: str, at: datetime) -> CaseState:
    """A case registered through the activity: its state."""
    registration = _registration(case_id, at)
    _append(activities, case_id, 0, registration.events)
    return fold(registration.events)


def _withdraw(command_id: str) -> c.WithdrawPetition:
    return c.WithdrawPetition(
        command_id=command_id,
        actor=PETITIONER,
        issued_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
        reason="撤回",
    )
