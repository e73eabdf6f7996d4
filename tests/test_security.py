"""Encryption and confidentiality: what Temporal stores, the codec server, key rotation,
and accusation material in the event store and in notifications."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from google.protobuf import json_format
from sqlalchemy import text
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.records import from_record, stream_id
from client import PetitionClient
from domain import commands as c
from eventstore import EventStore
from eventstore.outbox import Outbox
from security.codec import KEY_ID, EncryptionCodec, data_converter
from security.codec_server import CodecServer
from security.keys import KeyConfigError, KeyRing
from security.sealing import SealedError, Sealer
from tests.builders import COUNTY_UNIT, HANDLER, id_with_check
from tests.keys import SEALER, TEST_KEYS
from tests.temporal import Harness, check_case
from workers.main import build_worker

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
    assert (await case.state()).intake.petitioner.name == NAME  # readable with the key


def _post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.fixture
def codec_server() -> Any:
    server = CodecServer(
        EncryptionCodec(TEST_KEYS.payload), "t" * 32, ["http://127.0.0.1:8233"], port=0
    ).start()
    yield server
    server.stop()


def test_codec_server_needs_the_token(codec_server: CodecServer) -> None:
    codec = EncryptionCodec(TEST_KEYS.payload)
    secret = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(NAME).encode())
    body = json_format.MessageToDict(Payloads(payloads=[codec.encrypt(secret)]))
    base = f"http://127.0.0.1:{codec_server.port}"
    assert _post(f"{base}/decode", body)[0] == 401
    assert (
        _post(f"{base}/decode", body, {"Authorization": "Bearer wrong-token-wrong-token"})[0] == 401
    )
    assert _post(f"{base}/wrongtoken/decode", body)[0] == 401
    for url, headers in (
        (f"{base}/decode", {"Authorization": "Bearer " + "t" * 32}),
        (f"{base}/{'t' * 32}/decode", {}),
    ):
        status, decoded = _post(url, body, headers)
        assert status == 200
        (payload,) = json_format.ParseDict(decoded, Payloads()).payloads
        assert json.loads(payload.data) == NAME
    status, encoded = _post(
        f"{base}/encode",
        json_format.MessageToDict(Payloads(payloads=[secret])),
        {"Authorization": "Bearer " + "t" * 32},
    )
    assert status == 200 and NAME.encode() not in json.dumps(encoded).encode()


def test_codec_server_cors_only_for_the_ui_origin(codec_server: CodecServer) -> None:
    def preflight(origin: str) -> tuple[int, str | None]:
        req = urllib.request.Request(
            f"http://127.0.0.1:{codec_server.port}/decode",
            method="OPTIONS",
            headers={"Origin": origin},
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.headers.get("Access-Control-Allow-Origin")
        except urllib.error.HTTPError as err:
            return err.code, err.headers.get("Access-Control-Allow-Origin")

    assert preflight("http://127.0.0.1:8233") == (204, "http://127.0.0.1:8233")
    assert preflight("https://evil.example") == (403, None)


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
    assert from_record(record, SEALER).intake.request == ACCUSATION
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
    from activities.records import to_record
    from tests.builders import CaseDriver, make_intake

    d = CaseDriver()
    d.ok(c.RegisterPetition, case_id="ACC-1", intake=make_intake(classification="accusation"))
    with pytest.raises(SealedError, match="only sealed"):
        to_record(d.events[0])
