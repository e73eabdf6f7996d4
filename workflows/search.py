"""Search attributes and the short texts operators see in the Temporal UI.

No personal data goes here: search attributes are stored unencrypted. Budget of
custom attributes per namespace (PostgreSQL visibility: 10 Keyword, 3 of each other
type): 10 of 10 Keyword, 3 of 3 KeywordList (``LinkedCases``, the disputes'
``PlaceCodes``, ``ConferencePlace``), 3 of 3 Bool, 2 of 3 Datetime, 3 of 3 Int. The
disputes reuse the cases' attributes where they mean the same; the joint conference's
(``Conference*``) take one KeywordList, one Datetime and two Int.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

from petitionflow.domain.dispute import DisputeState, DisputeStatus
from petitionflow.domain.policy import Deadline
from petitionflow.domain.state import CaseState

if TYPE_CHECKING:
    from temporalio.client import Client

STAGE = SearchAttributeKey.for_keyword("Stage")
REGION = SearchAttributeKey.for_keyword("Region")
PREFECTURE = SearchAttributeKey.for_keyword("Prefecture")
COUNTY = SearchAttributeKey.for_keyword("County")
TOWNSHIP = SearchAttributeKey.for_keyword("Township")
HANDLING_UNIT = SearchAttributeKey.for_keyword("HandlingUnit")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
CLASSIFICATION = SearchAttributeKey.for_keyword("Classification")
RATING = SearchAttributeKey.for_keyword("Rating")
OVERDUE = SearchAttributeKey.for_bool("Overdue")
SUPERVISED = SearchAttributeKey.for_bool("Supervised")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
EXTENSION_DAYS = SearchAttributeKey.for_int("ExtensionDays")
# Why the case waits for a repair of its stream (a reason code); unset while it runs.
# Not in ``values``: the workflow sets and unsets it itself.
NEEDS_ATTENTION = SearchAttributeKey.for_keyword("NeedsAttention")
# The case ids of the cases linked to this one as repeat petitions, either way (case
# ids only: ``LinkedCases = "KS-0001"`` finds the cases linked to KS-0001).
LINKED_CASES = SearchAttributeKey.for_keyword_list("LinkedCases")

# An open deadline was counted across a year with no official holiday arrangement
# (Monday to Friday): ``petition calendar load`` signals these cases. Set only by
# cases run under patch "holiday-calendar-snapshot".
PROVISIONAL_DEADLINE = SearchAttributeKey.for_bool("ProvisionalDeadline")

# Village disputes (workflows/dispute.py) reuse the cases' attributes where they mean
# the same (the dev server's visibility allows 10 Keyword attributes, all taken): Stage
# (the dispute's status), Region...Township (its place), HandlingUnit (the mediator),
# Classification (its kind), Overdue, NextDeadline (the mediation's limit) and
# LinkedCases (the case it became). Queries tell them apart by WorkflowType. One more:
# the place codes, village, township and county, so ``PlaceCodes = "653121100"`` finds
# everything in that township. Codes and enums only, never the parties.
PLACE_CODES = SearchAttributeKey.for_keyword_list("PlaceCodes")

DISPUTE_ALL: tuple[SearchAttributeKey[Any], ...] = (PLACE_CODES,)
# The joint conferences (JointConferenceWorkflow, workflows/conference.py): the place
# code and the codes above it (``ConferencePlace = "653100"`` lists the conferences of
# 喀什地区 and below; a KeywordList, as no Keyword is left), the open and overdue items
# and when the next meeting is (or the one that is due).
CONFERENCE_PLACE = SearchAttributeKey.for_keyword_list("ConferencePlace")
CONFERENCE_OPEN_ITEMS = SearchAttributeKey.for_int("ConferenceOpenItems")
CONFERENCE_OVERDUE_ITEMS = SearchAttributeKey.for_int("ConferenceOverdueItems")
CONFERENCE_NEXT_MEETING = SearchAttributeKey.for_datetime("ConferenceNextMeeting")
CONFERENCE: tuple[SearchAttributeKey[Any], ...] = (
    CONFERENCE_PLACE,
    CONFERENCE_OPEN_ITEMS,
    CONFERENCE_OVERDUE_ITEMS,
    CONFERENCE_NEXT_MEETING,
)

ALL: tuple[SearchAttributeKey[Any], ...] = (
    STAGE,
    REGION,
    PREFECTURE,
    COUNTY,
    TOWNSHIP,
    HANDLING_UNIT,
    CHANNEL,
    CLASSIFICATION,
    RATING,
    OVERDUE,
    SUPERVISED,
    NEXT_DEADLINE,
    EXTENSION_DAYS,
    NEEDS_ATTENTION,
    LINKED_CASES,
    PROVISIONAL_DEADLINE,
    *DISPUTE_ALL,
    *CONFERENCE,
)

_CLI_TYPE = {
    "KEYWORD": "Keyword",
    "KEYWORD_LIST": "KeywordList",
    "BOOL": "Bool",
    "DATETIME": "Datetime",
    "INT": "Int",
}


def server_flags() -> list[str]:
    """``--search-attribute Name=Type`` arguments for ``temporal server start-dev``."""
    flags = []
    for key in ALL:
        kind = _CLI_TYPE[
            key.indexed_value_type.name.removeprefix("SEARCH_ATTRIBUTE_INDEXED_VALUE_TYPE_")
        ]
        flags += ["--search-attribute", f"{key.name}={kind}"]
    return flags


async def ensure_namespace(client: Client, namespace: str, retention_days: int) -> bool:
    """Register the namespace if it does not exist; True when it was created."""
    from google.protobuf.duration_pb2 import Duration
    from temporalio.api.workflowservice.v1 import (
        DescribeNamespaceRequest,
        RegisterNamespaceRequest,
    )
    from temporalio.service import RPCError, RPCStatusCode

    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
        return False
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    retention = Duration(seconds=retention_days * 86400)
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=retention)
    )
    return True


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Add the attributes a namespace lacks (operator service); returns the names added."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )
    from temporalio.service import RPCError, RPCStatusCode

    for _ in range(60):  # a namespace registered a moment ago takes a while to be known
        try:
            existing = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace)
            )
            break
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            await asyncio.sleep(1)
    else:
        raise RuntimeError(f"namespace {namespace} did not become available within 60 s")
    present = set(existing.custom_attributes) | set(existing.system_attributes)
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
        for key in ALL
        if key.name not in present
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


def values(state: CaseState, calendar: bool = False) -> list[tuple[SearchAttributeKey[Any], Any]]:
    """The attributes' values; ``calendar``: with ``ProvisionalDeadline`` (cases under
    patch "holiday-calendar-snapshot": older histories never upserted it)."""
    intake = state.intake
    place = intake.jurisdiction if intake else None
    timers = state.timers()
    return [
        (STAGE, state.stage.value),
        (REGION, place.region if place else None),
        (PREFECTURE, place.prefecture if place else None),
        (COUNTY, place.county if place else None),
        (TOWNSHIP, place.township if place else None),
        (HANDLING_UNIT, state.handling_unit.name if state.handling_unit else None),
        (CHANNEL, intake.channel.value if intake else None),
        (CLASSIFICATION, intake.classification.value if intake else None),
        (RATING, state.rating.value if state.rating else None),
        (OVERDUE, state.overdue),
        (SUPERVISED, state.supervised),
        (NEXT_DEADLINE, timers[0].due_at if timers else None),
        (EXTENSION_DAYS, state.extension_days_used),
        (LINKED_CASES, list(state.linked_cases) or None),
        *([(PROVISIONAL_DEADLINE, bool(state.provisional))] if calendar else []),
    ]


def updates(
    state: CaseState, current: TypedSearchAttributes | None = None, calendar: bool = False
) -> list[SearchAttributeUpdate[Any]]:
    """The updates that bring ``current`` (all of them when None) to ``state``'s values."""
    return [
        key.value_unset() if v is None else key.value_set(v)
        for key, v in values(state, calendar)
        if current is None or current.get(key) != v
    ]


