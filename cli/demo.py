"""Realistic demo cases, driven through decide/evolve and written to the event store.

The clock is simulated: each case starts on its own date and ``advance`` fires the
deadlines that fall due on the way, as the workflow's timers do.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from activities.records import stream_id, to_record
from domain import commands as c
from domain.decide import Accepted, Rejection, decide
from domain.intake import Intake, id_check_character
from domain.policy import DeadlinePolicy
from domain.state import CaseState, evolve
from domain.values import Actor, Jurisdiction, Unit
from eventstore import EventStore

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


class CaseRun:
    """One case: decide, append with the expected version, evolve."""

    def __init__(self, store: EventStore, case_id: str, start: datetime, policy: DeadlinePolicy):
        self.store, self.case_id, self.now, self.policy = store, case_id, start, policy
        self.state = CaseState()
        self.rejections: list[Rejection] = []
        self._n = 0

    def send(self, cls: type[c.CommandBase], actor: Actor = BUREAU, **fields: Any) -> CaseRun:
        self._n += 1
        command = cls(
            command_id=f"{self.case_id}-{self._n}", actor=actor, issued_at=self.now, **fields
        )
        result = decide(self.state, command, self.now, self.policy)
        if isinstance(result, Rejection):
            self.rejections.append(result)
            return self
        assert isinstance(result, Accepted)
        self.store.append(
            stream_id(self.case_id), self.state.version, [to_record(e) for e in result.events]
        )
        for event in result.events:
            self.state = evolve(self.state, event)
        return self

    def advance(self, days: float) -> CaseRun:
        """Move the clock, firing every deadline that falls due on the way."""
        until = self.now + timedelta(days=days)
        while (timers := self.state.timers()) and timers[0].due_at <= until:
            self.now = max(self.now, timers[0].due_at)
            self.send(c.ExpireDeadline, SYSTEM, deadline=timers[0].kind)
        self.now = until
        return self


DECISION = {
    "decision": "经调查核实，作出如下处理意见。",
    "legal_basis": "《信访工作条例》第三十二条",
}


def _handled(r: CaseRun, unit: Unit = LABOUR, person: str = "王建国") -> CaseRun:
    r.advance(2).send(c.TransferPetition, to_unit=unit)
    r.advance(1).send(c.AcknowledgeReceipt, _act(unit, person)).send(
        c.AcceptPetition, _act(unit, person)
    )
    return r


def transfer_satisfied(r: CaseRun) -> None:
    _handled(r).advance(20).send(
        c.IssueDecision, _act(LABOUR, "王建国"), outcome="support", **DECISION
    )
    r.advance(5).send(
        c.ReportImplementation, _act(LABOUR, "王建国"), report="已督促公司支付工资48000元"
    )
    r.advance(2).send(c.RecordRating, PORTAL, rating="satisfied")


def divert_litigation(r: CaseRun) -> None:
    r.advance(3).send(c.DivertPetition, destination="litigation", note="合同纠纷，引导通过诉讼解决")


def not_accepted(r: CaseRun) -> None:
    r.advance(4).send(c.NotAcceptPetition, reason="outside_scope", detail="已进入司法程序")


def mediation_agreed(r: CaseRun) -> None:
    _handled(r, HOUSING, "李娜").advance(7)
    r.send(
        c.StartMediation,
        _act(HOUSING, "李娜"),
        mediator="托克扎克镇人民调解委员会",
        petitioner_consents=True,
        other_party_consents=True,
    )
    r.advance(6).send(
        c.RecordMediation, agreed=True, agreement="开发商于30日内修复房屋漏水并赔偿5000元"
    )
    r.advance(3).send(c.RecordRating, PORTAL, rating="basically_satisfied")


def conference_not_evaluated(r: CaseRun) -> None:
    r.advance(2).send(
        c.EscalateToConference, reason="competence_dispute", note="人社与住建均称不属本部门职责"
    )
    r.advance(5).send(c.RecordConferenceDecision, lead_unit=HOUSING, plan="住建局牵头，人社局配合")
    r.advance(1).send(c.AcceptPetition, _act(HOUSING, "李娜"))
    r.advance(30).send(c.IssueDecision, _act(HOUSING, "李娜"), outcome="explain", **DECISION)
    r.advance(40)  # neither a rating nor a review request comes


def extension_review_window(r: CaseRun) -> None:
    _handled(r).advance(50)
    r.send(
        c.ExtendHandling,
        _act(LABOUR, "王建国"),
        days=30,
        reason="需调取施工合同和考勤记录",
        approved_by="局长 艾尔肯",
    )
    r.advance(30).send(c.IssueDecision, _act(LABOUR, "王建国"), outcome="not_support", **DECISION)
    r.advance(3).send(c.RecordRating, PORTAL, rating="dissatisfied")
    r.advance(40)  # the review window passes unused


def overdue_supervised(r: CaseRun) -> None:
    _handled(r).advance(75)  # the handling deadline passes: overdue, reminded, supervised
    r.send(c.EscalateToConference, reason="overdue_supervision")
    r.advance(2).send(
        c.RecordConferenceDecision,
        lead_unit=LABOUR,
        plan="挂牌督办，限期10日办结",
        supervise=True,
        correction_days=10,
    )
    r.advance(8).send(c.IssueDecision, _act(LABOUR, "王建国"), outcome="support", **DECISION)


def re_review_final(r: CaseRun) -> None:
    _handled(r).advance(25).send(
        c.IssueDecision, _act(LABOUR, "王建国"), outcome="not_support", **DECISION
    )
    r.advance(3).send(c.RecordRating, PORTAL, rating="dissatisfied")
    r.advance(5).send(c.RequestReview, PORTAL, review_unit=KS_LABOUR, reasons="认为事实认定不清")
    r.advance(20).send(c.DecideReview, _act(KS_LABOUR, "刘洋"), outcome="not_support", **DECISION)
    r.advance(1).send(c.ReplyReview, _act(KS_LABOUR, "刘洋"))
    r.advance(10).send(c.RequestReReview, PORTAL, review_unit=XJ_LABOUR, reasons="仍不服复查意见")
    r.advance(12).send(
        c.RecordHearing,
        _act(XJ_LABOUR, "赵敏"),
        held_from=r.policy.local_date(r.now),
        held_to=r.policy.local_date(r.now),
        summary="公开听证，双方陈述意见",
    )
    r.advance(15).send(c.DecideReReview, _act(XJ_LABOUR, "赵敏"), outcome="not_support", **DECISION)
    r.advance(1).send(c.ReplyReReview, _act(XJ_LABOUR, "赵敏"))
    r.advance(3).send(
        c.RequestReview, PORTAL, review_unit=KS_LABOUR, reasons="再次申请"
    )  # 不再受理


def withdrawn(r: CaseRun) -> None:
    _handled(r).advance(10).send(c.WithdrawPetition, PORTAL, reason="已与公司自行和解")


def accusation_diverted(r: CaseRun) -> None:
    r.advance(1).send(c.DivertPetition, destination="discipline_supervision", note="转纪检监察机关")


SCENARIOS: list[tuple[str, Callable[[CaseRun], None], dict[str, Any]]] = [
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


def run_demo(store: EventStore, prefix: str, policy: DeadlinePolicy | None = None) -> list[CaseRun]:
    policy = policy or DeadlinePolicy()
    runs = []
    for n, (_title, scenario, fields) in enumerate(SCENARIOS, start=1):
        start = datetime.combine(
            date(2026, 3, 2) + timedelta(days=7 * n), datetime.min.time(), BEIJING
        ).replace(hour=10)
        run = CaseRun(store, f"{prefix}-{n:02d}", start, policy)
        run.send(c.RegisterPetition, case_id=run.case_id, intake=intake(start, **fields))
        scenario(run)
        runs.append(run)
    return runs
