"""Builders for realistic cases, shared by the domain, store and CLI tests."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, TypedDict

from petitionflow.domain import commands as c
from petitionflow.domain.decide import (
    _REVIEW_COMMANDS,
    _ROUTING_COMMANDS,
    INTERNAL_COMMANDS,
    PETITIONER_COMMANDS,
    Accepted,
    Rejection,
    decide,
    units_named,
)
from petitionflow.domain.intake import Intake, id_check_character
from petitionflow.domain.policy import DeadlinePolicy
from petitionflow.domain.state import CaseState, Stage, evolve
from petitionflow.domain.units import DirectoryIndex
from petitionflow.domain.values import Actor, Jurisdiction, Unit

BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=BEIJING)  # a Monday, no holiday nearby

REGION = "新疆维吾尔自治区"
PREFECTURE = "喀什地区"
COUNTY = "疏附县"
TOWNSHIP = "托克扎克镇"

CASE_PLACE = Jurisdiction(region=REGION, prefecture=PREFECTURE, county=COUNTY, township=TOWNSHIP)
COUNTY_UNIT = Unit(
    name="疏附县人力资源和社会保障局",
    jurisdiction=Jurisdiction(region=REGION, prefecture=PREFECTURE, county=COUNTY),
)
PREFECTURE_UNIT = Unit(
    name="喀什地区人力资源和社会保障局",
    jurisdiction=Jurisdiction(region=REGION, prefecture=PREFECTURE),
)
REGION_UNIT = Unit(name="自治区人力资源和社会保障厅", jurisdiction=Jurisdiction(region=REGION))
OTHER_COUNTY_UNIT = Unit(
    name="伽师县住房和城乡建设局",
    jurisdiction=Jurisdiction(region=REGION, prefecture=PREFECTURE, county="伽师县"),
)

BUREAU = Actor(unit="喀什地区信访局", person="阿依古丽")
HANDLER = Actor(unit=COUNTY_UNIT.name, person="王建国")
PETITIONER = Actor(unit="信访人", person="portal")


# The kind sets ``decide`` checks actors against (README, "Who may issue each command").
_ENGINE_KINDS = set(INTERNAL_COMMANDS) - {"register_petition"}
_PETITIONER_KINDS = PETITIONER_COMMANDS
_ROUTING_KINDS = {"register_petition", "record_conference_decision", *_ROUTING_COMMANDS}


def actor_for(state: CaseState, cls: type[c.CommandBase], **fields: Any) -> Actor:
    """The actor the rules expect for ``cls`` on this case (README, "Who may issue each
    command"): tests that are not about who acts send each command as the right one."""
    kind = cls.model_fields["kind"].default
    person = "王建国"
    if kind in _ENGINE_KINDS:
        return Actor(unit="petitionflow", person="engine")
    if kind in _PETITIONER_KINDS:
        return PETITIONER
    if kind in _ROUTING_KINDS or (kind == "escalate_to_conference" and not state.handling_unit):
        return Actor(unit=state.registered_by or BUREAU.unit, person=BUREAU.person)
    reviewing = kind in _REVIEW_COMMANDS
    reviewing = reviewing or (kind == "record_hearing" and state.stage is not Stage.HANDLING)
    reviewing = reviewing or (kind == "record_delivery" and fields.get("document") != "reply")
    if reviewing and state.review_unit:
        return Actor(unit=state.review_unit.name, person=person)
    if state.handling_unit:
        return Actor(unit=state.handling_unit.name, person=person)
    return HANDLER


class DecisionText(TypedDict):
    """The written decision's fields of a decision command, besides its outcome."""

    decision: str
    legal_basis: str


def today() -> date:
    """Today where the cases are handled (Beijing), whatever the machine's zone."""
    return DeadlinePolicy().local_date(datetime.now(UTC))


def id_with_check(first17: str) -> str:
    return first17 + id_check_character(first17)


PETITIONER_DATA: dict[str, Any] = {
    "name": "买买提·托合提",
    "address": "喀什地区疏附县托克扎克镇阿亚格曼干村3组",
    "phone": "13899887766",
    "id_number": id_with_check("65312119850612003"),
}


def petitioner_for(case_id: str) -> dict[str, Any]:
    """The default petitioner with an ID number of its own, derived from the case id.

    Cases registered with the same petitioner and the same request are repeat
    petitions: the second is not accepted (Art 19(3)). Tests and benchmarks that make
    many cases give each this petitioner, so that only the repeat tests, which opt in
    to one petitioner (``PETITIONER_DATA``), make repeats.
    """
    h = int.from_bytes(hashlib.sha256(case_id.encode()).digest()[:8], "big")
    born = date(1950, 1, 1) + timedelta(days=h % 20_000)
    sequence = (h // 20_000) % 1000
    return {**PETITIONER_DATA, "id_number": id_with_check(f"653121{born:%Y%m%d}{sequence:03d}")}


def intake_data(case_id: str | None = None, /, **overrides: Any) -> dict[str, Any]:
    """A realistic intake; with ``case_id``, from a petitioner of that case's own."""
    data: dict[str, Any] = {
        "channel": "visit",
        "petitioner": petitioner_for(case_id) if case_id else dict(PETITIONER_DATA),
        "request": "请求支付拖欠的2025年度工资共计48000元",
        "facts": "本人在某建筑公司务工十个月，公司以工程款未结清为由拒付工资。",
        "reasons": "依据《保障农民工工资支付条例》，用人单位应按时足额支付工资。",
        "classification": "appeal",
        "jurisdiction": CASE_PLACE.model_dump(),
        "received_at": T0.isoformat(),
    }
    data.update(overrides)
    return data


def make_intake(case_id: str | None = None, /, **overrides: Any) -> Intake:
    return Intake.model_validate(intake_data(case_id, **overrides))


class CaseDriver:
    """Runs commands through decide/evolve, with a clock the test moves."""

    _ids = itertools.count(1)

    def __init__(self, case_id: str = "KS-2026-0001", policy: DeadlinePolicy | None = None):
        self.case_id = case_id
        self.policy = policy or DeadlinePolicy()
        self.state = CaseState()
        self.now = T0
        self.events: list[Any] = []
        # The unit directory decide is told about (as the workflow's activity would).
        self.directory: DirectoryIndex | None = None

    def at(self, days: float) -> CaseDriver:
        self.now = T0 + timedelta(days=days)
        return self

    def build(self, cls: type[c.CommandBase], actor: Actor | None = None, **fields: Any) -> Any:
        """A command of ``cls``; without ``actor``, from the actor the rules expect."""
        who = actor or actor_for(self.state, cls, **fields)
        return cls(command_id=f"cmd-{next(self._ids)}", actor=who, issued_at=self.now, **fields)

    def send(self, cls: type[c.CommandBase], actor: Actor | None = None, **fields: Any) -> Any:
        return self.send_command(self.build(cls, actor, **fields))

    def send_command(self, command: c.CommandBase) -> Accepted | Rejection:
        units = (
            self.directory.resolve(
                units_named(self.state, command), self.policy.local_date(self.now)
            )
            if self.directory
            else None
        )
        result = decide(self.state, command, self.now, self.policy, units=units)
        if isinstance(result, Accepted) and not result.duplicate:
            for event in result.events:
                self.state = evolve(self.state, event)
                self.events.append(event)
        return result

    def ok(self, cls: type[c.CommandBase], actor: Actor | None = None, **fields: Any) -> Accepted:
        result = self.send(cls, actor, **fields)
        assert isinstance(result, Accepted), f"{cls.__name__} rejected: {result}"
        return result

    def rejected(self, cls: type[c.CommandBase], actor: Actor | None = None, **fields: Any) -> str:
        result = self.send(cls, actor, **fields)
        assert isinstance(result, Rejection), f"{cls.__name__} accepted: {result}"
        return result.code

    # common paths
    def registered(self) -> CaseDriver:
        self.ok(c.RegisterPetition, case_id=self.case_id, intake=make_intake())
        return self

    def in_handling(self) -> CaseDriver:
        self.registered()
        self.at(1).ok(c.TransferPetition, to_unit=COUNTY_UNIT)
        self.at(2).ok(c.AcknowledgeReceipt, HANDLER)
        self.ok(c.AcceptPetition, HANDLER)
        return self

    def replied(self, outcome: str = "not_support") -> CaseDriver:
        self.in_handling()
        self.at(20).ok(
            c.IssueDecision,
            HANDLER,
            outcome=outcome,
            decision="经调查，公司已于3月补发工资。",
            legal_basis="《保障农民工工资支付条例》第十五条",
        )
        return self

    def delivered(self, outcome: str = "not_support") -> CaseDriver:
        """Replied, and the reply delivered the same day: the windows are open."""
        self.replied(outcome)
        self.ok(c.RecordDelivery, document="reply", delivered_on=self.now.date(), method="post")
        return self
