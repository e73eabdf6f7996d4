"""PetitionClient: the typed way for backend services to drive cases.

Any Temporal SDK or the ``temporal`` CLI works too, with the names in the README:
workflow ``PetitionWorkflow``, id ``petition-<case id>``, task queue ``petitions``, one
update and one signal per command, queries ``state`` and ``deadlines``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy.exc import ProgrammingError
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from petitionflow.activities.records import from_record, stream_id
from petitionflow.client.visibility import QueryError, check_filter
from petitionflow.domain import commands as c
from petitionflow.domain.decide import Rejection, decide, parse
from petitionflow.domain.events import Event
from petitionflow.domain.intake import Intake
from petitionflow.domain.policy import Deadline, DeadlinePolicy, PolicyBook
from petitionflow.domain.state import CaseState, fold
from petitionflow.domain.values import Actor, Classification
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.calendar import CalendarStore
from petitionflow.security.codec import CaseScope, knows_scope, remember_scope
from petitionflow.security.sealing import Sealer
from petitionflow.workflows import search
from petitionflow.workflows.contract import (
    CALENDAR_SIGNAL,
    TASK_QUEUE,
    WORKFLOW_TASK_TIMEOUT,
    WORKFLOW_TYPE,
    CaseSummary,
    CommandResult,
    StartPetition,
    workflow_id,
)

R = TypeVar("R")

# A query is answered by a worker. With none polling the workflow's task queue the
# server holds it for 30 s and says only "Timeout expired"; asked with this deadline,
# the caller hears sooner, and why (``unanswered``).
QUERY_TIMEOUT = timedelta(seconds=15)

log = structlog.get_logger("petitionflow.client")
INSUFFICIENT_PRIVILEGE = "42501"  # SQLSTATE: the role lacks the grant


class PetitionError(Exception):
    """A command or a look-up was refused. ``code`` is stable; see the README."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


def unanswered(exc: RPCError, what: str) -> PetitionError | None:
    """The error for a query that no worker answered within ``QUERY_TIMEOUT`` (None: the
    RPC failed otherwise)."""
    if exc.status not in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
        return None
    return PetitionError(
        "worker_unavailable",
        f"no worker answered for {what} within {QUERY_TIMEOUT.total_seconds():.0f} s: is a "
        "worker (`petition worker`) running against this Temporal address, on the task "
        "queue the workflow was started on (PETITIONFLOW_TASK_QUEUE)?",
    )


def update_refusal(exc: WorkflowUpdateFailedError) -> PetitionError | None:
    """The rejection an update was refused with (its code and message, as the workflow's
    validator or handler raised it), or None when the update failed otherwise."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return PetitionError(cause.type, cause.message.split(": ", 1)[-1])
    return None


async def send_command(
    handle: WorkflowHandle[Any, Any], kind: str, payload: Any, result_type: type[R], *, wait: bool
) -> R | None:
    """``payload`` as the update ``kind`` (its result once durable) or, when not ``wait``,
    as a signal (None), to a case's, a dispute's or a conference's workflow. A refused
    update raises its rejection as a PetitionError; an RPCError is the caller's to say."""
    try:
        if not wait:
            await handle.signal(kind, payload)
            return None
        result: R = await handle.execute_update(kind, payload, result_type=result_type)
        return result
    except WorkflowUpdateFailedError as exc:
        if (refusal := update_refusal(exc)) is not None:
            raise refusal from None
        raise


