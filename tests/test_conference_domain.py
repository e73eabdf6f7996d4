"""The joint conference's decide/evolve (domain/conference.py), pure: no server."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from petitionflow.domain import conference as cf
from petitionflow.domain.decide import Rejection
from petitionflow.domain.events import EVENT_TYPES
from petitionflow.domain.values import Actor, Jurisdiction
from testkit.builders import (
    CASE_PLACE,
    COUNTY_UNIT,
    OTHER_COUNTY_UNIT,
    PREFECTURE,
    REGION,
)

PLACE = Jurisdiction(region=REGION, prefecture=PREFECTURE)
OFFICE = Actor(unit="喀什地区信访局", person="秘书 古丽")
T0 = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Beijing


def fresh() -> cf.ConferenceState:
    return cf.ConferenceState(place_code="653100", place=PLACE, office=OFFICE.unit)


def item(case_id: str = "KS-1", place: Jurisdiction = CASE_PLACE) -> cf.AgendaItemIn:
    return cf.AgendaItemIn(
        command_id=f"agenda:case:{case_id}",
        subject="case",
        subject_id=case_id,
        reason="competence_dispute",
        place=place,
        issued_at=T0,
    )


def apply(state: cf.ConferenceState, command: Any, now: datetime = T0) -> cf.ConferenceState:
    decision = cf.decide(state, command, now)
    assert isinstance(decision, cf.Accepted), decision
    return cf.fold(decision.events, state)


def meeting(*decisions: cf.MeetingDecision, actor: Actor = OFFICE, n: int = 1) -> cf.RecordMeeting:
    return cf.RecordMeeting(
        command_id=f"meeting-{n}",
        actor=actor,
        issued_at=T0,
        held_at=T0,
        attendance=("喀什地区信访局", COUNTY_UNIT.name),
        decisions=decisions,
    )


def decision(case_id: str = "KS-1", **fields: Any) -> cf.MeetingDecision:
    return cf.MeetingDecision(
        subject="case", subject_id=case_id, lead_unit=COUNTY_UNIT, plan="人社局牵头", **fields
    )


def result(state: cf.ConferenceState, accepted: bool, code: str | None = None) -> Any:
    it = state.items["case:KS-1"]
    assert it.decision is not None
    return cf.RecordDecisionResult(
        command_id=f"result:{it.decision.decision_command_id}",
        actor=cf.ENGINE_ACTOR,
        issued_at=T0,
        subject="case",
        subject_id="KS-1",
        decision_command_id=it.decision.decision_command_id,
        accepted=accepted,
        code=code,
    )


def test_event_types_do_not_collide_with_the_cases() -> None:
    assert not set(cf.CONFERENCE_EVENT_TYPES) & set(EVENT_TYPES)


def test_an_agenda_item_joins_once() -> None:
    s = apply(fresh(), item())
    again = cf.decide(s, item(), T0)
    assert isinstance(again, cf.Accepted) and again.duplicate and not again.events
    other_id = item().model_copy(update={"command_id": "agenda:case:KS-1:again"})
    assert cf.decide(s, other_id, T0) == cf.Accepted(events=())  # on the agenda already
    assert list(s.items) == ["case:KS-1"]


def test_an_item_outside_the_place_is_refused() -> None:
    elsewhere = Jurisdiction(region=REGION, prefecture="和田地区")
    r = cf.decide(fresh(), item(place=elsewhere), T0)
    assert isinstance(r, Rejection) and r.code == "outside_conference_place"


def test_a_meeting_is_recorded_by_the_office_and_decides_only_agenda_items() -> None:
    s = apply(fresh(), item())
    r = cf.decide(s, meeting(decision(), actor=Actor(unit="疏附县信访局", person="x")), T0)
    assert isinstance(r, Rejection) and r.code == "not_the_conference_office"
    r = cf.decide(s, meeting(decision("KS-2")), T0)
    assert isinstance(r, Rejection) and r.code == "not_on_agenda"
    s = apply(s, meeting(decision(supervise=True, correction_days=10)))
    assert s.meetings_held == 1
    it = s.items["case:KS-1"]
    assert it.status == "decided" and it.decision is not None
    assert it.decision.decision_command_id == "conference:653100:1:KS-1"
    assert it.decision.correction_due == date(2026, 3, 13)
    # decided already: not on the agenda for the next meeting
    r = cf.decide(s, meeting(decision(), n=2), T0)
    assert isinstance(r, Rejection) and r.code == "not_on_agenda"


def test_one_decision_per_item() -> None:
    with pytest.raises(ValueError, match="one decision per agenda item"):
        meeting(decision(), decision())
    with pytest.raises(ValueError, match="needs supervise"):
        decision(correction_days=5)


def test_a_meeting_falls_due_only_with_items_on_the_agenda() -> None:
    due = cf.MarkMeetingDue(
        command_id="meeting-due:1", actor=cf.ENGINE_ACTOR, issued_at=T0, scheduled_for=T0
    )
    assert cf.decide(fresh(), due, T0) == cf.Accepted(events=())
    s = apply(apply(fresh(), item()), due)
    assert s.meeting_due is not None and s.meeting_due.meeting_no == 1
    s = apply(s, meeting())
    assert s.meeting_due is None and s.meetings[1].scheduled_for == T0
    r = cf.decide(fresh(), due.model_copy(update={"actor": OFFICE}), T0)
    assert isinstance(r, Rejection) and r.code == "engine_only"


def test_an_accepted_plain_decision_closes_the_item() -> None:
    s = apply(apply(fresh(), item()), meeting(decision()))
    s = apply(s, result(s, True))
    assert not s.items and s.closed_items == 1


def test_a_refused_decision_goes_back_on_the_agenda() -> None:
    s = apply(apply(fresh(), item()), meeting(decision()))
    s = apply(s, result(s, False, "unit_outside_jurisdiction"))
    it = s.items["case:KS-1"]
    assert it.status == "pending" and it.last_refusal == "unit_outside_jurisdiction"
    s = apply(s, meeting(decision(), n=2))  # decided again at the next meeting
    assert s.items["case:KS-1"].decision is not None


def test_a_closed_subject_closes_the_item() -> None:
    s = apply(apply(fresh(), item()), meeting(decision()))
    s = apply(s, result(s, False, "case_closed"))
    assert not s.items


def test_supervision_goes_overdue_once_and_closes_on_correction() -> None:
    s = apply(apply(fresh(), item()), meeting(decision(supervise=True, correction_days=3)))
    s = apply(s, result(s, True))
    it = s.items["case:KS-1"]
    assert it.status == "supervised" and it.correction_due_at == cf.end_of_day(date(2026, 3, 6))
    expire = cf.ExpireCorrection(
        command_id="overdue:x",
        actor=cf.ENGINE_ACTOR,
        issued_at=T0,
        subject="case",
        subject_id="KS-1",
    )
    assert cf.decide(s, expire, T0) == cf.Accepted(events=())  # not due yet
    later = T0 + timedelta(days=4)
    s = apply(s, expire, later)
    assert s.items["case:KS-1"].overdue and len(s.overdue_items) == 1
    assert s.next_correction() is None  # once
    wrong = cf.RecordCorrection(
        command_id="c1", actor=Actor(unit=OTHER_COUNTY_UNIT.name, person="x"), issued_at=T0,
        subject="case", subject_id="KS-1",
    )  # fmt: skip
    r = cf.decide(s, wrong, later)
    assert isinstance(r, Rejection) and r.code == "not_the_lead_unit"
    s = apply(s, wrong.model_copy(update={"actor": Actor(unit=COUNTY_UNIT.name, person="王")}))
    assert not s.items


def test_withdraw() -> None:
    s = apply(fresh(), item())
    w = cf.WithdrawItem(
        command_id="w1", actor=OFFICE, issued_at=T0, subject="case", subject_id="KS-1"
    )
    s = apply(s, w)
    assert not s.items
    r = cf.decide(s, w.model_copy(update={"command_id": "w2"}), T0)
    assert isinstance(r, Rejection) and r.code == "not_on_agenda"


def test_decide_is_deterministic() -> None:
    s = apply(fresh(), item())
    a, b = cf.decide(s, meeting(decision()), T0), cf.decide(s, meeting(decision()), T0)
    assert a == b


def test_the_schedule_is_tuesday_ten_in_beijing_then_every_interval() -> None:
    policy = cf.MeetingPolicy()
    monday = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 Beijing
    first = policy.first_after(monday)
    assert first == datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
    assert policy.first_after(first) == first + timedelta(days=7)  # strictly after
    assert policy.next_after(first, first) == first + timedelta(days=7)
    # three weeks late: the next one still ahead, on the same weekday and time
    assert policy.next_after(first, first + timedelta(days=21, hours=1)) == first + timedelta(
        days=28
    )
    fortnight = cf.MeetingPolicy(weekday=3, at=time(15, 30), interval_days=14)
    f = fortnight.first_after(monday)
    assert f.astimezone(cf.SHANGHAI).weekday() == 3
    assert fortnight.next_after(f, f) - f == timedelta(days=14)


def test_parent_codes() -> None:
    assert cf.parent_codes("650000") == ["650000"]
    assert cf.parent_codes("653121") == ["650000", "653100", "653121"]
    assert cf.parent_codes("653121101001") == [
        "650000",
        "653100",
        "653121",
        "653121101",
        "653121101001",
    ]


def test_parse_refuses_what_is_no_command() -> None:
    r = cf.parse("nonsense", {})
    assert isinstance(r, Rejection) and r.code == "unknown_command"
    r = cf.parse("add_to_agenda", {"command_id": "x"})
    assert isinstance(r, Rejection) and r.code == "invalid_command"
    ok = cf.parse("add_to_agenda", item().model_dump(mode="json"))
    assert ok == item()
    assert "kind" not in item().model_dump(mode="json")  # exactly the contract's fields
