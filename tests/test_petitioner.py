"""The petitioner's channel through real HTTP against the real dev server and worker:
submit online, a query code and a one-time code from the outbox, the case as the
petitioner may see it, rating and review, and what stops a guesser."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, get_args

import structlog.testing

from petitionflow.activities.notify import LogSender, Notification
from petitionflow.activities.records import stream_id
from petitionflow.api.petitioner import CLOSED
from petitionflow.domain import commands as c
from petitionflow.domain.events import CaseClosed
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.access import PetitionerAccess
from petitionflow.eventstore.outbox import Outbox
from petitionflow.eventstore.schema import petitioner_access
from testkit.builders import HANDLER
from tests.apistack import ApiStack
from tests.temporal import Harness
from tests.test_workflow import to_replied

PETITION: dict[str, Any] = {
    "office": "653121-xfj",
    "township": "托克扎克镇",
    "classification": "appeal",
    "petitioner": {
        "name": "买买提·托合提",
        "phone": "13899887766",
        "id_number": "653121198506120032",
    },
    "request": "请求支付拖欠的工资",
    "facts": "本人在某建筑公司务工十个月，公司拒付工资。",
    "reasons": "依据《保障农民工工资支付条例》。",
}
VIEW_KEYS = {
    "case_id", "stage", "stage_label", "status_label", "registered_by", "handling_unit",
    "received_on", "registered_on", "accepted_on", "replied_on", "delivered_on",
    "closed_on", "replies", "rating", "rating_label", "can_rate", "can_request_review",
    "next_deadline",
}  # fmt: skip


async def submitted(api: ApiStack, **changes: Any) -> tuple[str, str]:
    answer = await api.call("POST", "/v1/petitioner/petitions", json={**PETITION, **changes})
    assert answer.status == 201, answer.body
    return answer.body["case_id"], answer.body["query_code"]


async def session(api: ApiStack, case_id: str, code: str) -> str:
    sent = await api.call("POST", "/v1/petitioner/codes", json={"query_code": code})
    assert sent.status == 202, sent.body
    [row] = [
        r for r in Outbox(api.ctx.store.engine).for_case(case_id) if r.kind == "petitioner_otp"
    ][-1:]
    assert "13899887766" not in row.recipient and row.recipient.endswith("138****7766")
    otp = re.search(r"\b(\d{6})\b", row.message)
    assert otp and row.sent_at is not None
    opened = await api.call(
        "POST", "/v1/petitioner/sessions", json={"query_code": code, "otp": otp.group(1)}
    )
    assert opened.status == 200, opened.body
    token: str = opened.body["session"]
    return token


async def test_submit_track_rate(api: ApiStack, petitions: Harness) -> None:
    case_id, code = await submitted(api)
    assert len(re.sub(r"\W", "", code)) == 26  # 128 bits in base32
    with api.ctx.store.engine.connect() as conn:
        stored = [dict(r._mapping) for r in conn.execute(petitioner_access.select())]
    assert code not in str(stored) and "13899887766" not in str(stored)
    petitions.track(case_id)
    state = await petitions.client.state(case_id)
    assert state.registered_by == "疏附县信访局"
    assert state.intake is not None and state.intake.channel.value == "online"
    assert state.intake.jurisdiction.township == "托克扎克镇"

    token = await session(api, case_id, code)
    mine = await api.call("GET", "/v1/petitioner/case", token)
    assert mine.status == 200 and set(mine.body) == VIEW_KEYS
    assert mine.body["stage_label"] == "已登记，待转送" and not mine.body["can_rate"]
    assert mine.body["next_deadline"] is None  # the routing deadline is the office's
    assert "买买提" not in str(mine.body) and "13899887766" not in str(mine.body)

    early = await api.call("POST", "/v1/petitioner/case/rating", token, {"rating": "satisfied"})
    assert (early.status, early.body["code"]) == (409, "not_awaiting_rating")
    case = await to_replied(petitions.cases[-1], delivered=False)
    undelivered = await api.call(
        "POST", "/v1/petitioner/case/rating", token, {"rating": "satisfied"}
    )
    assert (undelivered.status, undelivered.body["code"]) == (409, "reply_not_delivered")
    assert undelivered.body["detail"].startswith("书面答复尚未送达")
    await case.ok(c.RecordDelivery, HANDLER, document="reply", method="online")
    mine = await api.call("GET", "/v1/petitioner/case", token)
    assert mine.body["can_rate"] and mine.body["can_request_review"]
    assert mine.body["replies"][0]["outcome_label"] == "不予支持"
    window = mine.body["next_deadline"]
    assert window is not None and window["kind"] in ("evaluation", "review_request")
    assert window["due_on"] > mine.body["delivered_on"], window
    rated = await api.call("POST", "/v1/petitioner/case/rating", token, {"rating": "dissatisfied"})
    assert rated.status == 200, rated.body
    assert rated.body["rating_label"] == "不满意" and not rated.body["can_rate"]
    again = await api.call("POST", "/v1/petitioner/case/rating", token, {"rating": "dissatisfied"})
    assert again.status == 200  # a double click: the same command, answered as a repeat
    review = await api.call(
        "POST", "/v1/petitioner/case/review", token, {"reasons": "认定事实不清"}
    )
    assert review.status == 200, review.body
    assert review.body["stage"] == "review"
    state = await petitions.client.state(case_id)
    assert (
        state.review_unit is not None and state.review_unit.name == "喀什地区人力资源和社会保障局"
    )
    events = api.ctx.store.read_stream(stream_id(case_id))
    rating = next(r for r in events if r.type == "SatisfactionRated")
    assert rating.metadata["actor"] == {"unit": "信访人", "person": "网上信访平台"}


async def raw(api: ApiStack, path: str, body: Any) -> tuple[int, dict[str, str], bytes]:
    async with api.http.post(api.url + path, json=body) as r:
        data = await r.read()
        rid = r.headers["X-Request-ID"]
        headers = {k: v for k, v in r.headers.items() if k not in ("Date", "X-Request-ID")}
        return r.status, headers, data.replace(rid.encode(), b"<request id>")


async def test_without_the_code_nothing_is_revealed(api: ApiStack) -> None:
    _, code = await submitted(api)
    known = await api.call("POST", "/v1/petitioner/codes", json={"query_code": code})
    unknown = await api.call("POST", "/v1/petitioner/codes", json={"query_code": "AAAA-BBBB"})
    assert (known.status, known.body) == (unknown.status, unknown.body)
    wrong_otp = await api.call(
        "POST", "/v1/petitioner/sessions", json={"query_code": code, "otp": "000000"}
    )
    wrong_code = await api.call(
        "POST", "/v1/petitioner/sessions", json={"query_code": "AAAA-BBBB", "otp": "000000"}
    )
    assert wrong_otp.status == wrong_code.status == 401

    def same(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k != "request_id"}

    assert same(wrong_otp.body) == same(wrong_code.body)
    assert wrong_otp.body["code"] == "not_verified"
    # byte for byte, headers too, but for the request id and the date
    for path, body in (
        ("/v1/petitioner/codes", {"query_code": code}),
        ("/v1/petitioner/sessions", {"query_code": code, "otp": "000000"}),
    ):
        unknown_body = {**body, "query_code": "ZZZZ-" + code[5:]}
        answers = [await raw(api, path, b) for b in (body, unknown_body)]
        assert answers[0] == answers[1], answers
    no_session = await api.call("GET", "/v1/petitioner/case", "made-up")
    assert (no_session.status, no_session.body["code"]) == (401, "session_expired")


async def test_a_guessing_run_is_stopped(api: ApiStack) -> None:
    answers = [
        await api.call(
            "POST",
            "/v1/petitioner/sessions",
            json={"query_code": f"GUESS-{i:04d}", "otp": "123456"},
        )
        for i in range(30)
    ]
    statuses = [a.status for a in answers]
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}, statuses
    limited = answers[-1]
    assert limited.body["code"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1


async def test_an_accusation_shows_no_material(api: ApiStack, petitions: Harness) -> None:
    case_id, code = await submitted(api, classification="accusation")
    petitions.track(case_id)
    token = await session(api, case_id, code)
    mine = await api.call("GET", "/v1/petitioner/case", token)
    assert set(mine.body) == VIEW_KEYS
    for material in ("request", "facts", "reasons"):
        assert PETITION[material] not in str(mine.body), material
    assert PETITION["petitioner"]["name"] not in str(mine.body)


async def test_the_page_is_served(api: ApiStack) -> None:
    async with api.http.get(api.url + "/petition") as r:
        page = await r.text()
    assert r.status == 200 and 'lang="zh-CN"' in page
    offices = await api.call("GET", "/v1/petitioner/offices")
    assert [o["name"] for o in offices.body["offices"]][:3] == [
        "新疆维吾尔自治区信访局",
        "喀什地区信访局",
        "疏附县信访局",
    ]


def test_a_one_time_code_opens_once_under_concurrent_tries(store: EventStore) -> None:
    access = PetitionerAccess(store.engine)
    now = datetime.now(UTC)
    access.create("WS-RACE", "h" * 64, "k:sealed", now)
    tries = 8
    for _ in range(5):
        access.put_otp("h" * 64, "123456", now)
        start = threading.Barrier(tries)

        def attempt(start: threading.Barrier) -> bool:
            start.wait()
            return access.check_otp("h" * 64, "123456", now)

        with ThreadPoolExecutor(tries) as pool:
            opened = list(pool.map(attempt, [start] * tries))
        assert opened.count(True) == 1, opened


def test_the_log_sender_keeps_the_code_out_of_ordinary_logs() -> None:
    note = Notification(
        id="otp-1",
        case_id="WS-1",
        kind="petitioner_otp",
        recipient="信访人 138****7766",
        message="【网上信访】您的验证码为 482913，5分钟内有效，请勿告诉他人。",
    )
    with structlog.testing.capture_logs() as production:
        LogSender().send(note)
    with structlog.testing.capture_logs() as development:
        LogSender(show_codes=True).send(note)
    assert "482913" not in str(production) and "138****7766" in str(production)
    assert "482913" in str(development)
    assert "13899887766" not in str(production + development)


def test_every_closing_reason_reads_in_chinese() -> None:
    reasons = set(get_args(CaseClosed.model_fields["reason"].annotation))
    assert set(CLOSED) == reasons
    assert not any(re.search("[A-Za-z_]", label) for label in CLOSED.values())
