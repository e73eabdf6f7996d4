"""Tokens the API must refuse (and one it must still take), idempotency's edge cases,
and what its logs may not hold: through the API against the real dev server.

Every refusal is checked by its status and its problem ``code``. The tokens are built
by hand with the development issuer's key (or another), so each differs from a good
one in exactly one way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from petitionflow.activities.records import stream_id
from petitionflow.identity.issuer import DEV_AUDIENCE
from petitionflow.workers import logs
from testkit.builders import COUNTY_UNIT, intake_data
from tests.apistack import KASHGAR, ApiStack

BUREAU = "喀什地区信访局"
TO_COUNTY = {"to_unit": COUNTY_UNIT.model_dump(mode="json")}


@pytest.fixture
def store_url(sqlite_url: str) -> str:
    """SQLite only: tokens are checked before anything reads the store. The idempotency
    records are in the store; ``test_api.py::test_idempotency_key`` runs on both."""
    return sqlite_url


# ---- hand-built tokens -----------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json64(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, ensure_ascii=False).encode())


def claims(api: ApiStack, **changes: Any) -> dict[str, Any]:
    """A good registrar's claims, with ``changes`` (a value of None drops the claim)."""
    now = int(time.time())
    good: dict[str, Any] = {
        "iss": api.issuer.issuer,
        "aud": DEV_AUDIENCE,
        "sub": "amina",
        "name": "阿米娜",
        "unit": BUREAU,
        "roles": ["registrar"],
        "juris": list(KASHGAR),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    good.update(changes)
    return {k: v for k, v in good.items() if v is not None}


def signed(api: ApiStack, **changes: Any) -> str:
    return jwt.encode(
        claims(api, **changes), api.issuer.key, algorithm="ES256", headers={"kid": api.issuer.kid}
    )


def alg_none(api: ApiStack) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": api.issuer.kid}
    return f"{_json64(header)}.{_json64(claims(api))}."


def hs256_with_the_public_key(api: ApiStack) -> str:
    """Algorithm confusion: HMAC keyed with the issuer's public key (PEM), which anyone
    can fetch from the JWKS. PyJWT refuses to make this token, so it is made by hand."""
    public = api.issuer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": api.issuer.kid}
    signing_input = f"{_json64(header)}.{_json64(claims(api))}"
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def other_key(api: ApiStack, kid: str | None) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims(api), key, algorithm="ES256", headers={"kid": kid or api.issuer.kid})


def tampered(api: ApiStack) -> str:
    """A good token whose payload now says administrator; the signature is kept."""
    header, _, signature = signed(api).split(".")
    return f"{header}.{_json64(claims(api, roles=['administrator']))}.{signature}"


BAD_TOKENS: dict[str, tuple[Callable[[ApiStack], str], str]] = {
    "expired": (lambda a: signed(a, exp=int(time.time()) - 120), "token_expired"),
    "wrong audience": (lambda a: signed(a, aud="another-api"), "token_wrong_audience"),
    "wrong issuer": (lambda a: signed(a, iss="https://issuer.example"), "token_wrong_issuer"),
    "alg none": (alg_none, "token_algorithm_refused"),
    "HS256 keyed with the public key": (hs256_with_the_public_key, "token_algorithm_refused"),
    "another key, another kid": (lambda a: other_key(a, "dev-other"), "token_unknown_key"),
    "another key, the same kid": (lambda a: other_key(a, None), "token_invalid"),
    "tampered payload": (tampered, "token_invalid"),
    "not yet valid": (lambda a: signed(a, nbf=int(time.time()) + 600), "token_invalid"),
    "no exp": (lambda a: signed(a, exp=None), "token_claims_invalid"),
    "no aud": (lambda a: signed(a, aud=None), "token_claims_invalid"),
    "no sub": (lambda a: signed(a, sub=None), "token_claims_invalid"),
    "no unit": (lambda a: signed(a, unit=None), "token_claims_invalid"),
    "no roles": (lambda a: signed(a, roles=None), "token_claims_invalid"),
    "no juris": (lambda a: signed(a, juris=None), "token_claims_invalid"),
    "unknown role": (lambda a: signed(a, roles=["registrar", "root"]), "token_claims_invalid"),
    "role not a string": (lambda a: signed(a, roles=[{"role": "root"}]), "token_claims_invalid"),
}


