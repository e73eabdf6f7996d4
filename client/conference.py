"""The joint conferences' client side: start input, agenda, meetings, look-ups.

Callers (a case that escalates, a dispute that could not be mediated) reach a
conference by signal-with-start (:func:`join_agenda`), so it exists once needed. Any
Temporal SDK or the ``temporal`` CLI works too: workflow ``JointConferenceWorkflow``,
id ``conference-<place code>``, task queue ``petitions``, signal ``add_to_agenda``,
update ``record_meeting`` (README section "Joint conferences").
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from petitionflow.client import (
    QUERY_TIMEOUT,
    PetitionError,
    send_command,
    unanswered,
    update_refusal,
)
from petitionflow.domain.conference import (
    AgendaItemIn,
    ConferenceState,
    MeetingPolicy,
    RecordMeeting,
    parent_codes,
    workflow_id,
)
from petitionflow.domain.values import Jurisdiction
from petitionflow.security.codec import CaseScope, remember_scope
from petitionflow.workflows import search
from petitionflow.workflows.conference_contract import (
    AGENDA_SIGNAL,
    HISTORY_LIMIT,
    MEETING_UPDATE,
    WORKFLOW_TYPE,
    ConferenceCommandResult,
    ConferenceView,
    MeetingResult,
    StartConference,
)
from petitionflow.workflows.contract import TASK_QUEUE, WORKFLOW_TASK_TIMEOUT


def conference_start(
    place_code: str,
    place: Jurisdiction,
    office: str,
    *,
    policy: MeetingPolicy | None = None,
    history_limit: int = HISTORY_LIMIT,
) -> StartConference:
    """The start input of the conference of ``place`` (code ``place_code``), whose office
    (secretariat) is ``office``, the place's petition bureau."""
    return StartConference(
        place_code=place_code,
        place=place,
        office=office,
        policy=policy or MeetingPolicy(),
        history_limit=history_limit,
    )


def _remember(client: Client, place_code: str, place: Jurisdiction) -> None:
    # The conference's place on every payload, for the codec server's operator scopes.
    remember_scope(
        client.data_converter.payload_codec, workflow_id(place_code), CaseScope(place.path, False)
    )


async def join_agenda(
    client: Client,
    place_code: str,
    place: Jurisdiction,
    office: str,
    item: AgendaItemIn,
    *,
    task_queue: str = TASK_QUEUE,
    start: StartConference | None = None,
) -> WorkflowHandle[Any, Any]:
    """Put ``item`` on the agenda of the conference of ``place_code``, starting the
    conference if it does not run yet (signal-with-start). Sending it again is harmless:
    the conference ignores a command_id it has seen."""
    start = start or conference_start(place_code, place, office)
    _remember(client, place_code, place)
    return await client.start_workflow(
        WORKFLOW_TYPE,
        start,
        id=workflow_id(place_code),
        task_queue=task_queue,
        task_timeout=WORKFLOW_TASK_TIMEOUT,
        start_signal=AGENDA_SIGNAL,
        start_signal_args=[item.model_dump(mode="json")],
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(search.CONFERENCE_PLACE, parent_codes(place_code))]
        ),
        static_summary=f"联席会议 {place_code} · {place}",
        static_details=f"**Joint conference** of {place} ({place_code}); office {office}",
    )


def _handle(client: Client, place_code: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(workflow_id(place_code))


async def _fail(exc: Exception, place_code: str) -> PetitionError:
    if isinstance(exc, WorkflowUpdateFailedError) and (refusal := update_refusal(exc)) is not None:
        return refusal
    if isinstance(exc, RPCError) and (
        slow := unanswered(exc, f"conference {workflow_id(place_code)}")
    ):
        return slow
    if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
        return PetitionError(
            "conference_not_found",
            f"there is no running conference {workflow_id(place_code)}; it starts when an "
            "item joins its agenda",
        )
    return PetitionError("temporal_error", str(exc))


async def _learn(client: Client, place_code: str) -> None:
    """The conference's scope for this client's codec, from its view (a query's answer
    is decoded without a scope; the payloads sent afterwards carry it)."""
    view = await conference_view(client, place_code)
    _remember(client, place_code, view.state.place)


async def record_meeting(client: Client, place_code: str, meeting: RecordMeeting) -> MeetingResult:
    """The secretary's minutes (update ``record_meeting``): returns the meeting's number
    and what was decided; each decision then goes to its subject."""
    try:
        await _learn(client, place_code)
        result: MeetingResult = await _handle(client, place_code).execute_update(
            MEETING_UPDATE, meeting.model_dump(mode="json"), result_type=MeetingResult
        )
        return result
    except (WorkflowUpdateFailedError, RPCError) as exc:
        raise await _fail(exc, place_code) from None


async def send(
    client: Client, place_code: str, kind: str, command: Any, *, wait: bool = True
) -> ConferenceCommandResult | None:
    """``record_correction`` or ``withdraw_item`` as an update (or a signal)."""
    payload = command.model_dump(mode="json") if hasattr(command, "model_dump") else command
    handle = _handle(client, place_code)
    try:
        await _learn(client, place_code)
        return await send_command(handle, kind, payload, ConferenceCommandResult, wait=wait)
    except (WorkflowUpdateFailedError, RPCError) as exc:
        raise await _fail(exc, place_code) from None


async def conference_view(client: Client, place_code: str) -> ConferenceView:
    """The ``view`` query. A conference that is just continuing as new has no workflow
    task yet for a moment ("Workflow task is not scheduled yet"): asked again then."""
    for attempt in range(20):
        try:
            view: ConferenceView | None = await _handle(client, place_code).query(
                "view",
                result_type=ConferenceView | None,  # type: ignore[arg-type]
                rpc_timeout=QUERY_TIMEOUT,
            )
            break
        except RPCError as exc:
            if exc.status == RPCStatusCode.FAILED_PRECONDITION and attempt < 19:
                await asyncio.sleep(0.1)
                continue
            raise await _fail(exc, place_code) from None
    if view is None:
        raise PetitionError("conference_not_found", f"{workflow_id(place_code)} did not start")
    return view


async def conference_state(client: Client, place_code: str) -> ConferenceState:
    return (await conference_view(client, place_code)).state