def initial(state: CaseState) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [SearchAttributePair(k, v) for k, v in values(state) if v is not None]
    )


def summary(case_id: str, state: CaseState) -> str:
    """The static summary at start: no personal data."""
    intake = state.intake
    assert intake is not None
    return (
        f"{case_id} · {intake.classification.value} · {intake.jurisdiction} · "
        f"received {intake.received_at.date().isoformat()}"
    )


def static_details(case_id: str, state: CaseState) -> str:
    intake = state.intake
    assert intake is not None
    return "\n\n".join(
        [
            f"**Case:** {case_id}",
            f"**Jurisdiction:** {intake.jurisdiction}",
            f"**Classification:** {intake.classification.value}",
            f"**Channel:** {intake.channel.value}",
            f"**Received:** {intake.received_at.date().isoformat()}",
        ]
    )


def current_details(state: CaseState) -> str:
    timers = state.timers()
    lines = [
        f"**Stage:** {state.stage.value}"
        + (" (overdue)" if state.overdue else "")
        + (" · supervised (督办)" if state.supervised else ""),
        f"**Handling unit:** {state.handling_unit.name if state.handling_unit else '—'}",
        "**Next deadline:** "
        + (f"{timers[0].kind.value}, due {timers[0].due.isoformat()}" if timers else "none"),
        f"**Last event:** {state.last_event_type} (version {state.version})",
    ]
    if state.delivery_pending is not None:
        lines.insert(
            3,
            f"**Awaiting delivery (送达):** {state.delivery_pending.value}; the petitioner's "
            "windows start when `record_delivery` is recorded",
        )
    if state.linked_cases:
        lines.append(
            "**Linked cases (重复信访):** "
            + ", ".join(
                f"{k} (this case repeats it)" if k == state.repeat_of else f"{k} (repeats this)"
                for k in state.linked_cases
            )
        )
    if state.repeat_suggestions:
        lines.append(
            "**Possible repeat of:** "
            + ", ".join(
                f"{k} ({v.status.value}, score {v.score:.2f})"
                for k, v in state.repeat_suggestions.items()
            )
            + " · the registering office confirms (`confirm_repeat`) or dismisses"
            " (`dismiss_repeat`) each"
        )
    if provisional := state.provisional:
        lines.append(provisional_warning(provisional))
    return "\n\n".join(lines)


