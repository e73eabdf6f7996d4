"""A slice of the unit directory for tests: the region, 喀什地区, 疏附县 and 伽师县 with
the units the demo and the tests name, in the generated directory's ids and names."""

from __future__ import annotations

from petitionflow.domain.units import DirectoryUnit, UnitKind, UnitLevel
from petitionflow.domain.values import Jurisdiction

XJ = "新疆维吾尔自治区"
KS = "喀什地区"
# As the generated directory names them (the disputes' tests and the demo use it).
VILLAGES = {"653121100": "阿亚格曼干村"}
LINES = (("rsj", "人力资源和社会保障", "厅"), ("zjj", "住房和城乡建设", "厅"))


def _u(
    uid: str,
    name: str,
    kind: UnitKind,
    level: UnitLevel,
    place: str,
    parent: str | None,
    *path: str,
) -> DirectoryUnit:
    keys = ("region", "prefecture", "county", "township")
    return DirectoryUnit(
        id=uid,
        name=name,
        kind=kind,
        level=level,
        place=place,
        jurisdiction=Jurisdiction(**dict(zip(keys, path, strict=False))),
        parent=parent,
    )


def slice_units() -> list[DirectoryUnit]:
    b, d, g = UnitKind.PETITION_BUREAU, UnitKind.DEPARTMENT, UnitKind.GOVERNMENT
    units = [
        _u("650000-xfj", f"{XJ}信访局", b, UnitLevel.REGION, "650000", None, XJ),
        _u("650000-gov", f"{XJ}人民政府", g, UnitLevel.REGION, "650000", None, XJ),
        _u("653100-xfj", f"{KS}信访局", b, UnitLevel.PREFECTURE, "653100", "650000-xfj", XJ, KS),
        _u("653100-gov", f"{KS}人民政府", g, UnitLevel.PREFECTURE, "653100", "650000-gov", XJ, KS),
    ]
    for code, line, suffix in LINES:
        units.append(
            _u(f"650000-{code}", f"自治区{line}{suffix}", d, UnitLevel.REGION, "650000", None, XJ)
        )
        units.append(
            _u(
                f"653100-{code}",
                f"{KS}{line}局",
                d,
                UnitLevel.PREFECTURE,
                "653100",
                f"650000-{code}",
                XJ,
                KS,
            )
        )
    counties = {
        "653121": (
            "疏附县",
            (
                ("100", "托克扎克镇"),
                ("102", "吾库萨克镇"),
                ("200", "塔什米里克乡"),
                ("204", "站敏乡"),
            ),
        ),
        "653129": ("伽师县", (("100", "巴仁镇"), ("101", "西克尔库勒镇"), ("102", "夏普吐勒镇"))),
    }
    for place, (county, townships) in counties.items():
        c = (XJ, KS, county)
        units.append(
            _u(f"{place}-xfj", f"{county}信访局", b, UnitLevel.COUNTY, place, "653100-xfj", *c)
        )
        units.append(
            _u(f"{place}-gov", f"{county}人民政府", g, UnitLevel.COUNTY, place, "653100-gov", *c)
        )
        for code, line, _ in LINES:
            units.append(
                _u(
                    f"{place}-{code}",
                    f"{county}{line}局",
                    d,
                    UnitLevel.COUNTY,
                    place,
                    f"653100-{code}",
                    *c,
                )
            )
        for tcode, township in townships:
            tp = place + tcode
            t = (*c, township)
            units.append(
                _u(
                    f"{tp}-gov",
                    f"{county}{township}人民政府",
                    g,
                    UnitLevel.TOWNSHIP,
                    tp,
                    f"{place}-gov",
                    *t,
                )
            )
            units.append(
                _u(
                    f"{tp}-xfb",
                    f"{county}{township}信访办",
                    b,
                    UnitLevel.TOWNSHIP,
                    tp,
                    f"{place}-xfj",
                    *t,
                )
            )
            units.append(
                _u(
                    f"{tp}001",
                    f"{county}{township}{VILLAGES.get(tp, '幸福村')}",
                    UnitKind.VILLAGE,
                    UnitLevel.VILLAGE,
                    f"{tp}001",
                    f"{tp}-gov",
                    *t,
                )
            )
    return units
