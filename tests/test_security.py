"""Encryption and confidentiality: what Temporal stores, the codec server, key rotation,
and accusation material in the event store and in notifications."""

from __future__ import annotations

import base64
import hmac
import io
import json
import logging
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import structlog
from google.protobuf import json_format
from sqlalchemy import text
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from petitionflow.activities.records import from_record, stream_id
from petitionflow.client import PetitionClient
from petitionflow.domain import commands as c
from petitionflow.domain import events as ev
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.outbox import Outbox
from petitionflow.security.codec import KEY_ID, EncryptionCodec, data_converter
from petitionflow.security.codec_server import CodecServer
from petitionflow.security.keys import KeyConfigError, KeyRing
from petitionflow.security.sealing import SealedError, Sealer
from petitionflow.workers import logs
from petitionflow.workers.main import build_worker
from testkit.builders import COUNTY_UNIT, HANDLER, id_with_check
from testkit.keys import SEALER, TEST_KEYS
from tests.temporal import Harness, check_case

NAME, PHONE, ID17 = "热依拉·阿不都", "13577778888", "65312119920101002"
ACCUSATION = "举报某局长收受工程款回扣二十万元"


def petitioner() -> dict[str, Any]:
    return {
        "name": NAME,
        "address": "喀什市人民路1号",
        "phone": PHONE,
        "id_number": id_with_check(ID17),
    }


async def raw_history_text(env_client: Client, workflow_id: str) -> str:
    """The history as any holder of the Temporal database sees it: no codec."""
    raw = await Client.connect(
        env_client.service_client.config.target_host, namespace=env_client.namespace
    )
    history = await raw.get_workflow_handle(workflow_id).fetch_history()
    return history.to_json()


async def test_temporal_history_holds_no_personal_data(petitions: Harness) -> None:
    case = await petitions.submit(petitioner=petitioner())
    await case.ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    await case.ok(c.AcceptPetition, HANDLER)
    history = await raw_history_text(petitions.env.client, case.handle.id)
    for secret in (NAME, PHONE, id_with_check(ID17), "拖欠的2025年度工资"):
        assert secret not in history
        assert json.dumps(secret)[1:-1] not in history  # nor JSON-escaped
    assert "binary/encrypted" in history or "YmluYXJ5L2VuY3J5cHRlZA" in history
    intake = (await case.state()).intake
    assert intake is not None and intake.petitioner.name == NAME  # readable with the key


# ---- the codec server ------------------------------------------------------------------

TOKEN = "t" * 32
UI = "http://127.0.0.1:8233"
CODEC = EncryptionCodec(TEST_KEYS.payload)


def _secret_payloads() -> dict[str, Any]:
    secret = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(NAME).encode())
    return json_format.MessageToDict(Payloads(payloads=[CODEC.encrypt(secret)]))


@pytest.fixture
async def codec_server() -> AsyncIterator[CodecServer]:
    async with CodecServer(CODEC, TOKEN, [UI], port=0, max_body=64 * 1024) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def _post(
    http: aiohttp.ClientSession,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> tuple[int, Any]:
    """POST ``body`` as JSON (default: an encrypted payload), or ``data`` as it is."""
    sent: dict[str, Any] = (
        {"data": data}
        if data is not None
        else {"json": _secret_payloads() if body is None else body}
    )
    async with http.post(url, headers=headers, **sent) as resp:
        return resp.status, await resp.json()


def _decoded(body: Any) -> str:
    (payload,) = json_format.ParseDict(body, Payloads()).payloads
    return str(json.loads(payload.data))


async def test_codec_server_needs_the_token(
    codec_server: CodecServer, http: aiohttp.ClientSession
) -> None:
    base = f"http://127.0.0.1:{codec_server.port}"
    assert await _post(http, f"{base}/decode") == (
        401,
        {"error": "a valid bearer token is required"},
    )
    for wrong in ("Bearer wrong-token-wrong-token", "Bearer " + "t" * 31, "Basic " + TOKEN, TOKEN):
        assert (await _post(http, f"{base}/decode", headers={"Authorization": wrong}))[0] == 401
    for path in ("wrongtoken", "t" * 31, "t" * 33, f"{TOKEN}/extra"):
        assert (await _post(http, f"{base}/{path}/decode"))[0] == 401
    for url, headers in (
        (f"{base}/decode", {"Authorization": f"Bearer {TOKEN}"}),
        (f"{base}/decode", {"Authorization": f"bearer {TOKEN}"}),
        (f"{base}/{TOKEN}/decode", {}),
    ):
        status, decoded = await _post(http, url, headers=headers)
        assert status == 200 and _decoded(decoded) == NAME
    assert (await _post(http, f"{base}/{TOKEN}/transcode"))[0] == 404
    plain = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(NAME).encode())
    status, encoded = await _post(
        http, f"{base}/{TOKEN}/encode", json_format.MessageToDict(Payloads(payloads=[plain]))
    )
    assert status == 200 and NAME.encode() not in json.dumps(encoded).encode()
    assert (
        _decoded(
            json_format.MessageToDict(
                Payloads(
                    payloads=await CODEC.decode(json_format.ParseDict(encoded, Payloads()).payloads)
                )
            )
        )
        == NAME
    )


