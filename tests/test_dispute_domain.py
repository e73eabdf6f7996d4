"""domain/dispute.py: decide and evolve for a village dispute, without Temporal."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from petitionflow.domain import dispute as d
from petitionflow.domain.decide import Rejection
from petitionflow.domain.values import Actor, Unit
from testkit.builders import COUNTY_UNIT, T0
from testkit.disputes import (
    MEDIATOR,
    OFFICER,
    PARTY_NAMES,
    TOWNSHIP_CODE,
    TOWNSHIP_MEDIATOR,
    make_report,
)

ENGINE = Actor(unit="petitionflow", person="mediation timer")


class Driver:
    _ids = itertools.count(1)

    def __init__(self, dispute_id: str = "D-653121101-0001", **report: Any) -> None:
        self.policy = d.DisputePolicy()
        self.state = d.DisputeState()
        self.now = T0
        self.events: list[Any] = []
        self.send(make_report(dispute_id, self.now, **report))

    def at(self, days: float) -> Driver:
        self.now = T0 + timedelta(days=days)
        return self

    def build(self, cls: type[d.DisputeCommandBase], actor: Actor, **fields: Any) -> Any:
        return cls(command_id=f"c-{next(self._ids)}", actor=actor, issued_at=self.now, **fields)

    def send(self, cmd: d.DisputeCommandBase) -> d.Accepted | Rejection:
        result = d.decide(self.state, cmd, self.now, self.policy)
        if isinstance(result, d.Accepted) and not result.duplicate:
            for e in result.events:
                self.state = d.evolve(self.state, e)
                self.events.append(e)
        return result

    def ok(self, cls: type[d.DisputeCommandBase], actor: Actor = MEDIATOR, **f: Any) -> d.Accepted:
        result = self.send(self.build(cls, actor, **f))
        assert isinstance(result, d.Accepted), result
        return result

    def no(self, cls: type[d.DisputeCommandBase], actor: Actor = MEDIATOR, **f: Any) -> str:
        result = self.send(self.build(cls, actor, **f))
        assert isinstance(result, Rejection), result
        return result.code

    def mediating(self, level: str = "village") -> Driver:
        self.at(1).ok(d.StartMediation, level=level)
        return self


def test_report_then_village_mediation_has_its_policy_limit() -> None:
    x = Driver().mediating()
    assert x.state.status is d.DisputeStatus.MEDIATING
    assert x.state.mediator == MEDIATOR.unit
    assert x.state.due == date(2026, 3, 3) + timedelta(days=15)
    assert x.state.timer() == datetime(2026, 3, 19, 0, 0, tzinfo=x.policy.tz)
    assert x.events[0].place.township_code == TOWNSHIP_CODE


@pytest.mark.parametrize(
    ("level", "urgency", "days"),
    [
        ("village", "normal", 15),
        ("village", "urgent", 7),
        ("township", "normal", 30),
        ("township", "urgent", 15),
    ],
)
def test_time_limits(level: str, urgency: str, days: int) -> None:
    x = Driver(urgency=urgency).mediating(level)
    assert x.events[-1].days == days


def test_resolution_and_follow_up_close_it() -> None:
    x = Driver().mediating()
    x.at(5).ok(d.RecordResolution, agreement="双方同意以现有田埂为界，果树移栽。")
    assert x.no(d.RecordFollowUp, visited_on=x.now.date() + timedelta(days=3), outcome="x") == (
        "follow_up_in_future"
    )
    x.at(20).ok(d.RecordFollowUp, OFFICER, visited_on=date(2026, 3, 21), outcome="协议已履行")
    assert x.state.status is d.DisputeStatus.CLOSED and x.state.outcome is d.Outcome.RESOLVED
    assert x.no(d.EscalateToConference) == "dispute_closed"


def test_only_the_mediator_records_outcomes() -> None:
    x = Driver()
    assert x.no(d.RecordResolution, agreement="a") == "mediation_not_started"
    assert x.no(d.EscalateToConference) == "mediation_not_started"
    x.mediating()
    assert (
        x.no(d.StartMediation, TOWNSHIP_MEDIATOR, level="township") == "mediation_already_started"
    )
    assert x.no(d.RecordResolution, TOWNSHIP_MEDIATOR, agreement="a") == "not_the_mediator"
    assert x.no(d.RecordFollowUp, visited_on=date(2026, 3, 3), outcome="o") == "wrong_status"


def test_conversion_names_the_case_and_builds_the_petition() -> None:
    x = Driver().mediating()
    cmd = x.build(
        d.ConvertToPetition,
        MEDIATOR,
        registering_office="疏附县信访局",
        petitioner=1,
        request="请求确权",
    )
    intake = d.conversion_intake(x.state, cmd)
    assert not isinstance(intake, Rejection)
    assert intake.petitioner.name == PARTY_NAMES[1]
    assert intake.petitioner.address.endswith("阿亚格曼干村")  # no address given: the village
    x.send(cmd)
    assert x.state.case_id == "D-653121101-0001" and x.state.outcome is d.Outcome.CONVERTED
    again = x.send(cmd)
    assert isinstance(again, d.Accepted) and again.duplicate
    assert (
        x.no(d.ConvertToPetition, registering_office="疏附县信访局", request="r")
        == "dispute_closed"
    )
    assert x.events[-2].correlation_id == "dispute:D-653121101-0001"


def test_no_such_party() -> None:
    x = Driver().mediating()
    assert (
        x.no(d.ConvertToPetition, registering_office="o", petitioner=5, request="r")
        == "no_such_party"
    )


def test_escalation_and_the_conference_decision() -> None:
    x = Driver().mediating()
    x.ok(d.EscalateToConference, reason="mediation_failed")
    assert x.state.conference_id == f"conference-{TOWNSHIP_CODE}"
    item = d.agenda_item(x.state, x.events[-1])
    assert item.command_id == "agenda:dispute:D-653121101-0001" and item.subject == "dispute"
    assert PARTY_NAMES[0] not in item.model_dump_json()
    decision = {"lead_unit": COUNTY_UNIT.model_dump(), "plan": "镇司法所牵头", "supervise": True}
    wrong = d.RecordConferenceDecision(
        command_id="conference:653121102:1:D-653121101-0001",
        actor=Actor(unit="托克扎克镇信访办", person="秘书"),
        issued_at=x.now,
        **decision,
    )
    bad = x.send(wrong)
    assert isinstance(bad, Rejection) and bad.code == "not_the_conference"
    right = wrong.model_copy(
        update={"command_id": f"conference:{TOWNSHIP_CODE}:1:D-653121101-0001"}
    )
    assert isinstance(x.send(right), d.Accepted)
    assert x.state.status is d.DisputeStatus.CLOSED and x.state.outcome is d.Outcome.ESCALATED
    assert isinstance(x.events[-2].lead_unit, Unit)


def test_overdue_once_and_only_from_the_engine() -> None:
    x = Driver().mediating()
    assert x.no(d.ExpireMediation, ENGINE) == "deadline_not_due"
    x.at(17)
    assert x.no(d.ExpireMediation, MEDIATOR) == "engine_only"
    x.ok(d.ExpireMediation, ENGINE)
    assert x.state.overdue and x.state.timer() is None
    assert x.no(d.ExpireMediation, ENGINE) == "wrong_status"
    x.ok(d.RecordResolution, agreement="逾期后达成协议")  # late, but still resolved


def test_commands_before_the_report_and_unknown_ones() -> None:
    state = d.DisputeState()
    cmd = d.StartMediation(command_id="c", actor=MEDIATOR, issued_at=T0, level="village")
    rejected = d.decide(state, cmd, T0, d.DisputePolicy())
    assert isinstance(rejected, Rejection) and rejected.code == "dispute_not_reported"
    unknown = d.parse("record_rating", {})
    assert isinstance(unknown, Rejection) and unknown.code == "unknown_command"
    invalid = d.parse("start_mediation", {"level": "county"})
    assert isinstance(invalid, Rejection) and invalid.code == "invalid_command"
    internal = d.parse("expire_mediation", {})
    assert isinstance(internal, Rejection) and internal.code == "unknown_command"


def test_a_place_must_reach_the_township() -> None:
    with pytest.raises(ValueError, match="township"):
        make_report(
            "D-1",
            place={
                "jurisdiction": {"region": "新疆维吾尔自治区"},
                "village": "v",
                "village_code": "653121101001",
            },
        )


def test_dispute_event_types_do_not_collide_with_a_cases() -> None:
    from petitionflow.domain.events import EVENT_TYPES

    assert not d.EVENT_TYPES & set(EVENT_TYPES)
    assert all(t.startswith("Dispute") for t in d.EVENT_TYPES)
