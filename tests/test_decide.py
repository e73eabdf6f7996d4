"""decide/evolve, branch by branch, stage by stage."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from petitionflow.domain import commands as c
from petitionflow.domain import events as ev
from petitionflow.domain.decide import CODES, Accepted, Rejection, decide, rejected_event
from petitionflow.domain.policy import DeadlineKind as K
from petitionflow.domain.policy import DeadlinePolicy
from petitionflow.domain.state import CaseState, Stage, fold
from petitionflow.domain.values import Rating
from testkit.builders import (
    BUREAU,
    COUNTY_UNIT,
    HANDLER,
    OTHER_COUNTY_UNIT,
    PETITIONER,
    PREFECTURE_UNIT,
    REGION_UNIT,
    T0,
    CaseDriver,
    DecisionText,
    make_intake,
)

DECISION: DecisionText = {"decision": "不予支持", "legal_basis": "《信访工作条例》第三十二条"}


def types(result: Accepted | Rejection) -> list[str]:
    assert isinstance(result, Accepted), result
    return [e.type for e in result.events]


# ---- S0 / S1 ----------------------------------------------------------------------


def test_registration_opens_the_routing_deadline() -> None:
    d = CaseDriver().registered()
    assert d.state.stage is Stage.REGISTERED
    routing = d.state.deadlines[K.ROUTING]
    assert (routing.start, routing.due) == (date(2026, 3, 2), date(2026, 3, 17))
    assert d.state.correlation_id == d.events[0].causation_id


def test_nothing_before_registration_and_no_second_registration() -> None:
    d = CaseDriver()
    assert d.rejected(c.AcceptPetition) == "case_not_registered"
    d.registered()
    assert (
        d.rejected(c.RegisterPetition, case_id="X", intake=make_intake())
        == "case_already_registered"
    )


def test_received_in_the_future_is_rejected() -> None:
    d = CaseDriver()
    later = make_intake(received_at=(T0 + timedelta(days=2)).isoformat())
    assert d.rejected(c.RegisterPetition, case_id="X", intake=later) == "received_in_future"


def test_command_timestamps_ahead_of_the_clock_are_rejected() -> None:
    d = CaseDriver().registered()
    cmd = c.AcknowledgeReceipt(command_id="late", actor=HANDLER, issued_at=T0 + timedelta(hours=1))
    result = d.send_command(cmd)
    assert isinstance(result, Rejection) and result.code == "timestamp_in_future"


def test_transfer_opens_notification_and_working_day_objection_window() -> None:
    d = CaseDriver().registered()
    d.at(1).ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    assert d.state.stage is Stage.ROUTED and K.ROUTING not in d.state.deadlines
    assert d.state.deadlines[K.NOTIFICATION].due == date(2026, 3, 18)
    assert d.state.deadlines[K.OBJECTION].due == date(2026, 3, 10)  # 5 working days from Tue


def test_transfer_outside_the_case_jurisdiction_is_rejected() -> None:
    d = CaseDriver().registered()
    assert d.rejected(c.TransferPetition, to_unit=OTHER_COUNTY_UNIT) == "unit_outside_jurisdiction"


def test_assignment_sets_its_own_handling_period() -> None:
    d = CaseDriver().registered()
    d.ok(c.AssignPetition, to_unit=PREFECTURE_UNIT, due_days=20)
    d.at(1).ok(c.AcceptPetition, actor=BUREAU.model_copy(update={"unit": PREFECTURE_UNIT.name}))
    assert d.state.assigned and d.state.deadlines[K.HANDLING].due == date(2026, 3, 23)


@pytest.mark.parametrize(
    ("cls", "fields", "last"),
    [
        (c.DivertPetition, {"destination": "litigation"}, "PetitionDiverted"),
        (
            c.NotAcceptPetition,
            {"reason": "outside_scope", "detail": "属于诉讼事项"},
            "PetitionNotAccepted",
        ),
        (c.WithdrawPetition, {"reason": "已协商解决"}, "PetitionWithdrawn"),
    ],
)
def test_routing_can_end_the_case(
    cls: type[c.CommandBase], fields: dict[str, Any], last: str
) -> None:
    d = CaseDriver().registered()
    assert types(d.send(cls, **fields)) == [last, "CaseClosed"]
    assert d.state.stage is Stage.CLOSED and d.state.deadlines == {}
    assert d.rejected(c.TransferPetition, to_unit=COUNTY_UNIT) == "case_closed"


def test_diverted_case_records_the_destination() -> None:
    d = CaseDriver().registered()
    d.ok(c.DivertPetition, destination="discipline_supervision")
    assert (d.state.diverted_to, d.state.closed_reason) == ("discipline_supervision", "diverted")


def test_only_the_receiving_unit_acknowledges_and_accepts_once() -> None:
    d = CaseDriver().registered()
    d.at(1).ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    assert d.rejected(c.AcceptPetition, BUREAU) == "not_the_receiving_unit"
    d.ok(c.AcknowledgeReceipt, HANDLER)
    assert d.rejected(c.AcknowledgeReceipt, HANDLER) == "already_acknowledged"
    assert K.NOTIFICATION not in d.state.deadlines
    d.ok(c.AcceptPetition, HANDLER)
    assert d.rejected(c.AcceptPetition, HANDLER) == "wrong_stage"
    assert d.state.deadlines[K.HANDLING].due == date(2026, 5, 6)  # 05-01..05 is the May Day holiday


def test_objection_returns_the_case_for_rerouting_within_five_working_days() -> None:
    d = CaseDriver().registered()
    d.at(1).ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    d.at(3).ok(c.ObjectToRouting, HANDLER, reason="不属于本单位职责")
    assert d.state.stage is Stage.REGISTERED and d.state.handling_unit is None
    assert set(d.state.deadlines) == {K.ROUTING}
    d.at(4).ok(c.TransferPetition, to_unit=PREFECTURE_UNIT)
    late = d.at(12).rejected(
        c.ObjectToRouting, BUREAU.model_copy(update={"unit": PREFECTURE_UNIT.name}), reason="迟了"
    )
    assert late == "objection_window_closed"


# ---- S2 -----------------------------------------------------------------------


def test_mediation_needs_consent_and_an_agreement_settles_the_case() -> None:
    d = CaseDriver().in_handling()
    no = d.send(
        c.StartMediation, mediator="调解员", petitioner_consents=True, other_party_consents=False
    )
    assert isinstance(no, Rejection) and no.code == "mediation_requires_consent"
    assert d.rejected(c.RecordMediation, agreed=False) == "no_mediation_in_progress"
    d.ok(c.StartMediation, mediator="调解员", petitioner_consents=True, other_party_consents=True)
    assert (
        d.rejected(
            c.StartMediation, mediator="x", petitioner_consents=True, other_party_consents=True
        )
        == "mediation_in_progress"
    )
    assert (
        d.rejected(c.IssueDecision, HANDLER, outcome="support", **DECISION)
        == "mediation_in_progress"
    )
    d.at(10).ok(c.RecordMediation, agreed=True, agreement="公司于三日内支付工资48000元")
    assert d.state.stage is Stage.REPLIED and set(d.state.deadlines) == {K.EVALUATION}
    assert (
        d.rejected(c.RequestReview, PETITIONER, review_unit=PREFECTURE_UNIT, reasons="x")
        == "no_review_after_agreement"
    )
    assert types(d.at(11).send(c.RecordRating, PETITIONER, rating="dissatisfied")) == [
        "SatisfactionRated",
        "CaseClosed",
    ]


def test_failed_mediation_allows_escalation() -> None:
    d = CaseDriver().in_handling()
    assert (
        d.rejected(c.EscalateToConference, reason="mediation_failed") == "escalation_reason_not_met"
    )
    d.ok(c.StartMediation, mediator="调解员", petitioner_consents=True, other_party_consents=True)
    d.ok(c.RecordMediation, agreed=False)
    d.ok(c.EscalateToConference, reason="mediation_failed")
    at_conference = d.state
    assert at_conference.stage is Stage.CONFERENCE
    assert d.rejected(c.EscalateToConference, reason="major_or_urgent") == "already_at_conference"
    d.at(5).ok(
        c.RecordConferenceDecision,
        lead_unit=PREFECTURE_UNIT,
        plan="由地区牵头",
        supervise=True,
        correction_days=10,
    )
    assert d.state.stage is Stage.HANDLING and d.state.supervised
    assert d.state.handling_unit == PREFECTURE_UNIT and K.SUPERVISION in d.state.deadlines


def test_conference_on_a_competence_dispute_routes_the_case() -> None:
    d = CaseDriver().registered()
    assert (
        d.rejected(c.EscalateToConference, reason="overdue_supervision")
        == "escalation_reason_not_met"
    )
    d.ok(c.EscalateToConference, reason="competence_dispute")
    assert (
        d.rejected(c.RecordConferenceDecision, lead_unit=OTHER_COUNTY_UNIT, plan="x")
        == "unit_outside_jurisdiction"
    )
    d.at(3).ok(c.RecordConferenceDecision, lead_unit=COUNTY_UNIT, plan="由县人社局受理")
    routed = d.state
    assert routed.stage is Stage.ROUTED and set(routed.deadlines) == {K.NOTIFICATION}
    d.ok(c.AcceptPetition, HANDLER)
    assert d.state.stage is Stage.HANDLING


def test_one_extension_of_at_most_thirty_days_before_the_period_ends() -> None:
    d = CaseDriver().in_handling()
    due = d.state.deadlines[K.HANDLING].due
    assert (
        d.rejected(c.ExtendHandling, days=31, reason="复杂", approved_by="局长")
        == "extension_too_long"
    )
    d.at(50).ok(c.ExtendHandling, days=30, reason="需补充调查", approved_by="局长")
    assert d.state.deadlines[K.HANDLING].due >= due + timedelta(days=30)
    assert d.state.extension_days_used == 30
    assert (
        d.rejected(c.ExtendHandling, days=1, reason="再延", approved_by="局长")
        == "extension_already_used"
    )
    late = CaseDriver().in_handling()
    assert late.at(70).rejected(c.ExtendHandling, days=5, reason="x", approved_by="y") == (
        "handling_deadline_passed"
    )


def test_a_missed_handling_deadline_is_overdue_and_supervised() -> None:
    d = CaseDriver().in_handling()
    assert d.at(30).rejected(c.ExpireDeadline, deadline="handling") == "deadline_not_due"
    assert d.rejected(c.ExpireDeadline, deadline="routing") == "no_open_deadline"
    d.at(70).ok(c.ExpireDeadline, deadline="handling")
    assert d.state.overdue and d.state.supervised and d.state.deadlines[K.HANDLING].missed
    assert d.state.timers() == []
    assert d.rejected(c.ExpireDeadline, deadline="handling") == "deadline_already_missed"
    d.ok(c.EscalateToConference, reason="overdue_supervision")
    d.ok(c.RecordConferenceDecision, lead_unit=COUNTY_UNIT, plan="限期办结")
    d.ok(c.IssueDecision, HANDLER, outcome="explain", **DECISION)
    assert not d.state.overdue


def test_policy_can_escalate_overdue_handling_automatically() -> None:
    d = CaseDriver(
        policy=DeadlinePolicy(escalate_overdue_handling_to_conference=True)
    ).in_handling()
    assert types(d.at(70).send(c.ExpireDeadline, deadline="handling")) == [
        "DeadlineMissed",
        "EscalatedToConference",
    ]
    assert d.state.stage is Stage.CONFERENCE


def test_hearings_are_recorded_only_after_they_were_held() -> None:
    d = CaseDriver().in_handling()
    assert (
        d.at(10).rejected(
            c.RecordHearing, held_from=date(2026, 3, 20), held_to=date(2026, 3, 21), summary="听证"
        )
        == "hearing_in_future"
    )
    d.ok(c.RecordHearing, held_from=date(2026, 3, 10), held_to=date(2026, 3, 10), summary="听证会")
    assert d.state.hearings == 1


def test_support_needs_an_implementation_report() -> None:
    d = CaseDriver().in_handling()
    assert d.rejected(c.ReportImplementation, report="x") == "no_implementation_pending"
    d.at(20).ok(c.IssueDecision, HANDLER, outcome="support", **DECISION)
    assert d.state.implementation_pending
    d.at(21).ok(c.RecordDelivery, document="reply", delivered_on=date(2026, 3, 23), method="post")
    d.ok(c.RecordRating, PETITIONER, rating="satisfied")
    assert d.state.stage is Stage.CLOSED
    d.ok(c.ReportImplementation, report="工资已全额支付")  # allowed after closure
    assert not d.state.implementation_pending


# ---- S3: rating ---------------------------------------------------------------


def test_rating_needs_a_reply_and_comes_once() -> None:
    d = CaseDriver().in_handling()
    assert d.rejected(c.RecordRating, PETITIONER, rating="satisfied") == "not_awaiting_rating"
    d.at(20).ok(c.IssueDecision, HANDLER, outcome="explain", **DECISION)
    assert d.rejected(c.RecordRating, PETITIONER, rating="dissatisfied") == "reply_not_delivered"
    d.ok(c.RecordDelivery, document="reply", delivered_on=date(2026, 3, 22), method="in_person")
    d.ok(c.RecordRating, PETITIONER, rating="dissatisfied")
    assert d.rejected(c.RecordRating, PETITIONER, rating="satisfied") == "already_rated"
    assert d.state.stage is Stage.REPLIED  # dissatisfied: the review window stays open


@pytest.mark.parametrize("rating", ["satisfied", "basically_satisfied"])
def test_a_content_petitioner_closes_the_case(rating: str) -> None:
    d = CaseDriver().delivered()
    assert types(d.at(25).send(c.RecordRating, PETITIONER, rating=rating)) == [
        "SatisfactionRated",
        "CaseClosed",
    ]
    assert d.state.closed_reason == "resolved" and d.state.deadlines == {}


def test_unanswered_evaluation_is_recorded_as_not_evaluated() -> None:
    d = CaseDriver().delivered()
    assert d.at(51).rejected(c.RecordRating, PETITIONER, rating="satisfied") == (
        "evaluation_window_closed"
    )
    d.ok(c.ExpireDeadline, deadline="evaluation")
    assert d.state.rating is Rating.NOT_EVALUATED and d.state.stage is Stage.REPLIED
    assert types(d.send(c.ExpireDeadline, deadline="review_request")) == [
        "WindowClosed",
        "CaseClosed",
    ]


# ---- S4 / S5 ------------------------------------------------------------------


def test_review_window_message_names_the_reply_date() -> None:
    d = CaseDriver().delivered()
    result = d.at(60).send(c.RequestReview, PETITIONER, review_unit=PREFECTURE_UNIT, reasons="不服")
    assert isinstance(result, Rejection)
    assert str(result).startswith("review_window_closed: the review request window has passed")
    assert "reply received 2026-03-22" in result.message


def test_review_goes_one_level_up() -> None:
    d = CaseDriver().delivered()
    assert (
        d.at(25).rejected(c.RequestReview, PETITIONER, review_unit=REGION_UNIT, reasons="x")
        == "review_unit_wrong_level"
    )
    d.ok(c.RequestReview, PETITIONER, review_unit=PREFECTURE_UNIT, reasons="不服处理意见")
    assert d.state.stage is Stage.REVIEW and d.state.review_level == 1
    assert d.state.deadlines[K.REVIEW_DECISION].due == date(2026, 4, 27)  # 04-26 is a Sunday


def test_full_appeal_path_to_finality() -> None:
    d = CaseDriver().delivered()
    d.at(25).ok(c.RequestReview, PETITIONER, review_unit=PREFECTURE_UNIT, reasons="不服")
    assert d.rejected(c.ReplyReview) == "review_not_decided"
    d.at(30).ok(c.DecideReview, outcome="not_support", **DECISION)
    assert d.rejected(c.DecideReview, outcome="support", **DECISION) == "review_already_decided"
    d.ok(c.ReplyReview)
    assert d.state.stage is Stage.REVIEW_REPLIED
    assert (
        d.rejected(c.RequestReReview, PETITIONER, review_unit=REGION_UNIT, reasons="x")
        == "reply_not_delivered"
    )
    delivered_on = date(2026, 4, 2)
    d.at(31).ok(c.RecordDelivery, document="review_reply", delivered_on=delivered_on, method="post")
    assert d.state.deadlines[K.RE_REVIEW_REQUEST].start == delivered_on
    assert (
        d.at(40).rejected(c.RequestReReview, PETITIONER, review_unit=PREFECTURE_UNIT, reasons="x")
        == "review_unit_wrong_level"
    )
    d.ok(c.RequestReReview, PETITIONER, review_unit=REGION_UNIT, reasons="仍不服")
    decision_due = d.state.deadlines[K.RE_REVIEW_DECISION].due
    d.at(45).ok(
        c.RecordHearing, held_from=date(2026, 4, 14), held_to=date(2026, 4, 16), summary="听证"
    )
    assert d.state.deadlines[K.RE_REVIEW_DECISION].due >= decision_due + timedelta(days=3)
    d.ok(c.DecideReReview, outcome="not_support", **DECISION)
    assert types(d.ok(c.ReplyReReview)) == ["ReviewReplied"]
    assert not d.state.final and K.DELIVERY in d.state.deadlines
    assert (
        d.rejected(c.RequestReReview, PETITIONER, review_unit=REGION_UNIT, reasons="x")
        == "final_no_further_review"
    )
    delivered = d.ok(
        c.RecordDelivery, document="re_review_reply", delivered_on=d.now.date(), method="online"
    )
    assert types(delivered) == ["DeliveryRecorded", "CaseClosed"]
    assert d.state.final and d.state.closed_reason == "final"
    assert (
        d.rejected(c.RequestReReview, PETITIONER, review_unit=REGION_UNIT, reasons="x")
        == "final_no_further_review"
    )
    assert d.rejected(c.WithdrawPetition) == "case_closed"


def test_no_level_above_the_region() -> None:
    d = CaseDriver().registered()
    d.at(1).ok(c.TransferPetition, to_unit=REGION_UNIT)
    actor = BUREAU.model_copy(update={"unit": REGION_UNIT.name})
    d.ok(c.AcceptPetition, actor)
    d.at(20).ok(c.IssueDecision, actor, outcome="not_support", **DECISION)
    d.ok(c.RecordDelivery, actor, document="reply", delivered_on=d.now.date(), method="post")
    assert d.rejected(c.RequestReview, PETITIONER, review_unit=REGION_UNIT, reasons="x") == (
        "no_higher_level"
    )


def test_unused_re_review_window_closes_the_case() -> None:
    d = CaseDriver().delivered()
    d.at(25).ok(c.RequestReview, PETITIONER, review_unit=PREFECTURE_UNIT, reasons="不服")
    d.ok(c.DecideReview, outcome="explain", **DECISION)
    d.ok(c.ReplyReview)
    d.ok(c.RecordDelivery, document="review_reply", delivered_on=d.now.date(), method="post")
    d.at(70).ok(c.ExpireDeadline, deadline="re_review_request")
    assert d.state.stage is Stage.CLOSED and not d.state.final


# ---- cross-cutting ------------------------------------------------------------


def test_a_repeated_command_id_returns_the_first_events_and_nothing_new() -> None:
    d = CaseDriver().registered()
    cmd = d.at(1).build(c.TransferPetition, to_unit=COUNTY_UNIT)
    first = d.send_command(cmd)
    again = decide(d.state, cmd, d.now + timedelta(days=1), d.policy)
    assert isinstance(first, Accepted) and isinstance(again, Accepted)
    assert again.duplicate and again.events == first.events
    assert d.state.version == 2


def test_deciding_twice_gives_identical_event_ids() -> None:
    d = CaseDriver().registered()
    cmd = d.build(c.TransferPetition, to_unit=COUNTY_UNIT)
    a, b = (decide(d.state, cmd, d.now, d.policy) for _ in range(2))
    assert isinstance(a, Accepted) and a == b


def test_every_event_names_the_actor_and_its_causes() -> None:
    d = CaseDriver().replied()
    for e in d.events:
        assert e.actor.unit and e.actor.person and e.causation_id
        assert e.correlation_id == d.state.correlation_id


def test_rejected_signals_become_command_rejected_events() -> None:
    d = CaseDriver().registered()
    cmd = d.build(c.AcceptPetition, HANDLER)
    rejection = decide(d.state, cmd, d.now, d.policy)
    assert isinstance(rejection, Rejection)
    event = rejected_event(d.state, cmd, rejection, d.now, d.policy)
    state = fold([event], d.state)
    assert state.stage is Stage.REGISTERED and state.version == 2
    again = decide(state, cmd, d.now, d.policy)
    assert isinstance(again, Accepted) and again.duplicate and again.events == (event,)
    with pytest.raises(ValueError):
        rejected_event(CaseState(), cmd, rejection, d.now, d.policy)


def test_fold_equals_the_state_built_step_by_step() -> None:
    d = CaseDriver().replied()
    assert fold(d.events) == d.state


def test_every_rejection_code_has_a_message() -> None:
    assert all(msg and code == code.lower() for code, msg in CODES.items())
    assert isinstance(ev.EVENT_TYPES, dict) and len(ev.EVENT_TYPES) == 31
