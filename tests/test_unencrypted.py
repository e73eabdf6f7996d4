"""Encryption is never optional: a start, update or signal sent without the payload codec
(an SDK client with the plain converter, ``temporal`` without ``--codec-endpoint``) is
refused with ``unencrypted_payload`` and changes nothing."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from petitionflow.activities.records import stream_id
from petitionflow.domain import commands as c
from petitionflow.security.codec import DECRYPTED, EncryptionCodec
from petitionflow.security.codec_server import CodecServer
from petitionflow.workers.devserver import temporal_binary
from petitionflow.workflows.contract import (
    WORKFLOW_TASK_TIMEOUT,
    WORKFLOW_TYPE,
    StartPetition,
    workflow_id,
)
from petitionflow.workflows.petition import (
    ENCRYPTION_PATCH,
    QUICK_PATCH,
    START_CALENDAR_PATCH,
    PetitionWorkflow,
)
from testkit.builders import BUREAU, COUNTY_UNIT, make_intake
from testkit.keys import CONVERTER, TEST_KEYS
from tests.temporal import Case, Harness

CODE = "unencrypted_payload"


@pytest.fixture
async def plain(petitions: Harness) -> AsyncIterator[Client]:
    """A client of the same server without the codec: pydantic JSON, nothing encrypted."""
    config = petitions.env.client.config()
    config["data_converter"] = pydantic_data_converter
    yield Client(**config)


async def replays(handle: WorkflowHandle[Any, Any]) -> None:
    """The history replays with today's code, and it ran under the patch."""
    history = await handle.fetch_history()
    patches = [
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    # (a run under patch "quick-updates", or "calendar-from-start" since, takes the
    # encryption patch as given)
    assert {ENCRYPTION_PATCH, QUICK_PATCH, START_CALENDAR_PATCH} & {p["id"] for p in patches}
    await Replayer(workflows=[PetitionWorkflow], data_converter=CONVERTER).replay_workflow(history)


def start_input(case_id: str) -> StartPetition:
    return StartPetition(
        registration=c.RegisterPetition(
            command_id=f"register-{case_id}",
            actor=BUREAU,
            issued_at=datetime.now(UTC),
            case_id=case_id,
            intake=make_intake(case_id, received_at=datetime.now(UTC).isoformat()),
        )
    )


def command(case: Case, cls: type[c.Command], **fields: Any) -> dict[str, Any]:
    return case.cmd(cls, **fields).model_dump(mode="json")


async def refused_start(h: Harness, case_id: str, started: float) -> ApplicationError:
    """The workflow's failure, read with the codec; it failed at once, not after retried
    tasks, and wrote nothing to the event store."""
    handle = h.env.client.get_workflow_handle(workflow_id(case_id))
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), timeout=30)
    assert time.monotonic() - started < 15
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    types = [e.event_type async for e in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in types
    assert types[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
    assert h.store.stream_version(stream_id(case_id)) == 0
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == CODE and cause.non_retryable
    await replays(handle)
    return cause


async def test_start_without_codec_fails_the_workflow(petitions: Harness, plain: Client) -> None:
    case_id = f"T{uuid.uuid4().hex[:10]}"
    started = time.monotonic()
    await plain.start_workflow(
        WORKFLOW_TYPE,
        start_input(case_id),
        id=workflow_id(case_id),
        task_queue=petitions.task_queue,
        task_timeout=WORKFLOW_TASK_TIMEOUT,
    )
    cause = await refused_start(petitions, case_id, started)
    assert "--codec-endpoint" in cause.message
    assert f"temporal workflow delete --workflow-id {workflow_id(case_id)}" in cause.message


async def test_update_without_codec_is_rejected(petitions: Harness, plain: Client) -> None:
    case = await petitions.submit()
    before = await case.state()
    handle: WorkflowHandle[Any, Any] = plain.get_workflow_handle(case.handle.id)
    transfer = command(case, c.TransferPetition, to_unit=COUNTY_UNIT)
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update("transfer_petition", transfer)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == CODE
    assert await case.state() == before
    # a validator's rejection leaves nothing in history
    types = [e.event_type async for e in case.handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED not in types
    # the same command through the codec is taken
    await case.ok(c.TransferPetition, to_unit=COUNTY_UNIT)


async def test_signal_without_codec_changes_nothing(petitions: Harness, plain: Client) -> None:
    case = await petitions.submit()
    before = await case.state()
    unencrypted = command(case, c.TransferPetition, to_unit=COUNTY_UNIT)
    await plain.get_workflow_handle(case.handle.id).signal("transfer_petition", unencrypted)
    # signals are handled in order: once this one is, the first one was too
    proper = case.cmd(c.TransferPetition, to_unit=COUNTY_UNIT)
    await case.signal(proper)
    after = await case.settled(proper.command_id)
    assert unencrypted["command_id"] not in after.commands
    assert after.version == before.version + len(after.commands[proper.command_id])
    stored = json.dumps([e.model_dump(mode="json") for e in case.events()])
    assert unencrypted["command_id"] not in stored
    assert (await case.handle.describe()).status == WorkflowExecutionStatus.RUNNING
    await case.ok(c.AcknowledgeReceipt)  # it goes on (the harness checks: no failed task)
    await replays(case.handle)


def cli_env() -> dict[str, str]:
    """The environment without any TEMPORAL_* setting or config file that could hand the
    CLI a codec."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env["TEMPORAL_CONFIG_FILE"] = str(Path("/nonexistent/temporal.toml"))
    return env


async def temporal_cli(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        temporal_binary(),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=cli_env(),
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, f"temporal {' '.join(args[:3])} exited {proc.returncode}: {text}"
    return text


async def test_cli_start_without_codec_endpoint_fails_the_workflow(petitions: Harness) -> None:
    case_id = f"T{uuid.uuid4().hex[:10]}"
    address = petitions.env.client.service_client.config.target_host
    started = time.monotonic()
    await temporal_cli(
        "workflow", "start", "--address", address,
        "--type", WORKFLOW_TYPE, "--task-queue", petitions.task_queue,
        "--workflow-id", workflow_id(case_id),
        "--input", start_input(case_id).model_dump_json(),
    )  # fmt: skip
    await refused_start(petitions, case_id, started)


async def test_cli_signal_with_codec_endpoint_is_taken(petitions: Harness) -> None:
    """The README's walk-through signals with ``--codec-endpoint``: that is encrypted."""
    case = await petitions.submit()
    token = secrets.token_urlsafe(24)
    address = petitions.env.client.service_client.config.target_host
    transfer = case.cmd(c.TransferPetition, to_unit=COUNTY_UNIT)
    async with CodecServer(EncryptionCodec(TEST_KEYS.payload), token, (), port=0) as server:
        await temporal_cli(
            "workflow", "signal", "--address", address,
            "--workflow-id", case.handle.id, "--name", "transfer_petition",
            "--input", transfer.model_dump_json(),
            "--codec-endpoint", f"http://127.0.0.1:{server.port}/{token}",
        )  # fmt: skip
        await case.settled(transfer.command_id)


async def test_only_decryption_marks_a_payload() -> None:
    codec = EncryptionCodec(TEST_KEYS.payload)
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b"{}")
    [sealed] = await codec.encode([plain])
    [opened] = await codec.decode([sealed])
    assert opened.metadata[DECRYPTED] == b"1" and opened.data == b"{}"
    assert DECRYPTED not in (await codec.decode([plain]))[0].metadata
    forged = Payload(metadata={"encoding": b"json/plain", DECRYPTED: b"1"}, data=b"{}")
    assert DECRYPTED not in (await codec.decode([forged]))[0].metadata
