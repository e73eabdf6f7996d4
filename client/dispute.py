"""DisputeClient: the typed way for backend services to drive village disputes.

Any Temporal SDK or the ``temporal`` CLI works too, with the names in the README:
workflow ``DisputeWorkflow``, id ``dispute-<dispute id>``, task queue ``petitions``,
one update and one signal per command, query ``state``. Everything goes through the
client's payload codec (encrypted), as a case's does.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from petitionflow.activities.dispute import from_record
from petitionflow.client import QUERY_TIMEOUT, PetitionError, send_command, unanswered
from petitionflow.domain import dispute as d
from petitionflow.domain.decide import Rejection
from petitionflow.eventstore import EventStore
from petitionflow.security.codec import CaseScope, knows_scope, remember_scope
from petitionflow.workflows import search
from petitionflow.workflows.contract import TASK_QUEUE, WORKFLOW_TASK_TIMEOUT
from petitionflow.workflows.dispute_contract import (
    DISPUTE_WORKFLOW_TYPE,
    DisputeCommandResult,
    DisputeSummary,
    StartDispute,
    dispute_stream_id,
    dispute_workflow_id,
)


class DisputeClient:
    def __init__(
        self,
        client: Client,
        *,
        task_queue: str = TASK_QUEUE,
        store: EventStore | None = None,
        policy: d.DisputePolicy | None = None,
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.store = store
        self.policy = policy or d.DisputePolicy()

    def handle(self, dispute_id: str) -> WorkflowHandle[Any, DisputeSummary]:
        return self.client.get_workflow_handle(
            dispute_workflow_id(dispute_id), result_type=DisputeSummary
        )

    async def report(self, report: d.ReportDispute) -> WorkflowHandle[Any, DisputeSummary]:
        """Start the dispute's workflow with its report. An id used before is refused
        (``duplicate_dispute``)."""
        now = datetime.now(UTC)
        check = d.decide(d.DisputeState(), report, now, self.policy)
        if isinstance(check, Rejection):
            raise PetitionError(check.code, check.message)
        stream = dispute_stream_id(report.dispute_id)
        stored = 0
        if self.store is not None:
            stored = await asyncio.to_thread(self.store.stream_version, stream)
        if stored:
            raise PetitionError(
                "duplicate_dispute",
                f"dispute {report.dispute_id} already has events in the store; pick a new id",
            )
        preview = d.fold(check.events)
        wid = dispute_workflow_id(report.dispute_id)
        remember_scope(
            self.client.data_converter.payload_codec,
            wid,
            CaseScope(report.place.jurisdiction.path, False),
        )
        try:
            return await self.client.start_workflow(
                DISPUTE_WORKFLOW_TYPE,
                StartDispute(report=report, policy=self.policy),
                id=wid,
                task_queue=self.task_queue,
                task_timeout=WORKFLOW_TASK_TIMEOUT,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                search_attributes=search.dispute_initial(preview),
                static_summary=search.dispute_summary(report.dispute_id, preview),
                result_type=DisputeSummary,
            )
        except WorkflowAlreadyStartedError:
            raise PetitionError(
                "duplicate_dispute", f"dispute {report.dispute_id} already exists; pick a new id"
            ) from None

    async def reported(self, dispute_id: str, within: float = 10.0) -> d.DisputeState:
        """The state once the report is durable (a moment after ``report``)."""
        deadline = asyncio.get_running_loop().time() + within
        while (state := await self.state(dispute_id)).version == 0:
            if asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.05)
        return state

    async def send(
        self,
        dispute_id: str,
        kind: str,
        command: d.DisputeCommandBase | dict[str, Any],
        *,
        wait: bool = True,
    ) -> DisputeCommandResult | None:
        """A command as an update (returns once durable), or a signal when not ``wait``."""
        parsed = d.parse(kind, command)
        if isinstance(parsed, Rejection):
            raise PetitionError(parsed.code, parsed.message)
        payload = parsed.model_dump(mode="json", exclude={"kind"})
        handle = self.handle(dispute_id)
        try:
            await self._learn_scope(handle)
            return await send_command(handle, kind, payload, DisputeCommandResult, wait=wait)
        except RPCError as exc:
            if wait and (answer := await self._after_close(dispute_id, parsed)) is not None:
                return answer
            raise await self._rpc_error(dispute_id, exc, parsed) from None

    async def _after_close(
        self, dispute_id: str, command: d.DisputeCommandBase
    ) -> DisputeCommandResult | None:
        """A command sent again to a dispute whose workflow has ended: its first answer
        (``duplicate``), read from the final state; None for any other command."""
        try:
            state = await self.state(dispute_id)
        except PetitionError:
            return None
        earlier = state.commands.get(command.command_id)
        if not earlier:
            return None
        return DisputeCommandResult(
            command_id=command.command_id,
            duplicate=True,
            events=[e.type for e in earlier],
            version=state.version,
            status=state.status.value,
            case_id=state.case_id,
            conference_id=state.conference_id,
        )

    async def _learn_scope(self, handle: WorkflowHandle[Any, DisputeSummary]) -> None:
        codec = self.client.data_converter.payload_codec
        if knows_scope(codec, handle.id):
            return
        state = await handle.query("state", result_type=d.DisputeState, rpc_timeout=QUERY_TIMEOUT)
        if state.place is not None:
            remember_scope(codec, handle.id, CaseScope(state.place.jurisdiction.path, False))

    async def _rpc_error(
        self, dispute_id: str, exc: RPCError, command: d.DisputeCommandBase | None = None
    ) -> PetitionError:
        if (slow := unanswered(exc, f"dispute {dispute_id}")) is not None:
            return slow
        if exc.status != RPCStatusCode.NOT_FOUND:
            return PetitionError("temporal_error", str(exc))
        try:
            desc = await self.handle(dispute_id).describe()
        except RPCError:
            return PetitionError("dispute_not_found", f"there is no dispute {dispute_id}")
        status = desc.status.name if desc.status else "unknown"
        if status == "COMPLETED":
            if command is not None:
                # the final state says exactly why the command fails
                final = await self.state(dispute_id)
                verdict = d.decide(final, command, datetime.now(UTC), self.policy)
                if isinstance(verdict, Rejection):
                    return PetitionError(verdict.code, verdict.message)
            return PetitionError("dispute_closed", f"dispute {dispute_id} is closed")
        return PetitionError("dispute_not_running", f"dispute {dispute_id}'s workflow is {status}")

    async def state(self, dispute_id: str) -> d.DisputeState:
        """The dispute's state (the workflow's query; after it ended, its final state)."""
        try:
            state: d.DisputeState = await self.handle(dispute_id).query(
                "state", result_type=d.DisputeState, rpc_timeout=QUERY_TIMEOUT
            )
            return state
        except RPCError as exc:
            raise await self._rpc_error(dispute_id, exc) from None

    def history(self, dispute_id: str) -> list[d.DisputeEvent]:
        """The dispute's events from the event store."""
        if self.store is None:
            raise PetitionError("no_store", "this client was made without an event store")
        return [from_record(r) for r in self.store.read_stream(dispute_stream_id(dispute_id))]

    # ---- one method per command -----------------------------------------------------

    async def start_mediation(
        self, dispute_id: str, cmd: d.StartMediation
    ) -> DisputeCommandResult | None:
        return await self.send(dispute_id, "start_mediation", cmd)

    async def record_resolution(
        self, dispute_id: str, cmd: d.RecordResolution
    ) -> DisputeCommandResult | None:
        return await self.send(dispute_id, "record_resolution", cmd)

    async def record_follow_up(
        self, dispute_id: str, cmd: d.RecordFollowUp
    ) -> DisputeCommandResult | None:
        return await self.send(dispute_id, "record_follow_up", cmd)

    async def convert_to_petition(
        self, dispute_id: str, cmd: d.ConvertToPetition
    ) -> DisputeCommandResult | None:
        return await self.send(dispute_id, "convert_to_petition", cmd)

    async def escalate_to_conference(
        self, dispute_id: str, cmd: d.EscalateToConference
    ) -> DisputeCommandResult | None:
        return await self.send(dispute_id, "escalate_to_conference", cmd)

    async def record_conference_decision(
        self, dispute_id: str, cmd: d.RecordConferenceDecision
    ) -> DisputeCommandResult | None:
        return await self.send(dispute_id, "record_conference_decision", cmd)
