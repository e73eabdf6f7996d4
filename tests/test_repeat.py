"""Repeat petitions in the domain: key normalisation, the matter fingerprint, and what
decide does with what screening found (Art 19(3), 不再受理)."""

from __future__ import annotations

from typing import Any

import pytest

from petitionflow.domain import commands as c
from petitionflow.domain import repeat
from petitionflow.domain.decide import EXTERNAL_COMMANDS, parse
from petitionflow.domain.values import Actor, Candidate, CandidateStatus, Certainty
from testkit.builders import BUREAU, HANDLER, CaseDriver, id_with_check, make_intake

OTHER_OFFICE = Actor(unit="疏附县信访局", person="李娜")


def cand(case_id: str = "KS-1", status: str = "open", certainty: str = "certain") -> Candidate:
    return Candidate(
        case_id=case_id,
        score=0.9,
        status=CandidateStatus(status),
        certainty=Certainty(certainty),
    )


# ---- the petitioner key --------------------------------------------------------------


def test_id_number_key_ignores_case_and_spaces() -> None:
    assert repeat.normalise_id_number(" 65312119850612003x ") == "65312119850612003X"
    assert repeat.normalise_id_number("６５３１２１") == "653121"  # full-width digits


def test_phone_and_name_normalise() -> None:
    assert repeat.normalise_phone("+86 138-9988-7766") == "13899887766"
    assert repeat.normalise_phone("0086 13899887766") == "13899887766"
    assert repeat.normalise_phone("0998-2812345") == "09982812345"
    assert (
        repeat.normalise_name("买买提·托合提")
        == repeat.normalise_name("买买提 托合提")
        == repeat.normalise_name("买买提•托合提")
        == "买买提托合提"
    )
    assert repeat.normalise_name("Ma Li") == repeat.normalise_name("MALI")


def test_keys_by_id_number_and_always_by_phone_and_name() -> None:
    with_id = make_intake()
    assert set(repeat.petitioner_keys(with_id)) == {"id", "phone_name_id"}
    # with an ID: by ID, and by phone and name only among cases without one
    assert [kinds for _, kinds in repeat.lookups(with_id)] == [("id",), ("phone_name",)]
    petitioner = {**with_id.petitioner.model_dump(), "id_number": None}
    without = make_intake(petitioner=petitioner)
    assert set(repeat.petitioner_keys(without)) == {"phone_name"}
    assert repeat.lookups(without) == [
        (repeat.petitioner_keys(with_id)["phone_name_id"], ("phone_name", "phone_name_id"))
    ]
    assert repeat.same_petitioner(without, with_id)


def test_two_id_numbers_are_two_people_even_with_one_phone_and_name() -> None:
    a = make_intake()
    other_id = {**a.petitioner.model_dump(), "id_number": id_with_check("65312119900101001")}
    b = make_intake(petitioner=other_id)
    assert not repeat.same_petitioner(a, b)


# ---- the matter fingerprint ----------------------------------------------------------


def test_identical_request_in_the_same_place_is_certain() -> None:
    a = make_intake()
    score, certainty = repeat.matter_score(a, make_intake())
    assert (score, certainty) == (1.0, Certainty.CERTAIN)


def test_punctuation_and_spaces_do_not_count() -> None:
    a = make_intake(request="请求支付拖欠的2025年度工资共计48000元")
    b = make_intake(request="请求支付拖欠的 2025 年度工资，共计48000元。")
    assert repeat.matter_score(a, b) == (1.0, Certainty.CERTAIN)


def test_a_reworded_request_is_a_suggestion() -> None:
    a = make_intake(request="请求支付拖欠的2025年度工资共计48000元")
    b = make_intake(request="要求公司支付拖欠的2025年度工资")
    score, certainty = repeat.matter_score(a, b)
    assert repeat.POSSIBLE <= score < repeat.CERTAIN
    assert certainty is Certainty.POSSIBLE


def test_another_request_is_not_the_same_matter() -> None:
    a = make_intake()
    b = make_intake(request="请求修复小区门前道路的积水问题")
    assert repeat.matter_score(a, b)[1] is None


def test_another_classification_or_place_is_not_the_same_matter() -> None:
    a = make_intake()
    assert repeat.matter_score(a, make_intake(classification="suggestion"))[1] is None
    elsewhere = {"region": "新疆维吾尔自治区", "prefecture": "喀什地区", "county": "伽师县"}
    assert repeat.matter_score(a, make_intake(jurisdiction=elsewhere))[1] is None


def test_a_place_given_less_precisely_makes_a_certain_score_a_suggestion() -> None:
    county = {"region": "新疆维吾尔自治区", "prefecture": "喀什地区", "county": "疏附县"}
    assert repeat.matter_score(make_intake(), make_intake(jurisdiction=county)) == (
        1.0,
        Certainty.POSSIBLE,
    )


def test_status_and_screening_rank_certain_first() -> None:
    open_case = CaseDriver("KS-OPEN").in_handling()
    closed = CaseDriver("KS-CLOSED").registered()
    closed.ok(c.WithdrawPetition)
    reworded = CaseDriver("KS-REWORDED")
    reworded.ok(
        c.RegisterPetition,
        case_id="KS-REWORDED",
        intake=make_intake(request="要求公司支付拖欠的2025年度工资"),
    )
    assert repeat.candidate_status(open_case.state) is CandidateStatus.OPEN
    assert repeat.candidate_status(closed.state) is CandidateStatus.OTHER
    found = repeat.screen(
        make_intake(),
        [(d.case_id, d.state) for d in (reworded, closed, open_case)],
    )
    assert [(f.case_id, f.certainty) for f in found] == [
        ("KS-OPEN", Certainty.CERTAIN),
        ("KS-REWORDED", Certainty.POSSIBLE),
    ]


