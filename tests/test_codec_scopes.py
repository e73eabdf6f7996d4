"""The codec server shows each operator only the cases in their jurisdiction.

Every encrypted payload of a case names the case's place (``petitionflow-scope``) and
whether it is an accusation (``petitionflow-sealed``) in plain text, bound to the
ciphertext. The codec server verifies the operator's token (the Temporal UI forwards
it with ``TEMPORAL_CODEC_PASS_ACCESS_TOKEN``) and decrypts only what is in scope."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.exceptions import InvalidTag
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from petitionflow.identity.issuer import DEV_AUDIENCE, DevIssuer
from petitionflow.identity.tokens import TokenVerifier
from petitionflow.security.codec import (
    SCOPE,
    SEALED,
    CaseScope,
    CaseScopes,
    EncryptionCodec,
    payload_scope,
)
from petitionflow.security.codec_server import CodecServer
from petitionflow.workflows.contract import workflow_id
from testkit.builders import COUNTY_UNIT, OTHER_COUNTY_UNIT
from testkit.keys import TEST_KEYS
from tests.temporal import Harness

SHUFU = ("新疆维吾尔自治区", "喀什地区", "疏附县")
JIASHI = ("新疆维吾尔自治区", "喀什地区", "伽师县")
ENCRYPTED = b"binary/encrypted"


def encrypted_payloads(history_json: Any) -> Iterator[Payload]:
    """Every encrypted payload in a history (its proto JSON), wherever it sits."""
    if isinstance(history_json, dict):
        metadata = history_json.get("metadata")
        if (
            isinstance(metadata, dict)
            and base64.b64decode(metadata.get("encoding", "")) == ENCRYPTED
        ):
            yield json_format.ParseDict(history_json, Payload(), ignore_unknown_fields=True)
            return
        for value in history_json.values():
            yield from encrypted_payloads(value)
    elif isinstance(history_json, list):
        for value in history_json:
            yield from encrypted_payloads(value)


async def history_payloads(h: Harness, case_id: str) -> list[Payload]:
    history = await h.client.handle(case_id).fetch_history()
    return list(encrypted_payloads(history.to_json_dict()))


async def test_every_payload_of_a_case_names_its_place(petitions: Harness) -> None:
    case = await petitions.submit(
        jurisdiction={"region": SHUFU[0], "prefecture": SHUFU[1], "county": SHUFU[2]}
    )
    from petitionflow.domain import commands as c

    await case.ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    payloads = await history_payloads(petitions, case.case_id)
    assert len(payloads) >= 4  # start, update, its result, local activities
    assert {payload_scope(p) for p in payloads} == {CaseScope(SHUFU, False)}


async def test_a_worker_learns_the_scope_from_what_it_decodes() -> None:
    """A process that did not start the case (a worker after a restart) learns its scope
    from the start input's plain-text scope, and stamps what it sends afterwards."""
    from temporalio.converter import WorkflowSerializationContext

    wid = workflow_id("LEARN-1")
    context = WorkflowSerializationContext(namespace="default", workflow_id=wid)
    client = EncryptionCodec(TEST_KEYS.payload).with_context(context)
    client.scopes.remember(wid, CaseScope(JIASHI, True))
    [start] = await client.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"{}")])
    worker = EncryptionCodec(TEST_KEYS.payload, CaseScopes()).with_context(context)
    [plain] = await worker.decode([start])
    assert plain.data == b"{}"
    [out] = await worker.encode([plain])
    assert (out.metadata[SCOPE], out.metadata[SEALED]) == ("/".join(JIASHI).encode(), b"1")


async def test_the_converter_keeps_one_copy_per_workflow() -> None:
    """The SDK asks for a converter with a serialization context for each payload of a
    local activity; one copy per workflow id serves them all, and stamps its scope."""
    from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext

    from petitionflow.security.codec import ScopedDataConverter, data_converter

    converter = data_converter(TEST_KEYS.payload)
    assert isinstance(converter, ScopedDataConverter)
    wid, other = workflow_id("KEEP-1"), workflow_id("KEEP-2")
    run = converter.with_context(WorkflowSerializationContext(namespace="default", workflow_id=wid))
    activities = [
        converter.with_context(
            ActivitySerializationContext(
                namespace="default",
                workflow_id=wid,
                workflow_type="PetitionWorkflow",
                activity_type="append_events",
                activity_id=str(seq),
                activity_task_queue="q",
                is_local=True,
            )
        )
        for seq in range(3)
    ]
    assert all(a is run for a in activities) and run is not converter
    assert isinstance(run.payload_codec, EncryptionCodec) and run.payload_codec.workflow_id == wid
    assert run.payload_converter is converter.payload_converter
    elsewhere = converter.with_context(
        WorkflowSerializationContext(namespace="default", workflow_id=other)
    )
    assert elsewhere is not run and elsewhere.payload_codec.workflow_id == other  # type: ignore[union-attr]
    converter.payload_codec.scopes.remember(wid, CaseScope(JIASHI, True))  # type: ignore[union-attr]
    [out] = await run.encode(["内容"])
    assert (out.metadata[SCOPE], out.metadata[SEALED]) == ("/".join(JIASHI).encode(), b"1")
    assert await run.decode([out], [str]) == ["内容"]
    # bounded: the least recently used workflow's copy is made again when next asked
    small = ScopedDataConverter(payload_codec=EncryptionCodec(TEST_KEYS.payload), size=2)
    first = small.with_context(WorkflowSerializationContext(namespace="n", workflow_id="a"))
    for name in ("b", "c"):
        small.with_context(WorkflowSerializationContext(namespace="n", workflow_id=name))
    again = small.with_context(WorkflowSerializationContext(namespace="n", workflow_id="a"))
    assert again is not first and len(small._clones) == 2


