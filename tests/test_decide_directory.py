"""decide with the unit directory: routing, the conference's lead unit and review name
units that exist, under their current name, in their place; review goes to the unit
the directory has above the one that decided."""

from __future__ import annotations

from datetime import date

import pytest

from petitionflow.domain import commands as c
from petitionflow.domain.decide import units_named
from petitionflow.domain.units import DirectoryIndex, UnitStatus, UnitVersion
from petitionflow.domain.values import Jurisdiction, Unit
from testkit.builders import (
    BUREAU,
    COUNTY_UNIT,
    HANDLER,
    PETITIONER,
    PREFECTURE_UNIT,
    CaseDriver,
)
from testkit.directory import KS, XJ, slice_units

SINCE = date(2020, 1, 1)


def _index(*changes: tuple[str, dict[str, object]], on: date = date(2026, 5, 1)) -> DirectoryIndex:
    """The slice from 2020, with ``changes`` (unit id, fields) as versions from ``on``."""
    versions = [UnitVersion(u, 1, SINCE, 1) for u in slice_units()]
    by_id = {u.id: u for u in slice_units()}
    versions += [UnitVersion(by_id[i].model_copy(update=f), 2, on, 2) for i, f in changes]
    versions.sort(key=lambda v: (v.unit.id, v.version))
    return DirectoryIndex(2 if changes else 1, versions)


def _driver(index: DirectoryIndex | None = None) -> CaseDriver:
    d = CaseDriver()
    d.directory = index or _index()
    return d.registered()


def test_routing_to_a_unit_in_the_directory_is_accepted() -> None:
    d = _driver()
    d.at(1).ok(c.TransferPetition, to_unit=COUNTY_UNIT)


@pytest.mark.parametrize(
    ("unit", "code"),
    [
        (Unit(name="疏附县不存在局", jurisdiction=COUNTY_UNIT.jurisdiction), "unknown_unit"),
        (
            Unit(name=COUNTY_UNIT.name, jurisdiction=Jurisdiction(region=XJ, prefecture=KS)),
            "unit_place_mismatch",
        ),
    ],
)
def test_routing_to_a_unit_the_directory_does_not_hold_is_refused(unit: Unit, code: str) -> None:
    assert _driver().at(1).rejected(c.TransferPetition, to_unit=unit) == code


def test_a_renamed_unit_is_named_as_it_is_now_and_an_old_case_keeps_the_old_name() -> None:
    index = _index(("653121-rsj", {"name": "疏附县人力资源局"}))
    early = _driver(index)
    early.at(1).ok(c.TransferPetition, to_unit=COUNTY_UNIT)  # T0 + 1 day: before the rename
    assert early.state.handling_unit == COUNTY_UNIT
    late = _driver(index)
    code = late.at(70).rejected(c.TransferPetition, to_unit=COUNTY_UNIT)
    assert code == "unit_renamed"
    renamed = COUNTY_UNIT.model_copy(update={"name": "疏附县人力资源局"})
    late.ok(c.TransferPetition, to_unit=renamed)


def test_a_merged_unit_names_its_successor() -> None:
    index = _index(
        ("653121-rsj", {"status": UnitStatus.MERGED, "merged_into": "653121-gov"}),
    )
    d = _driver(index).at(70)
    result = d.send(c.TransferPetition, to_unit=COUNTY_UNIT)
    assert result.code == "unit_dissolved" and "疏附县人民政府" in result.message


def test_without_a_loaded_directory_units_are_checked_by_place_alone() -> None:
    d = CaseDriver().registered()
    d.at(1).ok(
        c.TransferPetition, to_unit=Unit(name="任意单位", jurisdiction=COUNTY_UNIT.jurisdiction)
    )


def test_review_goes_to_the_unit_above_in_the_directory() -> None:
    d = _driver()
    d.at(1).ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    d.at(2).ok(c.AcknowledgeReceipt, HANDLER)
    d.ok(c.AcceptPetition, HANDLER)
    d.at(20).ok(
        c.IssueDecision, HANDLER, outcome="not_support", decision="不予支持", legal_basis="条例"
    )
    d.ok(c.RecordDelivery, HANDLER, document="reply", delivered_on=d.now.date(), method="post")
    government = Unit(name="喀什地区人民政府", jurisdiction=PREFECTURE_UNIT.jurisdiction)
    result = d.send(c.RequestReview, PETITIONER, review_unit=government, reasons="不服")
    assert result.code == "review_unit_wrong_level"
    assert (
        "the unit above 疏附县人力资源和社会保障局 is 喀什地区人力资源和社会保障局"
        in result.message
    )
    d.ok(c.RequestReview, PETITIONER, review_unit=PREFECTURE_UNIT, reasons="不服")


def test_the_names_asked_are_the_units_a_command_names() -> None:
    d = _driver()
    cmd = d.build(c.TransferPetition, BUREAU, to_unit=COUNTY_UNIT)
    assert units_named(d.state, cmd) == (COUNTY_UNIT.name,)
    assert units_named(d.state, d.build(c.AcknowledgeReceipt, HANDLER)) == ()