def test_an_overdue_case_is_no_bar() -> None:
    d = CaseDriver("KS-LATE").registered()
    d.at(40).ok(c.ExpireDeadline, deadline="routing")
    assert repeat.candidate_status(d.state) is CandidateStatus.OTHER


# ---- decide ---------------------------------------------------------------------------


def test_the_engine_commands_are_not_external() -> None:
    assert "screen_repeats" not in EXTERNAL_COMMANDS
    assert "record_link" not in EXTERNAL_COMMANDS
    rejected = parse("screen_repeats", {})
    assert getattr(rejected, "code", None) == "unknown_command"


@pytest.mark.parametrize(
    ("status", "reason"),
    [("open", "duplicate_in_progress"), ("final", "final_after_re_review")],
)
def test_a_certain_match_is_not_accepted_and_linked(status: str, reason: str) -> None:
    d = CaseDriver("KS-NEW").registered()
    d.ok(c.ScreenRepeats, candidates=(cand("KS-OLD", status),))
    types = [e.type for e in d.events[1:]]
    assert types == ["CaseLinked", "PetitionNotAccepted", "CaseClosed"]
    assert d.events[1].relation == "repeat_of" and d.events[2].reason.value == reason
    assert d.state.linked_cases == ("KS-OLD",) and d.state.repeat_of == "KS-OLD"
    assert "KS-OLD" in d.events[2].detail


def test_possible_matches_are_suggested_and_the_registrar_decides_each() -> None:
    d = CaseDriver("KS-NEW").registered()
    d.ok(
        c.ScreenRepeats,
        candidates=(cand("KS-A", certainty="possible"), cand("KS-B", "final", "possible")),
    )
    assert d.events[-1].type == "RepeatSuggested"
    assert set(d.state.repeat_suggestions) == {"KS-A", "KS-B"}
    assert d.rejected(c.ConfirmRepeat, OTHER_OFFICE, other_case_id="KS-A") == (
        "not_the_registering_office"
    )
    assert d.rejected(c.DismissRepeat, HANDLER, other_case_id="KS-A") == (
        "not_the_registering_office"
    )
    assert d.rejected(c.ConfirmRepeat, BUREAU, other_case_id="KS-Z") == "no_such_suggestion"
    d.ok(c.DismissRepeat, BUREAU, other_case_id="KS-A")
    assert set(d.state.repeat_suggestions) == {"KS-B"} and d.state.stage.value == "registered"
    d.ok(c.ConfirmRepeat, BUREAU, other_case_id="KS-B")
    assert [e.type for e in d.events[-4:]] == [
        "RepeatConfirmed",
        "CaseLinked",
        "PetitionNotAccepted",
        "CaseClosed",
    ]
    assert d.events[-2].reason.value == "final_after_re_review"
    assert all(e.actor == BUREAU for e in d.events[-4:])


def test_nothing_found_writes_nothing_and_other_statuses_are_ignored() -> None:
    d = CaseDriver("KS-NEW").registered()
    result = d.ok(c.ScreenRepeats, candidates=(cand("KS-X", "other"),))
    assert result.events == ()


def test_the_earlier_case_records_the_link_even_when_closed() -> None:
    d = CaseDriver("KS-OLD").registered()
    d.ok(c.WithdrawPetition)
    d.ok(c.RecordLink, other_case_id="KS-NEW", reason="final_after_re_review")
    assert d.events[-1].type == "CaseLinked" and d.events[-1].relation == "repeated_by"
    assert d.state.linked_cases == ("KS-NEW",) and d.state.repeat_of is None
    again = d.ok(c.RecordLink, other_case_id="KS-NEW", reason="final_after_re_review")
    assert again.events == ()


def test_a_re_review_replied_but_not_yet_delivered_is_already_final() -> None:
    """Art 36: the re-review decision is final; its delivery only closes the case. A
    repeat meanwhile is 不再受理, not 'still within its deadlines'."""
    from petitionflow.domain.values import Unit

    region = Unit(name="自治区人力资源和社会保障厅", jurisdiction={"region": "新疆维吾尔自治区"})
    prefecture = Unit(
        name="喀什地区人力资源和社会保障局",
        jurisdiction={"region": "新疆维吾尔自治区", "prefecture": "喀什地区"},
    )
    text: dict[str, Any] = {"decision": "维持", "legal_basis": "第三十六条"}
    d = CaseDriver().delivered()
    d.at(25).ok(c.RequestReview, review_unit=prefecture, reasons="不服")
    d.ok(c.DecideReview, outcome="not_support", **text)
    d.ok(c.ReplyReview)
    d.ok(c.RecordDelivery, document="review_reply", method="post")
    d.at(30).ok(c.RequestReReview, review_unit=region, reasons="仍不服")
    d.ok(c.DecideReReview, outcome="not_support", **text)
    assert repeat.candidate_status(d.state) is CandidateStatus.OPEN  # not decided in writing
    d.ok(c.ReplyReReview)
    assert repeat.candidate_status(d.state) is CandidateStatus.FINAL
    d.at(40).ok(c.ExpireDeadline, deadline="delivery")  # its delivery overdue: still final
    assert repeat.candidate_status(d.state) is CandidateStatus.FINAL
