"""The petitioner's channel (网上信访): submit online, track with the query code and a
one-time code sent to the phone, rate the reply and request review.

- **Submit.** The petitioner chooses the competent office (``api/offices.py``) and
  gets a case id and a query code (查询码), shown once; the store keeps its hash.
- **Track.** The query code asks for a one-time code, sent to the phone given at
  submission through the notification outbox (in development the log sender prints
  it); the two together open a session of a quarter of an hour.
- **Evaluate.** With the session: the satisfaction rating and the review request,
  sent as the petitioner (actor unit 信访人, person 网上信访平台).
- **Nothing is revealed without the code.** Asking for a one-time code answers the
  same whether the query code exists or not; a wrong query code and a wrong one-time
  code get the same refusal. Rate limits per client address and per query code.
- **What the petitioner sees** is an allow-list (:func:`view`): stage, dates, the
  written replies and what they may do next; never the petitioner data, internal
  notes, units' deadlines, other parties' data or an accusation's material.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import FileResponse, RedirectResponse
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import BaseModel, ConfigDict, Field

from petitionflow.activities.notify import Notification, Sender, deliver
from petitionflow.activities.records import stream_id
from petitionflow.client import PetitionClient, PetitionError
from petitionflow.domain.intake import IdNumber, Intake, Petitioner, Phone
from petitionflow.domain.policy import DeadlineKind
from petitionflow.domain.state import CaseState, Stage
from petitionflow.domain.values import (
    PETITIONER_UNIT,
    Actor,
    Channel,
    Classification,
    DeliveredDocument,
    LongText,
    MediumText,
    ShortText,
)
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.access import PetitionerAccess, digest
from petitionflow.eventstore.directory import DirectoryStore
from petitionflow.eventstore.outbox import Outbox
from petitionflow.security.keys import KeyRing
from petitionflow.security.masking import mask_number

from .offices import Offices
from .problems import Problem

STATIC = Path(__file__).parent / "static"
PORTAL = "网上信访平台"  # the channel, as the petitioner's actor names it

# Per client address, and per query code (keyed by its hash).
SUBMIT_PER_IP = parse("20/hour")
CODES_PER_IP = parse("10/minute")
CODES_PER_QUERY_CODE = parse("5/hour")
VERIFY_PER_IP = parse("10/minute")
VERIFY_PER_QUERY_CODE = parse("10/hour")

STAGES = {
    Stage.NEW: "已提交，正在登记",
    Stage.REGISTERED: "已登记，待转送",
    Stage.ROUTED: "已转送有权处理机关",
    Stage.HANDLING: "办理中",
    Stage.CONFERENCE: "联席会议研究中",
    Stage.REPLIED: "已书面答复",
    Stage.REVIEW: "复查中",
    Stage.REVIEW_REPLIED: "已作出复查意见",
    Stage.RE_REVIEW: "复核中",
    Stage.CLOSED: "已办结",
}
CLOSED = {
    "resolved": "已办结",
    "diverted": "已导入其他法定途径（诉访分离）",
    "not_accepted": "不予受理",
    "withdrawn": "已撤回",
    "final": "复核终结，不再受理",
}
OUTCOMES = {"support": "予以支持", "explain": "解释说明", "not_support": "不予支持"}
RATINGS = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}
CLASSIFICATIONS = {
    Classification.APPEAL: "申诉求决",
    Classification.SUGGESTION: "建议意见",
    Classification.ACCUSATION: "检举控告",
}
# What a refusal says to a petitioner (the code stays in the problem for the page).
REFUSALS = {
    "reply_not_delivered": "书面答复尚未送达，送达后才能评价或申请复查",
    "evaluation_window_closed": "评价期限已过",
    "review_window_closed": "申请复查的期限（收到答复之日起30日）已过",
    "concluded_by_satisfied_rating": "您已评价满意，事项已办结",
    "case_closed": "事项已办结",
    "already_rated": "您已评价过",
    "not_awaiting_rating": "尚未书面答复，答复送达后才能评价",
    "not_awaiting_review_request": "尚未书面答复，答复送达后才能申请复查",
}
NOT_VERIFIED = "查询码或验证码不正确，或验证码已过期；请重新获取验证码"


class OnlinePetitioner(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: ShortText
    phone: Phone
    id_number: IdNumber | None = None
    address: MediumText = "（网上信访未填写）"


class OnlinePetition(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    office: str
    township: ShortText | None = None
    classification: Classification
    petitioner: OnlinePetitioner
    request: LongText
    facts: LongText
    reasons: LongText


class QueryCode(BaseModel):
    query_code: str = Field(min_length=1, max_length=64)


class Verify(QueryCode):
    otp: str = Field(min_length=1, max_length=12)


class RatingBody(BaseModel):
    rating: Literal["satisfied", "basically_satisfied", "dissatisfied"]


class ReviewBody(BaseModel):
    reasons: LongText


@dataclass
class PetitionerChannel:
    petitions: PetitionClient
    store: EventStore
    ring: KeyRing  # the payload key ring: encrypts the phone kept for one-time codes
    sender: Sender  # the SMS gateway's stand-in: LogSender (codes logged only in development)

    def __post_init__(self) -> None:
        self.access = PetitionerAccess(self.store.engine)
        self.outbox = Outbox(self.store.engine)
        self.offices = Offices(DirectoryStore(self.store.engine))
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def seal_phone(self, case_id: str, phone: str) -> str:
        key_id, key = self.ring.newest
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(key).encrypt(nonce, phone.encode(), case_id.encode())
        return f"{key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def open_phone(self, case_id: str, sealed: str) -> str:
        key_id, _, data = sealed.partition(":")
        raw = base64.b64decode(data)
        return AESGCM(self.ring.get(key_id)).decrypt(raw[:12], raw[12:], case_id.encode()).decode()

    def limit(self, request: Request, *limits: tuple[RateLimitItem, str]) -> None:
        for item, key in limits:
            if not self.limiter.hit(item, key):
                reset, _ = self.limiter.get_window_stats(item, key)
                wait = max(1, int(reset - datetime.now(UTC).timestamp()))
                raise Problem(
                    429,
                    "rate_limited",
                    f"请求过于频繁，请{wait}秒后再试",
                    retry_after=wait,
                )


def channel(request: Request) -> PetitionerChannel:
    found: PetitionerChannel | None = getattr(request.app.state, "petitioner", None)
    if found is None:
        raise Problem(503, "petitioner_channel_off", "网上信访暂不可用")
    return found


Channel_ = Annotated[PetitionerChannel, Depends(channel)]
router = APIRouter(tags=["petitioner (网上信访)"])


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def normalise(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def new_query_code() -> str:
    """128 random bits in base32, in groups of four: ``ABCD-EFGH-...``."""
    text = base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=")
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


# ---- the page -------------------------------------------------------------------------


@router.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    return RedirectResponse("/petition")


@router.get("/petition", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "petition.html", media_type="text/html; charset=utf-8")


# ---- submit ---------------------------------------------------------------------------


@router.get("/v1/petitioner/offices", summary="The offices a petitioner may submit to")
async def offices(ch: Channel_) -> dict[str, Any]:
    listed = await asyncio.to_thread(ch.offices.all)
    return {
        "offices": [
            {
                "id": o.id,
                "name": o.name,
                "place": " > ".join(o.place.path),
                "townships": list(o.townships),
            }
            for o in listed
        ],
        "classifications": [{"value": k.value, "label": v} for k, v in CLASSIFICATIONS.items()],
    }


@router.post("/v1/petitioner/petitions", status_code=201, summary="Submit a petition online")
async def submit(request: Request, ch: Channel_, body: OnlinePetition) -> dict[str, str]:
    ch.limit(request, (SUBMIT_PER_IP, f"submit:{_ip(request)}"))
    office = await asyncio.to_thread(ch.offices.get, body.office)
    if office is None:
        raise Problem(422, "unknown_office", "请选择列表中的信访工作机构")
    if body.township is not None and body.township not in office.townships:
        raise Problem(422, "unknown_township", f"{office.name}的辖区内没有{body.township}")
    now = datetime.now(UTC)
    intake = Intake(
        channel=Channel.ONLINE,
        petitioner=Petitioner(**body.petitioner.model_dump()),
        request=body.request,
        facts=body.facts,
        reasons=body.reasons,
        classification=body.classification,
        jurisdiction=office.jurisdiction(body.township),
        received_at=now,
    )
    case_id = f"WS-{now:%Y%m%d}-{secrets.token_hex(4).upper()}"
    code = new_query_code()
    # the access first: a case whose code was lost on a crash could never be tracked
    await asyncio.to_thread(
        ch.access.create,
        case_id,
        digest(normalise(code)),
        ch.seal_phone(case_id, body.petitioner.phone),
        now,
    )
    await ch.petitions.submit(
        case_id,
        intake,
        Actor(unit=office.name, person=PORTAL),
        correlation_id=f"portal:{request.state.request_id}",
    )
    await ch.petitions.registered(case_id)  # so that tracking it at once finds it
    return {"case_id": case_id, "query_code": code}


# ---- one-time codes and sessions --------------------------------------------------------


def _limited(
    request: Request,
    ch: PetitionerChannel,
    query_code: str,
    action: str,
    per_ip: RateLimitItem,
    per_code: RateLimitItem,
) -> str:
    """The query code's hash, once this try is within the address's and the code's limits."""
    code_hash = digest(normalise(query_code))
    ch.limit(
        request,
        (per_ip, f"{action}:{_ip(request)}"),
        (per_code, f"{action}:{code_hash}"),
    )
    return code_hash