@pytest.mark.parametrize("name", list(BAD_TOKENS))
async def test_a_bad_token_is_refused(api: ApiStack, name: str) -> None:
    make, code = BAD_TOKENS[name]
    answer = await api.call("GET", "/v1/cases", make(api))
    assert (answer.status, answer.body["code"]) == (401, code), answer.body
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.headers["Content-Type"] == "application/problem+json"


async def test_a_token_expired_within_the_leeway_is_still_taken(api: ApiStack) -> None:
    """The verifier allows 60 s of clock skew."""
    token = signed(api, exp=int(time.time()) - 20)
    answer = await api.call("GET", "/v1/cases", token)
    assert answer.status == 200, answer.body


async def test_the_good_token_the_bad_ones_differ_from_is_taken(api: ApiStack) -> None:
    answer = await api.call("GET", "/v1/cases", signed(api))
    assert answer.status == 200, answer.body


# ---- idempotency and the envelope ------------------------------------------------------


async def _register(api: ApiStack, token: str) -> str:
    case_id = f"S{uuid.uuid4().hex[:10]}"
    answer = await api.call(
        "POST", "/v1/cases", token, {"case_id": case_id, "intake": intake_data(case_id)}
    )
    assert answer.status == 201, answer.body
    return case_id


async def test_an_idempotency_key_replays_its_answer_and_refuses_another_body(
    api: ApiStack,
) -> None:
    service = api.token(BUREAU, "registrar", client="sms-gateway")
    case_id = f"S{uuid.uuid4().hex[:10]}"
    intake = intake_data(case_id, received_at="2026-03-02T09:00:00Z")
    body: dict[str, Any] = {"case_id": case_id, "intake": intake}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await api.call("POST", "/v1/cases", service, body, key)
    again = await api.call("POST", "/v1/cases", service, body, key)
    assert first.status == again.status == 201, (first.body, again.body)
    assert again.body == first.body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    other = {**body, "intake": {**intake, "request": "另一个请求"}}
    clash = await api.call("POST", "/v1/cases", service, other, key)
    assert (clash.status, clash.body["code"]) == (409, "idempotency_key_reused")

    path = f"/v1/cases/{case_id}/commands/transfer_petition"
    command_key = {"Idempotency-Key": "transfer-1"}
    sent = await api.call("POST", path, service, TO_COUNTY, command_key)
    resent = await api.call("POST", path, service, TO_COUNTY, command_key)
    assert sent.status == resent.status == 200, (sent.body, resent.body)
    assert resent.body == sent.body and resent.headers["Idempotent-Replayed"] == "true"
    elsewhere = {"to_unit": {**TO_COUNTY["to_unit"], "name": "疏附县住房和城乡建设局"}}
    clash = await api.call("POST", path, service, elsewhere, command_key)
    assert (clash.status, clash.body["code"]) == (409, "idempotency_key_reused")
    types = [r.type for r in api.ctx.store.read_stream(stream_id(case_id))]
    assert types.count("PetitionRegistered") == 1 and types.count("PetitionTransferred") == 1


async def test_a_refusal_is_replayed_too(api: ApiStack) -> None:
    """The domain's answer to a key is its answer: resent, the same refusal comes back."""
    case_id = await _register(api, api.token(BUREAU, "registrar"))
    path = f"/v1/cases/{case_id}/commands/accept_petition"
    handler = api.token(BUREAU, "handler", client="mediation-office")
    key = {"Idempotency-Key": "accept-1"}
    first = await api.call("POST", path, handler, {}, key)
    again = await api.call("POST", path, handler, {}, key)
    assert (first.status, first.body["code"]) == (409, "wrong_stage"), first.body
    assert (again.status, again.body["code"]) == (409, "wrong_stage")
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_a_service_sends_every_command_with_a_key(api: ApiStack) -> None:
    case_id = await _register(api, api.token(BUREAU, "registrar"))
    service = api.token(BUREAU, "registrar", client="mediation-office")
    path = f"/v1/cases/{case_id}/commands/transfer_petition"
    answer = await api.call("POST", path, service, TO_COUNTY)
    assert (answer.status, answer.body["code"]) == (400, "idempotency_key_required")
    bad = await api.call("POST", path, service, TO_COUNTY, {"Idempotency-Key": "a b"})
    assert (bad.status, bad.body["code"]) == (400, "bad_idempotency_key")
    shown = await api.call("GET", f"/v1/cases/{case_id}", api.token(BUREAU, "registrar"))
    assert shown.body["stage"] == "registered"  # neither was sent


