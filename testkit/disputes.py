"""Builders for village disputes (domain/dispute.py), shared by the tests and the demo's
examples. Personal data here is made up."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from petitionflow.domain.dispute import ReportDispute
from petitionflow.domain.values import Actor

from .builders import CASE_PLACE, T0

VILLAGE = "阿亚格曼干村"
VILLAGE_CODE = "653121100001"  # 疏附县 653121 > 托克扎克镇 653121100 > the village
TOWNSHIP_CODE = VILLAGE_CODE[:9]
COUNTY_CODE = VILLAGE_CODE[:6]

OFFICER = Actor(unit="阿亚格曼干村村民委员会", person="信息员 努尔古丽")
MEDIATOR = Actor(unit="阿亚格曼干村人民调解委员会", person="调解员 艾力")
TOWNSHIP_MEDIATOR = Actor(unit="托克扎克镇人民调解委员会", person="调解员 王芳")
TOWNSHIP_OFFICE = "疏附县托克扎克镇信访办"  # the township conference's office

# Names and phones the tests look for where they must never be.
PARTY_NAMES = ("吐尔逊·艾买提", "阿不都热合曼·玉素甫")
PARTY_PHONES = ("13912345678", "13887654321")


def place_data() -> dict[str, Any]:
    return {
        "jurisdiction": CASE_PLACE.model_dump(),
        "village": VILLAGE,
        "village_code": VILLAGE_CODE,
    }


def report_data(dispute_id: str, **overrides: Any) -> dict[str, Any]:
    """A dispute report's fields (the JSON of ``petition dispute report-new``)."""
    data: dict[str, Any] = {
        "dispute_id": dispute_id,
        "place": place_data(),
        "parties": [
            {"name": PARTY_NAMES[0], "phone": PARTY_PHONES[0], "address": "阿亚格曼干村2组"},
            {"name": PARTY_NAMES[1], "phone": PARTY_PHONES[1]},
        ],
        "category": "land_contract",
        "urgency": "normal",
        "summary": "两户因承包地边界发生争执，一方在对方承包地上种植果树。",
    }
    data.update(overrides)
    return data


def make_report(
    dispute_id: str, at: datetime = T0, actor: Actor = OFFICER, **overrides: Any
) -> ReportDispute:
    return ReportDispute.model_validate(
        {
            "command_id": f"report-{dispute_id}",
            "actor": actor.model_dump(),
            "issued_at": at.isoformat(),
            **report_data(dispute_id, **overrides),
        }
    )