SENT = {"detail": "如查询码正确，验证码已发送至登记的手机，5分钟内有效"}


@router.post("/v1/petitioner/codes", status_code=202, summary="Send a one-time code")
async def send_code(request: Request, ch: Channel_, body: QueryCode) -> dict[str, str]:
    code_hash = _limited(request, ch, body.query_code, "codes", CODES_PER_IP, CODES_PER_QUERY_CODE)
    found = await asyncio.to_thread(ch.access.find, code_hash)
    if found is None:
        return SENT  # the same answer: nobody learns whether a case exists
    otp = f"{secrets.randbelow(10**6):06d}"
    await asyncio.to_thread(ch.access.put_otp, code_hash, otp, datetime.now(UTC))
    phone = ch.open_phone(found.case_id, found.phone)
    note = Notification(
        id=f"otp-{uuid.uuid4().hex}",
        case_id=found.case_id,
        kind="petitioner_otp",
        recipient=f"信访人 {mask_number(phone)}",
        message=f"【网上信访】您的验证码为 {otp}，5分钟内有效，请勿告诉他人。",
    )
    # outbox first (the record that it was sent), then the sender, as for reminders; the
    # phone itself is only in memory, for a gateway's send
    await asyncio.to_thread(deliver, ch.outbox, ch.sender, note)
    return SENT


