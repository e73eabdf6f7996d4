"""Realistic demo cases, driven as real workflows through PetitionClient.

Each case's clock is fast-forwarded with Temporal's per-workflow time skipping, so
its deadlines fire for real (a 60-day handling period passes in about a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from temporalio.client import WorkflowHandle

from petitionflow.client import PetitionClient, PetitionError
from petitionflow.client.conference import conference_state, record_meeting
from petitionflow.client.dispute import DisputeClient
from petitionflow.domain import commands as c
from petitionflow.domain import conference as cf
from petitionflow.domain import dispute as dsp
from petitionflow.domain.intake import Intake, id_check_character
from petitionflow.domain.state import CaseState, Stage
from petitionflow.domain.values import Actor, Jurisdiction, Unit

BEIJING = timezone(timedelta(hours=8))
XJ, KS = "新疆维吾尔自治区", "喀什地区"
SHUFU = Jurisdiction(region=XJ, prefecture=KS, county="疏附县")
KASHGAR = Jurisdiction(region=XJ, prefecture=KS)
REGION = Jurisdiction(region=XJ)

LABOUR = Unit(name="疏附县人力资源和社会保障局", jurisdiction=SHUFU)
HOUSING = Unit(name="疏附县住房和城乡建设局", jurisdiction=SHUFU)
KS_LABOUR = Unit(name="喀什地区人力资源和社会保障局", jurisdiction=KASHGAR)
XJ_LABOUR = Unit(name="自治区人力资源和社会保障厅", jurisdiction=REGION)

BUREAU = Actor(unit="喀什地区信访局", person="阿依古丽·艾买提")
PORTAL = Actor(unit="信访人", person="网上信访平台")
SYSTEM = Actor(unit="petitionflow", person="deadline timer")


def _act(unit: Unit, person: str) -> Actor:
    return Actor(unit=unit.name, person=person)


def intake(received: datetime, **fields: Any) -> Intake:
    first17 = fields.pop("id17", "65312119850612003")
    base: dict[str, Any] = {
        "channel": "online",
        "petitioner": {
            "name": "买买提·托合提",
            "address": "喀什地区疏附县托克扎克镇阿亚格曼干村3组",
            "phone": "13899887766",
            "id_number": first17 + id_check_character(first17),
        },
        "request": "请求支付拖欠的工资",
        "facts": "本人在某建筑公司务工十个月，公司以工程款未结清为由拒付工资。",
        "reasons": "依据《保障农民工工资支付条例》，用人单位应按时足额支付工资。",
        "classification": "appeal",
        "jurisdiction": {**SHUFU.model_dump(), "township": "托克扎克镇"},
        "received_at": received.isoformat(),
    }
    return Intake.model_validate(base | fields)


FastForward = Callable[[WorkflowHandle[Any, Any], timedelta], Awaitable[Any]]


@dataclass
class CaseRun:
    """One demo case: commands as updates, time as fast-forwards of its workflow."""

    petitions: PetitionClient
    fast_forward: FastForward
    case_id: str
    handle: WorkflowHandle[Any, Any] | None = None
    rejections: list[PetitionError] = field(default_factory=list)
    intake: Intake | None = None
    repeat: CaseRun | None = None  # a later petition on the same matter, not accepted

    async def send(self, cls: type[c.CommandBase], actor: Actor = BUREAU, **fields: Any) -> CaseRun:
        command = cls(
            command_id=f"demo-{uuid.uuid4().hex[:12]}",
            actor=actor,
            issued_at=datetime.now(UTC),
            **fields,
        )
        try:
            await self.petitions.send(self.case_id, command.kind, command)  # type: ignore[attr-defined]
        except PetitionError as exc:
            self.rejections.append(exc)
        return self

    async def advance(self, days: float) -> CaseRun:
        assert self.handle is not None
        await self.fast_forward(self.handle, timedelta(days=days))
        return self

    async def state(self) -> CaseState:
        return await self.petitions.state(self.case_id)  # works on finished cases too


DECISION = {
    "decision": "经调查核实，作出如下处理意见。",
    "legal_basis": "《信访工作条例》第三十二条",
}


async def _handled(r: CaseRun, unit: Unit = LABOUR, person: str = "王建国") -> CaseRun:
    await r.advance(2)
    await r.send(c.TransferPetition, to_unit=unit)
    await r.advance(1)
    await r.send(c.AcknowledgeReceipt, _act(unit, person))
    await r.send(c.AcceptPetition, _act(unit, person))
    return r


async def transfer_satisfied(r: CaseRun) -> None:
    await (await _handled(r)).advance(20)
    await r.send(c.IssueDecision, _act(LABOUR, "王建国"), outcome="support", **DECISION)
    await r.advance(2)
    await r.send(c.RecordDelivery, _act(LABOUR, "王建国"), document="reply", method="post")
    await r.advance(3)
    await r.send(c.ReportImplementation, _act(LABOUR, "王建国"), report="已督促公司支付工资48000元")
    await r.send(c.RecordRating, PORTAL, rating="satisfied")


async def divert_litigation(r: CaseRun) -> None:
    await r.advance(3)
    await r.send(c.DivertPetition, destination="litigation", note="合同纠纷，引导通过诉讼解决")


async def not_accepted(r: CaseRun) -> None:
    await r.advance(4)
    await r.send(c.NotAcceptPetition, reason="outside_scope", detail="已进入司法程序")


async def mediation_agreed(r: CaseRun) -> None:
    await (await _handled(r, HOUSING, "李娜")).advance(7)
    await r.send(
        c.StartMediation,
        _act(HOUSING, "李娜"),
        mediator="托克扎克镇人民调解委员会",
        petitioner_consents=True,
        other_party_consents=True,
    )
    await r.advance(6)
    await r.send(
        c.RecordMediation,
        _act(HOUSING, "李娜"),
        agreed=True,
        agreement="开发商于30日内修复房屋漏水并赔偿5000元",
    )
    await r.send(c.RecordRating, PORTAL, rating="basically_satisfied")


async def conference_not_evaluated(r: CaseRun) -> None:
    await r.advance(2)
    await r.send(
        c.EscalateToConference, reason="competence_dispute", note="人社与住建均称不属本部门职责"
    )
    await r.advance(5)
    await _conference_decides(r, lead_unit=HOUSING, plan="住建局牵头，人社局配合")
    await r.send(c.AcceptPetition, _act(HOUSING, "李娜"))
    await r.advance(30)
    await r.send(c.IssueDecision, _act(HOUSING, "李娜"), outcome="explain", **DECISION)
    await r.send(c.RecordDelivery, _act(HOUSING, "李娜"), document="reply", method="in_person")
    await r.advance(40)  # neither a rating nor a review request comes: the windows close


async def _conference_decides(r: CaseRun, lead_unit: Unit, plan: str) -> None:
    """The joint conference of the registering office's place decides the case at a
    meeting, whose minutes its secretary records; the decision reaches the case from
    the conference. (Without a unit directory the case names no conference, and the
    registering office, where the secretariat sits, records the decision itself.)"""
    conference = (await r.state()).conference_id
    if conference is None:
        await r.send(c.RecordConferenceDecision, lead_unit=lead_unit, plan=plan)
        return
    code = conference.removeprefix("conference-")
    temporal = r.petitions.client
    for _ in range(200):  # the case joins the agenda from its own loop
        with contextlib.suppress(PetitionError):
            if f"case:{r.case_id}" in (await conference_state(temporal, code)).items:
                break
        await asyncio.sleep(0.05)
    now = datetime.now(UTC)
    await record_meeting(
        temporal,
        code,
        cf.RecordMeeting(
            command_id=f"demo-meeting-{r.case_id}",
            actor=BUREAU,
            issued_at=now,
            held_at=now,
            attendance=(BUREAU.unit, LABOUR.name, HOUSING.name),
            decisions=(
                cf.MeetingDecision(
                    subject="case", subject_id=r.case_id, lead_unit=lead_unit, plan=plan
                ),
            ),
        ),
    )
    for _ in range(200):  # the conference's activity delivers the decision
        if (await r.state()).stage is not Stage.CONFERENCE:
            return
        await asyncio.sleep(0.05)


async def extension_review_window(r: CaseRun) -> None:
    await (await _handled(r)).advance(50)
    await r.send(
        c.ExtendHandling,
        _act(LABOUR, "王建国"),
        days=30,
        reason="需调取施工合同和考勤记录",
        approved_by="局长 艾尔肯",
    )
    await r.send(
        c.ExtendHandling,
        _act(LABOUR, "王建国"),
        days=10,
        reason="再次延期",
        approved_by="局长 艾尔肯",
    )  # refused: one extension only
    await r.advance(30)
    await r.send(c.IssueDecision, _act(LABOUR, "王建国"), outcome="not_support", **DECISION)
    await r.send(c.RecordDelivery, _act(LABOUR, "王建国"), document="reply", method="online")
    await r.send(c.RecordRating, PORTAL, rating="dissatisfied")
    await r.advance(40)  # the review window passes unused
    await r.send(c.RequestReview, PORTAL, review_unit=KS_LABOUR, reasons="逾期申请复查")  # refused


async def overdue_supervised(r: CaseRun) -> None:
    await (await _handled(r)).advance(75)  # the handling deadline passes: overdue, 催办, 督办
    await r.send(c.EscalateToConference, reason="overdue_supervision")
    await r.advance(2)
    await r.send(
        c.RecordConferenceDecision,
        lead_unit=LABOUR,
        plan="挂牌督办，限期10日办结",
        supervise=True,
        correction_days=10,
    )
    await r.advance(8)
    await r.send(c.IssueDecision, _act(LABOUR, "王建国"), outcome="support", **DECISION)


async def re_review_final(r: CaseRun) -> None:
    await (await _handled(r)).advance(25)
    await r.send(c.IssueDecision, _act(LABOUR, "王建国"), outcome="not_support", **DECISION)
    await r.send(c.RecordDelivery, _act(LABOUR, "王建国"), document="reply", method="in_person")
    await r.send(c.RecordRating, PORTAL, rating="dissatisfied")
    await r.advance(5)
    await r.send(c.RequestReview, PORTAL, review_unit=KS_LABOUR, reasons="认为事实认定不清")
    await r.advance(20)
    await r.send(c.DecideReview, _act(KS_LABOUR, "刘洋"), outcome="not_support", **DECISION)
    await r.send(c.ReplyReview, _act(KS_LABOUR, "刘洋"))
    await r.advance(3)
    await r.send(c.RecordDelivery, _act(KS_LABOUR, "刘洋"), document="review_reply", method="post")
    await r.advance(7)
    await r.send(c.RequestReReview, PORTAL, review_unit=XJ_LABOUR, reasons="仍不服复查意见")
    await r.advance(12)
    today = datetime.now(BEIJING).date()
    await r.send(
        c.RecordHearing,
        _act(XJ_LABOUR, "赵敏"),
        held_from=today,
        held_to=today,
        summary="公开听证，双方陈述意见",
    )
    await r.advance(15)
    await r.send(c.DecideReReview, _act(XJ_LABOUR, "赵敏"), outcome="not_support", **DECISION)
    await r.send(c.ReplyReReview, _act(XJ_LABOUR, "赵敏"))
    await r.advance(2)
    await r.send(
        c.RecordDelivery, _act(XJ_LABOUR, "赵敏"), document="re_review_reply", method="post"
    )
    await r.send(c.RequestReview, PORTAL, review_unit=KS_LABOUR, reasons="再次申请")  # 不再受理
    # The petitioner petitions again on the same matter: screening finds the case final
    # after re-review, so the new one is not accepted (不再受理) and both are linked.
    assert r.intake is not None
    repeat = CaseRun(r.petitions, r.fast_forward, f"{r.case_id}-R")
    again = Intake.model_validate(
        {**r.intake.model_dump(), "received_at": datetime.now(UTC), "channel": "visit"}
    )
    repeat.handle = await r.petitions.submit(repeat.case_id, again, BUREAU)
    r.repeat = repeat
    for _ in range(200):  # screened right after registration
        if (await repeat.state()).stage is Stage.CLOSED:
            break
        await asyncio.sleep(0.05)


async def withdrawn(r: CaseRun) -> None:
    await (await _handled(r)).advance(10)
    await r.send(c.WithdrawPetition, PORTAL, reason="已与公司自行和解")


async def accusation_diverted(r: CaseRun) -> None:
    await r.advance(1)
    await r.send(c.DivertPetition, destination="discipline_supervision", note="转纪检监察机关")


Scenario = Callable[[CaseRun], Awaitable[None]]
SCENARIOS: list[tuple[str, Scenario, dict[str, Any]]] = [
    ("转送 → 支持 → 满意", transfer_satisfied, {}),
    ("诉访分离（诉讼）", divert_litigation, {"channel": "letter"}),
    ("不予受理", not_accepted, {"channel": "phone"}),
    (
        "调解成功 → 基本满意",
        mediation_agreed,
        {
            "request": "请求开发商维修房屋漏水",
            "channel": "visit",
            "representatives": [{"name": "阿不都热合曼", "phone": "13999001122"}],
        },
    ),
    ("职责争议 → 联席会议 → 未评价", conference_not_evaluated, {"channel": "leader_mailbox"}),
    ("延期 → 不满意 → 复查期满", extension_review_window, {}),
    ("超期 → 催办 → 挂牌督办", overdue_supervised, {"channel": "fax"}),
    ("复查 → 复核 → 不再受理", re_review_final, {"channel": "leader_reception"}),
    ("撤回", withdrawn, {}),
    (
        "检举控告 → 纪检监察",
        accusation_diverted,
        {"classification": "accusation", "id17": "65312119790304101"},
    ),
]


async def run_demo(
    petitions: PetitionClient,
    fast_forward: FastForward,
    prefix: str,
    progress: Callable[[str], None] = lambda _: None,
) -> list[CaseRun]:
    """Submit the demo cases and drive each down its path, all at once."""

    async def one(n: int, title: str, scenario: Scenario, fields: dict[str, Any]) -> CaseRun:
        run = CaseRun(petitions, fast_forward, f"{prefix}-{n:02d}")
        # each case a petitioner of its own: the same petitioner and request twice would
        # be a repeat petition (only the repeat at the end of 复查 → 复核 is one)
        run.intake = intake(datetime.now(UTC), **{"id17": f"65312119850612{n:03d}", **fields})
        run.handle = await petitions.submit(run.case_id, run.intake, BUREAU)
        await scenario(run)
        progress(f"{run.case_id} done: {title}")
        return run

    return list(
        await asyncio.gather(*(one(n, t, s, f) for n, (t, s, f) in enumerate(SCENARIOS, start=1)))
    )


# ---- village disputes (矛盾纠纷排查化解): one of each outcome --------------------------

TOKZAK = Jurisdiction(region=XJ, prefecture=KS, county="疏附县", township="托克扎克镇")
TOKZAK_CODE = "653121100"  # in the generated unit directory
VILLAGE_PLACE = {
    "jurisdiction": TOKZAK.model_dump(),
    "village": "阿亚格曼干村",
    "village_code": f"{TOKZAK_CODE}001",
}
VILLAGE_OFFICER = Actor(unit="阿亚格曼干村村民委员会", person="信息员 努尔古丽")
VILLAGE_MEDIATOR = Actor(unit="阿亚格曼干村人民调解委员会", person="调解员 艾力")
TOWNSHIP_MEDIATOR = Actor(unit="托克扎克镇人民调解委员会", person="调解员 王芳")
TOWNSHIP_SECRETARY = Actor(unit="疏附县托克扎克镇信访办", person="联席会议秘书")


async def run_dispute_demo(
    disputes: DisputeClient, fast_forward: FastForward, prefix: str
) -> list[tuple[str, str]]:
    """Three village disputes, each to one outcome: resolved after running past its
    mediation limit (overdue), converted into a petition case, escalated to the
    township's joint conference, which decides it at a meeting. Returns (id, title)."""

    def cmd(cls: type[Any], actor: Actor, **fields: Any) -> Any:
        return cls(
            command_id=f"demo-{uuid.uuid4().hex[:12]}",
            actor=actor,
            issued_at=datetime.now(UTC),
            **fields,
        )

    async def report(n: int, category: str, urgency: str, summary: str) -> str:
        dispute_id = f"D-{TOKZAK_CODE}-{prefix.removeprefix('DEMO-')}-{n}"
        parties = [
            {"name": "吐尔逊·艾买提", "phone": f"1391234{n:04d}", "address": "阿亚格曼干村2组"},
            {"name": "阿不都热合曼·玉素甫", "phone": f"1388765{n:04d}"},
        ]
        await disputes.report(
            cmd(
                dsp.ReportDispute,
                VILLAGE_OFFICER,
                dispute_id=dispute_id,
                place=VILLAGE_PLACE,
                parties=parties,
                category=category,
                urgency=urgency,
                summary=summary,
            )
        )
        await disputes.reported(dispute_id)
        return dispute_id

    async def resolved() -> tuple[str, str]:
        did = await report(
            1, "land_contract", "normal", "两户因承包地边界发生争执，一方在对方地里种了果树。"
        )
        await disputes.send(
            did, "start_mediation", cmd(dsp.StartMediation, VILLAGE_MEDIATOR, level="village")
        )
        await fast_forward(disputes.handle(did), timedelta(days=16))  # past 15 days: overdue
        for _ in range(200):
            if (await disputes.state(did)).overdue:
                break
            await asyncio.sleep(0.05)
        await disputes.send(
            did,
            "record_resolution",
            cmd(
                dsp.RecordResolution,
                VILLAGE_MEDIATOR,
                agreement="以现有田埂为界，果树秋后移栽，费用各半。",
            ),
        )
        # the visit on the agreement's day, by the dispute's clock (fast-forwarded above)
        today = (await disputes.state(did)).resolved_on
        await disputes.send(
            did,
            "record_follow_up",
            cmd(
                dsp.RecordFollowUp,
                VILLAGE_OFFICER,
                visited_on=today,
                outcome="回访：果树已移栽，双方无异议。",
            ),
        )
        return did, "超期 → 调解成功 → 回访"

    async def converted() -> tuple[str, str]:
        did = await report(2, "wages", "urgent", "村民在本村合作社务工三个月未领到工资。")
        await disputes.send(
            did, "start_mediation", cmd(dsp.StartMediation, TOWNSHIP_MEDIATOR, level="township")
        )
        await disputes.send(
            did,
            "convert_to_petition",
            cmd(
                dsp.ConvertToPetition,
                TOWNSHIP_MEDIATOR,
                registering_office="疏附县信访局",
                request="请求支付拖欠的工资共计9000元",
                reasons="合作社拒不支付，调解未果。",
            ),
        )
        return did, "调解未果 → 转为信访事项 (petition show " + did + ")"

    async def escalated() -> tuple[str, str]:
        did = await report(3, "compensation", "normal", "修路占用多户承包地，补偿标准有争议。")
        await disputes.send(
            did, "start_mediation", cmd(dsp.StartMediation, TOWNSHIP_MEDIATOR, level="township")
        )
        await disputes.send(
            did,
            "escalate_to_conference",
            cmd(
                dsp.EscalateToConference,
                TOWNSHIP_MEDIATOR,
                reason="mediation_failed",
                note="涉及多户，需住建、自然资源部门共同研究",
            ),
        )
        now = datetime.now(UTC)
        await record_meeting(
            disputes.client,
            TOKZAK_CODE,
            cf.RecordMeeting(
                command_id=f"demo-meeting-{did}",
                actor=TOWNSHIP_SECRETARY,
                issued_at=now,
                held_at=now,
                attendance=(TOWNSHIP_SECRETARY.unit, "疏附县托克扎克镇人民政府", HOUSING.name),
                decisions=(
                    cf.MeetingDecision(
                        subject="dispute",
                        subject_id=did,
                        lead_unit=HOUSING,
                        plan="住建局牵头核定补偿标准，镇政府组织兑付。",
                        supervise=True,
                        correction_days=15,
                    ),
                ),
            ),
        )
        for _ in range(200):  # the conference's activity delivers the decision
            if (await disputes.state(did)).status is dsp.DisputeStatus.CLOSED:
                break
            await asyncio.sleep(0.05)
        return did, "调解未果 → 镇联席会议 → 住建局牵头，挂牌督办"

    return list(await asyncio.gather(resolved(), converted(), escalated()))
