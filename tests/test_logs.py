"""Log lines made inside a workflow's sandbox come out as JSON, not as a logging error.

The SDK logs from the workflow's sandboxed thread (``Update raised failure``, with
``exc_info``) and so does ``workflow.logger``. Formatting such a record used to import
structlog afresh inside the sandbox, which raised RestrictedWorkflowAccessError
(``os.path``) and printed "--- Logging error ---" instead of the line.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import uuid
from typing import Any

import pytest
import structlog
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from petitionflow.domain import commands as c
from petitionflow.eventstore import EventStore
from petitionflow.workers import logs
from petitionflow.workers.main import build_worker
from petitionflow.workers.ui_metadata import CommandNamesInterceptor
from testkit.builders import OTHER_COUNTY_UNIT, id_with_check
from testkit.keys import SEALER
from tests.temporal import Harness

NAME, PHONE = "热依拉·阿不都", "13577778888"


class _LogRefusals(WorkflowInboundInterceptor):
    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        try:
            self.next.handle_update_validator(input)
        except Exception:
            workflow.logger.warning("command refused", exc_info=True)
            raise


class LogRefusals(Interceptor):
    """Logs through ``workflow.logger`` with ``exc_info`` from inside the workflow."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _LogRefusals


async def test_sandbox_log_lines_are_json(
    temporal_env: WorkflowEnvironment, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EventStore(sqlite_url, create=True)  # the store plays no part here: SQLite only
    out = io.StringIO()
    root = logging.getLogger()
    sdk = logging.getLogger("temporalio.worker._workflow_instance")
    saved = root.handlers[:], root.level, sdk.level
    monkeypatch.setattr(sys, "stderr", out)  # also where logging reports its own errors
    logs.configure("INFO")
    sdk.setLevel(logging.DEBUG)  # "Update raised failure", with exc_info
    try:
        task_queue = f"logs-{uuid.uuid4().hex[:8]}"
        h = Harness(temporal_env, store, task_queue)
        interceptors = (CommandNamesInterceptor(), LogRefusals())
        async with build_worker(
            temporal_env.client, store, SEALER, task_queue, interceptors=interceptors
        ):
            case = await h.submit(
                petitioner={
                    "name": NAME,
                    "address": "喀什市人民路1号",
                    "phone": PHONE,
                    "id_number": id_with_check("65312119920101002"),
                }
            )
            refused = await case.rejected(c.TransferPetition, to_unit=OTHER_COUNTY_UNIT)
            assert refused == "unit_outside_jurisdiction"
            await h.check()
    finally:
        root.handlers[:], level, sdk_level = saved
        root.setLevel(level)
        sdk.setLevel(sdk_level)
        structlog.reset_defaults()
        store.close()
    text = out.getvalue()
    assert "Logging error" not in text
    assert "RestrictedWorkflowAccessError" not in text
    lines: list[dict[str, Any]] = [json.loads(x) for x in text.splitlines() if x.startswith("{")]
    ours = [x for x in lines if x["event"].startswith("command refused")]
    assert len(ours) == 1, text[-3000:]
    assert ours[0]["logger"] == "temporalio.workflow"
    assert ours[0]["level"] == "warning"
    assert ours[0]["workflow_id"] == f"petition-{case.case_id}"
    assert ours[0]["case_id"] == case.case_id
    assert "unit_outside_jurisdiction" in json.dumps(ours[0]["exc_info"], ensure_ascii=False)
    sdk_lines = [x for x in lines if x["event"].startswith("Update raised failure")]
    assert len(sdk_lines) == 1 and sdk_lines[0]["exc_info"], text[-3000:]
    for secret in (NAME, PHONE, "65312119920101002"):
        assert secret not in text
