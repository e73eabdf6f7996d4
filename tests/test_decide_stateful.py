"""Random command sequences: decide never raises, fold(events) equals the state,
and no deadline precedes its start."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from petitionflow.domain import EVENT_ADAPTER
from petitionflow.domain import commands as c
from petitionflow.domain.decide import Accepted, Rejection, decide
from petitionflow.domain.policy import DeadlineKind, DeadlinePolicy
from petitionflow.domain.state import CaseState, Stage, fold
from petitionflow.domain.values import (
    Actor,
    DecisionOutcome,
    DeliveredDocument,
    DeliveryMethod,
    DivertDestination,
    EscalationReason,
    Unit,
)
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
    actor_for,
    make_intake,
)

ENGINE = Actor(unit="petitionflow", person="deadline timer")
UNITS = st.sampled_from([COUNTY_UNIT, PREFECTURE_UNIT, REGION_UNIT, OTHER_COUNTY_UNIT])
ACTORS = st.sampled_from(
    [
        BUREAU,
        HANDLER,
        PETITIONER,
        Actor(unit=PREFECTURE_UNIT.name, person="李明"),
        Actor(unit=REGION_UNIT.name, person="张华"),
    ]
)
TEXT = st.sampled_from(["依法处理", "已核实", "不服处理意见", "经调查属实"])
DAYS = st.integers(min_value=1, max_value=45)
DAY = st.dates(min_value=date(2026, 2, 1), max_value=date(2027, 6, 30))
DECISION = {"outcome": st.sampled_from(DecisionOutcome), "decision": TEXT, "legal_basis": TEXT}

PAYLOADS: dict[type[c.CommandBase], dict[str, Any]] = {
    c.TransferPetition: {"to_unit": UNITS},
    c.AssignPetition: {"to_unit": UNITS, "due_days": DAYS},
    c.DivertPetition: {"destination": st.sampled_from(DivertDestination)},
    c.NotAcceptPetition: {"reason": st.just("outside_scope"), "detail": TEXT},
    c.AcknowledgeReceipt: {},
    c.AcceptPetition: {},
    c.ObjectToRouting: {"reason": TEXT},
    c.StartMediation: {
        "mediator": TEXT,
        "petitioner_consents": st.booleans(),
        "other_party_consents": st.booleans(),
    },
    c.RecordMediation: {"agreed": st.just(False)},
    c.RecordHearing: {"held_from": DAY, "held_to": st.integers(0, 5), "summary": TEXT},
    c.ExtendHandling: {"days": DAYS, "reason": TEXT, "approved_by": TEXT},
    c.EscalateToConference: {"reason": st.sampled_from(EscalationReason)},
    c.RecordConferenceDecision: {"lead_unit": UNITS, "plan": TEXT, "supervise": st.booleans()},
    c.IssueDecision: DECISION,
    c.ReportImplementation: {"report": TEXT},
    c.RecordDelivery: {
        "document": st.sampled_from(DeliveredDocument),
        "method": st.sampled_from(DeliveryMethod),
    },
    c.RecordRating: {
        "rating": st.sampled_from(["satisfied", "basically_satisfied", "dissatisfied"])
    },
    c.RequestReview: {"review_unit": UNITS, "reasons": TEXT},
    c.DecideReview: DECISION,
    c.ReplyReview: {},
    c.RequestReReview: {"review_unit": UNITS, "reasons": TEXT},
    c.DecideReReview: DECISION,
    c.ReplyReReview: {},
    c.WithdrawPetition: {},
    c.ExpireDeadline: {"deadline": st.sampled_from(DeadlineKind)},
}

TERMINAL: list[type[c.CommandBase]] = [c.DivertPetition, c.NotAcceptPetition, c.WithdrawPetition]
FORWARD: list[type[c.CommandBase]] = [
    c.TransferPetition,
    c.AcknowledgeReceipt,
    c.AcceptPetition,
    c.IssueDecision,
    c.RecordDelivery,
    c.RecordRating,
    c.RequestReview,
    c.DecideReview,
    c.ReplyReview,
    c.RequestReReview,
    c.DecideReReview,
    c.ReplyReReview,
    c.StartMediation,
    c.EscalateToConference,
    c.RecordConferenceDecision,
]


@st.composite
def commands(draw: st.DrawFn, ids: itertools.count[int], now: datetime) -> c.CommandBase:
    # Lean towards the commands that move a case forward and away from the ones that end
    # it at once, so that runs reach the appeals.
    if draw(st.integers(0, 39)) == 0:
        cls = draw(st.sampled_from(TERMINAL))
    else:
        cls = draw(st.sampled_from(FORWARD * 4 + [k for k in PAYLOADS if k not in TERMINAL]))
    fields = {name: draw(strategy) for name, strategy in PAYLOADS[cls].items()}
    if cls is c.RecordHearing:
        fields["held_to"] = fields["held_from"] + timedelta(days=fields["held_to"])
    if cls is c.RecordMediation and draw(st.booleans()):
        fields = {"agreed": True, "agreement": "双方达成调解协议"}
    return cls(command_id=f"c{next(ids)}", actor=draw(ACTORS), issued_at=now, **fields)


class CaseMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.d = CaseDriver(case_id="KS-1")
        self.sent: list[c.CommandBase] = []
        self.ids = itertools.count()
        self.apply(
            c.RegisterPetition(
                command_id="register",
                actor=BUREAU,
                issued_at=T0,
                case_id="KS-1",
                intake=make_intake(),
            )
        )

    # the driver keeps the case: its state, its events and its clock
    @property
    def state(self) -> CaseState:
        return self.d.state

    @property
    def events(self) -> list[Any]:
        return self.d.events

    @property
    def policy(self) -> DeadlinePolicy:
        return self.d.policy

    @property
    def now(self) -> datetime:
        return self.d.now

    @now.setter
    def now(self, value: datetime) -> None:
        self.d.now = value

    def apply(self, command: c.CommandBase) -> Accepted | Rejection:
        self.sent.append(command)
        return self.d.send_command(command)

    def plausible(self, command: c.CommandBase) -> c.CommandBase:
        """Fill in the actor and review unit a real caller would use."""
        s = self.state
        document = getattr(command, "document", None)
        changes: dict[str, Actor | Unit] = {
            "actor": actor_for(s, type(command), document=document and document.value)
        }
        below = s.handling_unit if isinstance(command, c.RequestReview) else s.review_unit
        if isinstance(command, c.RequestReview | c.RequestReReview) and below is not None:
            for unit in (COUNTY_UNIT, PREFECTURE_UNIT, REGION_UNIT):
                if unit.jurisdiction == below.jurisdiction.up():
                    changes["review_unit"] = unit
        return command.model_copy(update=changes)

    @rule(data=st.data(), plausible=st.booleans())
    def send(self, data: st.DataObject, plausible: bool) -> None:
        command = data.draw(commands(self.ids, self.now))
        if plausible:
            command = self.plausible(command)
        version = self.state.version
        result = self.apply(command)
        if isinstance(result, Rejection):
            assert self.state.version == version, "a rejected command changed the case"

    @rule(data=st.data())
    def take_the_next_step(self, data: st.DataObject) -> None:
        """What a well-behaved caller would send next in this stage."""
        s = self.state
        by_stage: dict[Stage, list[type[c.CommandBase]]] = {
            Stage.REGISTERED: [c.TransferPetition, c.AssignPetition, c.EscalateToConference],
            Stage.ROUTED: [c.AcknowledgeReceipt, c.AcceptPetition, c.ObjectToRouting],
            Stage.HANDLING: [
                c.IssueDecision,
                c.StartMediation,
                c.RecordMediation,
                c.ExtendHandling,
                c.RecordHearing,
                c.EscalateToConference,
            ],
            Stage.CONFERENCE: [c.RecordConferenceDecision],
            Stage.REPLIED: [
                c.RecordDelivery,
                c.RequestReview,
                c.RecordRating,
                c.ReportImplementation,
            ],
            Stage.REVIEW: [c.DecideReview, c.ReplyReview],
            Stage.REVIEW_REPLIED: [c.RecordDelivery, c.RequestReReview],
            Stage.RE_REVIEW: [c.RecordHearing, c.DecideReReview, c.ReplyReReview],
        }
        options = by_stage.get(s.stage, [])
        if not options:
            return
        cls = data.draw(st.sampled_from(options))
        fields = {name: data.draw(strategy) for name, strategy in PAYLOADS[cls].items()}
        if cls in (c.TransferPetition, c.AssignPetition, c.RecordConferenceDecision):
            fields[next(iter(PAYLOADS[cls]))] = COUNTY_UNIT
        if cls is c.StartMediation:
            fields |= {"petitioner_consents": True, "other_party_consents": True}
        if cls is c.RecordDelivery and s.delivery_pending is not None:
            fields["document"] = s.delivery_pending
        if cls is c.RecordHearing:
            fields |= {
                "held_from": self.policy.local_date(self.now),
                "held_to": self.policy.local_date(self.now),
            }
        if cls is c.RecordMediation:
            fields = (
                {"agreed": True, "agreement": "调解协议"}
                if data.draw(st.booleans())
                else {"agreed": False}
            )
        command = cls(command_id=f"n{next(self.ids)}", actor=BUREAU, issued_at=self.now, **fields)
        self.apply(self.plausible(command))

    @rule(data=st.data())
    def expire_next_timer(self, data: st.DataObject) -> None:
        timers = self.state.timers()
        if timers:
            self.now = max(self.now, timers[0].due_at)
            result = self.apply(
                c.ExpireDeadline(
                    command_id=f"t{next(self.ids)}",
                    actor=ENGINE,
                    issued_at=self.now,
                    deadline=timers[0].kind,
                )
            )
            assert isinstance(result, Accepted), result

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def repeat_a_command(self, data: st.DataObject) -> None:
        command = data.draw(st.sampled_from(self.sent))
        before = self.state
        result = decide(self.state, command, self.now, self.policy)
        if command.command_id in before.commands:
            assert isinstance(result, Accepted) and result.duplicate
            assert result.events == before.commands[command.command_id]

    @invariant()
    def fold_of_stored_events_is_the_state(self) -> None:
        stored = [EVENT_ADAPTER.validate_json(EVENT_ADAPTER.dump_json(e)) for e in self.events]
        assert fold(stored) == self.state
        assert self.state.version == len(self.events)

    @invariant()
    def no_deadline_precedes_its_start(self) -> None:
        for d in self.state.deadlines.values():
            assert d.due > d.start
            assert d.due_at.date() > d.start


CaseMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_random_command_sequences = CaseMachine.TestCase
