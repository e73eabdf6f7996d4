"""The HTTP API through a real client, against the real dev server and worker: the
actor comes from the verified token, errors are problem details with the domain's
codes, and an Idempotency-Key makes a retry safe."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from petitionflow.activities.records import stream_id
from testkit.builders import COUNTY_UNIT, intake_data
from tests.apistack import SHUFU, ApiStack

BUREAU = "喀什地区信访局"
TO_COUNTY = {"to_unit": COUNTY_UNIT.model_dump(mode="json")}


async def register(api: ApiStack, token: str, **extra: str) -> str:
    case_id = f"A{uuid.uuid4().hex[:10]}"
    intake = intake_data(case_id, received_at=datetime.now(UTC).isoformat())  # nothing overdue
    answer = await api.call("POST", "/v1/cases", token, {"case_id": case_id, "intake": intake})
    assert answer.status == 201, answer.body
    return case_id


async def test_register_and_route_as_the_token_says(api: ApiStack) -> None:
    registrar = api.token(BUREAU, "registrar", person="阿依古丽")
    case_id = await register(api, registrar)
    sent = await api.call(
        "POST", f"/v1/cases/{case_id}/commands/transfer_petition", registrar, TO_COUNTY
    )
    assert sent.status == 200, sent.body
    assert sent.body["events"] == ["PetitionTransferred"]
    records = api.ctx.store.read_stream(stream_id(case_id))
    assert [r.type for r in records[:2]] == ["PetitionRegistered", "PetitionTransferred"]
    assert [r.metadata["actor"] for r in records[:2]] == [
        {"unit": BUREAU, "person": "阿依古丽"}
    ] * 2
    assert records[0].metadata["correlation_id"].startswith("api:staff:")
    assert records[1].metadata["causation_id"].startswith("api:staff:")
    shown = await api.call("GET", f"/v1/cases/{case_id}", registrar)
    assert shown.status == 200 and shown.body["stage"] == "routed"
    assert shown.body["intake"]["petitioner"]["name"].endswith("**")  # masked


async def test_an_actor_in_the_body_is_refused(api: ApiStack) -> None:
    registrar = api.token(BUREAU, "registrar")
    case_id = await register(api, registrar)
    body = {**TO_COUNTY, "actor": {"unit": BUREAU, "person": "someone"}}
    answer = await api.call(
        "POST", f"/v1/cases/{case_id}/commands/transfer_petition", registrar, body
    )
    assert answer.status == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["code"] == "actor_in_body"


async def test_the_domain_still_says_who_may(api: ApiStack) -> None:
    """A county handler's token may send issue_decision, but not on a case its unit
    does not handle: its unit is not named on the case (out_of_scope); another
    registering office's registrar is refused by the domain's own check."""
    registrar = api.token(BUREAU, "registrar")
    case_id = await register(api, registrar)
    handler = api.token(COUNTY_UNIT.name, "handler", juris=SHUFU)
    answer = await api.call("POST", f"/v1/cases/{case_id}/commands/accept_petition", handler, {})
    assert (answer.status, answer.body["code"]) == (403, "out_of_scope")
    analyst = api.token(BUREAU, "analyst")
    answer = await api.call(
        "POST", f"/v1/cases/{case_id}/commands/transfer_petition", analyst, TO_COUNTY
    )
    assert (answer.status, answer.body["code"]) == (403, "permission_denied")


async def test_idempotency_key(api: ApiStack) -> None:
    registrar = api.token(BUREAU, "registrar", client="mediation-office")
    case_id = await register(api, registrar)
    path = f"/v1/cases/{case_id}/commands/transfer_petition"
    missing = await api.call("POST", path, registrar, TO_COUNTY)
    assert (missing.status, missing.body["code"]) == (400, "idempotency_key_required")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await api.call("POST", path, registrar, TO_COUNTY, key)
    again = await api.call("POST", path, registrar, TO_COUNTY, key)
    assert first.status == again.status == 200
    assert first.body == again.body
    assert again.headers["Idempotent-Replayed"] == "true"
    other = {"to_unit": {**TO_COUNTY["to_unit"], "name": "疏附县住建局"}}
    clash = await api.call("POST", path, registrar, other, key)
    assert (clash.status, clash.body["code"]) == (409, "idempotency_key_reused")
    types = [r.type for r in api.ctx.store.read_stream(stream_id(case_id))]
    assert types.count("PetitionTransferred") == 1
    assert (
        api.ctx.store.read_stream(stream_id(case_id))[-1]
        .metadata["causation_id"]
        .startswith("api:mediation-office:")
    )


async def test_no_token_and_a_bad_token(api: ApiStack) -> None:
    none = await api.call("GET", "/v1/cases")
    assert (none.status, none.body["code"]) == (401, "token_missing")
    assert none.headers["WWW-Authenticate"] == "Bearer"
    bad = await api.call("GET", "/v1/cases", "not-a-jwt")
    assert (bad.status, bad.body["code"]) == (401, "token_invalid")


async def test_openapi_and_docs_are_served(api: ApiStack) -> None:
    spec = await api.call("GET", "/openapi.json")
    assert spec.status == 200
    assert {"/v1/cases", "/v1/cases/{case_id}/commands/{kind}", "/v1/report"} <= set(
        spec.body["paths"]
    )
    async with api.http.get(api.url + "/docs") as docs:
        page = await docs.text()
    assert docs.status == 200 and "/docs-assets/swagger-ui-bundle.js" in page
    assert "https://" not in page  # nothing from a CDN: this machine has no internet
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        async with api.http.get(f"{api.url}/docs-assets/{asset}") as r:
            assert r.status == 200, asset


async def test_a_replay_after_the_command_took_the_caller_out_of_scope(api: ApiStack) -> None:
    """The county unit objects to the routing, which takes it off the case; its retry
    with the same Idempotency-Key still gets the answer it was given, not out_of_scope."""
    case_id = await register(api, api.token(BUREAU, "registrar"))
    registrar = api.token(BUREAU, "registrar")
    routed = await api.call(
        "POST", f"/v1/cases/{case_id}/commands/transfer_petition", registrar, TO_COUNTY
    )
    assert routed.status == 200, routed.body
    handler = api.token(COUNTY_UNIT.name, "handler", juris=SHUFU, client="county-office")
    path = f"/v1/cases/{case_id}/commands/object_to_routing"
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await api.call("POST", path, handler, {"reason": "不属于本单位职责"}, key)
    assert first.status == 200 and first.body["events"] == ["RoutingObjected"], first.body
    again = await api.call("POST", path, handler, {"reason": "不属于本单位职责"}, key)
    assert again.status == 200, again.body
    assert again.body == first.body and again.headers["Idempotent-Replayed"] == "true"
    fresh = {"Idempotency-Key": str(uuid.uuid4())}
    other = await api.call("POST", path, handler, {"reason": "不属于本单位职责"}, fresh)
    assert (other.status, other.body["code"]) == (403, "out_of_scope")


async def test_a_registered_case_is_in_scope_as_soon_as_it_is_answered(api: ApiStack) -> None:
    """201 comes once the registration is durable: the registrar's next request finds
    the case registered. (It came when the workflow started: with a few registrations
    at once, the transfer right after one read a case not yet registered, with no
    registering office and no place, and was refused out_of_scope.)"""
    registrar = api.token(BUREAU, "registrar")

    async def register_and_route() -> tuple[int, str]:
        case_id = await register(api, registrar)
        path = f"/v1/cases/{case_id}/commands/transfer_petition"
        sent = await api.call("POST", path, registrar, TO_COUNTY)
        return sent.status, sent.body.get("code", "")

    answers = await asyncio.gather(*(register_and_route() for _ in range(40)))
    assert answers == [(200, "")] * 40
