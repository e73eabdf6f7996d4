"""JointConferenceWorkflow: one long-lived workflow per joint conference (联席会议),
id ``conference-<place code>``, task queue ``petitions``.

Thin, as ``PetitionWorkflow`` is: every command, from a caller or the workflow's own
timers, goes one way, one at a time under a lock: ``decide`` (``domain/conference.py``)
on the current state, append the events through the ``append_conference_events``
local activity (inside the workflow task that decided them), then ``evolve`` with the
events as the store holds them (an event that reached the store happened; when the
stream had moved on, the command is decided again on the caught-up state).

- **Agenda**: the signal ``add_to_agenda`` (callers signal-with-start, so the
  conference exists once needed). ``record_meeting``, ``record_correction`` and
  ``withdraw_item`` come as updates (validated before they enter history; the update
  fails with the rejection code as its type) or as signals (a refused one is recorded as
  ``ConferenceCommandRejected``).
- **Meetings** on a durable timer, per the start input's ``MeetingPolicy`` (default
  weekly, Tuesday 10:00 Beijing time). When one falls due with items on the agenda the
  workflow records ``ConferenceMeetingDue`` and waits for the secretary's
  ``record_meeting``; then the next is scheduled. With nothing on the agenda the slot
  passes silently.
- **Decisions reach their subjects** through the ``deliver_conference_decision``
  activity (retried until the subject answers), one task per decision, so a slow case
  holds up nothing else. The answer is recorded as ``AgendaDecisionDelivered``.
- **Supervision**: a timer for the earliest correction deadline; passing it records
  ``SupervisionOverdue`` once.
- **Search attributes** ``ConferencePlace``, ``ConferenceOpenItems``,
  ``ConferenceOverdueItems``, ``ConferenceNextMeeting`` (only the changed ones are
  upserted) and the current details list the open items (subject ids and dates only).
- **Continue-as-new** when the server suggests it or the history reaches the start
  input's ``history_limit``, carrying the state and the schedule.
- **Encryption is never optional**: a start, update or signal that did not come through
  the payload codec is refused (``unencrypted_payload``), as the case refuses it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from petitionflow.activities.conference import (
        AppendConferenceEvents,
        ConferenceAppendResult,
        DeliverDecision,
        DeliveryResult,
    )
    from petitionflow.domain import conference as cf
    from petitionflow.domain.decide import Rejection
    from petitionflow.domain.values import Actor
    from petitionflow.workflows import search
    from petitionflow.workflows.boundary import (
        UNENCRYPTED_CODE,
        call_store,
        decode,
        rejection_error,
        unencrypted,
        unencrypted_update,
    )
    from petitionflow.workflows.conference_contract import (
        AGENDA_SIGNAL,
        MEETING_UPDATE,
        WORKFLOW_TYPE,
        ConferenceCommandResult,
        ConferenceView,
        MeetingResult,
        StartConference,
        meeting_result,
    )
    from petitionflow.workflows.contract import WORKFLOW_TASK_TIMEOUT, PendingSignal

# A decision is retried until its subject answers (Temporal away, the case waiting for
# a repair of its stream): never lost, at most every 5 minutes.
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
DELIVERY_TIMEOUT = timedelta(seconds=60)
SEND_ENCRYPTED = (
    "send it through the payload codec (petitionflow.client.conference, or the `temporal` "
    "CLI with --codec-endpoint)"
)
DETAILS_ITEMS = 40  # open items listed in the current details (the count says the rest)


class StoreUnavailable(RuntimeError):
    """The append failed for good: raised out of the workflow task, which Temporal
    retries until the stream can be written again (the conference never fails)."""


@workflow.defn(name=WORKFLOW_TYPE)
class JointConferenceWorkflow:
    @workflow.init
    def __init__(self, raw_start: RawValue) -> None:
        start = (
            Rejection(
                code=UNENCRYPTED_CODE,
                message=f"the start input arrived unencrypted; {SEND_ENCRYPTED}",
            )
            if unencrypted([raw_start])
            else decode(raw_start, StartConference)
        )
        self.start = start if isinstance(start, StartConference) else None
        self.start_error = start if isinstance(start, Rejection) else None
        code = workflow.info().workflow_id.removeprefix("conference-")
        if self.start is not None and self.start.place_code != code:
            self.start_error = Rejection(
                code="invalid_start",
                message=f"place_code {self.start.place_code} does not match the workflow id "
                f"{workflow.info().workflow_id}",
            )
            self.start = None
        s = self.start
        self.state = (
            (s.carried_state or cf.ConferenceState(place_code=code, place=s.place, office=s.office))
            if s
            else None
        )
        self.policy = s.policy if s else cf.MeetingPolicy()
        self.history_limit = s.history_limit if s else 0
        self.next_meeting_at: datetime | None = s.next_meeting_at if s else None
        self.inbox: deque[PendingSignal] = deque(s.carried_signals if s else ())
        self.results: deque[tuple[cf.AgendaItem, DeliveryResult]] = deque()
        self.deliveries: dict[str, asyncio.Task[None]] = {}
        self.lock = asyncio.Lock()

    # ---- the main loop ------------------------------------------------------------

    @workflow.run
    async def run(self, raw_start: RawValue) -> None:
        if self.start_error is not None:
            raise rejection_error(self.start_error)
        assert self.start is not None and self.state is not None
        if self.next_meeting_at is None:
            self.next_meeting_at = self.policy.first_after(workflow.now())
        self._show()
        while True:
            wake = self._wake_at()
            timeout = max(wake - workflow.now(), timedelta(0)) if wake else None
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda wake=wake: (  # type: ignore[misc]
                        bool(self.inbox)
                        or bool(self.results)
                        or self._wake_at() != wake
                        or self._undelivered_idle()
                        or self._may_continue()
                    ),
                    timeout=timeout,
                    timeout_summary="next meeting or correction deadline",
                )
            async with self.lock:
                while self.inbox:
                    await self._handle_signal(self.inbox.popleft())
                while self.results:
                    await self._record_result(*self.results.popleft())
                await self._meeting_time()
                await self._expire_corrections()
            self._start_deliveries()
            if self._may_continue():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self.inbox or self.results or self.deliveries:
                    continue
                workflow.continue_as_new(
                    self.start.model_copy(
                        update={
                            "carried_state": self.state,
                            "next_meeting_at": self.next_meeting_at,
                            "carried_signals": [],
                        }
                    ),
                    task_timeout=WORKFLOW_TASK_TIMEOUT,
                )

    def _may_continue(self) -> bool:
        """Time to continue as new, and no decision on its way (it would be sent again
        by the next run: harmless, the subject answers a repeat, but wasted)."""
        info = workflow.info()
        return not self.deliveries and (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self.history_limit
        )

    def _wake_at(self) -> datetime | None:
        assert self.state is not None
        times = []
        if self.state.meeting_due is None and self.next_meeting_at is not None:
            times.append(self.next_meeting_at)
        if (item := self.state.next_correction()) is not None:
            assert item.correction_due_at is not None
            times.append(item.correction_due_at)
        return min(times) if times else None

    async def _meeting_time(self) -> None:
        """A meeting's time came: due if there is something to decide, else skipped."""
        assert self.state is not None and self.next_meeting_at is not None
        now = workflow.now()
        if self.state.meeting_due is not None or self.next_meeting_at > now:
            return
        scheduled = self.next_meeting_at
        await self._decide_commit(
            cf.MarkMeetingDue(
                command_id=f"meeting-due:{scheduled.astimezone(UTC):%Y%m%dT%H%M%SZ}",
                actor=cf.ENGINE_ACTOR,
                issued_at=now,
                scheduled_for=scheduled,
            )
        )
        self.next_meeting_at = self.policy.next_after(scheduled, now)
        self._show()

    async def _expire_corrections(self) -> None:
        assert self.state is not None
        while (item := self.state.next_correction()) is not None:
            assert item.correction_due_at is not None and item.decision is not None
            if item.correction_due_at > workflow.now():
                return
            decision = await self._decide_commit(
                cf.ExpireCorrection(
                    command_id=f"overdue:{item.decision.decision_command_id}",
                    actor=cf.ENGINE_ACTOR,
                    issued_at=workflow.now(),
                    subject=item.subject,
                    subject_id=item.subject_id,
                )
            )
            if not isinstance(decision, cf.Accepted) or not decision.events:
                return  # nothing recorded: do not spin

    # ---- decisions to their subjects -------------------------------------------------

    def _undelivered_idle(self) -> bool:
        assert self.state is not None
        return any(i.key not in self.deliveries for i in self.state.undelivered)

    def _start_deliveries(self) -> None:
        assert self.state is not None
        for item in self.state.undelivered:
            if item.key not in self.deliveries:
                self.deliveries[item.key] = asyncio.create_task(self._deliver(item))

    async def _deliver(self, item: cf.AgendaItem) -> None:
        d = item.decision
        assert d is not None
        try:
            result: DeliveryResult = await workflow.execute_activity(
                "deliver_conference_decision",
                DeliverDecision(
                    subject=item.subject,
                    subject_id=item.subject_id,
                    decision_command_id=d.decision_command_id,
                    actor=Actor(unit=d.decided_by.unit, person=d.decided_by.person),
                    issued_at=d.held_at,
                    lead_unit=d.lead_unit,
                    plan=d.plan,
                    supervise=d.supervise,
                    correction_days=d.correction_days,
                ),
                result_type=DeliveryResult,
                start_to_close_timeout=DELIVERY_TIMEOUT,
                retry_policy=DELIVERY_RETRY,
                summary=f"decision to {item.subject} {item.subject_id}",
            )
            self.results.append((item, result))
        finally:
            del self.deliveries[item.key]

    async def _record_result(self, item: cf.AgendaItem, result: DeliveryResult) -> None:
        assert item.decision is not None
        await self._decide_commit(
            cf.RecordDecisionResult(
                command_id=f"result:{item.decision.decision_command_id}",
                actor=cf.ENGINE_ACTOR,
                issued_at=workflow.now(),
                subject=item.subject,
                subject_id=item.subject_id,
                decision_command_id=item.decision.decision_command_id,
                accepted=result.accepted,
                code=result.code,
                message=result.message,
                subject_events=tuple(result.events),
                subject_version=result.version,
            )
        )
        if not result.accepted:
            workflow.logger.warning(
                "conference decision %s refused by %s %s: %s",
                item.decision.decision_command_id,
                item.subject,
                item.subject_id,
                result.code,
            )

    # ---- writing ------------------------------------------------------------------

    async def _decide_commit(self, command: Any) -> cf.ConferenceDecision:
        """Decide ``command`` and make its events durable; again after a catch-up."""
        while True:
            assert self.state is not None
            decision = cf.decide(self.state, command, workflow.now())
            if isinstance(decision, Rejection) or decision.duplicate or not decision.events:
                return decision
            if await self._commit(decision.events):
                return decision

    async def _commit(self, events: Sequence[cf.ConferenceEvent]) -> bool:
        """Append, then apply the stream's copy. Only under the lock. False when the
        stream had moved on (a lost task wrote first): its events are applied instead."""
        assert self.state is not None
        request = AppendConferenceEvents(
            place_code=self.state.place_code,
            expected_version=self.state.version,
            events=list(events),
        )
        try:
            result = await call_store(
                "append_conference_events",
                request,
                ConferenceAppendResult,
                f"append v{self.state.version + 1}: " + ", ".join(e.type for e in events),
            )
        except ActivityError as exc:
            raise StoreUnavailable(f"append failed: {exc.cause or exc}") from exc
        held = False
        for event in result.stored:
            self.state = cf.evolve(self.state, event)
            held = held or isinstance(event, cf.ConferenceMeetingHeld)
        if held and self.next_meeting_at is not None and self.next_meeting_at <= workflow.now():
            # The minutes came after the next slot had passed: that meeting was this one.
            self.next_meeting_at = self.policy.next_after(self.next_meeting_at, workflow.now())
        self._show()
        return result.appended

    # ---- what the UI shows ------------------------------------------------------------

    def _show(self) -> None:
        state = self.state
        assert state is not None
        due = state.meeting_due
        next_at = due.scheduled_for if due else self.next_meeting_at
        wanted: list[tuple[Any, Any]] = [
            (search.CONFERENCE_PLACE, cf.parent_codes(state.place_code)),
            (search.CONFERENCE_OPEN_ITEMS, len(state.items)),
            (search.CONFERENCE_OVERDUE_ITEMS, len(state.overdue_items)),
            (search.CONFERENCE_NEXT_MEETING, next_at),
        ]
        current = workflow.info().typed_search_attributes
        changed = [
            key.value_unset() if value is None else key.value_set(value)
            for key, value in wanted
            if current.get(key) != value
        ]
        if changed:
            workflow.upsert_search_attributes(changed)
        workflow.set_current_details(self._details())

    def _details(self) -> str:
        state = self.state
        assert state is not None
        due = state.meeting_due
        lines = [
            f"**Conference:** {state.place_code} ({state.place}) · office {state.office}",
            (
                f"**Meeting no. {due.meeting_no} due** since "
                f"{due.scheduled_for.astimezone(cf.SHANGHAI):%Y-%m-%d %H:%M}: the office "
                "records it with `record_meeting`"
                if due and due.scheduled_for
                else "**Next meeting:** "
                + (
                    f"{self.next_meeting_at.astimezone(cf.SHANGHAI):%Y-%m-%d %H:%M} (Beijing)"
                    if self.next_meeting_at
                    else "—"
                )
            ),
            f"**Open items:** {len(state.items)} · overdue {len(state.overdue_items)} · "
            f"meetings held {state.meetings_held} · closed {state.closed_items}",
        ]
        for item in state.open_items[:DETAILS_ITEMS]:
            d = item.decision
            text = f"- `{item.key}` {item.status}, on the agenda since {item.added_on}"
            if d is not None:
                text += f", meeting {d.meeting_no}, lead {d.lead_unit.name}"
                if d.correction_due:
                    text += f", correction due {d.correction_due}"
            if item.overdue:
                text += " · **overdue (督办)**"
            if item.last_refusal:
                text += f" · last decision refused: `{item.last_refusal}`"
            lines.append(text)
        if len(state.items) > DETAILS_ITEMS:
            lines.append(f"- … and {len(state.items) - DETAILS_ITEMS} more")
        return "\n\n".join(lines[:3]) + ("\n\n" + "\n".join(lines[3:]) if lines[3:] else "")

    # ---- signals -----------------------------------------------------------------

    def _take(self, kind: str, args: Sequence[RawValue]) -> None:
        if unencrypted(args):
            workflow.logger.warning(
                "signal %s dropped (%s): its input arrived unencrypted; %s",
                kind,
                UNENCRYPTED_CODE,
                SEND_ENCRYPTED,
            )
            return
        payload = (
            Rejection(code="invalid_command", message=f"expected one argument, got {len(args)}")
            if len(args) != 1
            else decode(args[0])
        )
        if isinstance(payload, Rejection):
            self.inbox.append(PendingSignal(kind=kind, undecodable=payload.message))
        else:
            self.inbox.append(PendingSignal(kind=kind, payload=payload))

    @workflow.signal(name=AGENDA_SIGNAL)
    def add_to_agenda(self, raw: RawValue) -> None:
        self._take(AGENDA_SIGNAL, [raw])

    @workflow.signal(name=MEETING_UPDATE)
    def record_meeting_signal(self, raw: RawValue) -> None:
        self._take(MEETING_UPDATE, [raw])

    @workflow.signal(name="record_correction")
    def record_correction_signal(self, raw: RawValue) -> None:
        self._take("record_correction", [raw])

    @workflow.signal(name="withdraw_item")
    def withdraw_item_signal(self, raw: RawValue) -> None:
        self._take("withdraw_item", [raw])

    @workflow.signal(dynamic=True)
    def other_signal(self, kind: str, args: Sequence[RawValue]) -> None:
        self._take(kind, args)  # recorded as unknown_command

    async def _handle_signal(self, signal: PendingSignal) -> None:
        drawn: dict[str, Any] = {}
        while (events := self._signal_events(signal, drawn)) and not await self._commit(events):
            pass  # caught up on the stream: decide the signal again

    def _signal_events(
        self, signal: PendingSignal, drawn: dict[str, Any]
    ) -> tuple[cf.ConferenceEvent, ...]:
        state = self.state
        assert state is not None
        now = workflow.now()
        command = (
            Rejection(code="invalid_command", message=signal.undecodable)
            if signal.undecodable
            else cf.parse(signal.kind, signal.payload)
        )
        if isinstance(command, Rejection):
            raw_id = signal.payload.get("command_id") if isinstance(signal.payload, dict) else None
            if not (isinstance(raw_id, str) and raw_id):
                if "id" not in drawn:  # drawn once per signal: a retried task draws the same
                    drawn["id"] = f"invalid-{workflow.uuid4()}"
                raw_id = drawn["id"]
            command_id = raw_id[:128]
            if command_id in state.commands:
                return ()
            return (cf.invalid_signal_event(state, signal.kind, command_id, command, now),)
        decision = cf.decide(state, command, now)
        if isinstance(decision, Rejection):
            workflow.logger.info("signal %s refused: %s", signal.kind, decision.code)
            return (
                cf.rejected_event(
                    state, signal.kind, command.command_id, cf.actor_of(command), decision, now
                ),
            )
        return () if decision.duplicate else decision.events

    # ---- updates ------------------------------------------------------------------

    def _command(self, kind: str, raw: RawValue) -> Any:
        """The update's command, or the ApplicationError refusing it (validator and
        handler alike)."""
        if unencrypted([raw]):
            raise unencrypted_update(SEND_ENCRYPTED)
        command = cf.parse(kind, decode(raw))
        if isinstance(command, Rejection):
            raise rejection_error(command)
        return command

    def _validate(self, kind: str, raw: RawValue) -> None:
        if self.state is None:
            raise rejection_error(
                Rejection(code="invalid_start", message="the conference did not start")
            )
        command = self._command(kind, raw)
        decision = cf.decide(self.state, command, workflow.now())
        if isinstance(decision, Rejection):
            raise rejection_error(decision)

    async def _update(self, kind: str, raw: RawValue) -> tuple[Any, bool, cf.Accepted]:
        command = self._command(kind, raw)
        async with self.lock:
            assert self.state is not None
            repeat = command.command_id in self.state.commands
            decision = await self._decide_commit(command)
            if isinstance(decision, Rejection):
                raise rejection_error(decision)  # the conference moved on since the validator ran
        return command, repeat, decision

    @workflow.update(name=MEETING_UPDATE)
    async def record_meeting(self, raw: RawValue) -> MeetingResult:
        command, repeat, _ = await self._update(MEETING_UPDATE, raw)
        assert self.state is not None
        meeting_no = next(
            (n for n, m in self.state.meetings.items() if m.command_id == command.command_id),
            self.state.meetings_held,
        )
        return meeting_result(
            self.state.place_code, meeting_no, command, repeat, self.state.version
        )

    @record_meeting.validator
    def validate_record_meeting(self, raw: RawValue) -> None:
        self._validate(MEETING_UPDATE, raw)

    @workflow.update(name="record_correction")
    async def record_correction(self, raw: RawValue) -> ConferenceCommandResult:
        return self._result(*await self._update("record_correction", raw))

    @record_correction.validator
    def validate_record_correction(self, raw: RawValue) -> None:
        self._validate("record_correction", raw)

    @workflow.update(name="withdraw_item")
    async def withdraw_item(self, raw: RawValue) -> ConferenceCommandResult:
        return self._result(*await self._update("withdraw_item", raw))

    @withdraw_item.validator
    def validate_withdraw_item(self, raw: RawValue) -> None:
        self._validate("withdraw_item", raw)

    def _result(self, command: Any, repeat: bool, decision: cf.Accepted) -> ConferenceCommandResult:
        assert self.state is not None
        return ConferenceCommandResult(
            command_id=command.command_id,
            duplicate=repeat,
            events=[e.type for e in decision.events],
            version=self.state.version,
        )

    # ---- queries --------------------------------------------------------------------

    @workflow.query(name="state")
    def state_query(self) -> cf.ConferenceState | None:
        return self.state

    @workflow.query(name="view")
    def view_query(self) -> ConferenceView | None:
        if self.state is None:
            return None
        return ConferenceView(
            state=self.state,
            policy=self.policy,
            next_meeting_at=self.next_meeting_at,
            history_length=workflow.info().get_current_history_length(),
        )