class PetitionClient:
    def __init__(
        self,
        client: Client,
        *,
        task_queue: str = TASK_QUEUE,
        store: EventStore | None = None,
        policies: PolicyBook | None = None,
        sealer: Sealer | None = None,
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.store = store
        self.policies = policies or PolicyBook()
        self.sealer = sealer

    # ---- cases ------------------------------------------------------------------

    async def submit(
        self,
        case_id: str,
        intake: Intake,
        actor: Actor,
        *,
        command_id: str | None = None,
        correlation_id: str | None = None,
    ) -> WorkflowHandle[Any, CaseSummary]:
        """Register a petition: start its workflow. A case id already used is refused."""
        now = datetime.now(UTC)
        register = c.RegisterPetition(
            command_id=command_id or f"register-{case_id}",
            correlation_id=correlation_id,
            actor=actor,
            issued_at=now,
            case_id=case_id,
            intake=intake,
        )
        policy = self.policies.for_jurisdiction(intake.jurisdiction)
        check = decide(CaseState(), register, now, policy)
        if isinstance(check, Rejection):
            raise PetitionError(check.code, check.message)
        stored = 0
        if self.store is not None:
            stored, policy = await asyncio.to_thread(
                self._stored_and_calendar, case_id, policy, now
            )
        if stored:
            # Temporal forgets a closed workflow after its retention; the store never
            # does (the worker refuses it too, should this client have no store).
            raise PetitionError(
                "duplicate_case",
                f"case {case_id} already has events in the store; pick a new case id",
            )
        preview = CaseState().model_copy(update={"intake": intake})
        # the case's place on every payload, for the codec server's operator scopes
        remember_scope(
            self.client.data_converter.payload_codec,
            workflow_id(case_id),
            CaseScope(intake.jurisdiction.path, intake.classification is Classification.ACCUSATION),
        )
        try:
            return await self.client.start_workflow(
                WORKFLOW_TYPE,
                StartPetition(registration=register, policy=policy),
                id=workflow_id(case_id),
                task_queue=self.task_queue,
                task_timeout=WORKFLOW_TASK_TIMEOUT,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                search_attributes=search.initial(preview),
                static_summary=search.summary(case_id, preview),
                static_details=search.static_details(case_id, preview),
                result_type=CaseSummary,
            )
        except WorkflowAlreadyStartedError:
            raise PetitionError(
                "duplicate_case", f"case {case_id} already exists; pick a new case id"
            ) from None

    def _stored_and_calendar(
        self, case_id: str, policy: DeadlinePolicy, now: datetime
    ) -> tuple[int, DeadlinePolicy]:
        """The case's stream version, and the policy with the calendar store's snapshot
        from last year on, read just before the start. The workflow counts with the
        snapshot its start carries (it is in history), so its registration needs no
        calendar read of its own: one local activity fewer in the task a new case's first
        command waits behind (BENCHMARKS.md, "The calendar with the start"). A load in
        the moment between this read and the start is caught at the case's first
        provisional deadline, which reads the store again. A start without a snapshot
        (another client) makes the workflow read it."""
        assert self.store is not None
        stored = self.store.stream_version(stream_id(case_id))
        if stored or policy.holiday_calendar != "cn" or policy.calendar is not None:
            return stored, policy
        try:
            snapshot = CalendarStore(self.store.engine).snapshot(policy.snapshot_from(now))
        except ProgrammingError as exc:
            if getattr(exc.orig, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
                raise
            # A role granted before the client read the calendar (the API's, granted by
            # an older `petition migrate`): the case reads it itself.
            log.warning(
                "calendar not read: this role may not read holiday_calendar; re-run "
                "`petition migrate` as the owner with this process's --grant-* option "
                "(--grant-api ROLE for `petition api`); the case reads the calendar "
                "itself meanwhile",
                case_id=case_id,
            )
            return stored, policy
        return stored, policy.model_copy(update={"calendar": snapshot})

    async def registered(self, case_id: str, within: float = 10.0) -> CaseState:
        """The case's state once its registration is applied (its first event durable),
        or as it is after ``within`` seconds. The workflow starts at once and writes the
        registration a moment later; until then its state names no registering office
        and no place."""
        deadline = asyncio.get_running_loop().time() + within
        pause = 0.01
        while (state := await self.state(case_id)).version == 0:
            if asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.2)
        return state

    def handle(self, case_id: str) -> WorkflowHandle[Any, CaseSummary]:
        return self.client.get_workflow_handle(workflow_id(case_id), result_type=CaseSummary)

    async def send(
        self, case_id: str, kind: str, command: c.CommandBase | dict[str, Any], *, wait: bool = True
    ) -> CommandResult | None:
        """Send a command: as an update when ``wait`` (returns once durable), else a signal."""
        parsed = parse(kind, command)
        if isinstance(parsed, Rejection):
            raise PetitionError(parsed.code, parsed.message)
        payload = parsed.model_dump(mode="json")
        handle = self.handle(case_id)
        try:
            await self._learn_scope(handle)
            return await send_command(handle, kind, payload, CommandResult, wait=wait)
        except RPCError as exc:
            repeat = await self._repeat_on_closed(case_id, exc, parsed)
            if repeat is not None:
                return repeat
            raise await self._rpc_error(case_id, exc, parsed) from None

    async def _learn_scope(self, handle: WorkflowHandle[Any, CaseSummary]) -> None:
        """The case's scope for this client's codec, from its search attributes, when the
        codec does not know it yet (a case this process did not start)."""
        codec = self.client.data_converter.payload_codec
        if knows_scope(codec, handle.id):
            return
        attrs = (await handle.describe()).typed_search_attributes
        path = tuple(
            p
            for p in (
                attrs.get(k)
                for k in (search.REGION, search.PREFECTURE, search.COUNTY, search.TOWNSHIP)
            )
            if p
        )
        if path:
            accusation = attrs.get(search.CLASSIFICATION) == Classification.ACCUSATION.value
            remember_scope(codec, handle.id, CaseScope(path, accusation))

    async def _repeat_on_closed(
        self, case_id: str, exc: RPCError, command: c.CommandBase
    ) -> CommandResult | None:
        """A command sent again after its first sending closed the case (a retry after a
        lost answer): the first result, as a repeat, as the open case would answer."""
        if exc.status != RPCStatusCode.NOT_FOUND:
            return None
        try:
            desc = await self.handle(case_id).describe()
        except RPCError:
            return None
        if desc.status != WorkflowExecutionStatus.COMPLETED:
            return None
        final = await self.state(case_id)
        events = final.commands.get(command.command_id)
        if events is None:
            return None
        return CommandResult(
            command_id=command.command_id,
            duplicate=True,
            events=[e.type for e in events],
            version=final.version,
            stage=final.stage.value,
        )

    async def _rpc_error(
        self, case_id: str, exc: RPCError, command: c.CommandBase | None = None
    ) -> PetitionError:
        if (slow := unanswered(exc, f"case {case_id}")) is not None:
            return slow
        if exc.status != RPCStatusCode.NOT_FOUND:
            return PetitionError("temporal_error", str(exc))
        try:
            desc = await self.handle(case_id).describe()
        except RPCError:
            return PetitionError("case_not_found", f"there is no case {case_id}")
        if desc.status == WorkflowExecutionStatus.COMPLETED and command is not None:
            # The case is over; its final state still says exactly why the command fails.
            final = await self.state(case_id)
            verdict = decide(final, command, datetime.now(UTC), self.policies.default)
            if isinstance(verdict, Rejection):
                return PetitionError(verdict.code, verdict.message)
            return PetitionError("case_closed", f"case {case_id} is closed ({final.closed_reason})")
        status = desc.status.name if desc.status else "unknown"
        return PetitionError("case_not_running", f"case {case_id}'s workflow is {status}")

    async def state(self, case_id: str) -> CaseState:
        """The case's state (the workflow's query). For a case whose workflow has ended,
        with the events appended to its stream since (a later repeat petition's link,
        ``activities/repeat.py``), when this client has the store."""
        try:
            handle = self.handle(case_id)
            state: CaseState = await handle.query(
                "state", result_type=CaseState, rpc_timeout=QUERY_TIMEOUT
            )
            if self.store is not None:
                # off the event loop: the API serves other requests meanwhile
                after = await asyncio.to_thread(
                    self.store.read_stream, stream_id(case_id), state.version + 1
                )
                if after and (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                    state = fold((from_record(r, self.sealer) for r in after), state)
            return state
        except RPCError as exc:
            raise await self._rpc_error(case_id, exc) from None

    async def deadlines(self, case_id: str) -> list[Deadline]:
        try:
            deadlines: list[Deadline] = await self.handle(case_id).query(
                "deadlines", result_type=list[Deadline], rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as exc:
            raise await self._rpc_error(case_id, exc) from None
        return deadlines

    def history(self, case_id: str) -> list[Event]:
        """The case's events from the event store (it outlives Temporal's retention)."""
        if self.store is None:
            raise PetitionError("no_store", "this client was made without an event store")
        return [from_record(r, self.sealer) for r in self.store.read_stream(stream_id(case_id))]

    async def calendar_loaded(
        self,
        also: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[str]:
        """Tell every running case with a provisional deadline that the calendar store
        changed (signal ``calendar_loaded``): each reads it again and recomputes its
        provisional deadlines. ``also``: a further visibility filter. Returns the case
        ids signalled; a case that ended meanwhile is skipped."""
        q = (
            f'WorkflowType = "{WORKFLOW_TYPE}" AND ExecutionStatus = "Running" '
            f"AND {search.PROVISIONAL_DEADLINE.name} = true"
        )
        if also:
            q += f" AND ({also})"
        ids = [wf.id async for wf in self.client.list_workflows(q)]
        done = []
        for n, wid in enumerate(ids, 1):
            try:
                await self.client.get_workflow_handle(wid).signal(CALENDAR_SIGNAL)
                done.append(wid.removeprefix("petition-"))
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
            if progress:
                progress(n, len(ids))
        return done

    async def list(self, query: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Cases from Temporal visibility, e.g. ``Stage = "handling" AND Overdue = true``."""
        q = f'WorkflowType = "{WORKFLOW_TYPE}"'
        if query:
            try:
                q += f" AND ({check_filter(query)})"
            except QueryError as exc:
                raise PetitionError("bad_query", str(exc)) from None
        rows = []
        try:
            async for wf in self.client.list_workflows(q, limit=limit):
                rows.append(self._row(wf))
        except RPCError as exc:
            if exc.status == RPCStatusCode.INVALID_ARGUMENT:  # well formed, but not to Temporal
                raise PetitionError(
                    "bad_query", f"Temporal refused the filter: {exc.message}"
                ) from None
            raise
        return rows

    @staticmethod
    def _row(wf: WorkflowExecution) -> dict[str, Any]:
        attrs = wf.typed_search_attributes
        return {
            "case_id": wf.id.removeprefix("petition-"),
            "status": wf.status.name if isinstance(wf.status, WorkflowExecutionStatus) else None,
            "stage": attrs.get(search.STAGE),
            "handling_unit": attrs.get(search.HANDLING_UNIT),
            "overdue": attrs.get(search.OVERDUE),
            "next_deadline": attrs.get(search.NEXT_DEADLINE),
            "started": wf.start_time,
        }

    # ---- one method per command ---------------------------------------------------

    async def transfer_petition(
        self, case_id: str, cmd: c.TransferPetition, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "transfer_petition", cmd, wait=wait)

    async def assign_petition(
        self, case_id: str, cmd: c.AssignPetition, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "assign_petition", cmd, wait=wait)

    async def divert_petition(
        self, case_id: str, cmd: c.DivertPetition, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "divert_petition", cmd, wait=wait)

    async def not_accept_petition(
        self, case_id: str, cmd: c.NotAcceptPetition, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "not_accept_petition", cmd, wait=wait)

    async def acknowledge_receipt(
        self, case_id: str, cmd: c.AcknowledgeReceipt, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "acknowledge_receipt", cmd, wait=wait)

    async def accept_petition(
        self, case_id: str, cmd: c.AcceptPetition, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "accept_petition", cmd, wait=wait)

    async def object_to_routing(
        self, case_id: str, cmd: c.ObjectToRouting, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "object_to_routing", cmd, wait=wait)

    async def start_mediation(
        self, case_id: str, cmd: c.StartMediation, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "start_mediation", cmd, wait=wait)

    async def record_mediation(
        self, case_id: str, cmd: c.RecordMediation, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "record_mediation", cmd, wait=wait)

    async def record_hearing(
        self, case_id: str, cmd: c.RecordHearing, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "record_hearing", cmd, wait=wait)

    async def extend_handling(
        self, case_id: str, cmd: c.ExtendHandling, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "extend_handling", cmd, wait=wait)

    async def escalate_to_conference(
        self, case_id: str, cmd: c.EscalateToConference, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "escalate_to_conference", cmd, wait=wait)

    async def record_conference_decision(
        self, case_id: str, cmd: c.RecordConferenceDecision, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "record_conference_decision", cmd, wait=wait)

    async def issue_decision(
        self, case_id: str, cmd: c.IssueDecision, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "issue_decision", cmd, wait=wait)

    async def report_implementation(
        self, case_id: str, cmd: c.ReportImplementation, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "report_implementation", cmd, wait=wait)

    async def record_rating(
        self, case_id: str, cmd: c.RecordRating, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "record_rating", cmd, wait=wait)

    async def request_review(
        self, case_id: str, cmd: c.RequestReview, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "request_review", cmd, wait=wait)

    async def decide_review(
        self, case_id: str, cmd: c.DecideReview, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "decide_review", cmd, wait=wait)

    async def reply_review(
        self, case_id: str, cmd: c.ReplyReview, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "reply_review", cmd, wait=wait)

    async def request_re_review(
        self, case_id: str, cmd: c.RequestReReview, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "request_re_review", cmd, wait=wait)

    async def decide_re_review(
        self, case_id: str, cmd: c.DecideReReview, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "decide_re_review", cmd, wait=wait)

    async def reply_re_review(
        self, case_id: str, cmd: c.ReplyReReview, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "reply_re_review", cmd, wait=wait)

    async def withdraw_petition(
        self, case_id: str, cmd: c.WithdrawPetition, *, wait: bool = True
    ) -> CommandResult | None:
        return await self.send(case_id, "withdraw_petition", cmd, wait=wait)
