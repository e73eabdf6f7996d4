"""What every route needs: the verified caller, the permission checks and the clients."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Request

from petitionflow.client import PetitionClient
from petitionflow.domain.state import CaseState
from petitionflow.domain.values import Jurisdiction
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.requests import RequestLog
from petitionflow.identity.roles import Scope
from petitionflow.identity.tokens import IdentityError, Principal, TokenVerifier

from .problems import Problem


@dataclass
class ApiContext:
    petitions: PetitionClient
    store: EventStore
    verifier: TokenVerifier
    requests: RequestLog


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


async def principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    if not authorization:
        raise IdentityError(
            "token_missing",
            "send 'Authorization: Bearer <token>' (in development: `petition token`)",
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise IdentityError("token_missing", "the Authorization header must be 'Bearer <token>'")
    who = await context(request).verifier.verify(token.strip())
    request.state.caller = who.subject
    return who


Caller = Annotated[Principal, Depends(principal)]
Context = Annotated[ApiContext, Depends(context)]


def case_units(state: CaseState) -> set[str]:
    units = {state.registered_by} if state.registered_by else set()
    if state.handling_unit:
        units.add(state.handling_unit.name)
    if state.review_unit:
        units.add(state.review_unit.name)
    return units


def require(who: Principal, permission: str) -> set[Scope]:
    scopes = who.scopes_for(permission)
    if not scopes:
        roles = ", ".join(sorted(who.roles))
        raise Problem(403, "permission_denied", f"roles {roles} do not allow {permission}")
    return scopes


def check_scope(who: Principal, permission: str, case_id: str, state: CaseState) -> None:
    """``who`` holds ``permission`` for this case: its unit is named on the case (unit
    scope) or the case's place is in its jurisdiction (subtree scope)."""
    scopes = require(who, permission)
    place = state.jurisdiction
    if Scope.SUBTREE in scopes and place is not None and who.jurisdiction.contains(place):
        return
    if Scope.UNIT in scopes and who.unit in case_units(state):
        return
    raise Problem(
        403,
        "out_of_scope",
        f"case {case_id} is outside {who.unit}'s scope for {permission}",
    )


def check_place(who: Principal, permission: str, place: Jurisdiction) -> None:
    require(who, permission)
    if not who.jurisdiction.contains(place):
        raise Problem(
            403, "out_of_scope", f"{place} is outside {who.unit}'s jurisdiction {who.jurisdiction}"
        )


IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,80}$")


def idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(value):
        raise Problem(
            400,
            "bad_idempotency_key",
            "Idempotency-Key must be 1 to 80 of A-Z a-z 0-9 . _ : - (a UUID will do)",
        )
    return value


def caller_id(who: Principal) -> str:
    return f"{who.client}/{who.subject}" if who.client else who.subject


def _client(who: Principal) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", who.client or "staff")[:40]


def command_id_for(who: Principal, key: str) -> str:
    """The command id an Idempotency-Key stands for: ``api:<client>:<digest>``. The same
    caller and key give the same id, so the workflow answers a resent command as a
    repeat; two callers' keys never collide. Events record it as their causation id."""
    digest = hashlib.sha256(f"{caller_id(who)}\0{key}".encode()).hexdigest()[:40]
    return f"api:{_client(who)}:{digest}"


def request_command_id(request: Request, who: Principal) -> str:
    """A command id for a request without an Idempotency-Key: ``api:<client>:<request id>``."""
    return f"api:{_client(who)}:{request.state.request_id}"


def request_hash(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


def correlation_id(request: Request, who: Principal) -> str:
    """``api:<client or staff>:<request id>``: a case registered through the API keeps it
    as its correlation id in every event's metadata."""
    return f"api:{_client(who)}:{request.state.request_id}"
