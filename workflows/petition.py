"""PetitionWorkflow: one durable workflow per case, id ``petition-<case id>``.

It holds no business rule. Every command, whether an update, a signal or a timer
that fired, goes the same way, one at a time: ``decide`` on the current state, append
the events through the ``append_events`` local activity with the state's version as
the expected version, then ``evolve`` with the events as the store holds them. An
update returns once its events are durable.

- **The store and the workflow never disagree.** The append runs inside the workflow
  task that decided it, so a task lost after the append (worker killed, task timed
  out) is retried at a later ``workflow.now()`` and may decide something else first.
  An event that reached the store happened: the activity hands back what the stream
  holds after the expected version, the workflow applies exactly that, and when the
  stream had moved on it decides its command again on the caught-up state (an
  update then answers with what that decision says, a rejection included).

- **Updates**, named after the command (``accept_petition``...), all taken by one
  dynamic handler. The validator
  runs ``decide`` and rejects a bad command before it enters history, with the
  rejection's code as the error type.
- **Signals**, the same names, for fire-and-forget callers. A repeated command_id is
  ignored; a rejected or malformed one is recorded as ``CommandRejected``, so nothing
  is lost and the workflow task never fails.
- **Encryption is never optional.** A start, update or signal sent without the payload
  codec is refused with ``unencrypted_payload``: the start fails the workflow, the
  update's validator rejects it, the signal is dropped (see ``UNENCRYPTED_CODE``).
- **Deadlines**: one timer, for the earliest open deadline in the state. When it
  fires the workflow decides ``expire_deadline``; a missed obligation is reminded
  (催办) and, per policy, supervised (督办) through the ``notify`` activity.
- **A stream the case cannot go on with** (events missing, or written from outside
  and unreadable or not fitting the case) never fails the case: the append waits,
  flagged in ``NeedsAttention`` and the current details, and tries again after a
  repair (see ``_until_unblocked``).
- **The holiday calendar** (since patch "holiday-calendar-snapshot"): the case counts
  days with a snapshot of the calendar store, which its start carries (the client read
  it) or the ``calendar_snapshot`` local activity read, so it is in history and
  travels in ``self.policy`` (and over continue-as-new). The ``calendar_loaded``
  signal (``petition calendar load``) makes it read the store again and decide
  ``recompute_deadlines``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from petitionflow.activities.calendar import SnapshotRequest
    from petitionflow.activities.conference import JoinAgenda
    from petitionflow.activities.directory import ResolveUnits
    from petitionflow.activities.notify import Notification
    from petitionflow.activities.repeat import (
        ENGINE_ACTOR,
        LinkRequest,
        LinkResult,
        ScreenRequest,
        ScreenResult,
        link_command,
    )
    from petitionflow.activities.store import (
        BLOCKED_TYPES,
        NEEDS_ATTENTION,
        AppendEvents,
        AppendResult,
        Blocked,
    )
    from petitionflow.domain import events as ev
    from petitionflow.domain.calendar import CalendarSnapshot
    from petitionflow.domain.commands import (
        CommandBase,
        ExpireDeadline,
        RecomputeDeadlines,
        RecordLink,
        ScreenRepeats,
    )
    from petitionflow.domain.conference import AgendaItemIn
    from petitionflow.domain.decide import (
        Accepted,
        Rejection,
        conference_office,
        decide,
        invalid_command_event,
        parse,
        rejected_event,
        units_named,
    )
    from petitionflow.domain.events import Event
    from petitionflow.domain.policy import Deadline, DeadlineKind, DeadlinePolicy
    from petitionflow.domain.rules import CURRENT, LEGACY, RULES_PATCH
    from petitionflow.domain.state import CaseState, Stage, evolve, fold
    from petitionflow.domain.units import UnitResolution
    from petitionflow.domain.values import Actor
    from petitionflow.workflows import search
    from petitionflow.workflows.boundary import (
        ACTIVITY_TIMEOUT,
        STORE_RETRY,
        UNENCRYPTED_CODE,
        call_store,
        command_payload,
        decode,
        rejection_error,
        unencrypted,
        unencrypted_update,
    )
    from petitionflow.workflows.contract import (
        CALENDAR_SIGNAL,
        WORKFLOW_TASK_TIMEOUT,
        WORKFLOW_TYPE,
        CaseSummary,
        CommandResult,
        PendingSignal,
        StartPetition,
        workflow_id,
    )

TIMER_ACTOR = Actor(unit="petitionflow", person="deadline timer")
LEAN_PATCH = "local-append-changed-attributes"
CALENDAR_ACTOR = Actor(unit="petitionflow", person="holiday calendar")
# Since this patch a case counts days with a snapshot of the calendar store, read by an
# activity (recorded in history); histories from before it count with the pinned
# chinesecalendar package for the rest of their run.
CALENDAR_PATCH = "holiday-calendar-snapshot"
# Since this patch a command that names units (routing, the conference's lead unit,
# review) is decided with the unit directory's answer, read by a local activity
# (recorded in history); runs from before it check units by jurisdiction alone.
DIRECTORY_PATCH = "unit-directory"
# Since this patch (BENCHMARKS.md, "Update latency"):
# - repeat screening is a local activity, in the registration's workflow task: a new
#   case's first update no longer waits for an activity task's round trips;
# - the calendar is read again only when the case's first provisional deadline opens
#   (before it the case was not on the list ``petition calendar load`` tells; after it,
#   it is), and that read runs beside the append, not after the update's events;
# - the deadline timer is re-armed only for an earlier deadline: a later one waits for
#   the timer to fire and is armed then, instead of a cancelled and a new timer on
#   nearly every update;
# - the patches before it are taken as given, not asked (``_patched``).
QUICK_PATCH = "quick-updates"
# Since this patch (BENCHMARKS.md, "The calendar with the start"), a start that carries
# the calendar snapshot (``PetitionClient.submit`` reads it from the store just before
# it starts the case) counts as read at version 0, as the case's own read at
# registration did. The registration's workflow task then reads no calendar: two local
# activities in a row (append, screening) instead of three. A calendar loaded between
# that read and the start is caught where it was before: the first provisional
# deadline reads the store again. The patches before it, "quick-updates" included,
# are taken as given (``_patched``).
START_CALENDAR_PATCH = "calendar-from-start"


# Appends retry until the database is back (``STORE_RETRY``). A version conflict is no
# error (the activity returns the stream to catch up on); "ConcurrencyError" stays
# listed for results recorded before catching up existed.
APPEND_RETRY = dataclasses.replace(STORE_RETRY, non_retryable_error_types=["ConcurrencyError"])
# A case that needs attention tries its append again after these, doubling (each try
# adds six events to its history: a month of hourly tries is some 4,300), or at once on
# the ``resume_case`` signal.
RECHECK_FIRST = timedelta(minutes=1)
RECHECK_MAX = timedelta(hours=1)
RESUME_SIGNAL = "resume_case"
_REVIEWERS_DEADLINES = frozenset(
    {DeadlineKind.REVIEW_DECISION, DeadlineKind.RE_REVIEW_DECISION, DeadlineKind.DELIVERY}
)
# Repeat petitions: screening after registration, and the signal a later case sends
# to the earlier one it repeats (the engine's own; callers have no such command).
REPEAT_PATCH = "repeat-screening"
LINK_SIGNAL = "record_link"
INTERNAL_SIGNALS: dict[str, type[CommandBase]] = {LINK_SIGNAL: RecordLink}
SCREEN_TIMEOUT = timedelta(seconds=30)
NEEDS_ATTENTION_CODE = "case_needs_attention"
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5)
)
# Since this patch a run refuses an unencrypted start and drops an unencrypted signal
# (``UNENCRYPTED_CODE``, ``workflows/boundary.py``); histories from before it (some were
# written before encryption was turned on) replay as they ran. Update validators do not run on replay, so updates are checked always.
# Checked here, not in a payload converter: every input arrives as a RawValue, which the
# SDK's converter hands over without looking (temporalio/converter/_payload_converter.py),
# and a converter would check on replay too, where histories from before encryption
# (tests/fixtures/histories/before_encryption_*) must replay as they ran.
ENCRYPTION_PATCH = "refuse-unencrypted-inputs"
SEND_ENCRYPTED = (
    "send it through the payload codec (the petitionflow client, or the `temporal` CLI "
    "with --codec-endpoint)"
)


def _unencrypted_start() -> Rejection:
    wid = workflow.info().workflow_id
    return Rejection(
        code=UNENCRYPTED_CODE,
        message="the start input arrived unencrypted, so no case was registered; "
        f"{SEND_ENCRYPTED}. Its personal data is now in this execution's history in "
        f"plain text: delete it with `temporal workflow delete --workflow-id {wid}`",
    )


class StoreBehindWorkflow(RuntimeError):
    """Stored events are missing. Only for histories without the patch
    "case-needs-attention" (see ``_until_unblocked``): raised out of the workflow task,
    which fails and is retried by Temporal until the events are restored."""


def _blocked(request: AppendEvents, cause: BaseException | None) -> Blocked | None:
    """Why the append refused to go on with the stream, when it did (``Blocked``)."""
    if not isinstance(cause, ApplicationError):
        return None
    reason = next((r for r, t in BLOCKED_TYPES.items() if t == cause.type), None)
    if reason is None:
        return None
    with contextlib.suppress(ValidationError, IndexError):
        return Blocked.model_validate(cause.details[0])
    return Blocked(reason=reason, expected_version=request.expected_version)


def _append_failure(exc: ActivityError) -> Exception:
    """What the workflow does when the append refuses (see ``append_events``)."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type == "duplicate_case":
        return ApplicationError(cause.message, type="duplicate_case", non_retryable=True)
    if isinstance(cause, ApplicationError) and cause.type == "StoreBehindWorkflow":
        return StoreBehindWorkflow(cause.message)
    return exc


