"""Who may issue each command, and the windows that count from delivery (送达).

README: "Who may issue each command" and "Delivery (送达) and the petitioner's windows".
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from petitionflow.domain import commands as c
from petitionflow.domain.decide import Rejection, decide
from petitionflow.domain.policy import DeadlineKind as K
from petitionflow.domain.policy import DeadlinePolicy
from petitionflow.domain.rules import LEGACY
from petitionflow.domain.state import Stage
from petitionflow.domain.values import Actor
from testkit.builders import (
    BUREAU,
    COUNTY_UNIT,
    HANDLER,
    OTHER_COUNTY_UNIT,
    PETITIONER,
    PREFECTURE_UNIT,
    REGION_UNIT,
    CaseDriver,
)

DECISION: dict[str, Any] = {
    "decision": "经调查，作出如下处理意见。",
    "legal_basis": "《信访工作条例》第三十二条",
}
PREFECTURE = Actor(unit=PREFECTURE_UNIT.name, person="刘洋")
REGION = Actor(unit=REGION_UNIT.name, person="赵敏")
OTHER_UNIT = Actor(unit=OTHER_COUNTY_UNIT.name, person="李娜")
KASHGAR_BUREAU = BUREAU  # 喀什地区信访局, the registering office in the builders


def in_review(level: int = 1) -> CaseDriver:
    d = CaseDriver().delivered()
    d.at(25).ok(c.RequestReview, review_unit=PREFECTURE_UNIT, reasons="不服")
    if level == 2:
        d.at(30).ok(c.DecideReview, outcome="not_support", **DECISION)
        d.ok(c.ReplyReview)
        d.ok(c.RecordDelivery, document="review_reply", method="post")
        d.at(35).ok(c.RequestReReview, review_unit=REGION_UNIT, reasons="仍不服")
    return d


# ---- who may issue each command -------------------------------------------------

WRONG: list[tuple[str, type[c.CommandBase], Actor, dict[str, Any], str | None]] = [
    # (case setup, command, wrong actor, fields, code)
    (
        "registered",
        c.TransferPetition,
        HANDLER,
        {"to_unit": COUNTY_UNIT},
        "not_the_registering_office",
    ),
    (
        "registered",
        c.AssignPetition,
        PETITIONER,
        {"to_unit": COUNTY_UNIT, "due_days": 20},
        "not_the_registering_office",
    ),
    (
        "registered",
        c.DivertPetition,
        HANDLER,
        {"destination": "litigation"},
        "not_the_registering_office",
    ),
    (
        "registered",
        c.NotAcceptPetition,
        OTHER_UNIT,
        {"reason": "other", "detail": "说明"},
        "not_the_registering_office",
    ),
    ("registered", c.EscalateToConference, HANDLER, {"reason": "major_or_urgent"}, None),
    ("in_handling", c.IssueDecision, KASHGAR_BUREAU, {"outcome": "support", **DECISION}, None),
    (
        "in_handling",
        c.ExtendHandling,
        OTHER_UNIT,
        {"days": 10, "reason": "r", "approved_by": "a"},
        "not_the_handling_unit",
    ),
    (
        "in_handling",
        c.StartMediation,
        PREFECTURE,
        {"mediator": "m", "petitioner_consents": True, "other_party_consents": True},
        "not_the_handling_unit",
    ),
    (
        "in_handling",
        c.EscalateToConference,
        OTHER_UNIT,
        {"reason": "major_or_urgent"},
        "not_allowed_to_escalate",
    ),
    ("in_handling", c.WithdrawPetition, HANDLER, {}, "petitioner_only"),
    (
        "replied",
        c.RecordDelivery,
        KASHGAR_BUREAU,
        {"document": "reply", "method": "post"},
        "not_the_handling_unit",
    ),
    ("delivered", c.RecordRating, HANDLER, {"rating": "satisfied"}, "petitioner_only"),
    (
        "delivered",
        c.RequestReview,
        KASHGAR_BUREAU,
        {"review_unit": PREFECTURE_UNIT, "reasons": "不服"},
        "petitioner_only",
    ),
    ("review", c.DecideReview, HANDLER, {"outcome": "support", **DECISION}, "not_the_review_unit"),
    ("review", c.DecideReview, REGION, {"outcome": "support", **DECISION}, "not_the_review_unit"),
    ("re_review", c.DecideReReview, PREFECTURE, {"outcome": "explain", **DECISION}, None),
    (
        "re_review",
        c.RecordHearing,
        HANDLER,
        {"held_from": date(2026, 4, 5), "held_to": date(2026, 4, 5), "summary": "听证"},
        "not_the_review_unit",
    ),
]


def _case(setup: str) -> CaseDriver:
    if setup == "review":
        return in_review(1)
    if setup == "re_review":
        return in_review(2)
    return getattr(CaseDriver(), setup)()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("setup", "cls", "actor", "fields", "code"),
    WRONG,
    ids=[f"{cls.__name__}-{actor.unit}" for _, cls, actor, _, _ in WRONG],
)
def test_a_command_from_the_wrong_actor_is_refused(
    setup: str, cls: type[c.CommandBase], actor: Actor, fields: dict[str, Any], code: str | None
) -> None:
    d = _case(setup)
    expected = (
        code
        or {
            c.EscalateToConference: "not_allowed_to_escalate",
            c.IssueDecision: "not_the_handling_unit",
            c.DecideReReview: "not_the_review_unit",
        }[cls]
    )
    assert d.rejected(cls, actor, **fields) == expected
    d.ok(cls, **fields)  # the same command from the actor the rules expect is taken


def test_a_decision_from_the_prefecture_bureau_is_refused_on_a_county_case() -> None:
    """The case the issue found: 喀什地区信访局 decided a case 疏附县人社局 handles."""
    d = CaseDriver().in_handling()
    result = d.at(20).send(c.IssueDecision, KASHGAR_BUREAU, outcome="support", **DECISION)
    assert isinstance(result, Rejection) and result.code == "not_the_handling_unit"
    assert "疏附县人力资源和社会保障局" in result.message and "喀什地区信访局" in result.message
    assert d.state.stage is Stage.HANDLING
    d.ok(c.IssueDecision, HANDLER, outcome="support", **DECISION)


def test_after_a_conference_the_lead_unit_decides() -> None:
    d = CaseDriver().in_handling()
    d.at(5).ok(c.EscalateToConference, HANDLER, reason="major_or_urgent")
    housing = OTHER_COUNTY_UNIT.model_copy(
        update={"name": "疏附县住房和城乡建设局", "jurisdiction": COUNTY_UNIT.jurisdiction}
    )
    assert (
        d.rejected(c.RecordConferenceDecision, HANDLER, lead_unit=housing, plan="住建局牵头")
        == "not_the_conference_office"
    )
    d.ok(c.RecordConferenceDecision, BUREAU, lead_unit=housing, plan="住建局牵头")
    assert d.rejected(c.IssueDecision, HANDLER, outcome="explain", **DECISION) == (
        "not_the_handling_unit"
    )
    d.ok(c.IssueDecision, Actor(unit=housing.name, person="李娜"), outcome="explain", **DECISION)


def test_cases_running_before_the_rules_keep_deciding_without_them() -> None:
    d = CaseDriver().in_handling()
    cmd = d.at(20).build(c.IssueDecision, KASHGAR_BUREAU, outcome="support", **DECISION)
    assert isinstance(decide(d.state, cmd, d.now, d.policy), Rejection)
    legacy = decide(d.state, cmd, d.now, d.policy, LEGACY)
    assert not isinstance(legacy, Rejection)
    # and under the legacy rules the windows open at the decision, as they did
    assert {dl.kind for dl in legacy.events[0].deadlines_opened} == {
        K.EVALUATION,
        K.REVIEW_REQUEST,
    }


# ---- delivery -------------------------------------------------------------------


def test_the_windows_count_from_delivery_not_from_the_decision() -> None:
    d = CaseDriver().replied()  # issued on day 20, 2026-03-22
    assert d.state.delivery_pending is not None and K.REVIEW_REQUEST not in d.state.deadlines
    delivery = d.state.deadlines[K.DELIVERY]
    assert delivery.due == date(2026, 3, 30)  # 7 days, 03-29 a Sunday: the next working day
    received = date(2026, 3, 27)
    d.at(26).ok(c.RecordDelivery, document="reply", method="post", delivered_on=received)
    review = d.state.deadlines[K.REVIEW_REQUEST]
    assert review.start == received and review.due == date(2026, 4, 27)  # 04-26 is a Sunday
    assert d.state.deadlines[K.EVALUATION].start == received
    assert K.DELIVERY not in d.state.deadlines
    # issued 03-22 + 30 = 04-21 would have closed the window; received 03-27, it is open
    d.at(50).ok(c.RequestReview, review_unit=PREFECTURE_UNIT, reasons="不服")


def test_delivery_dates_must_be_plausible() -> None:
    d = CaseDriver().replied()
    for day in (date(2026, 3, 21), d.now.date() + timedelta(days=1)):
        assert d.rejected(c.RecordDelivery, document="reply", method="post", delivered_on=day) == (
            "delivery_date_invalid"
        )
    assert d.rejected(c.RecordDelivery, document="review_reply", method="post") == (
        "no_delivery_pending"
    )
    d.ok(c.RecordDelivery, document="reply", method="announcement")
    assert d.rejected(c.RecordDelivery, document="reply", method="post") == "no_delivery_pending"


def test_a_reply_never_delivered_is_overdue_and_nothing_lapses_for_the_petitioner() -> None:
    d = CaseDriver().replied()
    d.at(40).ok(c.ExpireDeadline, deadline="delivery")
    assert d.state.overdue and d.state.supervised and d.state.stage is Stage.REPLIED
    assert not d.state.timers()  # no window runs against the petitioner
    assert d.rejected(c.RecordRating, rating="dissatisfied") == "reply_not_delivered"
    assert (
        d.rejected(c.RequestReview, review_unit=PREFECTURE_UNIT, reasons="不服")
        == "reply_not_delivered"
    )
    d.ok(c.RecordDelivery, document="reply", method="in_person")  # late, and recorded
    assert not d.state.overdue and d.state.deadlines[K.REVIEW_REQUEST].start == d.now.date()
    d.ok(c.RequestReview, review_unit=PREFECTURE_UNIT, reasons="不服")


def test_review_replies_are_delivered_by_the_review_unit_and_finality_comes_with_delivery() -> None:
    d = in_review(2)
    d.at(40).ok(c.DecideReReview, outcome="not_support", **DECISION)
    d.ok(c.ReplyReReview)
    assert d.state.stage is not Stage.CLOSED and d.state.deadlines[K.DELIVERY]
    assert d.rejected(c.RecordDelivery, PREFECTURE, document="re_review_reply", method="post") == (
        "not_the_review_unit"
    )
    d.ok(c.RecordDelivery, REGION, document="re_review_reply", method="post")
    assert d.state.final and d.state.closed_reason == "final"
    assert d.rejected(c.RequestReview, review_unit=PREFECTURE_UNIT, reasons="再次") == (
        "final_no_further_review"
    )


# ---- a satisfied rating ---------------------------------------------------------


def test_a_review_after_a_satisfied_rating_is_refused_with_the_truth() -> None:
    d = CaseDriver().delivered()
    d.at(21).ok(c.RecordRating, rating="satisfied")
    assert d.state.stage is Stage.CLOSED
    result = d.send(c.RequestReview, review_unit=PREFECTURE_UNIT, reasons="又不服了")
    assert isinstance(result, Rejection) and result.code == "concluded_by_satisfied_rating"
    assert "has passed" not in result.message and "rated satisfied" in result.message


def test_a_province_may_keep_the_review_window_open_after_a_satisfied_rating() -> None:
    d = CaseDriver(policy=DeadlinePolicy(close_on_satisfied_rating=False)).delivered()
    d.at(21).ok(c.RecordRating, rating="basically_satisfied")
    assert d.state.stage is Stage.REPLIED and K.REVIEW_REQUEST in d.state.deadlines
    d.at(30).ok(c.RequestReview, review_unit=PREFECTURE_UNIT, reasons="复查")
    assert d.state.review_level == 1
    quiet = CaseDriver(policy=DeadlinePolicy(close_on_satisfied_rating=False)).delivered()
    quiet.at(21).ok(c.RecordRating, rating="satisfied")
    quiet.at(60).ok(c.ExpireDeadline, deadline="review_request")
    assert quiet.state.closed_reason == "resolved"


def test_a_delivery_recorded_late_never_lets_a_window_lapse_unused() -> None:
    """The petitioner received the reply the day it was issued, but the unit recorded it
    55 days later: refused meanwhile (reply_not_delivered), the petitioner still gets the
    full windows, counted from the day delivery was recorded."""
    d = CaseDriver().replied()  # issued 2026-03-22
    assert d.at(30).rejected(c.RequestReview, review_unit=PREFECTURE_UNIT, reasons="不服") == (
        "reply_not_delivered"
    )
    d.at(75).ok(c.RecordDelivery, document="reply", method="post", delivered_on=date(2026, 3, 22))
    assert d.events[-1].delivered_on == date(2026, 3, 22)  # the day of receipt is kept
    assert d.state.deadlines[K.REVIEW_REQUEST].start == d.now.date()
    assert d.state.stage is Stage.REPLIED and d.state.timers()[0].due_at > d.now
    d.at(90).ok(c.RequestReview, review_unit=PREFECTURE_UNIT, reasons="不服")
    # within the delivery period, the windows count from the day of receipt itself
    on_time = CaseDriver().replied()
    on_time.at(24).ok(
        c.RecordDelivery, document="reply", method="post", delivered_on=date(2026, 3, 22)
    )
    assert on_time.state.deadlines[K.REVIEW_REQUEST].start == date(2026, 3, 22)


def test_only_the_engine_sends_its_own_commands() -> None:
    d = CaseDriver().in_handling()
    assert d.at(70).rejected(c.ExpireDeadline, HANDLER, deadline="handling") == "engine_only"
    forged = c.RecordLink
    assert (
        d.rejected(forged, BUREAU, other_case_id="KS-2026-0999", reason="duplicate_in_progress")
        == "engine_only"
    )
    d.ok(c.ExpireDeadline, deadline="handling")  # from the engine
