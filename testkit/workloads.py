"""Case workloads shared by the tests and the benchmarks: the happy lifecycle, and one
plausible random step for a case in any stage."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from petitionflow.domain import commands as c
from petitionflow.domain.state import Stage
from petitionflow.domain.values import Actor
from testkit.builders import (
    BUREAU,
    COUNTY_UNIT,
    HANDLER,
    PETITIONER,
    PREFECTURE_UNIT,
    REGION_UNIT,
    CaseDriver,
    DecisionText,
)

# A command class, who sends it, and its fields.
Step = tuple[type[c.Command], Actor, dict[str, Any]]

LIFECYCLE_DECISION: DecisionText = {
    "decision": "责令公司补发工资",
    "legal_basis": "《保障农民工工资支付条例》",
}
LIFECYCLE: list[Step] = [
    (c.TransferPetition, BUREAU, {"to_unit": COUNTY_UNIT}),
    (c.AcknowledgeReceipt, HANDLER, {}),
    (c.AcceptPetition, HANDLER, {}),
    (c.IssueDecision, HANDLER, {"outcome": "support", **LIFECYCLE_DECISION}),
    (c.RecordDelivery, HANDLER, {"document": "reply", "method": "online"}),
    (c.ReportImplementation, HANDLER, {"report": "工资已补发"}),
    (c.RecordRating, PETITIONER, {"rating": "satisfied"}),
]

DECISION: DecisionText = {"decision": "意见", "legal_basis": "依据"}
PREF = BUREAU.model_copy(update={"unit": PREFECTURE_UNIT.name})
REGION = BUREAU.model_copy(update={"unit": REGION_UNIT.name})


def next_step(d: CaseDriver, rng: random.Random) -> None:
    """One plausible step for the case's stage, or a deadline passing."""
    s = d.state
    timers = s.timers()
    if timers and rng.random() < 0.25:
        d.now = max(d.now, timers[0].due_at + timedelta(minutes=1))
        d.send(c.ExpireDeadline, deadline=timers[0].kind)
        return
    d.now += timedelta(days=rng.choice([0, 1, 2, 5]))
    by_stage: dict[Stage, list[Step]] = {
        Stage.REGISTERED: [
            (c.TransferPetition, BUREAU, {"to_unit": COUNTY_UNIT}),
            (c.DivertPetition, BUREAU, {"destination": "litigation"}),
            (c.EscalateToConference, BUREAU, {"reason": "competence_dispute"}),
        ],
        Stage.ROUTED: [(c.AcknowledgeReceipt, HANDLER, {}), (c.AcceptPetition, HANDLER, {})],
        Stage.HANDLING: [
            (
                c.IssueDecision,
                HANDLER,
                {"outcome": rng.choice(["support", "explain", "not_support"]), **DECISION},
            ),
            (c.ExtendHandling, HANDLER, {"days": 20, "reason": "r", "approved_by": "a"}),
            (c.WithdrawPetition, PETITIONER, {}),
        ],
        Stage.CONFERENCE: [
            (
                c.RecordConferenceDecision,
                BUREAU,
                {"lead_unit": COUNTY_UNIT, "plan": "p", "supervise": True},
            )
        ],
        Stage.REPLIED: [
            (
                c.RecordRating,
                PETITIONER,
                {"rating": rng.choice(["satisfied", "basically_satisfied", "dissatisfied"])},
            ),
            (c.RequestReview, PETITIONER, {"review_unit": PREFECTURE_UNIT, "reasons": "不服"}),
            (c.RecordDelivery, HANDLER, {"document": "reply", "method": "post"}),
        ],
        Stage.REVIEW: [
            (c.DecideReview, PREF, {"outcome": "explain", **DECISION}),
            (c.ReplyReview, PREF, {}),
        ],
        Stage.REVIEW_REPLIED: [
            (c.RequestReReview, PETITIONER, {"review_unit": REGION_UNIT, "reasons": "仍不服"}),
            (c.RecordDelivery, PREF, {"document": "review_reply", "method": "post"}),
            (c.RecordDelivery, REGION, {"document": "re_review_reply", "method": "post"}),
        ],
        Stage.RE_REVIEW: [
            (c.DecideReReview, REGION, {"outcome": "explain", **DECISION}),
            (c.ReplyReReview, REGION, {}),
        ],
    }
    options = by_stage.get(s.stage, [])
    if options:
        cls, actor, fields = rng.choice(options)
        d.send(cls, actor, **fields)
