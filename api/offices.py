"""The competent offices a petitioner chooses from online (属地选择).

A stand-in until the unit directory exists: the petition offices (信访局) the demo
and the tests use, each with its place and the townships below it. The case's place
is the office's place and, if chosen, a township; the office registers the case.
"""

from __future__ import annotations

from dataclasses import dataclass

from petitionflow.domain.values import Jurisdiction

XJ = "新疆维吾尔自治区"
KS = "喀什地区"


@dataclass(frozen=True, slots=True)
class Office:
    id: str
    name: str
    place: Jurisdiction
    townships: tuple[str, ...] = ()

    def jurisdiction(self, township: str | None) -> Jurisdiction:
        if township is None:
            return self.place
        return self.place.model_copy(update={"township": township})


OFFICES: tuple[Office, ...] = (
    Office("kashgar", "喀什地区信访局", Jurisdiction(region=XJ, prefecture=KS)),
    Office(
        "shufu",
        "疏附县信访局",
        Jurisdiction(region=XJ, prefecture=KS, county="疏附县"),
        ("托克扎克镇", "吾库萨克镇", "塔什米里克乡", "站敏乡"),
    ),
    Office(
        "jiashi",
        "伽师县信访局",
        Jurisdiction(region=XJ, prefecture=KS, county="伽师县"),
        ("巴仁镇", "西克尔库勒镇", "夏普吐勒镇"),
    ),
)
BY_ID = {o.id: o for o in OFFICES}
