"""DisputeWorkflow: one durable workflow per village dispute, id ``dispute-<dispute id>``.

Thin, as ``PetitionWorkflow``: every command (the start's report, an update, a signal,
the mediation timer) goes one at a time through ``domain.dispute.decide``; its events
are appended to the stream ``dispute-<dispute id>`` by the ``append_dispute_events``
local activity inside the workflow task that decided it, and the workflow applies the
store's copy. An update returns once its events are durable.

Two outcomes act outside the dispute, through an activity run *before* their events
are written (the activity is idempotent, its answer is in history):

- ``convert_to_petition`` starts the petition case (``convert_dispute``); only once
  the case exists does the dispute record ``DisputeConverted`` with its id;
- ``escalate_to_conference`` signals-with-start the township's conference
  (``add_dispute_to_agenda``); then ``DisputeEscalated`` is recorded.

A refusal of either (``case_id_taken``...) refuses the command like any rejection.

- **Updates and signals**: one dynamic handler each; the name is the command
  (``start_mediation``, ``record_resolution``, ``record_follow_up``,
  ``convert_to_petition``, ``escalate_to_conference``, ``record_conference_decision``).
  The update's validator runs ``decide``; a refused or malformed signal is recorded as
  ``DisputeCommandRejected``.
- **The mediation's time limit** is one durable timer; when it fires the workflow
  decides ``expire_mediation`` (``DisputeOverdue``, once).
- **Encryption is never optional**: an input that did not come through the payload
  codec is refused (``unencrypted_payload``), as a case's.
- **Query** ``state``: the dispute's state (with the parties: the query's result is
  encrypted by the codec like every payload).

Search attributes (codes and enums only) are upserted when they change; logs carry ids
and codes, never the parties.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from petitionflow.activities.directory import UnitById
    from petitionflow.activities.dispute import (
        AgendaRequest,
        AgendaResult,
        AppendDisputeEvents,
        ConvertRequest,
        ConvertResult,
        DisputeAppendResult,
    )
    from petitionflow.domain import dispute as d
    from petitionflow.domain.decide import Rejection
    from petitionflow.domain.intake import field_errors
    from petitionflow.domain.units import UnitLookup
    from petitionflow.domain.values import Actor
    from petitionflow.workflows import search
    from petitionflow.workflows.boundary import (
        UNENCRYPTED_CODE,
        call_store,
        command_payload,
        rejection_error,
        unencrypted,
        unencrypted_update,
    )
    from petitionflow.workflows.dispute_contract import (
        DISPUTE_WORKFLOW_TYPE,
        DisputeCommandResult,
        DisputeSummary,
        PendingDisputeSignal,
        StartDispute,
    )

TIMER_ACTOR = Actor(unit=d.ENGINE_UNIT, person="mediation timer")
SEND_ENCRYPTED = (
    "send it through the payload codec (the petitionflow client, or `temporal` with "
    "--codec-endpoint)"
)
# Starting a case or signalling a conference: retried while Temporal or the store is
# away; a refusal (case_id_taken...) is not retried and refuses the command.
OUTSIDE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["case_id_taken", "invalid_command", "received_in_future"],
)
OUTSIDE_TIMEOUT = timedelta(seconds=30)


@workflow.defn(name=DISPUTE_WORKFLOW_TYPE)
class DisputeWorkflow:
    @workflow.init
    def __init__(self, raw_start: RawValue) -> None:
        self.start: StartDispute | None = None
        self.start_error: Rejection | None = None
        if unencrypted([raw_start]):
            self.start_error = Rejection(
                code=UNENCRYPTED_CODE,
                message="the start input arrived unencrypted, so no dispute was reported; "
                "send it through the payload codec and delete this execution",
            )
        else:
            try:
                value = workflow.payload_converter().from_payload(raw_start.payload)
                self.start = StartDispute.model_validate(value)
            except ValidationError as exc:
                self.start_error = Rejection(
                    code="invalid_start", message="; ".join(field_errors(exc))[:2000]
                )
            except Exception as exc:
                self.start_error = Rejection(code="invalid_start", message=str(exc)[:500])
        self.policy = self.start.policy if self.start else d.DisputePolicy()
        self.state = d.DisputeState()
        self.dispute_id = (
            self.start.report.dispute_id
            if self.start
            else workflow.info().workflow_id.removeprefix("dispute-")
        )
        self.inbox: deque[PendingDisputeSignal] = deque(
            self.start.carried_signals if self.start else ()
        )
        self.lock = asyncio.Lock()
        self.report = (
            d.decide(self.state, self.start.report, workflow.now(), self.policy)
            if self.start
            else None
        )

    @workflow.run
    async def run(self, raw_start: RawValue) -> DisputeSummary:
        if self.start_error is not None:
            workflow.logger.error("dispute start refused: %s", self.start_error.code)
            raise rejection_error(self.start_error)
        assert self.start is not None
        async with self.lock:
            village = await self._village(self.start.report)
            while True:
                report = d.decide(
                    self.state, self.start.report, workflow.now(), self.policy, village
                )
                if isinstance(report, Rejection):
                    raise rejection_error(report)
                if report.duplicate or await self._commit(report.events):
                    break
        while True:
            due = self.state.timer()
            timeout = max(due - workflow.now(), timedelta(0)) if due else None
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda due=due: (  # type: ignore[misc]
                        bool(self.inbox) or self._finished() or self.state.timer() != due
                    ),
                    timeout=timeout,
                    timeout_summary="mediation time limit",
                )
            async with self.lock:
                await self._fire_timer()
                while self.inbox:
                    await self._handle_signal(self.inbox.popleft())
            if self._finished():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self.inbox:
                    continue
                s = self.state
                return DisputeSummary(
                    dispute_id=self.dispute_id,
                    status=s.status.value,
                    outcome=s.outcome.value if s.outcome else None,
                    case_id=s.case_id,
                    version=s.version,
                )

    async def _village(self, report: d.ReportDispute) -> UnitLookup:
        """The unit directory's village of the report's code, as of the engine's day."""
        on = self.policy.local_date(workflow.now())
        return await call_store(
            "unit_by_id",
            UnitById(unit_id=report.place.village_code, on=on),
            UnitLookup,
            f"unit directory: village {report.place.village_code}",
        )

    def _finished(self) -> bool:
        return self.state.status is d.DisputeStatus.CLOSED

    async def _fire_timer(self) -> None:
        due = self.state.timer()
        if due is None or due > workflow.now():
            return
        command = d.ExpireMediation(
            command_id=f"expire:mediation:v{self.state.version}",
            actor=TIMER_ACTOR,
            issued_at=workflow.now(),
        )
        decision = d.decide(self.state, command, workflow.now(), self.policy)
        if isinstance(decision, Rejection):
            workflow.logger.error("mediation limit not recorded: %s", decision.code)
            return
        await self._commit(decision.events)

    # ---- the outside effects of an outcome ---------------------------------------------

    async def _act(self, command: d.DisputeCommandBase, events: tuple[Any, ...]) -> None:
        """Before ``events`` are written: start the case they name, or put the dispute on
        the conference's agenda. Raises a Rejection's error when that is refused."""
        for event in events:
            if isinstance(event, d.DisputeConverted):
                assert isinstance(command, d.ConvertToPetition)
                intake = d.conversion_intake(self.state, command)
                assert not isinstance(intake, Rejection)  # decide checked it
                await self._outside(
                    "convert_dispute",
                    ConvertRequest(
                        dispute_id=self.dispute_id,
                        case_id=event.case_id,
                        intake=intake,
                        registering_office=Actor(
                            unit=event.registering_office,
                            person=f"{event.actor.person}（矛盾纠纷转信访）"[:100],
                        ),
                    ),
                    ConvertResult,
                    f"petition case {event.case_id} from dispute {self.dispute_id}",
                )
            elif isinstance(event, d.DisputeEscalated):
                assert self.state.place is not None
                await self._outside(
                    "add_dispute_to_agenda",
                    AgendaRequest(
                        conference_id=event.conference_id,
                        place_code=self.state.place.township_code,
                        item=d.agenda_item(self.state, event),
                    ),
                    AgendaResult,
                    f"{event.conference_id} agenda",
                )

    async def _outside(self, name: str, request: Any, result_type: type, summary: str) -> Any:
        try:
            return await workflow.execute_activity(
                name,
                request,
                result_type=result_type,
                start_to_close_timeout=OUTSIDE_TIMEOUT,
                retry_policy=OUTSIDE_RETRY,
                summary=summary,
            )
        except ActivityError as exc:
            cause = exc.cause
            code = cause.type if isinstance(cause, ApplicationError) and cause.type else name
            message = cause.message if isinstance(cause, ApplicationError) else str(exc)
            raise rejection_error(Rejection(code=code, message=message[:1000])) from None

    # ---- writing -----------------------------------------------------------------------

    async def _commit(self, events: tuple[Any, ...]) -> bool:
        """Make the events durable and apply the store's copy; False when the stream had
        moved on (a lost task's events, now applied): decide again."""
        request = AppendDisputeEvents(
            dispute_id=self.dispute_id,
            expected_version=self.state.version,
            events=list(events),
        )
        result = await call_store(
            "append_dispute_events",
            request,
            DisputeAppendResult,
            f"append v{self.state.version + 1}: " + ", ".join(e.type for e in events),
        )
        before = search.dispute_status(self.state)
        for event in result.stored:
            self.state = d.evolve(self.state, event)
        if changed := search.dispute_updates(self.state, workflow.info().typed_search_attributes):
            workflow.upsert_search_attributes(changed)
        workflow.set_current_details(search.dispute_details(self.state))
        if (after := search.dispute_status(self.state)) != before:
            workflow.logger.info("dispute %s: %s -> %s", self.dispute_id, before, after)
        return result.appended

    # ---- signals -----------------------------------------------------------------------

    async def _handle_signal(self, signal: PendingDisputeSignal) -> None:
        while True:
            command = (
                Rejection(code="invalid_command", message=signal.undecodable)
                if signal.undecodable
                else d.parse(signal.kind, signal.payload)
            )
            now = workflow.now()
            if isinstance(command, Rejection):
                raw = signal.payload.get("command_id") if isinstance(signal.payload, dict) else None
                command_id = raw if isinstance(raw, str) and raw else f"invalid-{workflow.uuid4()}"
                if command_id in self.state.commands:
                    return
                event: Any = d.rejected_event(
                    self.state,
                    signal.kind,
                    command_id[:128],
                    Actor(unit="(invalid command)", person="(unknown)"),
                    command,
                    now,
                    self.policy,
                    workflow.uuid4(),
                )
                events: tuple[Any, ...] = (event,)
            else:
                decision = d.decide(self.state, command, now, self.policy)
                if isinstance(decision, d.Accepted) and decision.duplicate:
                    return
                events = () if isinstance(decision, Rejection) else decision.events
                if isinstance(decision, d.Accepted):
                    try:
                        await self._act(command, events)
                    except ApplicationError as exc:
                        decision = Rejection(code=exc.type or "rejected", message=exc.message)
                if isinstance(decision, Rejection):
                    events = (
                        d.rejected_event(
                            self.state,
                            signal.kind,
                            command.command_id,
                            command.actor,
                            decision,
                            now,
                            self.policy,
                        ),
                    )
            if await self._commit(events):
                return

    # ---- updates and signals ------------------------------------------------------------

    @workflow.update(dynamic=True)
    async def command(self, kind: str, args: Sequence[RawValue]) -> DisputeCommandResult:
        command = d.parse(kind, command_payload(args))
        if isinstance(command, Rejection):
            raise rejection_error(command)
        await workflow.wait_condition(lambda: self.state.status is not d.DisputeStatus.NEW)
        async with self.lock:
            repeat = command.command_id in self.state.commands
            while True:
                decision = d.decide(self.state, command, workflow.now(), self.policy)
                if isinstance(decision, Rejection):
                    raise rejection_error(decision)
                if decision.duplicate:
                    break
                await self._act(command, decision.events)
                if await self._commit(decision.events):
                    break
        return DisputeCommandResult(
            command_id=command.command_id,
            duplicate=repeat,
            events=[e.type for e in decision.events],
            version=self.state.version,
            status=self.state.status.value,
            case_id=self.state.case_id,
            conference_id=self.state.conference_id,
        )

    @command.validator
    def validate_command(self, kind: str, args: Sequence[RawValue]) -> None:
        if unencrypted(args):
            raise unencrypted_update(SEND_ENCRYPTED)
        command = d.parse(kind, command_payload(args))
        if isinstance(command, Rejection):
            raise rejection_error(command)
        state = self.state
        if state.status is d.DisputeStatus.NEW and isinstance(self.report, d.Accepted):
            state = d.fold(self.report.events)  # still being written; the handler waits
        decision = d.decide(state, command, workflow.now(), self.policy)
        if isinstance(decision, Rejection):
            raise rejection_error(decision)

    @workflow.signal(dynamic=True)
    def command_signal(self, kind: str, args: Sequence[RawValue]) -> None:
        if unencrypted(args):
            workflow.logger.warning("signal %s dropped (%s)", kind, UNENCRYPTED_CODE)
            return
        payload = command_payload(args)
        if isinstance(payload, Rejection):
            self.inbox.append(PendingDisputeSignal(kind=kind, undecodable=payload.message))
        else:
            self.inbox.append(PendingDisputeSignal(kind=kind, payload=payload))

    @workflow.query(name="state")
    def state_query(self) -> d.DisputeState:
        return self.state