def _log_calendar(event: Event, logged: set[int]) -> None:
    """A warning for the first provisional deadline an event opens in a year (``logged``:
    the years this run warned of already; a lifecycle opens several in the same year,
    and one warning per case and year says what an operator must do); what a recount
    did. Kinds, dates and calendar versions only. Logging only: nothing of it is in
    history, so it may change without a patch."""
    for d in event.deadlines_opened:
        if d.provisional and d.due.year not in logged:
            logged.add(d.due.year)
            workflow.logger.warning(
                "provisional deadline: %s due %s counted Monday to Friday across a year "
                "with no official holiday arrangement (calendar %s); load the year with "
                "`petition calendar load` and the case recomputes it (its later "
                "provisional deadlines in %s are not logged again)",
                d.kind.value,
                d.due.isoformat(),
                d.calendar or "none",
                d.due.year,
            )
    if isinstance(event, ev.DeadlineRecomputed):
        workflow.logger.info(
            "deadline recomputed: %s from %s to %s (official %s, calendar %s%s%s)",
            event.deadline.value,
            event.previous_due.isoformat(),
            event.due.isoformat(),
            event.official_due.isoformat(),
            event.calendar,
            ", the later date kept" if event.kept_later else "",
            ", miss lifted" if event.lifted_miss else "",
        )


