"""Small value types shared by intake, commands, events and state."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, model_validator

# Anything a human typed. Tabs and newlines are fine (oral petitions are recorded
# faithfully, Art 22); other control characters are not.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_control_chars(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_no_control_chars),
]
MediumText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(_no_control_chars),
]
LongText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000),
    AfterValidator(_no_control_chars),
]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Level(StrEnum):
    """The four jurisdiction levels, top first."""

    REGION = "region"  # 自治区 / 省
    PREFECTURE = "prefecture"  # 地 / 州 / 市
    COUNTY = "county"  # 县 / 市 / 区
    TOWNSHIP = "township"  # 乡镇 / 街道


LEVELS: tuple[Level, ...] = tuple(Level)


class Jurisdiction(Frozen):
    """A place in the four-level hierarchy (属地). Lower levels are optional, without gaps."""

    region: ShortText
    prefecture: ShortText | None = None
    county: ShortText | None = None
    township: ShortText | None = None

    @model_validator(mode="after")
    def _no_gaps(self) -> Jurisdiction:
        seen_gap = False
        for level in LEVELS:
            value = getattr(self, level.value)
            if value is None:
                seen_gap = True
            elif seen_gap:
                raise ValueError(
                    f"{level.value} is given but a level above it is missing; "
                    "fill region > prefecture > county > township from the top"
                )
        return self

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(v for v in (self.region, self.prefecture, self.county, self.township) if v)

    @property
    def level(self) -> Level:
        return LEVELS[len(self.path) - 1]

    def up(self) -> Jurisdiction | None:
        """The jurisdiction one level up, or None at region level."""
        path = self.path
        if len(path) == 1:
            return None
        return Jurisdiction(
            **{lvl.value: name for lvl, name in zip(LEVELS, path[:-1], strict=False)}
        )

    def contains(self, other: Jurisdiction) -> bool:
        """True when ``other`` is this place or lies below it."""
        return other.path[: len(self.path)] == self.path

    def __str__(self) -> str:
        return " > ".join(self.path)


class Unit(Frozen):
    """A government unit (handling unit, reviewing body, petition bureau)."""

    name: ShortText
    jurisdiction: Jurisdiction


# The actor ``unit`` of a command the petitioner gives through an authenticated channel
# (the portal, the SMS gateway, the reception desk); ``person`` names the channel.
PETITIONER_UNIT = "信访人"


class Actor(Frozen):
    """Who did it: the unit and the person acting for it (Arts 43-45 need both)."""

    unit: ShortText
    person: ShortText


class Channel(StrEnum):
    """Art 17 channels, plus the leader mailbox (online) and leader reception (visit)."""

    ONLINE = "online"  # 信息网络
    LETTER = "letter"  # 书信
    PHONE = "phone"  # 电话
    FAX = "fax"  # 传真
    VISIT = "visit"  # 走访
    LEADER_MAILBOX = "leader_mailbox"  # 领导信箱 (online)
    LEADER_RECEPTION = "leader_reception"  # 领导接访 (visit)

    @property
    def parent(self) -> Channel:
        return {
            Channel.LEADER_MAILBOX: Channel.ONLINE,
            Channel.LEADER_RECEPTION: Channel.VISIT,
        }.get(self, self)


class Classification(StrEnum):
    SUGGESTION = "suggestion"  # 建议意见
    ACCUSATION = "accusation"  # 检举控告 (confidential)
    APPEAL = "appeal"  # 申诉求决


class DivertDestination(StrEnum):
    """诉访分离 (Arts 28, 31): where a matter goes when it leaves the petition track."""

    LITIGATION = "litigation"
    ARBITRATION = "arbitration"
    ADMINISTRATIVE_RECONSIDERATION = "administrative_reconsideration"
    PARTY_MEMBER_APPEAL = "party_member_appeal"
    DISCIPLINE_SUPERVISION = "discipline_supervision"  # accusations, Art 30


class NotAcceptedReason(StrEnum):
    DUPLICATE_IN_PROGRESS = "duplicate_in_progress"  # Art 19(3)
    FINAL_AFTER_RE_REVIEW = "final_after_re_review"  # 不再受理
    OUTSIDE_SCOPE = "outside_scope"
    OTHER = "other"


class DecisionOutcome(StrEnum):
    SUPPORT = "support"  # 予以支持
    EXPLAIN = "explain"  # 解释说明
    NOT_SUPPORT = "not_support"  # 不予支持


class Rating(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意
    NOT_EVALUATED = "not_evaluated"  # window passed without an answer


class DeliveryMethod(StrEnum):
    """送达: how a written reply reached the petitioner."""

    IN_PERSON = "in_person"  # 直接送达
    POST = "post"  # 邮寄送达
    ONLINE = "online"  # 短信 / 网上信访平台
    ANNOUNCEMENT = "announcement"  # 公告送达


class DeliveredDocument(StrEnum):
    """The written documents whose delivery starts the petitioner's windows."""

    REPLY = "reply"  # 信访处理意见书 (Art 32): evaluation and review windows
    REVIEW_REPLY = "review_reply"  # 复查意见书 (Art 35): re-review window
    RE_REVIEW_REPLY = "re_review_reply"  # 复核意见书 (Art 36): final


class EscalationReason(StrEnum):
    COMPETENCE_DISPUTE = "competence_dispute"
    MEDIATION_FAILED = "mediation_failed"
    MAJOR_OR_URGENT = "major_or_urgent"
    OVERDUE_SUPERVISION = "overdue_supervision"


# ---- repeat petitions (domain/repeat.py) ----


class CandidateStatus(StrEnum):
    OPEN = "open"  # not closed, no obligation deadline missed: Art 19(3)
    FINAL = "final"  # final after re-review: 不再受理
    OTHER = "other"  # closed another way, or overdue


class Certainty(StrEnum):
    CERTAIN = "certain"
    POSSIBLE = "possible"


class Candidate(Frozen):
    """An earlier case of the same petitioner, as screening found it. No personal data:
    the case id, the score, its status and how sure the match is."""

    case_id: str
    score: float
    status: CandidateStatus
    certainty: Certainty