async def test_the_scope_cannot_be_changed() -> None:
    codec = EncryptionCodec(TEST_KEYS.payload)
    payload = codec.encrypt(Payload(data=b"x"), CaseScope(JIASHI, False))
    moved = Payload()
    moved.CopyFrom(payload)
    moved.metadata[SCOPE] = "/".join(SHUFU).encode()
    unsealed = Payload()
    unsealed.CopyFrom(codec.encrypt(Payload(data=b"x"), CaseScope(JIASHI, True)))
    unsealed.metadata[SEALED] = b"0"
    for tampered in (moved, unsealed):
        with pytest.raises(InvalidTag):
            codec.decrypt(tampered)
    assert codec.decrypt(payload).data == b"x"


# ---- the codec server -------------------------------------------------------------


class Scoped:
    def __init__(self, server: CodecServer, token: str, issuer: DevIssuer) -> None:
        self.server, self.token, self.issuer = server, token, issuer

    async def decode(self, payloads: list[Payload], operator: str | None) -> tuple[int, Any]:
        url = f"http://127.0.0.1:{self.server.port}/{self.token}/decode"
        headers = {"Authorization": f"Bearer {operator}"} if operator else {}
        body = {"payloads": [json_format.MessageToDict(p) for p in payloads]}
        async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as r:
            return r.status, await r.json()

    def operator(self, juris: tuple[str, ...], *roles: str) -> str:
        return self.issuer.token(
            unit="some unit", roles=roles or ("supervisor",), jurisdiction=juris
        )


@pytest.fixture
async def scoped(tmp_path: Path) -> AsyncIterator[Scoped]:
    issuer = DevIssuer.load_or_create(tmp_path / "issuer.json", issuer="http://issuer.test")
    verifier = TokenVerifier(issuer=issuer.issuer, audience=DEV_AUDIENCE, jwks=issuer.jwks())
    token = secrets.token_urlsafe(24)
    server = CodecServer(EncryptionCodec(TEST_KEYS.payload), token, (), port=0, verifier=verifier)
    async with server:
        yield Scoped(server, token, issuer)


def shown(answer: Any) -> list[bool]:
    """For each payload the server answered: was it decrypted?"""
    return [base64.b64decode(p["metadata"]["encoding"]) != ENCRYPTED for p in answer["payloads"]]


async def test_each_operator_reads_the_cases_of_their_place(scoped: Scoped) -> None:
    codec = EncryptionCodec(TEST_KEYS.payload)
    plain = Payload(metadata={"encoding": b"json/plain"}, data='{"name": "买买提"}'.encode())
    shufu = codec.encrypt(plain, CaseScope(SHUFU, False))
    jiashi = codec.encrypt(plain, CaseScope(JIASHI, False))
    accusation = codec.encrypt(plain, CaseScope(SHUFU, True))
    unscoped = codec.encrypt(plain)
    batch = [shufu, jiashi, accusation, unscoped]
    for juris, expected in (
        (SHUFU, [True, False, False, False]),
        (JIASHI, [False, True, False, False]),
        (SHUFU[:2], [True, True, False, False]),
        (SHUFU[:1], [True, True, False, True]),
    ):
        status, answer = await scoped.decode(batch, scoped.operator(juris))
        assert status == 200, answer
        assert shown(answer) == expected, juris
    status, answer = await scoped.decode(batch, None)
    assert status == 401 and "access token" in answer["error"]
    status, answer = await scoped.decode(batch, "not-a-jwt")
    assert status == 401 and answer["error"].startswith("token_invalid")
    status, answer = await scoped.decode(batch, scoped.operator(SHUFU, "petitioner_proxy"))
    assert status == 403


async def test_history_payloads_through_the_scoped_server(
    petitions: Harness, scoped: Scoped
) -> None:
    """A real case's history: its county's operator reads all of it, another county's
    none of it; an accusation's, nobody."""
    place = {"region": SHUFU[0], "prefecture": SHUFU[1], "county": SHUFU[2]}
    appeal = await petitions.submit(jurisdiction=place)
    accusation = await petitions.submit(jurisdiction=place, classification="accusation")
    for case, county_sees in ((appeal, True), (accusation, False)):
        payloads = await history_payloads(petitions, case.case_id)
        for juris, sees in ((SHUFU, county_sees), (JIASHI, False)):
            status, answer = await scoped.decode(payloads, scoped.operator(juris))
            assert status == 200, answer
            assert set(shown(answer)) == {sees}, (case.case_id, juris)
    assert OTHER_COUNTY_UNIT.jurisdiction.county == JIASHI[2]