def provisional_warning(provisional: list[Deadline]) -> str:
    """The warning for deadlines counted across a year with no official holiday
    arrangement: which deadlines, their provisional dates, and what to do."""
    years = sorted({d.due.year for d in provisional})
    listed = ", ".join(f"{d.kind.value} {d.due.isoformat()}" for d in provisional)
    return (
        f"**Provisional deadline:** {listed}: counted Monday to Friday, as "
        f"{', '.join(map(str, years))} has no official holiday arrangement loaded yet; "
        "`petition calendar load` the State Council notice and the dates are recomputed."
    )


def attention_details(
    reason: str,
    meaning: str,
    *,
    case_version: int,
    stream_version: int | None,
    event_version: int | None,
    detail: str,
    since: datetime,
    tries: int,
    next_try: datetime,
) -> str:
    """What the current details say first while the case needs attention: the reason
    in plain words, versions and event types, never the petition's material."""
    at = f", the event at version {event_version}" if event_version is not None else ""
    lines = [
        f"**Needs attention:** `{reason}`: {meaning}.",
        f"**Versions:** the case is at {case_version}, its stream at "
        f"{'?' if stream_version is None else stream_version}{at}.",
        *([f"**Detail:** {detail}"] if detail else []),
        f"**Waiting since:** {since:%Y-%m-%d %H:%M} UTC · tried again: {tries} · next "
        f"try: {next_try:%Y-%m-%d %H:%M} UTC, or at once on the `resume_case` signal.",
        "Updates are refused (`case_needs_attention`); signals and deadlines wait.",
    ]
    return "\n\n".join(lines)


# ---- disputes ------------------------------------------------------------------------


def dispute_status(state: DisputeState) -> str:
    """A dispute's ``Stage``: its status, with the outcome once closed
    (``closed_resolved``, ``closed_converted``, ``closed_escalated``)."""
    if state.outcome is not None:
        return f"{state.status.value}_{state.outcome.value}"
    return state.status.value


def dispute_values(state: DisputeState) -> list[tuple[SearchAttributeKey[Any], Any]]:
    place = state.place
    where = place.jurisdiction if place else None
    return [
        (STAGE, dispute_status(state)),
        (REGION, where.region if where else None),
        (PREFECTURE, where.prefecture if where else None),
        (COUNTY, where.county if where else None),
        (TOWNSHIP, where.township if where else None),
        (
            PLACE_CODES,
            [place.village_code, place.township_code, place.county_code] if place else None,
        ),
        (HANDLING_UNIT, state.mediator),
        (CLASSIFICATION, state.category.value if state.category else None),
        (OVERDUE, state.overdue),
        (NEXT_DEADLINE, state.due_at if state.status is DisputeStatus.MEDIATING else None),
        (LINKED_CASES, [state.case_id] if state.case_id else None),
    ]


def dispute_updates(
    state: DisputeState, current: TypedSearchAttributes | None = None
) -> list[SearchAttributeUpdate[Any]]:
    """The updates that bring ``current`` (all of them when None) to ``state``'s values."""
    return [
        key.value_unset() if v is None else key.value_set(v)
        for key, v in dispute_values(state)
        if current is None or current.get(key) != v
    ]


def dispute_initial(state: DisputeState) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [SearchAttributePair(k, v) for k, v in dispute_values(state) if v is not None]
    )


def dispute_summary(dispute_id: str, state: DisputeState) -> str:
    """The static summary: id, kind, urgency and place; no party, no summary text."""
    place = state.place
    assert place is not None and state.category is not None and state.urgency is not None
    return (
        f"dispute {dispute_id} · {state.category.value} · {state.urgency.value} · "
        f"{place.jurisdiction} > {place.village} ({place.village_code})"
    )


def dispute_details(state: DisputeState) -> str:
    """Current details for the Web UI: status, mediator, limit, outcome and links."""
    lines = [
        f"**Status:** {state.status.value}" + (" (overdue)" if state.overdue else ""),
        f"**Mediator:** {state.mediator or '—'}"
        + (f" ({state.mediation_level.value})" if state.mediation_level else ""),
        f"**Mediation limit:** {state.due.isoformat() if state.due else '—'}",
    ]
    if state.outcome is not None:
        lines.append(f"**Outcome:** {state.outcome.value}")
    if state.case_id:
        lines.append(f"**Petition case:** {state.case_id} (workflow petition-{state.case_id})")
    if state.conference_id:
        lines.append(
            f"**Joint conference:** {state.conference_id}"
            + (" · decided" if state.conference_decided else " · on its agenda")
        )
    lines.append(f"**Last event:** {state.last_event_type} (version {state.version})")
    return "\n\n".join(lines)
