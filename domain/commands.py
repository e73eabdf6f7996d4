"""Commands: one per decision in stages S0-S6 of the regulation.

A command's ``kind`` is its snake_case name; the workflow exposes an update and a
signal of the same name. Field-level validation happens here (pydantic); rules that
depend on the case's state live in :mod:`domain.decide`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints, TypeAdapter, model_validator

from .intake import Intake
from .policy import DeadlineKind
from .values import (
    Actor,
    Candidate,
    DecisionOutcome,
    DeliveredDocument,
    DeliveryMethod,
    DivertDestination,
    EscalationReason,
    Frozen,
    LongText,
    MediumText,
    NotAcceptedReason,
    ShortText,
    Unit,
)

CaseId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
CommandId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")]


class CommandBase(Frozen):
    command_id: CommandId  # unique per command; a repeat is answered with the first result
    actor: Actor
    issued_at: AwareDatetime
    correlation_id: CommandId | None = None  # e.g. the portal's request id


# ---- S0 intake ---------------------------------------------------------------


class RegisterPetition(CommandBase):
    kind: Literal["register_petition"] = "register_petition"
    case_id: CaseId
    intake: Intake


# ---- S1 routing --------------------------------------------------------------


class TransferPetition(CommandBase):
    """转送 to the competent unit."""

    kind: Literal["transfer_petition"] = "transfer_petition"
    to_unit: Unit


class AssignPetition(CommandBase):
    """交办: an important matter, with its own deadline and a completion report."""

    kind: Literal["assign_petition"] = "assign_petition"
    to_unit: Unit
    due_days: int = Field(ge=1, le=365)


class DivertPetition(CommandBase):
    """诉访分离: the matter leaves the petition track."""

    kind: Literal["divert_petition"] = "divert_petition"
    destination: DivertDestination
    note: MediumText | None = None


class NotAcceptPetition(CommandBase):
    """不予受理, with a reason."""

    kind: Literal["not_accept_petition"] = "not_accept_petition"
    reason: NotAcceptedReason
    detail: MediumText


class AcknowledgeReceipt(CommandBase):
    """The unit tells the petitioner in writing that it received the matter (Art 23)."""

    kind: Literal["acknowledge_receipt"] = "acknowledge_receipt"


class AcceptPetition(CommandBase):
    """受理: the handling period starts."""

    kind: Literal["accept_petition"] = "accept_petition"


class ObjectToRouting(CommandBase):
    """The receiving unit says it is not competent (5 working days, with reasons)."""

    kind: Literal["object_to_routing"] = "object_to_routing"
    reason: MediumText


# ---- S2 handling -------------------------------------------------------------


class StartMediation(CommandBase):
    """调解 / 和解: both parties must consent (Art 33)."""

    kind: Literal["start_mediation"] = "start_mediation"
    mediator: ShortText
    petitioner_consents: bool
    other_party_consents: bool
    settlement: bool = False  # 和解 between the parties rather than 调解 by a mediator


class RecordMediation(CommandBase):
    """调解结果: whether the parties reached an agreement (Art 33)."""

    kind: Literal["record_mediation"] = "record_mediation"
    agreed: bool
    agreement: LongText | None = None  # 调解协议书 / 和解协议书

    @model_validator(mode="after")
    def _agreement_text(self) -> RecordMediation:
        if self.agreed and self.agreement is None:
            raise ValueError("agreement: the text of the agreement is required when agreed")
        if not self.agreed and self.agreement is not None:
            raise ValueError("agreement: give no agreement text when mediation failed")
        return self


class RecordHearing(CommandBase):
    """听证. During re-review its days do not count toward the decision period (Art 36)."""

    kind: Literal["record_hearing"] = "record_hearing"
    held_from: date
    held_to: date
    summary: LongText

    @model_validator(mode="after")
    def _order(self) -> RecordHearing:
        if self.held_to < self.held_from:
            raise ValueError("held_to: the hearing cannot end before it starts")
        if (self.held_to - self.held_from).days > 60:
            raise ValueError("held_to: a hearing longer than 60 days is not plausible")
        return self

    @property
    def days(self) -> int:
        return (self.held_to - self.held_from).days + 1


class ExtendHandling(CommandBase):
    """One extension of the handling period, approved by the unit head (Art 34)."""

    kind: Literal["extend_handling"] = "extend_handling"
    days: int = Field(ge=1, le=365)
    reason: MediumText
    approved_by: ShortText


class EscalateToConference(CommandBase):
    """Send the case to the joint conference (联席会议)."""

    kind: Literal["escalate_to_conference"] = "escalate_to_conference"
    reason: EscalationReason
    note: MediumText | None = None


class RecordConferenceDecision(CommandBase):
    """联席会议决定: the lead unit and plan the joint conference decided (Arts 11 to 13)."""

    kind: Literal["record_conference_decision"] = "record_conference_decision"
    lead_unit: Unit
    plan: LongText
    supervise: bool = False  # 挂牌督办
    correction_days: int | None = Field(default=None, ge=1, le=365)

    @model_validator(mode="after")
    def _correction(self) -> RecordConferenceDecision:
        if self.correction_days is not None and not self.supervise:
            raise ValueError("correction_days: a correction deadline needs supervise=true")
        return self


class IssueDecision(CommandBase):
    """信访处理意见书 (Art 32). Request, facts and reasons come from the intake."""

    kind: Literal["issue_decision"] = "issue_decision"
    outcome: DecisionOutcome
    decision: LongText
    legal_basis: MediumText


class ReportImplementation(CommandBase):
    """A supported request was carried out."""

    kind: Literal["report_implementation"] = "report_implementation"
    report: LongText


class RecordDelivery(CommandBase):
    """送达: the petitioner received a written reply; their windows count from this day.

    Recorded by the unit that issued the document (Arts 35, 36 count the review and
    re-review windows from the day the reply is received, not the day it is issued).
    """

    kind: Literal["record_delivery"] = "record_delivery"
    document: DeliveredDocument
    delivered_on: date | None = None  # the day it was received; by default, today
    method: DeliveryMethod


# ---- S3 satisfaction ---------------------------------------------------------


class RecordRating(CommandBase):
    """满意度评价: the petitioner's rating of the written reply (Art 21(2))."""

    kind: Literal["record_rating"] = "record_rating"
    rating: Literal["satisfied", "basically_satisfied", "dissatisfied"]