@workflow.defn(name=WORKFLOW_TYPE)
class PetitionWorkflow:
    @workflow.init
    def __init__(self, raw_start: RawValue) -> None:
        # Inputs arrive raw and are validated here, so that a malformed start (or
        # update, or signal) is a clean rejection and never a failed workflow task.
        # An unencrypted one is refused unread (``unencrypted``): ``run`` fails the
        # workflow at once with ``unencrypted_payload`` (an ApplicationError, which
        # fails the workflow, not the task) before anything reaches the event store.
        # Asked first: a run under patch "calendar-from-start" (every new run) takes
        # "quick-updates" and all the patches before it as given and records no marker
        # for them (see ``_patched``); a run under "quick-updates" took those before it.
        self.start_calendar = workflow.patched(START_CALENDAR_PATCH)
        self.quick = self.start_calendar or workflow.patched(QUICK_PATCH)
        self.encrypted_only = self._patched(ENCRYPTION_PATCH)
        start = (
            _unencrypted_start()
            if self.encrypted_only and unencrypted([raw_start])
            else decode(raw_start, StartPetition)
        )
        self.start = start if isinstance(start, StartPetition) else None
        self.start_error = start if isinstance(start, Rejection) else None
        carried = self.start.carried_state if self.start else None
        self.case = carried or CaseState()
        self.policy = self.start.policy if self.start else DeadlinePolicy()
        self.case_id = (
            self.start.registration.case_id
            if self.start
            else workflow.info().workflow_id.removeprefix("petition-")
        )
        self.inbox: deque[PendingSignal] = deque(self.start.carried_signals if self.start else ())
        self.lock = asyncio.Lock()
        # Conference agendas this case is to join (``_to_agenda``), in order.
        self.agenda: deque[JoinAgenda] = deque()
        # Set while the append waits for a repair (see ``_until_unblocked``).
        self.attention: Blocked | None = None
        self.resume_requested = False
        # The process rules this run decides by (see domain/rules.py): asked once, so a
        # history recorded before the patch replays under the rules it ran by.
        self.rules = CURRENT if self._patched(RULES_PATCH) else LEGACY
        # Asked here, in the run's first activation as the rules are, not after the
        # registration's local append: a replay may hand that append's result to the
        # workflow in another activation than the live run did (see README, Reliability),
        # and a patch must be asked where its marker stands in history.
        repeats = self._patched(REPEAT_PATCH)  # asked in every run, continued ones too
        self.screen_repeats = bool(self.start and not carried) and repeats
        # Asked once per run, like the rules: whether this run counts with the calendar
        # store's snapshot (a run that began under today's code), or as it ran before.
        self.calendar_on = self._patched(CALENDAR_PATCH)
        if self.calendar_on:
            # Asked here, before the calendar's local activity, not first in ``_commit``
            # after it: a history whose first patch marker follows a local activity's
            # result did not replay (the marker was met before the workflow, waiting
            # for that result, asked for it). The answer is True for these runs anyway.
            self._patched(LEAN_PATCH)
        # Asked once per run, like the calendar: whether commands naming units are
        # decided with the unit directory's answer (taken as given under quick-updates).
        self.directory_on = self._patched(DIRECTORY_PATCH)
        self.recompute_requested = False
        # The case's version when this run last read the calendar (-1: not yet; a
        # snapshot carried over continue-as-new may be old).
        self.calendar_read_at = (
            0 if self.start_calendar and not carried and self.policy.calendar is not None else -1
        )
        # The years of provisional deadlines this run warned of (``_log_calendar``).
        self.provisional_logged: set[int] = set()
        # Decided here so that updates arriving while it is written validate against
        # the state it will produce; ``run`` writes exactly these events.
        self.registration = (
            decide(self.case, self.start.registration, workflow.now(), self.policy, self.rules)
            if self.start and not carried
            else None
        )

    def _patched(self, patch_id: str) -> bool:
        """``workflow.patched(patch_id)`` for a patch older than "quick-updates"; True
        without asking in a run under that patch. Each patch asked records a marker and
        an upsert of ``TemporalChangeVersion`` in the run's first workflow task, the one
        a new case's first update waits behind: seven of each became one. Histories
        without the "quick-updates" marker ask every patch as they did."""
        return self.quick or workflow.patched(patch_id)

    # ---- the main loop --------------------------------------------------------------

    @workflow.run
    async def run(self, raw_start: RawValue) -> CaseSummary:
        if self.start_error is not None:
            if self.start_error.code == UNENCRYPTED_CODE:
                workflow.logger.error(
                    "start refused: its input arrived unencrypted (%s); delete this "
                    "execution, its history holds the input in plain text",
                    UNENCRYPTED_CODE,
                )
            raise rejection_error(self.start_error)
        assert self.start is not None
        if (
            self.calendar_on
            and self.policy.calendar is None
            and self.policy.holiday_calendar == "cn"
        ):
            # A new case, or the first run under this patch: count with the store's
            # calendar from now on (the registration is decided again with it).
            await self._read_calendar()
            if self.registration is not None:
                self.registration = decide(
                    self.case, self.start.registration, workflow.now(), self.policy, self.rules
                )
        if self.registration is not None:
            async with self.lock:
                registration = self.registration
                while True:
                    if isinstance(registration, Rejection):
                        raise rejection_error(registration)
                    if registration.duplicate or await self._commit(registration.events):
                        break
                    # the stream held events already: a case id used before
                    registration = decide(
                        self.case, self.start.registration, workflow.now(), self.policy, self.rules
                    )
                # Since patch "repeat-screening": a new case is screened for an earlier
                # one of the same petitioner on the same matter (Art 19(3), 不再受理).
                if self.screen_repeats and self.case.stage is Stage.REGISTERED:
                    await self._screen_repeats()
        while True:
            armed = self._next_due()
            timeout = max(armed - workflow.now(), timedelta(0)) if armed else None
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda armed=armed: (  # type: ignore[misc]
                        bool(self.inbox)
                        or bool(self.agenda)
                        or self._finished()
                        or self._rearm(armed)  # an update opened or moved a deadline
                        or self.recompute_requested
                        or workflow.info().is_continue_as_new_suggested()
                    ),
                    timeout=timeout,
                )
            async with self.lock:
                if self.recompute_requested:
                    await self._recompute_deadlines()
                await self._fire_due_deadlines()
                while self.inbox:
                    await self._handle_signal(self.inbox.popleft())
            while self.agenda:
                await self._join_agenda(self.agenda.popleft())
            if self._finished() or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self.inbox:
                    continue  # a signal came in meanwhile
                if self._finished():
                    return CaseSummary(
                        case_id=self.case_id,
                        stage=self.case.stage.value,
                        closed_reason=self.case.closed_reason,
                        final=self.case.final,
                        version=self.case.version,
                    )
                workflow.continue_as_new(
                    StartPetition(
                        registration=self.start.registration,
                        policy=self.policy,
                        carried_state=self.case,
                    ),
                    task_timeout=WORKFLOW_TASK_TIMEOUT,
                )

    def _next_due(self) -> datetime | None:
        timers = self.case.timers()
        return timers[0].due_at if timers else None

    def _rearm(self, armed: datetime | None) -> bool:
        """Whether the timer armed for ``armed`` must be replaced. Since patch
        "quick-updates" only by an earlier deadline: one that moved later, or closed,
        is looked at when the armed timer fires, which then arms the next (a cancelled
        and a started timer on nearly every update cost more than that wake-up)."""
        due = self._next_due()
        if not self.quick:
            return due != armed
        return due is not None and (armed is None or due < armed)

    def _finished(self) -> bool:
        c = self.case
        # A closed case with a supported decision still waits for its implementation report.
        waiting = c.implementation_pending and c.closed_reason != "withdrawn"
        return c.stage is Stage.CLOSED and not waiting

    async def _fire_due_deadlines(self) -> None:
        while (timers := self.case.timers()) and timers[0].due_at <= workflow.now():
            due = timers[0]
            command = ExpireDeadline(
                # unique per deadline instance: the version changes with every event
                command_id=f"expire:{due.kind.value}:{due.due.isoformat()}:v{self.case.version}",
                actor=TIMER_ACTOR,
                issued_at=workflow.now(),
                deadline=due.kind,
            )
            decision = decide(self.case, command, workflow.now(), self.policy, self.rules)
            if isinstance(decision, Rejection):
                workflow.logger.error("deadline %s not expired: %s", due.kind.value, decision)
                return
            # Stored or caught up on what a lost task wrote: either way the loop looks
            # at the deadlines of the state as it is now.
            await self._commit(decision.events)

    # ---- repeat petitions --------------------------------------------------------------

    async def _screen_repeats(self) -> None:
        """Index the case and find earlier cases of the same petitioner on the same matter
        (an activity: its answer is in history, so a replay decides on the same one),
        then let ``decide`` say what follows: a certain match is not accepted and linked,
        possible ones are suggested to the registering office. Under the lock."""
        assert self.case.intake is not None
        request = ScreenRequest(case_id=self.case_id, intake=self.case.intake)
        if self.quick:
            # Idempotent (a retry finds the case indexed already), so it can run in
            # the registration's workflow task, as the append does.
            result: ScreenResult = await workflow.execute_local_activity(
                "screen_repeats",
                request,
                result_type=ScreenResult,
                start_to_close_timeout=SCREEN_TIMEOUT,
                retry_policy=APPEND_RETRY,
                summary="repeat screening",
            )
        else:
            result = await workflow.execute_activity(
                "screen_repeats",
                request,
                result_type=ScreenResult,
                start_to_close_timeout=SCREEN_TIMEOUT,
                retry_policy=APPEND_RETRY,
                summary="repeat screening",
            )
        if not result.candidates:
            return
        command = ScreenRepeats(
            command_id="screen-repeats",
            actor=ENGINE_ACTOR,
            issued_at=workflow.now(),
            candidates=tuple(result.candidates),
        )
        while True:
            decision = decide(self.case, command, workflow.now(), self.policy, self.rules)
            if isinstance(decision, Rejection):  # the stream moved on (caught up): so be it
                workflow.logger.warning("repeat screening not recorded: %s", decision.code)
                return
            if decision.duplicate or await self._commit(decision.events):
                return

    async def _link_other(self, linked: ev.CaseLinked) -> None:
        """Record the link in the earlier case too: a signal to its workflow while it runs;
        once it has ended no workflow owns its stream, so the link is appended to the
        store directly (``link_case_in_store``). The signal's failure is in history, so a
        replay takes the same way."""
        assert self.case.intake is not None
        # received_at: not ahead of the earlier case's clock, whatever its time skipping
        at = self.case.intake.received_at
        command = link_command(self.case_id, linked.reason, at)
        other = workflow.get_external_workflow_handle(workflow_id(linked.other_case_id))
        try:
            await other.signal(LINK_SIGNAL, command)
            return
        except FailureError as exc:
            workflow.logger.info(
                "linking %s in the store: its workflow does not run (%s)",
                linked.other_case_id,
                type(exc).__name__,
            )
        await workflow.execute_activity(
            "link_case_in_store",
            LinkRequest(
                case_id=linked.other_case_id,
                other_case_id=self.case_id,
                reason=linked.reason,
                issued_at=at,
            ),
            result_type=LinkResult,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10)
            ),
            summary=f"link {linked.other_case_id} in the store",
        )

    async def _read_calendar(self) -> CalendarSnapshot:
        """The calendar store's snapshot from last year on, now in ``self.policy``."""
        snapshot = await self._calendar_snapshot()
        self.policy = self.policy.model_copy(update={"calendar": snapshot})
        self.calendar_read_at = self.case.version
        return snapshot

    async def _calendar_snapshot(self) -> CalendarSnapshot:
        """The calendar store's snapshot from last year on (a local activity)."""
        year = self.policy.snapshot_from(workflow.now())
        return await call_store(
            "calendar_snapshot",
            SnapshotRequest(from_year=year),
            CalendarSnapshot,
            f"holiday calendar from {year}",
            APPEND_RETRY,  # the store is away: wait for it, as appends do
        )

    async def _recompute_deadlines(self) -> None:
        """After ``calendar_loaded``, or after opening a provisional deadline with a
        snapshot read earlier (``_commit``): read the calendar again and decide
        ``recompute_deadlines`` (one ``DeadlineRecomputed`` per provisional deadline
        the new arrangements move or confirm; nothing when none)."""
        self.recompute_requested = False
        snapshot = await self._read_calendar()
        command = RecomputeDeadlines(
            command_id=f"calendar:{snapshot.label.replace('+', '/')}:v{self.case.version}"[:128],
            actor=CALENDAR_ACTOR,
            issued_at=workflow.now(),
        )
        while True:
            decision = decide(self.case, command, workflow.now(), self.policy, self.rules)
            if isinstance(decision, Rejection):
                workflow.logger.info("deadlines not recomputed: %s", decision.code)
                return
            if decision.duplicate or not decision.events:
                return
            if await self._commit(decision.events):
                return

    async def _units(self, command: CommandBase) -> UnitResolution | None:
        """The unit directory's answer for the units ``command`` names, on the engine's
        day (None: it names none, it is a repeat, or the run predates the directory)."""
        if not self.directory_on or command.command_id in self.case.commands:
            return None
        names = units_named(self.case, command)
        if not names:
            return None
        on = self.policy.local_date(workflow.now())
        return await call_store(
            "resolve_units",
            ResolveUnits(names=list(names), on=on),
            UnitResolution,
            f"unit directory: {len(names)} unit(s) as of {on}",
            APPEND_RETRY,  # the store is away: wait for it, as appends do
        )

    def _to_agenda(self, events: tuple[Event, ...], units: UnitResolution | None) -> None:
        """After an escalation to a joint conference, the case joins its agenda (by the
        main loop, so the update answers once its events are durable, not after)."""
        escalated = next(
            (e for e in events if isinstance(e, ev.EscalatedToConference) and e.conference_id),
            None,
        )
        office = conference_office(self.case, units) if escalated else None
        if escalated is None or office is None or self.case.jurisdiction is None:
            return
        item = AgendaItemIn(
            command_id=f"agenda:case:{self.case_id}:{self.case.escalations}",
            subject="case",
            subject_id=self.case_id,
            reason=escalated.reason.value,
            place=self.case.jurisdiction,
            issued_at=escalated.occurred_at,
        )
        self.agenda.append(
            JoinAgenda(
                place_code=office.place, place=office.jurisdiction, office=office.name, item=item
            )
        )

    async def _join_agenda(self, request: JoinAgenda) -> None:
        await workflow.execute_activity(
            "join_conference_agenda",
            request,
            result_type=str,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=NOTIFY_RETRY,  # Temporal or the directory away: try again
            summary=f"join the agenda of conference-{request.place_code}",
        )

    async def _handle_signal(self, signal: PendingSignal) -> None:
        drawn: dict[str, UUID] = {}  # the same generated ids on every pass
        while True:
            command = (
                None
                if signal.undecodable or signal.internal
                else parse(signal.kind, signal.payload)
            )
            units = await self._units(command) if isinstance(command, CommandBase) else None
            events = self._signal_events(signal, drawn, units)
            if not events or await self._commit(events):
                self._to_agenda(events, units)
                return
            # caught up on the stream: decide the signal again

    def _signal_events(
        self,
        signal: PendingSignal,
        drawn: dict[str, UUID],
        units: UnitResolution | None = None,
    ) -> tuple[Event, ...]:
        """The events a signal makes on the current state: none for a repeat.

        A malformed signal without a command_id gets one from ``workflow.uuid4()``,
        drawn once per signal and in the same order as ever, so a retried task draws
        the ids its lost attempt drew and finds that rejection stored already.
        """

        def draw(key: str) -> UUID:
            if key not in drawn:
                drawn[key] = workflow.uuid4()
            return drawn[key]

        command = (
            Rejection(code="invalid_command", message=signal.undecodable)
            if signal.undecodable
            else parse(signal.kind, signal.payload, INTERNAL_SIGNALS)
            if signal.internal
            else parse(signal.kind, signal.payload)
        )
        now = workflow.now()
        if isinstance(command, Rejection):
            raw_id = signal.payload.get("command_id") if isinstance(signal.payload, dict) else None
            command_id = (
                raw_id if isinstance(raw_id, str) and raw_id else f"invalid-{draw('command')}"
            )
            if command_id in self.case.commands:
                return ()
            event = invalid_command_event(
                self.case,
                signal.kind,
                command_id[:128],
                command,
                now,
                self.policy,
                draw("event"),
            )
            return (event,)
        decision = decide(self.case, command, now, self.policy, self.rules, units)
        if isinstance(decision, Rejection):
            return (rejected_event(self.case, command, decision, now, self.policy),)
        return () if decision.duplicate else decision.events

    # ---- writing ----------------------------------------------------------------------

    async def _commit(self, events: tuple[Event, ...]) -> bool:
        """Make the events durable, then apply the stream's copy. Only under the lock.

        True when these events are stored (now, or by an earlier attempt of this
        task: then with the first attempt's timestamps). False when the stream had
        moved on: the events after the state's version, written by a task that was
        lost (or from outside), are applied instead, and the caller decides its command
        again. While the stream does not let the case go on, it waits for a repair
        (``_until_unblocked``).
        """
        request = AppendEvents(
            case_id=self.case_id, expected_version=self.case.version, events=list(events)
        )
        summary = f"append v{self.case.version + 1}: " + ", ".join(e.type for e in events)
        # Since patch "local-append-changed-attributes":
        # - the append runs as a local activity, inside the workflow task that decided
        #   it: one round trip to the server per command instead of three. Safe because
        #   the append is idempotent (event ids derive from the command), so the re-run
        #   after a lost workflow task writes nothing twice;
        # - only the search attributes that changed are upserted, none when none did.
        # Both measured in BENCHMARKS.md. Cases whose history predates the patch keep
        # the old commands until they finish.
        lean = self._patched(LEAN_PATCH)
        # Since patch "quick-updates": the calendar is read again, beside the append,
        # when these events open the case's first provisional deadline with a snapshot
        # read at an earlier version (or carried over continue-as-new). While a case has
        # a provisional deadline, ``petition calendar load`` tells it of a new year;
        # before, it may have missed one.
        calendar_read: asyncio.Task[CalendarSnapshot] | None = None
        if (
            self.quick
            and self.calendar_on
            and request.expected_version > self.calendar_read_at
            and (self.calendar_read_at < 0 or not self.case.provisional)
            and any(
                d.provisional
                for e in events
                if not isinstance(e, ev.DeadlineRecomputed)
                for d in e.deadlines_opened
            )
        ):
            calendar_read = asyncio.create_task(self._calendar_snapshot())
        try:
            result = await self._append(request, summary, lean)
            if isinstance(result, Blocked):
                result = await self._until_unblocked(request, summary, lean, result)
        except BaseException:
            if calendar_read is not None:
                calendar_read.cancel()
            raise
        if result.stored is not None:  # the store's copy, which is what happened
            events = tuple(result.stored)
        missed: list[tuple[ev.DeadlineMissed, CaseState]] = []
        linked: list[ev.CaseLinked] = []
        for event in events:
            self.case = evolve(self.case, event)
            if isinstance(event, ev.DeadlineMissed):
                missed.append((event, self.case))
            if isinstance(event, ev.CaseLinked) and event.relation == "repeat_of":
                linked.append(event)
            if self.calendar_on:
                _log_calendar(event, self.provisional_logged)
        if calendar_read is not None:
            snapshot = await calendar_read
            self.calendar_read_at = self.case.version
            if snapshot != self.policy.calendar:
                # A year was loaded since the case's snapshot: recompute with it.
                self.recompute_requested = True
        elif (
            not self.quick
            and self.calendar_on
            and request.expected_version > self.calendar_read_at
            and any(
                d.provisional
                for e in events
                if not isinstance(e, ev.DeadlineRecomputed)
                for d in e.deadlines_opened
            )
        ):
            # A provisional deadline was counted with a snapshot read before: the year
            # may have been loaded since (a case is told only while it has one). Read
            # the calendar again and recompute (nothing changes if it is still missing).
            self.recompute_requested = True
        if not lean:
            workflow.upsert_search_attributes(search.updates(self.case, calendar=self.calendar_on))
        elif changed := search.updates(
            self.case, workflow.info().typed_search_attributes, calendar=self.calendar_on
        ):
            workflow.upsert_search_attributes(changed)
        workflow.set_current_details(search.current_details(self.case))
        for event, at in missed:
            await self._remind(event, at)
        for link in linked:  # only cases under patch "repeat-screening" have these
            await self._link_other(link)
        return bool(result.appended)

    async def _append(
        self, request: AppendEvents, summary: str, lean: bool
    ) -> AppendResult | Blocked:
        """The append's result, or why the stream does not let the case go on."""
        try:
            if lean:
                result = await call_store(
                    "append_events", request, AppendResult, summary, APPEND_RETRY
                )
            else:
                # Cases from before patch "local-append-changed-attributes". Their
                # recorded results are older shapes (a list of positions); a result of
                # today's shape is read as one, so a catch-up is applied here too.
                raw = await workflow.execute_activity(
                    "append_events",
                    request,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=APPEND_RETRY,
                    summary=summary,
                )
                result = (
                    AppendResult.model_validate(raw)
                    if isinstance(raw, dict) and "appended" in raw
                    else AppendResult(positions=[])
                )
        except (ActivityError, ApplicationError) as exc:
            # A local activity's failure arrives bare, a regular one's as the cause.
            blocked = _blocked(request, exc.cause if isinstance(exc, ActivityError) else exc)
            # Before patch "case-needs-attention" a local append's refusal failed the
            # workflow, a regular one's the workflow task (see _append_failure).
            if blocked is None or not self._patched("case-needs-attention"):
                if isinstance(exc, ActivityError):
                    raise _append_failure(exc) from exc
                raise
            return blocked
        return result

    async def _until_unblocked(
        self, request: AppendEvents, summary: str, lean: bool, blocked: Blocked
    ) -> AppendResult:
        """Wait, flagged, until the stream lets the case go on; then the append's result.

        Since patch "case-needs-attention". The append found the stream behind the
        case, or events after the case's version that cannot be read or applied to it
        (``NEEDS_ATTENTION`` in ``activities/store.py``); nothing was written. The
        verdict is the activity's, recorded in history, so a release that reads the
        stream differently still replays the case as it ran.

        Failing the workflow would end a case for good over a store an operator can
        repair, and failing the workflow task would retry out of sight. Instead the
        case waits here, holding the lock so that nothing else is written:
        ``NeedsAttention`` holds the reason and the current details say it in plain
        words; new updates are refused with ``case_needs_attention``; signals wait in
        the inbox and deadlines that fall due are looked at afterwards. The same append
        is tried again after RECHECK_FIRST, doubling up to RECHECK_MAX, or at once on
        the ``resume_case`` signal. Once the stream lets it, its result is handled as
        any other: written, or a catch-up on the events an operator restored or made
        readable.
        """
        since, tries = workflow.now(), 0
        while True:
            delay = min(RECHECK_FIRST * 2 ** min(tries, 6), RECHECK_MAX)
            if self.attention is None or self.attention.reason != blocked.reason:
                workflow.upsert_search_attributes(
                    [search.NEEDS_ATTENTION.value_set(blocked.reason)]
                )
                workflow.logger.error(
                    "case needs attention: reason=%s case_version=%d stream_version=%d "
                    "event_version=%s detail=%s",
                    blocked.reason,
                    blocked.expected_version,
                    blocked.stream_version,
                    blocked.event_version,
                    blocked.detail,
                )
            self.attention = blocked
            workflow.set_current_details(
                search.attention_details(
                    blocked.reason,
                    NEEDS_ATTENTION.get(blocked.reason, ""),
                    case_version=blocked.expected_version,
                    stream_version=blocked.stream_version,
                    event_version=blocked.event_version,
                    detail=blocked.detail,
                    since=since,
                    tries=tries,
                    next_try=workflow.now() + delay,
                )
                + "\n\n"
                + search.current_details(self.case)
            )
            self.resume_requested = False
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self.resume_requested,
                    timeout=delay,
                    timeout_summary="needs attention: try the append again",
                )
            self.resume_requested = False
            tries += 1
            outcome = await self._append(request, summary, lean)
            if not isinstance(outcome, Blocked):
                break
            blocked = outcome
        self.attention = None
        workflow.upsert_search_attributes([search.NEEDS_ATTENTION.value_unset()])
        workflow.logger.warning(
            "case goes on after needing attention: case_version=%d tries=%d",
            request.expected_version,
            tries,
        )
        return outcome

    async def _remind(self, missed: ev.DeadlineMissed, case: CaseState) -> None:
        """Remind the unit responsible when the deadline was missed (``case``, the state
        right after the event: a caught-up batch may move the case on after it)."""
        unit = case.handling_unit.name if case.handling_unit else case.registered_by
        if self.rules.actor_checks and case.review_unit and missed.deadline in _REVIEWERS_DEADLINES:
            # the review unit owes the review decision and the delivery of its reply
            unit = case.review_unit.name
        recipient = unit or "信访工作机构"
        # Only the case id, the deadline and its date: the material of an accusation
        # must never reach a unit that may be the accused.
        reminder = (
            f"催办：案件 {self.case_id} 的 {missed.deadline.value} 期限已于 "
            f"{missed.due.isoformat()} 届满，请尽快办理。"
        )
        notices = [(recipient, "reminder", reminder)]
        if missed.supervised:
            notices.append(
                (
                    recipient,
                    "supervision",
                    f"督办：案件 {self.case_id} 已超期（{missed.deadline.value}），"
                    "列入督办，请书面报告办理情况。",
                )
            )
        # Since patch "remind-registering-office": the office that registered the case
        # gets a copy of each reminder, so it can chase the unit (Art 38). Cases whose
        # history predates the patch replay without the copy.
        office = case.registered_by
        if office and office != recipient and self._patched("remind-registering-office"):
            notices.append((office, "reminder", reminder))
        for to, kind, message in notices:
            suffix = kind if to == recipient else f"{kind}:office"
            await workflow.execute_activity(
                "notify",
                Notification(
                    id=f"{missed.event_id}:{suffix}",
                    case_id=self.case_id,
                    kind=kind,
                    recipient=to,
                    message=message,
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=NOTIFY_RETRY,
                summary=f"{kind} to {to}: {missed.deadline.value} overdue",
            )

    # ---- updates and signals ------------------------------------------------------------
    #
    # One dynamic update and one dynamic signal take every command; the name the caller
    # used is the command's kind (``accept_petition``...), checked by ``parse``. Named
    # handlers, 23 updates with validators and 23 signals, made the SDK inspect 69
    # functions for every new run: about 1 ms of the worker's CPU per case.

    @workflow.update(dynamic=True)
    async def command(self, kind: str, args: Sequence[RawValue]) -> CommandResult:
        return await self._update(kind, command_payload(args))

    @command.validator
    def validate_command(self, kind: str, args: Sequence[RawValue]) -> None:
        # A rejected update leaves no event in history: nothing of its input is stored.
        if unencrypted(args):
            raise unencrypted_update(SEND_ENCRYPTED)
        self._validate(kind, command_payload(args))

    @workflow.signal(dynamic=True)
    def command_signal(self, kind: str, args: Sequence[RawValue]) -> None:
        if kind == RESUME_SIGNAL and (
            self.attention is not None or self._patched("case-needs-attention")
        ):
            # The operator's "repaired": the waiting append tries again now. Any input
            # is ignored, and so is the signal when nothing waits. (Before the patch it
            # was an unknown command like any other name.)
            self.resume_requested = self.attention is not None
            return
        if kind == CALENDAR_SIGNAL and self.calendar_on:
            # A calendar year was loaded: recount the provisional deadlines. (Before
            # the patch it was an unknown command like any other name.)
            self.recompute_requested = True
            return
        if self.encrypted_only and unencrypted(args):
            # Dropped: not applied, not kept as a CommandRejected (that would copy it to
            # the event store). Its name only is logged, never its content.
            workflow.logger.warning(
                "signal %s dropped (%s): its input arrived unencrypted; %s",
                kind,
                UNENCRYPTED_CODE,
                SEND_ENCRYPTED,
            )
            return
        payload = command_payload(args)
        if kind in INTERNAL_SIGNALS:
            # A later case that repeats this one says so (``_link_other``). Taken by
            # every case, those running since before patch "repeat-screening" too (they
            # are the earlier cases repeats point to): no history from before the
            # feature holds such a signal, so replaying one takes the same way.
            internal = not isinstance(payload, Rejection)
            self.inbox.append(
                PendingSignal(kind=kind, payload=payload, internal=True)
                if internal
                else PendingSignal(kind=kind, undecodable=payload.message)
            )
            return
        if isinstance(payload, Rejection):  # not even JSON: keep what can be said of it
            self.inbox.append(PendingSignal(kind=kind, undecodable=payload.message))
        else:
            self.inbox.append(PendingSignal(kind=kind, payload=payload))

    def _validate(self, kind: str, payload: Any) -> None:
        if self.attention is not None:
            raise rejection_error(
                Rejection(
                    code=NEEDS_ATTENTION_CODE,
                    message=f"the case waits for a repair ({self.attention.reason}); "
                    "send the command again once it goes on",
                )
            )
        command = parse(kind, payload)
        if isinstance(command, Rejection):
            raise rejection_error(command)
        state = self.case
        if state.stage is Stage.NEW and isinstance(self.registration, Accepted):
            state = fold(self.registration.events)  # still being written; the handler waits
        decision = decide(state, command, workflow.now(), self.policy, self.rules)
        if isinstance(decision, Rejection):
            raise rejection_error(decision)

    async def _update(self, kind: str, payload: Any) -> CommandResult:
        command = parse(kind, payload)
        if isinstance(command, Rejection):
            raise rejection_error(command)
        await workflow.wait_condition(lambda: self.case.stage is not Stage.NEW)
        async with self.lock:
            # A repeat is a command_id the case had before this update came in; one that
            # a lost attempt of this very task stored is this update's own result.
            repeat = command.command_id in self.case.commands
            while True:
                units = await self._units(command)
                decision = decide(
                    self.case, command, workflow.now(), self.policy, self.rules, units
                )
                if isinstance(decision, Rejection):
                    # the case moved on since the validator ran, or the unit directory
                    # refused a unit the command names
                    raise rejection_error(decision)
                assert isinstance(decision, Accepted)
                if decision.duplicate or await self._commit(decision.events):
                    break
            if not decision.duplicate:
                self._to_agenda(decision.events, units)
        return CommandResult(
            command_id=command.command_id,
            duplicate=repeat,
            events=[e.type for e in decision.events],
            version=self.case.version,
            stage=self.case.stage.value,
        )

    # ---- queries ----------------------------------------------------------------------

    @workflow.query(name="state")
    def state_query(self) -> CaseState:
        return self.case

    @workflow.query(name="deadlines")
    def deadlines_query(self) -> list[Deadline]:
        return list(self.case.deadlines.values())
