"""JSON logs through structlog, for our own lines and for the Temporal SDK's."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from temporalio import activity, workflow


class _Handler(logging.StreamHandler[TextIO]):
    """A stderr handler that also formats records logged on a workflow's sandboxed thread.

    Workflow code (``workflow.logger``) and the SDK itself (``Update raised failure``,
    ``Failed activation``...) log from inside the Temporal sandbox, where an import
    goes through the sandbox's importer into the run's own ``sys.modules``. A record
    with ``exc_info`` sends structlog's JSONRenderer to its fallback, which imports
    ``structlog.threadlocal`` on the call: inside the sandbox that re-imports structlog
    and rich, which touch ``os.path`` and fail ("--- Logging error ---",
    RestrictedWorkflowAccessError), and would cost a fresh import of both per run.
    Formatting a log line decides nothing in the workflow, so it runs with the
    sandbox lifted and the imports passed through to the worker's modules.
    """

    def emit(self, record: logging.LogRecord) -> None:
        if not workflow.unsafe.in_sandbox():
            super().emit(record)
            return
        with workflow.unsafe.sandbox_unrestricted(), workflow.unsafe.imports_passed_through():
            super().emit(record)


def configure(level: str = "INFO") -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = _Handler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, _temporal_ids],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The SDK appends its context to each message as a Python dict as well; the ids are
    # JSON keys of their own here (``_temporal_ids``), so the message stays the message.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False


def _temporal_ids(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Lift the ids the Temporal SDK attaches to a record (``temporal_workflow``...)."""
    record = event.get("_record")
    for attr in ("temporal_workflow", "temporal_activity"):
        details = getattr(record, attr, None)
        if isinstance(details, dict):
            for key in ("workflow_id", "run_id", "activity_type", "attempt"):
                if key in details:
                    event.setdefault(key, details[key])
            wid = details.get("workflow_id", "")
            if isinstance(wid, str) and wid.startswith("petition-"):
                event.setdefault("case_id", wid.removeprefix("petition-"))
    return event
