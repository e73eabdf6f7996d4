"""Errors as RFC 9457 problem details, carrying the same codes as over Temporal.

Every error body is ``application/problem+json``::

    {"type": "https://petitionflow.dev/problems/not_the_handling_unit",
     "title": "not_the_handling_unit", "status": 403, "code": "not_the_handling_unit",
     "detail": "the handling unit is 疏附县人社局; the actor is 喀什地区信访局",
     "request_id": "..."}
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from petitionflow.client import PetitionError
from petitionflow.identity.tokens import IdentityError

PROBLEM_BASE = "https://petitionflow.dev/problems/"
MEDIA_TYPE = "application/problem+json"

# Domain codes that say "not you" rather than "not now".
FORBIDDEN_CODES = frozenset(
    {
        "not_the_registering_office",
        "not_the_receiving_unit",
        "not_the_handling_unit",
        "not_the_review_unit",
        "not_the_conference_office",
        "not_allowed_to_escalate",
        "petitioner_only",
        "engine_only",
    }
)
STATUS_BY_CODE = {
    "case_not_found": 404,
    "unknown_command": 404,
    "invalid_command": 422,
    "invalid_request": 422,
    "bad_query": 422,
    "duplicate_case": 409,
    "temporal_error": 503,
    "worker_unavailable": 503,
    "case_not_running": 409,
    "unencrypted_payload": 400,
}
IDENTITY_STATUS = {"issuer_unreachable": 503}


class Problem(Exception):
    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        self.status, self.code, self.detail, self.extra = status, code, detail, extra
        super().__init__(f"{code}: {detail}")


def status_for(code: str) -> int:
    if code in FORBIDDEN_CODES:
        return 403
    return STATUS_BY_CODE.get(code, 409)  # the case's state refuses it now


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    body = {
        "type": PROBLEM_BASE + problem.code,
        "title": problem.code,
        "status": problem.status,
        "code": problem.code,
        "detail": problem.detail,
        "request_id": getattr(request.state, "request_id", None),
        **problem.extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else {}
    if "retry_after" in problem.extra:
        headers["Retry-After"] = str(problem.extra["retry_after"])
    return JSONResponse(body, status_code=problem.status, media_type=MEDIA_TYPE, headers=headers)


def install(app: Any) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(request, exc)

    async def on_petition_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PetitionError)
        return problem_response(request, Problem(status_for(exc.code), exc.code, exc.message))

    async def on_identity(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, IdentityError)
        status = IDENTITY_STATUS.get(exc.code, 401)
        return problem_response(request, Problem(status, exc.code, exc.message))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in exc.errors()
        ]
        return problem_response(request, Problem(422, "invalid_request", "; ".join(errors)))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem_response(request, Problem(exc.status_code, code, str(exc.detail)))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(PetitionError, on_petition_error)
    app.add_exception_handler(IdentityError, on_identity)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