@pytest.mark.parametrize(
    "path",
    ["/v1/cases", "/v1/cases/{case}/commands/transfer_petition"],
    ids=["register", "command"],
)
async def test_a_body_naming_an_actor_is_refused(api: ApiStack, path: str) -> None:
    registrar = api.token(BUREAU, "registrar")
    case_id = await _register(api, registrar)
    actor = {"unit": "疏附县人民政府", "person": "someone else"}
    body: dict[str, Any] = {**TO_COUNTY, "actor": actor}
    if path == "/v1/cases":
        body = {"case_id": f"S{uuid.uuid4().hex[:10]}", "intake": intake_data(), "actor": actor}
    answer = await api.call("POST", path.format(case=case_id), registrar, body)
    assert (answer.status, answer.body["code"]) == (400, "actor_in_body")
    envelope = await api.call(
        "POST",
        f"/v1/cases/{case_id}/commands/transfer_petition",
        registrar,
        {**TO_COUNTY, "command_id": "mine"},
    )
    assert (envelope.status, envelope.body["code"]) == (400, "envelope_in_body")


# ---- logs ------------------------------------------------------------------------------


async def test_the_logs_hold_no_body_value_and_no_token(
    api: ApiStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every line the process logs while the API registers, routes, replays and refuses
    (its own request lines, uvicorn's, the worker's): none holds a value of a request
    body or any part of a bearer token."""
    out = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    monkeypatch.setattr(sys, "stderr", out)
    logs.configure("DEBUG")
    case_id = f"S{uuid.uuid4().hex[:10]}"
    petitioner = {
        "name": "古丽娜尔·艾买提",
        "address": "疏附县托克扎克镇幸福路77号",
        "phone": "13612345678",
        "id_number": intake_data(case_id)["petitioner"]["id_number"],
    }
    intake = intake_data(case_id, petitioner=petitioner, request="请求退还押金壹万贰仟元整")
    reason = "承办单位认为本事项不属于其职责范围甲乙丙"
    registrar = api.token(BUREAU, "registrar", person="阿依古丽")
    service = api.token(COUNTY_UNIT.name, "handler", juris=(*KASHGAR, "疏附县"), client="svc")
    try:
        registered = await api.call(
            "POST", "/v1/cases", registrar, {"case_id": case_id, "intake": intake}
        )
        assert registered.status == 201, registered.body
        path = f"/v1/cases/{case_id}/commands"
        routed = await api.call("POST", f"{path}/transfer_petition", registrar, TO_COUNTY)
        assert routed.status == 200, routed.body
        key = {"Idempotency-Key": "object-1"}
        objection = {"reason": reason}
        first = await api.call("POST", f"{path}/object_to_routing", service, objection, key)
        again = await api.call("POST", f"{path}/object_to_routing", service, objection, key)
        assert first.status == again.status, (first.body, again.body)
        refused = await api.call(
            "POST", f"{path}/transfer_petition", registrar, {**TO_COUNTY, "actor": petitioner}
        )
        assert refused.status == 400
        invalid = await api.call(
            "POST", "/v1/cases", registrar, {"intake": {**intake, "channel": "pigeon"}}
        )
        assert invalid.status == 422
        expired = signed(api, exp=int(time.time()) - 3600)
        assert (await api.call("GET", f"/v1/cases/{case_id}", expired)).status == 401
        assert (await api.call("GET", f"/v1/cases/{case_id}", "garbage.token.x")).status == 401
        shown = await api.call("GET", f"/v1/cases/{case_id}?reveal=true", registrar)
        assert shown.status == 200
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        structlog.reset_defaults()
    text = out.getvalue()
    lines = [json.loads(x) for x in text.splitlines() if x.startswith("{")]
    requests = [x for x in lines if x.get("logger") == "petitionflow.api"]
    assert len(requests) == 9, text[-3000:]
    assert {x["route"] for x in requests} >= {"/v1/cases", "/v1/cases/{case_id}"}
    values = [
        *petitioner.values(),
        intake["request"],
        intake["facts"],
        reason,
    ]
    tokens = [registrar, service, expired, "garbage.token.x"]
    secrets = values + [part for t in tokens for part in t.split(".") if len(part) > 8]
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"{leaked} in the log: {text[-3000:]}"
