"""Replay every recorded history with today's workflow code and the production converter.

A change to PetitionWorkflow that would break running cases fails here. Make such
changes behind ``workflow.patched`` (see the README) and record new fixtures with
``python -m tests.record_histories``, keeping the old ones.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from petitionflow.workflows.petition import PetitionWorkflow
from testkit.keys import CONVERTER

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "histories").glob("*.json"))


def test_fixtures_cover_the_main_paths() -> None:
    names = {f.stem for f in FIXTURES}
    assert {
        "transfer_satisfied",
        "re_review_final",
        "overdue_supervised",
        "withdrawn",
        "continue_as_new_first_run",
        "mediation",
    } <= names


@pytest.mark.parametrize("path", FIXTURES, ids=[f.stem for f in FIXTURES])
async def test_history_replays(path: Path) -> None:
    body = json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    history = WorkflowHistory.from_json(body["workflow_id"], body["history"])
    replayer = Replayer(workflows=[PetitionWorkflow], data_converter=CONVERTER)
    await replayer.replay_workflow(history)


def _markers(path: Path) -> list[str]:
    events = json.loads(path.read_text(encoding="utf-8"))["history"]["events"]
    return [
        e["markerRecordedEventAttributes"]["markerName"]
        for e in events
        if e["eventType"] == "EVENT_TYPE_MARKER_RECORDED"
    ]


def test_both_sides_of_the_local_append_patch_are_replayed() -> None:
    # The same paths recorded before and after patch "local-append-changed-attributes":
    # the old files schedule the append as an activity, the new ones run it locally.
    for name in ("transfer_satisfied", "overdue_supervised", "continue_as_new_first_run"):
        old = FIXTURES[0].parent / f"before_local_append_{name}.json"
        new = FIXTURES[0].parent / f"{name}.json"
        assert "core_local_activity" not in _markers(old)
        assert "core_local_activity" in _markers(new)
        assert "core_patch" in _markers(new)


async def _append_results(path: Path) -> list[dict[str, object]]:
    """The append's results recorded in a history's local-activity markers, decrypted."""
    body = json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    history = WorkflowHistory.from_json(body["workflow_id"], body["history"])
    results = []
    for e in history.events:
        attrs = e.marker_recorded_event_attributes
        if attrs.marker_name == "core_local_activity" and "result" in attrs.details:
            payloads = list(attrs.details["result"].payloads)
            assert CONVERTER.payload_codec is not None
            decoded = await CONVERTER.payload_codec.decode(payloads)
            result = json.loads(decoded[0].data)
            # not the calendar_snapshot's, nor (since patch "quick-updates") screening's,
            # nor the unit directory's (resolve_units: "loaded")
            if not {"years", "candidates", "loaded"} & result.keys():
                results.append(result)
    return results


async def test_both_shapes_of_the_append_result_are_replayed() -> None:
    # Before catching up, a result carried the stored events only on a repeat; since,
    # it carries them on every append, with ``appended``. Both kinds of file replay.
    for name in ("transfer_satisfied", "overdue_supervised", "continue_as_new_first_run"):
        old = await _append_results(FIXTURES[0].parent / f"before_catch_up_{name}.json")
        new = await _append_results(FIXTURES[0].parent / f"{name}.json")
        assert old and all(r.get("stored") is None and "appended" not in r for r in old)
        assert new and all(r["stored"] and r["appended"] is True for r in new)


def _patches(path: Path) -> list[str]:
    events = json.loads(path.read_text(encoding="utf-8"))["history"]["events"]
    found = []
    for e in events:
        if e["eventType"] != "EVENT_TYPE_MARKER_RECORDED":
            continue
        attrs = e["markerRecordedEventAttributes"]
        if attrs["markerName"] == "core_patch":
            payload = attrs["details"]["patch-data"]["payloads"][0]["data"]
            found.append(json.loads(base64.b64decode(payload))["id"])
    return found


def _types(path: Path) -> list[str]:
    events = json.loads(path.read_text(encoding="utf-8"))["history"]["events"]
    return [e["eventType"].removeprefix("EVENT_TYPE_") for e in events]


def test_both_sides_of_the_repeat_screening_patch_are_replayed() -> None:
    # The demo paths recorded before and after patch "repeat-screening"; the new ones
    # screen each registration with an activity, the old ones never did.
    folder = FIXTURES[0].parent
    for name in ("transfer_satisfied", "re_review_final", "continue_as_new_first_run"):
        assert "repeat-screening" not in _patches(folder / f"before_rules_{name}.json")
        # (since patch "quick-updates" a new run takes it as given: no marker of its own)
        assert "repeat-screening" in _patches(folder / f"before_quick_{name}.json")
    # an open duplicate signals the running case; the repeat of a final case finds its
    # workflow ended (the signal fails) and links it in the store
    assert "EXTERNAL_WORKFLOW_EXECUTION_SIGNALED" in _types(folder / "repeat_open_duplicate.json")
    final = _types(folder / "repeat_of_final.json")
    assert "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED" in final
    assert final.count("ACTIVITY_TASK_SCHEDULED") == 1  # the link (screening is local)
    before = _types(folder / "before_quick_repeat_of_final.json")
    assert before.count("ACTIVITY_TASK_SCHEDULED") == 2  # screening, then the link
    for name in ("repeat_suggestion_dismissed", "repeat_suggestion_confirmed"):
        assert (folder / f"{name}.json").exists()


def test_both_sides_of_the_rules_patch_are_replayed() -> None:
    # Recorded before and after patch "regulation-rules-2026-11" (domain/rules.py): the
    # old files decide without the actor checks and open the windows at the decision,
    # the new ones record the patch, check who acts and count the windows from delivery.
    from petitionflow.domain.rules import RULES_PATCH

    folder = FIXTURES[0].parent
    for name in ("transfer_satisfied", "re_review_final", "continue_as_new_first_run"):
        assert RULES_PATCH not in _patches(folder / f"before_rules_{name}.json")
        assert RULES_PATCH in _patches(folder / f"before_quick_{name}.json")


def test_a_case_whose_deadline_was_recomputed_is_replayed() -> None:
    # Recorded under patch "holiday-calendar-snapshot": the calendar's local activity,
    # the calendar_loaded signal and the DeadlineRecomputed it led to, then the timer
    # on the official date (tests/record_histories.py, scenario deadline_recomputed).
    path = FIXTURES[0].parent / "deadline_recomputed.json"
    assert '"signalName": "calendar_loaded"' in path.read_text(encoding="utf-8")
    markers = _markers(path)
    # quick-updates only: the patches before it are taken as given
    assert markers.count("core_patch") == 1
    assert "core_local_activity" in markers


def test_both_sides_of_the_encryption_check_and_the_scopes_are_replayed() -> None:
    # Recorded before and after issue 13: the new runs record patch
    # "refuse-unencrypted-inputs" and every encrypted payload names its case's place
    # (petitionflow-scope, for the codec server's operator scopes); the old ones neither.
    from petitionflow.workflows.petition import ENCRYPTION_PATCH

    folder = FIXTURES[0].parent
    for name in ("transfer_satisfied", "re_review_final", "continue_as_new_first_run"):
        old, new = folder / f"before_scopes_{name}.json", folder / f"before_quick_{name}.json"
        assert ENCRYPTION_PATCH not in _patches(old)
        assert ENCRYPTION_PATCH in _patches(new)
        assert "petitionflow-scope" in new.read_text(encoding="utf-8")
        assert "petitionflow-scope" not in old.read_text(encoding="utf-8")


def test_both_sides_of_the_quick_updates_patch_are_replayed() -> None:
    # Recorded before and after patch "quick-updates": the old files screen with an
    # activity, read the calendar again after each update that opens a provisional
    # deadline and cancel and start the timer whenever the next deadline moves; the new
    # ones screen locally and start a timer again only for an earlier deadline.
    from petitionflow.workflows.petition import QUICK_PATCH

    folder = FIXTURES[0].parent
    for name in ("transfer_satisfied", "re_review_final", "continue_as_new_first_run"):
        old = folder / f"before_quick_{name}.json"
        new = folder / f"before_start_calendar_{name}.json"  # the last recorded under it
        assert QUICK_PATCH not in _patches(old)
        assert _patches(new) == [QUICK_PATCH]  # the patches before it are not asked
        assert "ACTIVITY_TASK_SCHEDULED" in _types(old)  # screening
        assert "ACTIVITY_TASK_SCHEDULED" not in _types(new)
        assert _types(new).count("TIMER_CANCELED") <= _types(old).count("TIMER_CANCELED")
    # a deadline moved later no longer cancels the timer (it fires early, once, if the
    # case is still open then)
    old = folder / "before_quick_transfer_satisfied.json"
    new = folder / "before_start_calendar_transfer_satisfied.json"
    assert _types(new).count("TIMER_CANCELED") < _types(old).count("TIMER_CANCELED")


def _first_task_local_activities(path: Path) -> list[str]:
    """The local activities of the run's first workflow task (its markers before the
    first WORKFLOW_TASK_COMPLETED... recorded after it: they follow the completion)."""
    events = json.loads(path.read_text(encoding="utf-8"))["history"]["events"]
    completed = [i for i, e in enumerate(events) if e["eventType"].endswith("TASK_COMPLETED")]
    found = []
    for e in events[completed[0] :]:
        if e["eventType"].endswith("TASK_SCHEDULED") or e["eventType"].endswith("TASK_STARTED"):
            break
        attrs = e.get("markerRecordedEventAttributes")
        if attrs and attrs["markerName"] == "core_local_activity":
            data = attrs["details"]["data"]["payloads"][0]["data"]
            found.append(json.loads(base64.b64decode(data))["activity_type"])
    return found


def test_both_sides_of_the_calendar_from_start_patch_are_replayed() -> None:
    # Recorded before and after patch "calendar-from-start": the old files read the
    # calendar in the registration's task, then append, then screen; the new ones count
    # with the snapshot the client sent with the start, and append, then screen.
    from petitionflow.workflows.petition import QUICK_PATCH, START_CALENDAR_PATCH

    folder = FIXTURES[0].parent
    for name in ("transfer_satisfied", "re_review_final", "repeat_of_final"):
        old, new = folder / f"before_start_calendar_{name}.json", folder / f"{name}.json"
        assert _patches(old) == [QUICK_PATCH]
        assert _patches(new) == [START_CALENDAR_PATCH]  # the patches before it not asked
        # (a repeat then appends what screening found, in the same task)
        before, after = _first_task_local_activities(old), _first_task_local_activities(new)
        assert before[:3] == ["calendar_snapshot", "append_events", "screen_repeats"]
        assert after == before[1:]
