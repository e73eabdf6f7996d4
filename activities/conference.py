"""The joint conference's activities: its append, and a decision's way to its subject.

- ``append_conference_events``: the conference's only way to write, run as a local
  activity inside the workflow task that decided the command, as the case's
  ``append_events`` is (``activities/store.py``): ``EventStore.append_outcome`` on the
  stream ``conference-<place code>``, idempotent (event ids derive from the command),
  and it hands back what the stream holds after the expected version, which the
  workflow applies (an event that reached the store happened).
- ``join_conference_agenda``: a case or a dispute joins a conference's agenda, by
  signal-with-start (``client.conference.join_agenda``).
- ``deliver_conference_decision``: a regular activity, with retries, that sends the
  update ``record_conference_decision`` to ``petition-<case id>`` with the worker's
  Temporal client (through ``PetitionClient``, so the payload goes through the codec
  with the case's scope). Idempotent: the command_id is the contract's
  ``conference:<place code>:<meeting no>:<subject id>``, and the case answers a repeat
  with its first result. The answer, accepted or refused with a code, is the result;
  only a transient failure (Temporal away, the case waiting for a repair) is raised and
  retried.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from petitionflow.activities import envelope
from petitionflow.client.conference import join_agenda
from petitionflow.domain.conference import (
    CONFERENCE_EVENT_ADAPTER,
    AgendaItemIn,
    ConferenceEvent,
    Subject,
    stream_id,
)
from petitionflow.domain.values import Actor, Jurisdiction, Unit
from petitionflow.eventstore import EventStore, NewEvent, RecordedEvent

if TYPE_CHECKING:
    from temporalio.client import Client

# The subject's answers that are no answer yet: try again later.
RETRY_CODES = frozenset({"case_needs_attention", "temporal_error", "worker_unavailable"})


def to_record(event: ConferenceEvent, workflow: dict[str, str] | None = None) -> NewEvent:
    return envelope.to_record(event, workflow)


def from_record(record: RecordedEvent) -> ConferenceEvent:
    found: ConferenceEvent = envelope.from_record(record, CONFERENCE_EVENT_ADAPTER)
    return found


class AppendConferenceEvents(BaseModel):
    place_code: str
    expected_version: int
    events: list[ConferenceEvent]


class ConferenceAppendResult(BaseModel):
    """What the stream holds after ``expected_version`` once the append was tried;
    ``appended``: the request's events lead it (written now or by a lost attempt)."""

    positions: list[int]
    stored: list[ConferenceEvent]
    appended: bool


class DeliverDecision(BaseModel):
    subject: Subject
    subject_id: str
    decision_command_id: str
    actor: Actor  # the conference's office and the secretary who recorded the meeting
    issued_at: datetime
    lead_unit: Unit
    plan: str
    supervise: bool
    correction_days: int | None = None

    def command(self) -> dict[str, Any]:
        """The subject's ``record_conference_decision`` (a case's and a dispute's alike)."""
        return {
            "command_id": self.decision_command_id,
            "actor": self.actor.model_dump(mode="json"),
            "issued_at": self.issued_at.isoformat(),
            "lead_unit": self.lead_unit.model_dump(mode="json"),
            "plan": self.plan,
            "supervise": self.supervise,
            "correction_days": self.correction_days,
        }


class DeliveryResult(BaseModel):
    accepted: bool
    code: str | None = None
    message: str | None = None
    events: list[str] = []
    version: int | None = None
    duplicate: bool = False


class JoinAgenda(BaseModel):
    """A case or a dispute joins the agenda of the conference of ``place_code``, whose
    place is ``place`` and whose secretariat is ``office`` (the place's petition bureau)."""

    place_code: str
    place: Jurisdiction
    office: str
    item: AgendaItemIn


class ConferenceActivities:
    def __init__(self, store: EventStore, client: Client, task_queue: str) -> None:
        self.store = store
        self.client = client
        self.task_queue = task_queue

    @activity.defn(name="join_conference_agenda")
    async def join_conference_agenda(self, request: JoinAgenda) -> str:
        """Signal-with-start: the conference exists once a case or dispute needs it, and
        a repeated item is ignored by it. Returns the conference's workflow id."""
        handle = await join_agenda(
            self.client,
            request.place_code,
            request.place,
            request.office,
            request.item,
            task_queue=self.task_queue,
        )
        return handle.id

    @activity.defn(name="append_conference_events")
    def append_conference_events(self, request: AppendConferenceEvents) -> ConferenceAppendResult:
        stream = stream_id(request.place_code)

        def behind() -> ApplicationError:
            # Stored events are missing (a restore from an older backup) or the ids are
            # taken elsewhere: nothing can be written. Raised and retried, so the
            # conference waits (its workflow task retries) until the stream is repaired.
            return ApplicationError(
                f"{stream}: the store holds {self.store.stream_version(stream)} events, the "
                f"conference has applied {request.expected_version}; restore the stream",
                type="StoreBehindConference",
            )

        result = envelope.append(
            self.store,
            stream,
            request.expected_version,
            request.events,
            CONFERENCE_EVENT_ADAPTER,
            behind,
        )
        return ConferenceAppendResult(
            positions=result.positions, stored=result.stored, appended=result.appended
        )

    @activity.defn(name="deliver_conference_decision")
    async def deliver_conference_decision(self, request: DeliverDecision) -> DeliveryResult:
        from petitionflow.client import PetitionClient, PetitionError

        if request.subject != "case":
            # Disputes take the same update on dispute-<id> (their workflow's own).
            return await self._deliver_dispute(request)
        petitions = PetitionClient(self.client, task_queue=self.task_queue)
        try:
            result = await petitions.send(
                request.subject_id, "record_conference_decision", request.command()
            )
        except PetitionError as exc:
            if exc.code in RETRY_CODES:
                raise ApplicationError(str(exc), type=exc.code) from None
            return DeliveryResult(accepted=False, code=exc.code, message=exc.message[:2000])
        assert result is not None
        return DeliveryResult(
            accepted=True,
            events=result.events,
            version=result.version,
            duplicate=result.duplicate,
        )

    async def _deliver_dispute(self, request: DeliverDecision) -> DeliveryResult:
        from temporalio.client import WorkflowUpdateFailedError
        from temporalio.service import RPCError, RPCStatusCode

        handle = self.client.get_workflow_handle(f"dispute-{request.subject_id}")
        try:
            result = await handle.execute_update("record_conference_decision", request.command())
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type:
                if cause.type in RETRY_CODES:
                    raise ApplicationError(cause.message, type=cause.type) from None
                return DeliveryResult(accepted=False, code=cause.type, message=cause.message)
            raise
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return DeliveryResult(
                    accepted=False,
                    code="dispute_not_found",
                    message=f"no running dispute {request.subject_id}",
                )
            raise
        events = result.get("events", []) if isinstance(result, dict) else []
        return DeliveryResult(accepted=True, events=[str(e) for e in events])