async def test_codec_server_ignores_the_query_string(
    codec_server: CodecServer, http: aiohttp.ClientSession
) -> None:
    """The Web UI 2.54 calls /<token>/decode?preserveStorageRefs=true."""
    base = f"http://127.0.0.1:{codec_server.port}"
    for url, headers in (
        (f"{base}/{TOKEN}/decode?preserveStorageRefs=true", {}),
        (f"{base}/decode?preserveStorageRefs=true&x=1", {"Authorization": f"Bearer {TOKEN}"}),
    ):
        status, decoded = await _post(http, url, headers=headers)
        assert status == 200 and _decoded(decoded) == NAME


async def test_codec_server_compares_the_path_token_in_constant_time(
    codec_server: CodecServer, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    base = f"http://127.0.0.1:{codec_server.port}"
    assert (await _post(http, f"{base}/{'t' * 31}x/decode"))[0] == 401
    assert (await _post(http, f"{base}/{TOKEN}/decode"))[0] == 200
    assert (await _post(http, f"{base}/decode", headers={"Authorization": "Bearer nope"}))[0] == 401
    assert compared == [
        (b"t" * 31 + b"x", TOKEN.encode()),
        (TOKEN.encode(), TOKEN.encode()),
        (b"nope", TOKEN.encode()),
    ]


async def test_codec_server_health_needs_no_token_and_tells_nothing(
    codec_server: CodecServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"http://127.0.0.1:{codec_server.port}/health") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok"}
    async with http.get(f"http://127.0.0.1:{codec_server.port}/{TOKEN}/decode") as resp:
        assert resp.status == 405 and "error" in await resp.json()


async def test_codec_server_refuses_a_body_over_the_limit(
    codec_server: CodecServer, http: aiohttp.ClientSession
) -> None:
    url = f"http://127.0.0.1:{codec_server.port}/{TOKEN}/decode"
    big = {"payloads": [{"data": "A" * (70 * 1024)}]}
    status, body = await _post(http, url, big)
    assert status == 413 and "65536 bytes" in body["error"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: refused while reading
        yield json.dumps(big).encode()

    async with http.post(url, data=chunks()) as resp:
        assert resp.status == 413 and "65536 bytes" in (await resp.json())["error"]
    status, body = await _post(http, url, data=b"{")
    assert status == 400 and "Payloads" in body["error"]


async def test_codec_server_cors_only_for_the_ui_origin(
    codec_server: CodecServer, http: aiohttp.ClientSession
) -> None:
    base = f"http://127.0.0.1:{codec_server.port}"
    url = f"{base}/{TOKEN}/decode?preserveStorageRefs=true"
    asked = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
    }
    async with http.options(url, headers={"Origin": UI, **asked}) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == UI
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
        assert "POST" in resp.headers["Access-Control-Allow-Methods"]
        allowed = {
            h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")
        }
        assert {"content-type", "x-namespace", "authorization"} <= allowed
    async with http.options(url, headers={"Origin": "https://evil.example", **asked}) as resp:
        assert resp.status == 403 and "Access-Control-Allow-Origin" not in resp.headers
    async with http.post(url, json=_secret_payloads(), headers={"Origin": UI}) as resp:
        assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == UI
    async with http.post(f"{base}/decode", json={}, headers={"Origin": UI}) as resp:
        # an error is readable by the UI too, so it can show why
        assert resp.status == 401 and resp.headers["Access-Control-Allow-Origin"] == UI
    evil = {"Origin": "https://evil.example"}
    async with http.post(url, json=_secret_payloads(), headers=evil) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers


async def test_codec_server_serves_only_its_namespaces(
    codec_server: CodecServer, http: aiohttp.ClientSession
) -> None:
    url = f"http://127.0.0.1:{codec_server.port}/{TOKEN}/decode"
    status, decoded = await _post(http, url, headers={"X-Namespace": "default"})
    assert status == 200 and _decoded(decoded) == NAME
    assert (await _post(http, url))[0] == 200  # the header is optional in the protocol
    status, body = await _post(http, url, headers={"X-Namespace": "payroll"})
    assert status == 403
    assert body == {
        "error": "this codec server holds the keys of namespace(s) default, not 'payroll'"
    }
    # without the token nothing is said about namespaces
    status, body = await _post(
        http, url.replace(TOKEN, "x" * 32), headers={"X-Namespace": "payroll"}
    )
    assert status == 401


async def test_codec_server_logs_requests_without_payloads_or_token(
    codec_server: CodecServer, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _secret_payloads()
    out = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    monkeypatch.setattr(sys, "stderr", out)
    logs.configure("INFO")
    try:
        base = f"http://127.0.0.1:{codec_server.port}"
        ui = {"X-Namespace": "default", "Origin": UI}
        url = f"{base}/{TOKEN}/decode?preserveStorageRefs=true"
        assert (await _post(http, url, body, headers=ui))[0] == 200
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert (await _post(http, f"{base}/decode", body, headers=bearer))[0] == 200
        assert (await _post(http, f"{base}/{'s' * 32}/decode", body))[0] == 401
        assert (await _post(http, f"{base}/{TOKEN}/decode", data=b"{"))[0] == 400
        async with http.get(f"{base}/health"):
            pass
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        structlog.reset_defaults()
    text = out.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if "codec request" in line]
    assert [(x["method"], x["route"], x["status"], x["payloads"]) for x in lines] == [
        ("POST", "/<token>/decode", 200, 1),
        ("POST", "/decode", 200, 1),
        ("POST", "/<token>/decode", 401, None),
        ("POST", "/<token>/decode", 400, None),
        ("GET", "/health", 200, None),
    ]
    assert lines[0]["namespace"] == "default" and lines[0]["logger"] == "petitionflow.codec"
    assert [x["auth"] for x in lines[:3]] == ["path", "header", "path"]
    ciphertext = body["payloads"][0]["data"]
    for leak in (
        TOKEN,
        "s" * 32,
        NAME,
        json.dumps(NAME)[1:-1],
        "preserveStorageRefs",
        ciphertext[:12],
    ):
        assert leak not in text


async def test_key_rotation_keeps_old_cases_readable(
    temporal_env: WorkflowEnvironment, store: EventStore
) -> None:
    task_queue = f"rotation-{uuid.uuid4().hex[:6]}"
    # Phase 1: the only key is test-payload-1.
    before = Harness(temporal_env, store, task_queue)
    async with build_worker(temporal_env.client, store, SEALER, task_queue):
        old = await before.submit(petitioner=petitioner())
        await old.ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    # Phase 2: a new key goes first; workers and clients restart with both.
    new_key = ("test-payload-2", bytes(range(100, 132)))
    config = temporal_env.client.config()
    config["data_converter"] = data_converter(KeyRing((new_key, *TEST_KEYS.payload.keys)))
    rotated = Client(**config)
    after = Harness(temporal_env, store, task_queue)
    after.client = PetitionClient(rotated, task_queue=task_queue, store=store, sealer=SEALER)
    async with build_worker(rotated, store, SEALER, task_queue):
        old.h = after
        state = await after.client.state(old.case_id)
        assert state.intake is not None and state.intake.petitioner.name == NAME
        await old.ok(c.AcceptPetition, HANDLER)  # written with the new key, read with both
        fresh = await after.submit()
        await check_case(after, old.case_id)
        await check_case(after, fresh.case_id)

    async def key_ids(workflow_id: str) -> set[str]:
        history = await rotated.get_workflow_handle(workflow_id).fetch_history()
        return {
            p.metadata[KEY_ID].decode()
            for e in history.events
            if e.HasField("workflow_execution_update_accepted_event_attributes")
            or e.HasField("workflow_execution_started_event_attributes")
            for p in (
                e.workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads
                if e.HasField("workflow_execution_update_accepted_event_attributes")
                else e.workflow_execution_started_event_attributes.input.payloads
            )
        }

    assert await key_ids(old.handle.id) == {"test-payload-1", "test-payload-2"}
    assert await key_ids(fresh.handle.id) == {"test-payload-2"}
    history = await rotated.get_workflow_handle(old.handle.id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    with pytest.raises(KeyConfigError, match="test-payload-1"):
        EncryptionCodec(KeyRing((new_key,))).decrypt(started)  # dropping the old key too soon


async def test_accusation_material_is_sealed_in_the_store(petitions: Harness) -> None:
    case = await petitions.submit(
        classification="accusation",
        petitioner=petitioner(),
        request=ACCUSATION,
        facts="2025年某项目招标中收受回扣",
        reasons="违反廉洁纪律",
    )
    with petitions.store.engine.connect() as conn:
        raw = conn.execute(
            text("SELECT data FROM events WHERE stream_id = :s AND version = 1"),
            {"s": stream_id(case.case_id)},
        ).scalar()
    stored = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
    for secret in (NAME, PHONE, ACCUSATION, "收受回扣", "违反廉洁纪律"):
        assert secret not in stored
    assert "sealed:v1:test-sealing-1:" in stored and '"accusation"' in stored
    (record, *_) = petitions.store.read_stream(stream_id(case.case_id))
    registered = from_record(record, SEALER)
    assert isinstance(registered, ev.PetitionRegistered)
    assert registered.intake.request == ACCUSATION
    with pytest.raises(SealedError, match="sealing key"):
        from_record(record)
    other = Sealer(KeyRing((("another", bytes(32)),)))
    with pytest.raises(SealedError, match="test-sealing-1"):
        from_record(record, other)


async def test_notices_to_the_handling_unit_carry_no_accusation_material(
    petitions: Harness,
) -> None:
    case = await petitions.submit(
        classification="accusation", petitioner=petitioner(), request=ACCUSATION
    )
    await case.ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    await case.ok(c.AcceptPetition, HANDLER)
    await case.advance(70)  # handling overdue: reminder and supervision to the unit
    notices = Outbox(petitions.store.engine).for_case(case.case_id)
    # notification (never acknowledged) and handling deadlines, each reminded and supervised
    assert [n.kind for n in notices] == ["reminder", "supervision", "reminder"] * 2
    for notice in notices:
        for secret in (NAME, PHONE, ACCUSATION, "回扣", "局长"):
            assert secret not in notice.message
        assert notice.recipient in (COUNTY_UNIT.name, "喀什地区信访局")


def test_an_accusation_is_never_stored_unsealed(store: EventStore) -> None:
    from petitionflow.activities.records import to_record
    from testkit.builders import CaseDriver, make_intake

    d = CaseDriver()
    d.ok(c.RegisterPetition, case_id="ACC-1", intake=make_intake(classification="accusation"))
    with pytest.raises(SealedError, match="only sealed"):
        to_record(d.events[0])


@pytest.mark.parametrize(
    "ring",
    [
        # a key pasted without its id: the whole entry is key material
        base64.b64encode(bytes(range(32))).decode(),
        # an id, but the key is not base64
        "k1:" + "Zm9v!!" + base64.b64encode(bytes(range(32))).decode()[6:],
        # written the wrong way round: key first, then the id
        base64.b64encode(bytes(range(32))).decode() + ":k1",
        # the key as the id, and nothing after the colon
        base64.b64encode(bytes(range(32))).decode() + ":",
        # the second entry is the bare key
        "k1:"
        + base64.b64encode(bytes(32)).decode()
        + ","
        + base64.b64encode(bytes(range(32))).decode(),
    ],
)
def test_a_malformed_key_ring_is_refused_without_echoing_key_material(ring: str) -> None:
    with pytest.raises(KeyConfigError) as caught:
        KeyRing.parse(ring)
    message = str(caught.value)
    material = [max(part.split(":"), key=len) for part in ring.split(",")]
    for secret in material:
        for i in range(0, len(secret) - 5):
            assert secret[i : i + 6] not in message, message
    assert "base64" in message or "AES-256 needs 32" in message


def test_a_key_rings_repr_shows_ids_not_keys() -> None:
    key = bytes(range(32))
    ring = KeyRing((("payload-2026-11", key),))
    assert repr(ring) == "KeyRing(ids=[\"'payload-2026-11'\"])"
    assert base64.b64encode(key).decode() not in repr(ring) and str(key) not in repr(ring)
