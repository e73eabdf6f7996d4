"""The dispute's activities: append its events, turn it into a petition case, put it on
the township conference's agenda.

- ``append_dispute_events`` (a local activity, inside the workflow task that decided
  the command, as a case's ``append_events``): idempotent, as event ids derive from
  the command id; it hands back what the stream holds after the expected version, so
  a task lost after its append catches up on what it wrote.
- ``convert_dispute``: registers the petition through ``PetitionClient.submit`` (the
  same encrypted start as every case), with the correlation id ``dispute:<dispute
  id>``. Run again it finds the case it started (by that correlation id) and answers
  the same: one case, however often it is retried.
- ``add_dispute_to_agenda``: signal-with-start of ``JointConferenceWorkflow``
  ``conference-<township code>`` with ``add_to_agenda`` (the contract); the conference
  ignores a repeated ``command_id``.

Nothing personal is logged: ids, codes and counts only.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from petitionflow.activities import envelope
from petitionflow.activities.records import stream_id as case_stream_id
from petitionflow.client.conference import join_agenda
from petitionflow.domain.conference import AgendaItemIn
from petitionflow.domain.dispute import (
    DISPUTE_EVENT_ADAPTER,
    DisputeEvent,
)
from petitionflow.domain.intake import Intake
from petitionflow.domain.values import Actor
from petitionflow.eventstore import EventStore, NewEvent, RecordedEvent
from petitionflow.eventstore.directory import DirectoryStore
from petitionflow.security.sealing import Sealer
from petitionflow.workflows.dispute_contract import (
    dispute_stream_id,
)

log = structlog.get_logger("petitionflow.dispute")


def to_record(event: DisputeEvent, workflow: dict[str, str] | None = None) -> NewEvent:
    return envelope.to_record(event, workflow)


def from_record(record: RecordedEvent) -> DisputeEvent:
    found: DisputeEvent = envelope.from_record(record, DISPUTE_EVENT_ADAPTER)
    return found


class AppendDisputeEvents(BaseModel):
    dispute_id: str
    expected_version: int
    events: list[DisputeEvent]


class DisputeAppendResult(BaseModel):
    """The stream's events after ``expected_version`` (the workflow applies these, never
    its own copy); ``appended``: the request's events lead them."""

    positions: list[int]
    stored: list[DisputeEvent]
    appended: bool = True


class ConvertRequest(BaseModel):
    dispute_id: str
    case_id: str
    intake: Intake
    registering_office: Actor


class ConvertResult(BaseModel):
    case_id: str
    started: bool  # False: an earlier attempt had started it


class AgendaRequest(BaseModel):
    conference_id: str
    place_code: str  # the township's code
    item: AgendaItemIn


class AgendaResult(BaseModel):
    conference_id: str
    run_id: str | None = None


class DisputeActivities:
    def __init__(
        self, store: EventStore, client: Client, task_queue: str, sealer: Sealer | None = None
    ) -> None:
        self.store = store
        self.client = client
        self.task_queue = task_queue
        self.sealer = sealer

    @activity.defn(name="append_dispute_events")
    def append_dispute_events(self, request: AppendDisputeEvents) -> DisputeAppendResult:
        stream = dispute_stream_id(request.dispute_id)

        def behind() -> ApplicationError:
            # Stored events are missing (a restore from an older backup): retried by the
            # workflow's policy until an operator restores them.
            return ApplicationError(
                f"{stream}: the store holds fewer events than the dispute has applied "
                f"(v{request.expected_version}); restore them",
                type="store_behind",
            )

        result = envelope.append(
            self.store,
            stream,
            request.expected_version,
            request.events,
            DISPUTE_EVENT_ADAPTER,
            behind,
        )
        return DisputeAppendResult(
            positions=result.positions, stored=result.stored, appended=result.appended
        )

    @activity.defn(name="convert_dispute")
    async def convert_dispute(self, request: ConvertRequest) -> ConvertResult:
        from petitionflow.client import PetitionClient, PetitionError

        correlation = f"dispute:{request.dispute_id}"
        petitions = PetitionClient(
            self.client, task_queue=self.task_queue, store=self.store, sealer=self.sealer
        )
        # received when the command was issued, never ahead of this clock (the
        # dispute's clock may run ahead of the case's under time skipping)
        now = datetime.now(UTC)
        intake = request.intake
        if intake.received_at > now:
            intake = intake.model_copy(update={"received_at": now})
        try:
            await petitions.submit(
                request.case_id,
                intake,
                request.registering_office,
                command_id=f"register-{request.case_id}",
                correlation_id=correlation,
            )
        except PetitionError as exc:
            if exc.code == "duplicate_case" and await self._ours(request.case_id, correlation):
                log.info(
                    "dispute converted earlier",
                    dispute_id=request.dispute_id,
                    case_id=request.case_id,
                )
                return ConvertResult(case_id=request.case_id, started=False)
            code = "case_id_taken" if exc.code == "duplicate_case" else exc.code
            raise ApplicationError(
                f"case {request.case_id}: {exc.message}"
                + ("; give convert_to_petition another case_id" if code == "case_id_taken" else ""),
                type=code,
                non_retryable=True,
            ) from None
        log.info("dispute converted", dispute_id=request.dispute_id, case_id=request.case_id)
        return ConvertResult(case_id=request.case_id, started=True)

    async def _ours(self, case_id: str, correlation: str) -> bool:
        """Whether case ``case_id`` was registered from this dispute (its correlation id).
        The store's first event says so once it is written; until then the workflow's
        start input does (retried by the activity's policy meanwhile)."""
        first = await asyncio.to_thread(self.store.read_stream, case_stream_id(case_id), 1, 1)
        if first:
            return bool(first[0].metadata.get("correlation_id") == correlation)
        from petitionflow.workflows.contract import StartPetition, workflow_id

        handle = self.client.get_workflow_handle(workflow_id(case_id))
        async for event in handle.fetch_history_events():
            attrs = event.workflow_execution_started_event_attributes
            if attrs.input.payloads:
                converter = self.client.data_converter
                [start] = await converter.decode(attrs.input.payloads, [StartPetition])
                return bool(start.registration.correlation_id == correlation)
            break
        return False

    @activity.defn(name="add_dispute_to_agenda")
    async def add_dispute_to_agenda(self, request: AgendaRequest) -> AgendaResult:
        # The township conference's secretariat is the township's petition office, as
        # the unit directory names it (unit ``<township code>-xfb``).
        office = DirectoryStore(self.store.engine).get(
            f"{request.place_code}-xfb", datetime.now(UTC).date()
        )
        if office is None or not office.active:
            raise ApplicationError(
                f"the unit directory has no petition office {request.place_code}-xfb for "
                "the township's joint conference; load the directory (petition units load)",
                type="no_conference_office",
                non_retryable=True,
            )
        handle = await join_agenda(
            self.client,
            request.place_code,
            office.jurisdiction,
            office.name,
            request.item,
            task_queue=self.task_queue,
        )
        log.info(
            "dispute on the conference's agenda",
            dispute_id=request.item.subject_id,
            conference_id=request.conference_id,
        )
        return AgendaResult(conference_id=request.conference_id, run_id=handle.result_run_id)
