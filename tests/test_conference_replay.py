"""Replay the recorded JointConferenceWorkflow histories with today's code and the
production data converter: a change that would break a running conference fails here.
Make such changes behind ``workflow.patched`` and record new fixtures with
``python -m tests.record_conference_histories``, keeping the old ones. (Apart from
tests/fixtures/histories, which test_replay.py replays as PetitionWorkflow.)"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from petitionflow.workflows.conference import JointConferenceWorkflow
from testkit.keys import CONVERTER

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "conference_histories").glob("*.json"))


def test_fixtures_cover_the_conference_paths() -> None:
    names = {f.stem for f in FIXTURES}
    assert {
        "conference_decided_supervised",
        "conference_continue_as_new_first_run",
        "conference_continue_as_new_latest_run",
    } <= names


def _types(path: Path) -> list[str]:
    events = json.loads(path.read_text(encoding="utf-8"))["history"]["events"]
    return [e["eventType"].removeprefix("EVENT_TYPE_") for e in events]


def test_the_fixtures_hold_what_they_are_named_for() -> None:
    folder = FIXTURES[0].parent
    decided = _types(folder / "conference_decided_supervised.json")
    # signals, the meeting's timer, updates, the deliveries as activities
    assert {
        "WORKFLOW_EXECUTION_SIGNALED",
        "TIMER_FIRED",
        "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
    } <= set(decided)
    assert decided.count("ACTIVITY_TASK_COMPLETED") == 3  # taken, refused, taken again
    assert _types(folder / "conference_continue_as_new_first_run.json")[-1] == (
        "WORKFLOW_EXECUTION_CONTINUED_AS_NEW"
    )


@pytest.mark.parametrize("path", FIXTURES, ids=[f.stem for f in FIXTURES])
async def test_conference_history_replays(path: Path) -> None:
    body = json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    history = WorkflowHistory.from_json(body["workflow_id"], body["history"])
    replayer = Replayer(workflows=[JointConferenceWorkflow], data_converter=CONVERTER)
    await replayer.replay_workflow(history)