# ---- S4 review and S5 re-review ----------------------------------------------


class _AppealRequest(CommandBase):
    review_unit: Unit
    reasons: LongText


class _AppealDecision(CommandBase):
    outcome: DecisionOutcome
    decision: LongText
    legal_basis: MediumText


class RequestReview(_AppealRequest):
    """复查申请: within 30 days of the reply, to the unit one level up (Art 35)."""

    kind: Literal["request_review"] = "request_review"


class DecideReview(_AppealDecision):
    """复查意见: the review decision, in writing, within 30 days of the request (Art 35)."""

    kind: Literal["decide_review"] = "decide_review"


class ReplyReview(CommandBase):
    """The review decision was sent to the petitioner in writing."""

    kind: Literal["reply_review"] = "reply_review"


class RequestReReview(_AppealRequest):
    """复核申请: within 30 days of the review reply, one level up again (Art 36)."""

    kind: Literal["request_re_review"] = "request_re_review"


class DecideReReview(_AppealDecision):
    """复核意见: final; the same matter is not accepted again (Art 36)."""

    kind: Literal["decide_re_review"] = "decide_re_review"


class ReplyReReview(CommandBase):
    """The re-review decision was sent to the petitioner in writing."""

    kind: Literal["reply_re_review"] = "reply_re_review"


# ---- any stage ---------------------------------------------------------------


class WithdrawPetition(CommandBase):
    """撤回: the petitioner withdraws, at any point before closure."""

    kind: Literal["withdraw_petition"] = "withdraw_petition"
    reason: MediumText | None = None


class ExpireDeadline(CommandBase):
    """Sent by the engine when a deadline's timer fires; never by a person."""

    kind: Literal["expire_deadline"] = "expire_deadline"
    deadline: DeadlineKind


# ---- repeat petitions (Art 19(3), 不再受理) --------------------------------------


class ScreenRepeats(CommandBase):
    """Sent by the engine after registration with what screening found; never by a person."""

    kind: Literal["screen_repeats"] = "screen_repeats"
    candidates: tuple[Candidate, ...]


class ConfirmRepeat(CommandBase):
    """The registering office confirms a suggested repeat: not accepted, linked."""

    kind: Literal["confirm_repeat"] = "confirm_repeat"
    other_case_id: CaseId


class DismissRepeat(CommandBase):
    """The registering office dismisses a suggested repeat: not the same matter."""

    kind: Literal["dismiss_repeat"] = "dismiss_repeat"
    other_case_id: CaseId


class RecordLink(CommandBase):
    """Sent by the engine to the earlier case when a later one was found to repeat it."""

    kind: Literal["record_link"] = "record_link"
    other_case_id: CaseId
    reason: NotAcceptedReason


class RecomputeDeadlines(CommandBase):
    """Sent by the engine after a year's official holiday arrangement was loaded
    (``petition calendar load``): count the provisional deadlines again with the
    policy's new calendar snapshot. Never by a person."""

    kind: Literal["recompute_deadlines"] = "recompute_deadlines"


Command = Annotated[
    RegisterPetition
    | TransferPetition
    | AssignPetition
    | DivertPetition
    | NotAcceptPetition
    | AcknowledgeReceipt
    | AcceptPetition
    | ObjectToRouting
    | StartMediation
    | RecordMediation
    | RecordHearing
    | ExtendHandling
    | EscalateToConference
    | RecordConferenceDecision
    | IssueDecision
    | ReportImplementation
    | RecordDelivery
    | RecordRating
    | RequestReview
    | DecideReview
    | ReplyReview
    | RequestReReview
    | DecideReReview
    | ReplyReReview
    | WithdrawPetition
    | ExpireDeadline
    | ScreenRepeats
    | ConfirmRepeat
    | DismissRepeat
    | RecordLink
    | RecomputeDeadlines,
    Field(discriminator="kind"),
]

COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)

COMMAND_TYPES: dict[str, type[CommandBase]] = {
    cls.model_fields["kind"].default: cls
    for cls in CommandBase.__subclasses__()
    + _AppealRequest.__subclasses__()
    + _AppealDecision.__subclasses__()
    if "kind" in cls.model_fields
}
