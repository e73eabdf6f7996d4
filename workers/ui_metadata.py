"""The command names in the Temporal UI's "Send a Signal" and "Send an Update" lists.

The UI fills those lists from the ``__temporal_workflow_metadata`` query, which the
SDK builds from the workflow's registered handlers. ``PetitionWorkflow`` takes every
command through one dynamic update and one dynamic signal handler (cheaper per case
than 46 named ones, see BENCHMARKS.md), and a dynamic handler has no name, so the UI
would offer only a blank entry and "Custom".

This worker interceptor answers that query with the SDK's own metadata, the unnamed
dynamic entries replaced by one entry per command (``accept_petition``...) for both
updates and signals, each described by its command's docstring and fields. It runs
only when someone asks (the UI opening a case): nothing is added to a case's start,
its handlers or its history, so replay is unaffected.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.api.sdk.v1 import WorkflowInteractionDefinition, WorkflowMetadata
from temporalio.worker import (
    HandleQueryInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from petitionflow.domain.commands import CommandBase
from petitionflow.domain.decide import EXTERNAL_COMMANDS
from petitionflow.workflows.contract import WORKFLOW_TYPE

METADATA_QUERY = "__temporal_workflow_metadata"


def _describe(cls: type[CommandBase]) -> str:
    summary = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
    own = [f for f in cls.model_fields if f not in CommandBase.model_fields and f != "kind"]
    fields = ", ".join([*own, "command_id", "actor", "issued_at"])
    return f"{summary} Fields: {fields}.".strip()


COMMANDS: tuple[tuple[str, str], ...] = tuple(
    sorted((kind, _describe(cls)) for kind, cls in EXTERNAL_COMMANDS.items())
)


def with_command_names(metadata: WorkflowMetadata) -> WorkflowMetadata:
    """``metadata`` with the unnamed (dynamic) update and signal entries replaced by
    the command names."""
    definition = metadata.definition
    for listed in (definition.update_definitions, definition.signal_definitions):
        named = [d for d in listed if d.name]
        taken = {d.name for d in named}
        commands = [
            WorkflowInteractionDefinition(name=kind, description=text)
            for kind, text in COMMANDS
            if kind not in taken
        ]
        del listed[:]
        listed.extend(sorted([*named, *commands], key=lambda d: d.name))
    return metadata


class _Inbound(WorkflowInboundInterceptor):
    async def handle_query(self, input: HandleQueryInput) -> Any:
        result = await self.next.handle_query(input)
        if (
            input.query == METADATA_QUERY
            and isinstance(result, WorkflowMetadata)
            and workflow.info().workflow_type == WORKFLOW_TYPE
        ):
            return with_command_names(result)
        return result


class CommandNamesInterceptor(Interceptor):
    """Register on the worker: ``Worker(..., interceptors=[CommandNamesInterceptor()])``."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _Inbound
