"""Staff and service endpoints: register, send commands, read, search, report.

Every command's actor is the verified caller (``identity/``); a body that names an
actor is refused. A backend service (a token with ``azp``) sends each command with an
``Idempotency-Key``: the same key and body get the same answer, another body 409.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from petitionflow.activities.records import stream_id
from petitionflow.client import PetitionError
from petitionflow.domain.decide import EXTERNAL_COMMANDS, PETITIONER_COMMANDS
from petitionflow.domain.intake import Intake, field_errors
from petitionflow.domain.values import PETITIONER_UNIT, Actor
from petitionflow.identity.roles import READ_CASE, REPORT, SEARCH, Role, Scope
from petitionflow.identity.tokens import Principal
from petitionflow.projections.projector import Projector
from petitionflow.projections.report import statistics
from petitionflow.security.masking import mask_event_json, mask_state_json
from petitionflow.workflows.contract import workflow_id

from .context import (
    ApiContext,
    Caller,
    Context,
    caller_id,
    case_units,
    check_place,
    check_scope,
    command_id_for,
    correlation_id,
    idempotency_key,
    request_command_id,
    request_hash,
    require,
)
from .problems import Problem, status_for

router = APIRouter(prefix="/v1", tags=["staff and services"])

ENVELOPE = ("actor", "command_id", "issued_at", "correlation_id", "kind")
JsonBody = Annotated[dict[str, Any], Body(examples=[{"to_unit": {"name": "疏附县人社局"}}])]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key")]


def _refuse_envelope(body: dict[str, Any]) -> None:
    if "actor" in body:
        raise Problem(
            400,
            "actor_in_body",
            "the actor is who the bearer token says; remove 'actor' from the body",
        )
    named = [k for k in ENVELOPE if k in body]
    if named:
        raise Problem(
            400,
            "envelope_in_body",
            f"{', '.join(named)} are set by the API; send an Idempotency-Key header instead",
        )


async def _idempotent(
    ctx: ApiContext,
    who: Principal,
    key: str | None,
    fingerprint: str,
    case_id: str,
    run: Callable[[bool], Awaitable[tuple[int, dict[str, Any]]]],
    check: Callable[[], Awaitable[None]] | None = None,
) -> Response:
    """Run ``run(resent)`` once per caller and key; store and replay its answer.

    ``check`` (the scope check, which reads the case as it is now) runs before ``run``
    but not before a replay: the answer was given to this caller for this request when
    it was in scope, and the command itself may have taken it out (an objection to the
    routing removes the objecting unit from the case), so a retry still gets it."""
    if key is None:
        if check is not None:
            await check()
        status, body = await run(False)
        return JSONResponse(body, status_code=status)
    claim = await asyncio.to_thread(ctx.requests.claim, caller_id(who), key, fingerprint, case_id)
    if not claim.same_request:
        raise Problem(
            409,
            "idempotency_key_reused",
            "this Idempotency-Key was used for another request; use a new key",
        )
    if claim.status is not None and claim.response is not None:
        return Response(
            claim.response,
            status_code=claim.status,
            media_type="application/problem+json" if claim.status >= 400 else "application/json",
            headers={"Idempotent-Replayed": "true"},
        )
    if check is not None:
        await check()
    try:
        status, body = await run(not claim.fresh)
    except PetitionError as exc:
        status = status_for(exc.code)
        if status >= 500:
            raise  # not an answer: the caller may retry with the same key
        body = {"code": exc.code, "detail": exc.message, "status": status, "title": exc.code}
        await asyncio.to_thread(
            ctx.requests.answer, caller_id(who), key, status, orjson.dumps(body).decode()
        )
        raise
    await asyncio.to_thread(
        ctx.requests.answer, caller_id(who), key, status, orjson.dumps(body).decode()
    )
    return JSONResponse(body, status_code=status)


# ---- registration ---------------------------------------------------------------------


@router.post("/cases", status_code=201, summary="Register a petition (starts its case)")
async def register(
    request: Request, ctx: Context, who: Caller, body: JsonBody, key: IdemKey = None
) -> Response:
    _refuse_envelope({k: v for k, v in body.items() if k != "case_id"})
    key = idempotency_key(key)
    require(who, "register_petition")  # before the intake is read, as for commands
    raw = body.get("intake")
    if isinstance(raw, dict) and "received_at" not in raw:
        raw = {**raw, "received_at": datetime.now(UTC).isoformat()}  # received now
    try:
        intake = Intake.model_validate(raw)
    except ValidationError as exc:
        raise Problem(422, "invalid_request", "intake: " + "; ".join(field_errors(exc))) from None
    check_place(who, "register_petition", intake.jurisdiction)
    # without a case id: one from the key (a retry names the same case), else a new one
    case_id = body.get("case_id") or (
        f"API-{command_id_for(who, key)[-12:].upper()}"
        if key
        else f"API-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4).upper()}"
    )

    async def run(resent: bool) -> tuple[int, dict[str, Any]]:
        answer = {"case_id": case_id, "workflow_id": workflow_id(case_id)}
        try:
            await ctx.petitions.submit(
                case_id,
                intake,
                who.actor,
                command_id=command_id_for(who, key) if key else request_command_id(request, who),
                correlation_id=correlation_id(request, who),
            )
        except PetitionError as exc:
            if not (resent and exc.code == "duplicate_case"):
                raise
            # the first attempt started it before it could answer
        # 201 once the registration is durable: a command right after finds the case
        # registered (with its office and place), not out of scope
        await ctx.petitions.registered(case_id)
        return 201, answer

    fingerprint = request_hash("register", body)
    return await _idempotent(ctx, who, key, fingerprint, case_id, run)


# ---- commands -------------------------------------------------------------------------


def _actor(who: Principal, kind: str) -> Actor:
    if kind in PETITIONER_COMMANDS and Role.PETITIONER_PROXY in who.roles:
        # the petitioner's own act, passed on by a service (the channel is the person)
        return Actor(unit=PETITIONER_UNIT, person=who.client or who.person)
    return who.actor


@router.post(
    "/cases/{case_id}/commands/{kind}",
    summary="Send a command to a case (returns once its events are durable)",
)
async def send_command(
    request: Request,
    ctx: Context,
    who: Caller,
    case_id: str,
    kind: str,
    body: JsonBody,
    key: IdemKey = None,
) -> Response:
    _refuse_envelope(body)
    key = idempotency_key(key)
    if kind not in EXTERNAL_COMMANDS:
        raise Problem(
            404, "unknown_command", f"{kind!r}; known: {', '.join(sorted(EXTERNAL_COMMANDS))}"
        )
    if who.client and key is None:
        raise Problem(
            400,
            "idempotency_key_required",
            "a service sends every command with an Idempotency-Key header (e.g. a UUID "
            "it keeps with the command), so a retry is never applied twice",
        )
    require(who, kind)

    async def in_scope() -> None:
        check_scope(who, kind, case_id, await ctx.petitions.state(case_id))

    async def run(resent: bool) -> tuple[int, dict[str, Any]]:
        payload = {
            **body,
            "command_id": command_id_for(who, key) if key else request_command_id(request, who),
            "actor": _actor(who, kind).model_dump(),
            "issued_at": datetime.now(UTC).isoformat(),
            "correlation_id": correlation_id(request, who),
        }
        result = await ctx.petitions.send(case_id, kind, payload)
        assert result is not None
        return 200, result.model_dump(mode="json")

    fingerprint = request_hash(case_id, kind, body)
    return await _idempotent(ctx, who, key, fingerprint, case_id, run, in_scope)


# ---- reading --------------------------------------------------------------------------


def _reveal(who: Principal, state: Any, reveal: bool) -> bool:
    if not reveal:
        return False
    if who.unit not in case_units(state):
        raise Problem(
            403,
            "reveal_not_allowed",
            "only the units named on a case see the petitioner's identity",
        )
    return True


@router.get("/cases/{case_id}", summary="A case's current state")
async def show(ctx: Context, who: Caller, case_id: str, reveal: bool = False) -> dict[str, Any]:
    require(who, READ_CASE)
    state = await ctx.petitions.state(case_id)
    check_scope(who, READ_CASE, case_id, state)
    payload = state.model_dump(mode="json", exclude={"commands"})
    return payload if _reveal(who, state, reveal) else mask_state_json(payload)


@router.get("/cases/{case_id}/events", summary="A case's events, from the event store")
async def history(
    ctx: Context, who: Caller, case_id: str, reveal: bool = False
) -> list[dict[str, Any]]:
    require(who, READ_CASE)
    state = await ctx.petitions.state(case_id)
    check_scope(who, READ_CASE, case_id, state)
    show_all = _reveal(who, state, reveal)
    records = await asyncio.to_thread(ctx.store.read_stream, stream_id(case_id))
    return [
        {
            "version": r.version,
            "type": r.type,
            "data": r.data if show_all else mask_event_json(r.data),
            "metadata": r.metadata,
            "recorded_at": r.recorded_at.isoformat(),
        }
        for r in records
    ]


def _quote(value: str) -> str:
    if '"' in value or "\\" in value:
        raise Problem(422, "bad_query", "filter values may not contain quotes or backslashes")
    return f'"{value}"'


@router.get("/cases", summary="Find cases (within the caller's scope)")
async def search(
    ctx: Context,
    who: Caller,
    stage: str | None = None,
    handling_unit: str | None = None,
    classification: str | None = None,
    channel: str | None = None,
    overdue: bool | None = None,
    supervised: bool | None = None,
    needs_attention: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The API composes the visibility query from these parameters; it takes no
    query text. Unit-scoped roles see the cases their unit handles, subtree-scoped
    roles the cases of their place and below."""
    scopes = require(who, SEARCH)
    terms = []
    for name, value in (
        ("Stage", stage),
        ("HandlingUnit", handling_unit),
        ("Classification", classification),
        ("Channel", channel),
    ):
        if value is not None:
            terms.append(f"{name} = {_quote(value)}")
    for name, flag in (("Overdue", overdue), ("Supervised", supervised)):
        if flag is not None:
            terms.append(f"{name} = {'true' if flag else 'false'}")
    if needs_attention is not None:
        terms.append("NeedsAttention IS NOT NULL" if needs_attention else "NeedsAttention IS NULL")
    if Scope.SUBTREE in scopes:
        levels = ("Region", "Prefecture", "County", "Township")
        terms += [
            f"{lvl} = {_quote(p)}" for lvl, p in zip(levels, who.jurisdiction.path, strict=False)
        ]
    else:
        terms.append(f"HandlingUnit = {_quote(who.unit)}")
    return await ctx.petitions.list(" AND ".join(terms), limit=limit)


@router.get("/report", summary="The statistics report (within the caller's jurisdiction)")
async def report(
    ctx: Context,
    who: Caller,
    by: Literal["unit", "prefecture", "county"] = "unit",
    since: str | None = None,
) -> dict[str, Any]:
    require(who, REPORT)

    def build() -> dict[str, Any]:
        projected = 0
        try:
            projected = Projector(ctx.store).run_once()
        except Exception as exc:  # a read-only role: report the read models as they are
            if getattr(getattr(exc, "orig", exc), "sqlstate", None) != "42501":
                raise
        rows = statistics(ctx.store.engine, by, since, who.jurisdiction.path)
        return {"within": list(who.jurisdiction.path), "projected": projected, "rows": rows}

    return await asyncio.to_thread(build)
