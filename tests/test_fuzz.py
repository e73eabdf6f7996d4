"""Bad input, fuzzed with hypothesis, through the client and as raw Temporal payloads.

Every malformed intake or command gets a clean rejection with a known code; no
workflow task fails (the harness checks every history after each test); a rejected
command changes nothing but, for a signal, the CommandRejected event it leaves.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from petitionflow.client import PetitionError
from petitionflow.domain.commands import AcknowledgeReceipt, WithdrawPetition
from petitionflow.domain.decide import CODES, EXTERNAL_COMMANDS
from petitionflow.domain.intake import Intake
from testkit.builders import BUREAU, COUNTY_UNIT, HANDLER, PREFECTURE_UNIT, intake_data
from tests.temporal import Case, Harness

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
NASTY_TEXT = st.sampled_from(
    [
        "",
        "   ",
        "x" * 10_001,
        "含\x00控制字符",
        "tab\tand\nnewline are fine",
        "\ud800lone",
        "😀" * 3,
    ]
)
NASTY_TIME = st.sampled_from(
    [
        "1900-01-01T00:00:00+08:00",
        "2999-12-31T23:59:59+08:00",
        "2026-11-27T10:00:00",
        "yesterday",
        1700000000,
        None,
    ]
)


def valid_payload(kind: str) -> dict[str, Any]:
    unit = COUNTY_UNIT.model_dump(mode="json")
    payloads: dict[str, dict[str, Any]] = {
        "transfer_petition": {"to_unit": unit},
        "assign_petition": {"to_unit": unit, "due_days": 20},
        "divert_petition": {"destination": "litigation"},
        "not_accept_petition": {"reason": "other", "detail": "说明"},
        "object_to_routing": {"reason": "理由"},
        "start_mediation": {
            "mediator": "调解员",
            "petitioner_consents": True,
            "other_party_consents": True,
        },
        "record_mediation": {"agreed": False},
        "record_hearing": {"held_from": "2026-11-01", "held_to": "2026-11-02", "summary": "听证"},
        "extend_handling": {"days": 10, "reason": "理由", "approved_by": "局长"},
        "escalate_to_conference": {"reason": "major_or_urgent"},
        "record_conference_decision": {"lead_unit": unit, "plan": "方案"},
        "issue_decision": {"outcome": "explain", "decision": "意见", "legal_basis": "依据"},
        "report_implementation": {"report": "报告"},
        "record_delivery": {"document": "reply", "method": "post"},
        "record_rating": {"rating": "satisfied"},
        "request_review": {
            "review_unit": PREFECTURE_UNIT.model_dump(mode="json"),
            "reasons": "不服",
        },
        "decide_review": {"outcome": "explain", "decision": "意见", "legal_basis": "依据"},
        "request_re_review": {
            "review_unit": PREFECTURE_UNIT.model_dump(mode="json"),
            "reasons": "不服",
        },
        "decide_re_review": {"outcome": "explain", "decision": "意见", "legal_basis": "依据"},
    }
    fields = payloads.get(kind, {})
    return {
        "command_id": f"fz-{uuid.uuid4().hex[:12]}",
        "actor": HANDLER.model_dump(),
        "issued_at": datetime.now(UTC).isoformat(),
        **fields,
    }


@st.composite
def bad_commands(draw: st.DrawFn) -> tuple[str, Any]:
    """A command payload with one thing wrong with it (or, rarely, nothing)."""
    kind = draw(st.sampled_from(sorted(EXTERNAL_COMMANDS)))
    payload = valid_payload(kind)
    how = draw(st.sampled_from(["drop", "retype", "text", "time", "enum", "extra", "whole"]))
    key = draw(st.sampled_from(sorted(payload)))
    if how == "drop":
        payload.pop(key)
    elif how == "retype":
        payload[key] = draw(JSON)
    elif how == "text":
        payload["actor"] = {"unit": draw(NASTY_TEXT), "person": draw(NASTY_TEXT)}
    elif how == "time":
        payload["issued_at"] = draw(NASTY_TIME)
    elif how == "enum":
        for name in ("rating", "outcome", "destination", "reason"):
            if name in payload:
                payload[name] = draw(st.sampled_from(["excellent", "", "SATISFIED", "maybe"]))
                break
        else:
            payload["kind"] = "no_such_kind"
    elif how == "extra":
        payload[draw(st.sampled_from(["role", "password", "stage"]))] = draw(JSON)
    else:
        return kind, draw(JSON)
    return kind, payload


def run_in(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)


FUZZ = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


class Cases:
    """The case under fuzz; a fuzzed command that happens to be valid may close it, and
    then the next example gets a fresh one."""

    def __init__(self, petitions: Harness) -> None:
        self.petitions = petitions
        self.case: Case | None = None
        self.all: list[Case] = []

    async def current(self) -> Case:
        if self.case is not None:
            desc = await self.case.handle.describe()
            if desc.status is not None and desc.status.name == "RUNNING":
                return self.case
        self.case = await self.petitions.submit()
        self.all.append(self.case)
        return self.case


async def test_fuzzed_commands_are_rejected_cleanly(petitions: Harness) -> None:
    cases = Cases(petitions)
    loop = asyncio.get_running_loop()
    outcomes: list[str] = []

    async def through_client(kind: str, payload: Any) -> str:
        case = await cases.current()
        before = (await case.state()).version
        try:
            result = await petitions.client.send(case.case_id, kind, payload)
        except PetitionError as exc:
            assert exc.code in CODES, exc
            assert (await case.state()).version == before, "a rejected command changed the case"
            return exc.code
        assert result is not None
        return "accepted"

    async def raw_update(kind: str, payload: Any) -> str:
        case = await cases.current()
        before = (await case.state()).version
        try:
            await case.handle.execute_update(kind, payload)
        except PydanticSerializationError:
            return "refused_by_converter"  # never left the client
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            assert isinstance(cause, ApplicationError) and cause.type in CODES, cause
            assert (await case.state()).version == before
            return cause.type
        return "accepted"

    @FUZZ
    @given(bad_commands())
    def fuzz(example: tuple[str, Any]) -> None:
        kind, payload = example
        outcomes.append(run_in(loop, through_client(kind, payload)))
        if isinstance(payload, dict):
            payload = {**payload, "command_id": f"fz-{uuid.uuid4().hex[:12]}"}
        outcomes.append(run_in(loop, raw_update(kind, payload)))

    await asyncio.to_thread(fuzz)
    assert {"invalid_command"} <= set(outcomes), outcomes


async def test_fuzzed_signals_become_command_rejected(petitions: Harness) -> None:
    cases = Cases(petitions)
    loop = asyncio.get_running_loop()
    sent: list[tuple[Case, str]] = []

    async def signal(kind: str, payload: Any) -> None:
        case = await cases.current()
        command_id = None
        if isinstance(payload, dict) and payload.get("command_id") is not None:
            command_id = payload["command_id"] = f"fz-{uuid.uuid4().hex[:12]}"
        try:
            await case.handle.signal(kind, payload)
        except PydanticSerializationError:
            return  # e.g. a lone surrogate: the converter refuses to send it at all
        if command_id:
            sent.append((case, command_id))
        marker = case.cmd(AcknowledgeReceipt, HANDLER)  # settle: signals are handled in order
        await case.signal(marker)
        await case.settled(marker.command_id)

    @FUZZ
    @given(bad_commands())
    def fuzz(example: tuple[str, Any]) -> None:
        run_in(loop, signal(*example))

    await asyncio.to_thread(fuzz)
    case = await cases.current()
    # not even JSON
    await case.handle.signal(
        "record_rating", RawValue(Payload(metadata={"encoding": b"json/plain"}, data=b"{broken"))
    )
    marker = case.cmd(WithdrawPetition, BUREAU)
    await case.signal(marker)
    await case.settled(marker.command_id)
    rejected = [e for c in cases.all for e in c.events() if e.type == "CommandRejected"]
    assert rejected and all(e.code in CODES for e in rejected)
    assert any("not JSON" in e.message for e in rejected)
    for owner, command_id in sent:  # every signal with an id left a trace
        assert command_id in (await owner.state()).commands


async def test_a_raw_undecodable_update_is_rejected(petitions: Harness) -> None:
    case = await petitions.submit()
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await case.handle.execute_update(
            "accept_petition",
            RawValue(Payload(metadata={"encoding": b"json/plain"}, data=b"\xff\xfe not json")),
        )
    assert isinstance(err.value.cause, ApplicationError)
    assert err.value.cause.type == "invalid_command"


@st.composite
def bad_intakes(draw: st.DrawFn) -> dict[str, Any]:
    data = intake_data()
    key = draw(st.sampled_from(sorted(data)))
    choice = draw(st.integers(0, 3))
    if choice == 0:
        data.pop(key)
    elif choice == 1:
        data[key] = draw(JSON)
    elif choice == 2:
        data["petitioner"] = {
            **data["petitioner"],
            "phone": draw(st.text(max_size=15)),
            "name": draw(NASTY_TEXT),
        }
    else:
        data["representatives"] = [{"name": "代表", "phone": "13900001111"}] * draw(
            st.integers(6, 20)
        )
    return data


async def test_fuzzed_intakes_are_rejected_with_field_errors_and_fail_raw_starts_cleanly(
    petitions: Harness,
) -> None:
    loop = asyncio.get_running_loop()
    failures: list[str] = []

    async def raw_start(data: dict[str, Any]) -> None:
        case_id = f"FZ{uuid.uuid4().hex[:10]}"
        registration = {
            "command_id": "r",
            "actor": BUREAU.model_dump(),
            "case_id": case_id,
            "issued_at": datetime.now(UTC).isoformat(),
            "kind": "register_petition",
            "intake": data,
        }
        try:
            handle = await petitions.env.client.start_workflow(
                "PetitionWorkflow",
                {"registration": registration},
                id=f"petition-{case_id}",
                task_queue=petitions.task_queue,
            )
        except PydanticSerializationError:
            return  # e.g. a lone surrogate: the converter refuses to send it at all
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
        cause = err.value.cause
        assert isinstance(cause, ApplicationError) and cause.type in CODES, cause
        failures.append(cause.type)
        async for event in handle.fetch_history_events():
            assert event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED

    @settings(
        max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(bad_intakes())
    def fuzz(data: dict[str, Any]) -> None:
        try:
            Intake.model_validate(data)
        except ValidationError as exc:  # the client's path: field-level messages
            assert all(e["loc"] for e in exc.errors())
            run_in(loop, raw_start(data))

    await asyncio.to_thread(fuzz)
    assert set(failures) == {"invalid_start"}