@router.post("/v1/petitioner/sessions", summary="Open a session with both codes")
async def open_session(request: Request, ch: Channel_, body: Verify) -> dict[str, Any]:
    code_hash = _limited(
        request, ch, body.query_code, "verify", VERIFY_PER_IP, VERIFY_PER_QUERY_CODE
    )
    now = datetime.now(UTC)
    found = await asyncio.to_thread(ch.access.find, code_hash)
    otp = body.otp.strip()
    if found is None or not await asyncio.to_thread(ch.access.check_otp, code_hash, otp, now):
        raise Problem(401, "not_verified", NOT_VERIFIED)
    token = secrets.token_urlsafe(32)
    await asyncio.to_thread(ch.access.create_session, token, found.case_id, now)
    return {"session": token, "expires_in": 900}


async def session_case(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> str:
    ch = channel(request)
    scheme, _, token = (authorization or "").partition(" ")
    case_id = None
    if scheme.lower() == "bearer" and token.strip():
        case_id = await asyncio.to_thread(ch.access.session, token.strip(), datetime.now(UTC))
    if case_id is None:
        raise Problem(401, "session_expired", "请用查询码和验证码重新查询")
    return case_id


SessionCase = Annotated[str, Depends(session_case)]


# ---- the case, as the petitioner sees it -------------------------------------------------


def view(state: CaseState, events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The allow-list the petitioner sees."""
    replies = []
    for kind, data in events:
        if kind == "DecisionIssued":
            replies.append({"kind": "答复意见", "outcome": data["outcome"], "decision": data["decision"],
                            "legal_basis": data["legal_basis"]})  # fmt: skip
        elif kind == "ReviewDecided":
            replies.append({"kind": "复查意见" if data["level"] == 1 else "复核意见",
                            "outcome": data["outcome"], "decision": data["decision"],
                            "legal_basis": data["legal_basis"]})  # fmt: skip
    for r in replies:
        r["outcome_label"] = OUTCOMES.get(r["outcome"], r["outcome"])
    delivered = state.delivered.get(DeliveredDocument.REPLY)
    open_for_petitioner = state.stage is Stage.REPLIED and delivered is not None
    return {
        "case_id": state.case_id,
        "stage": state.stage.value,
        "stage_label": STAGES[state.stage],
        "status_label": (
            CLOSED.get(state.closed_reason, STAGES[Stage.CLOSED])
            if state.closed_reason
            else STAGES[state.stage]
        ),
        "registered_by": state.registered_by,
        "handling_unit": state.handling_unit.name if state.handling_unit else None,
        "received_on": state.intake.received_at.date().isoformat() if state.intake else None,
        "registered_on": _day(state.registered_on),
        "accepted_on": _day(state.accepted_on),
        "replied_on": _day(state.replied_on),
        "delivered_on": _day(delivered),
        "closed_on": _day(state.closed_on),
        "replies": replies,
        "rating": state.rating.value if state.rating else None,
        "rating_label": RATINGS.get(state.rating.value) if state.rating else None,
        "can_rate": open_for_petitioner and state.rating is None,
        "can_request_review": open_for_petitioner and state.review_level == 0,
        "next_deadline": next_deadline(state),
    }


# The petitioner's own windows, the only deadlines they are shown (a unit's deadlines
# are the office's business): the earliest still open of those they can still use.
WINDOWS = {
    DeadlineKind.EVALUATION: "满意度评价期限",
    DeadlineKind.REVIEW_REQUEST: "申请复查期限",
    DeadlineKind.RE_REVIEW_REQUEST: "申请复核期限",
}


def next_deadline(state: CaseState) -> dict[str, str] | None:
    if state.closed_on is not None:
        return None
    open_ = [
        d
        for kind, d in state.deadlines.items()
        if kind in WINDOWS
        and not d.missed
        and not (kind is DeadlineKind.EVALUATION and state.rating is not None)
    ]
    if not open_:
        return None
    first = min(open_, key=lambda d: d.due)
    return {"kind": first.kind.value, "label": WINDOWS[first.kind], "due_on": first.due.isoformat()}


def _day(d: Any) -> str | None:
    return d.isoformat() if d else None


async def _view(ch: PetitionerChannel, case_id: str) -> dict[str, Any]:
    state = await ch.petitions.state(case_id)
    records = await asyncio.to_thread(ch.store.read_stream, stream_id(case_id))
    return view(state, [(r.type, dict(r.data)) for r in records])


@router.get("/v1/petitioner/case", summary="My case (with a session)")
async def my_case(ch: Channel_, case_id: SessionCase) -> dict[str, Any]:
    try:
        return await _view(ch, case_id)
    except PetitionError as exc:
        if exc.code == "case_not_found":  # the registration is not durable yet
            return {"case_id": case_id, "stage": "new", "stage_label": STAGES[Stage.NEW],
                    "status_label": STAGES[Stage.NEW], "replies": [], "can_rate": False,
                    "can_request_review": False}  # fmt: skip
        raise


async def _act(ch: PetitionerChannel, case_id: str, kind: str, fields: dict[str, Any]) -> Any:
    # a double click sends the same command id: the case answers it as a repeat
    command_id = f"portal:{case_id}:{kind}:{digest(repr(sorted(fields.items())))[:16]}"
    command = {
        **fields,
        "command_id": command_id,
        "actor": {"unit": PETITIONER_UNIT, "person": PORTAL},
        "issued_at": datetime.now(UTC).isoformat(),
    }
    try:
        await ch.petitions.send(case_id, kind, command)
    except PetitionError as exc:
        detail = REFUSALS.get(exc.code, f"暂不能办理（{exc.code}）")
        raise Problem(409, exc.code, detail) from None
    return await _view(ch, case_id)


@router.post("/v1/petitioner/case/rating", summary="Rate the written reply")
async def rate(ch: Channel_, case_id: SessionCase, body: RatingBody) -> Any:
    return await _act(ch, case_id, "record_rating", {"rating": body.rating})


@router.post("/v1/petitioner/case/review", summary="Request review (复查)")
async def review(ch: Channel_, case_id: SessionCase, body: ReviewBody) -> Any:
    state = await ch.petitions.state(case_id)
    handler = state.handling_unit
    if handler is None or handler.jurisdiction.up() is None:
        raise Problem(409, "no_higher_level", "本事项没有可申请复查的上一级机关")
    # the unit above the handling unit in the unit directory (Art 35)
    unit = await asyncio.to_thread(ch.offices.unit_above, handler)
    if unit is None:
        raise Problem(
            409,
            "review_unit_unknown",
            f"单位名录中没有{handler.name}的上一级机关，请向该单位咨询复查机关",
        )
    return await _act(
        ch,
        case_id,
        "request_review",
        {"review_unit": unit.model_dump(mode="json"), "reasons": body.reasons},
    )
