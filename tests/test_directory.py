"""The unit directory: files, loading by dated versions, and answers as of a day, on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from petitionflow.directory.files import DirectoryFileError, read_directory, write_csv
from petitionflow.domain.units import ChangeKind, DirectoryUnit, UnitStatus, check_directory
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.directory import DirectoryOrderError, DirectoryStore
from testkit.directory import slice_units

D1 = date(2026, 1, 1)
D2 = date(2026, 7, 1)


def _csv(tmp_path: Path, units: list[DirectoryUnit], name: str = "units.csv") -> Path:
    path = tmp_path / name
    with path.open("w", encoding="utf-8") as f:
        write_csv(units, f)
    return path


def test_a_csv_file_reads_back_as_the_units_written(tmp_path: Path) -> None:
    units = slice_units()
    read = read_directory(_csv(tmp_path, units))
    assert list(read.units) == units
    assert read.source == "units.csv" and not read.generated


def test_a_json_file_states_its_source_and_that_it_is_generated(tmp_path: Path) -> None:
    units = slice_units()
    path = tmp_path / "d.json"
    path.write_text(
        json.dumps(
            {
                "source": "测试目录",
                "generated": True,
                "units": [u.model_dump(mode="json") for u in units],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    read = read_directory(path)
    assert list(read.units) == units and read.generated and read.source == "测试目录"


def test_a_bad_file_says_each_problem_with_its_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, slice_units())
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace(",prefecture,", ",county,")  # level without its county
    lines.append(lines[5])  # a duplicate id and name
    lines.append("x1,无上级单位,department,county,653121,新疆维吾尔自治区,喀什地区,疏附县,,nope,,")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DirectoryFileError) as err:
        read_directory(path)
    text = str(err.value)
    assert "line 4" in text and "goes down to county" in text
    path.write_text("\n".join(lines[:3] + lines[4:]) + "\n", encoding="utf-8")
    with pytest.raises(DirectoryFileError) as err:
        read_directory(path)
    text = str(err.value)
    assert "the id appears 2 times" in text
    assert "is also another active unit's" in text
    assert "x1: the parent nope is not an active unit" in text


def test_a_file_without_the_columns_names_them(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("id,name\n1,x\n", encoding="utf-8")
    with pytest.raises(DirectoryFileError, match="the header lacks kind, level, place"):
        read_directory(path)


def test_a_parent_must_be_one_level_up_and_above_its_place() -> None:
    units = slice_units()
    wrong = [
        u.model_copy(update={"parent": "650000-rsj"}) if u.id == "653121-rsj" else u for u in units
    ]
    problems = check_directory(wrong)
    assert [p.unit_id for p in problems] == ["653121-rsj"]
    assert "is not above" in problems[0].message


def test_loading_stores_versions_only_for_changes(store: EventStore) -> None:
    directory = DirectoryStore(store.engine)
    assert directory.resolve(["疏附县信访局"], D1).loaded is False
    units = slice_units()
    first = directory.load(units, D1, "slice.csv")
    assert first.load_id == 1 and first.diff.counts == {"created": len(units)}
    again = directory.load(units, D2, "slice.csv")
    assert again.load_id is None and again.diff.empty and again.diff.unchanged == len(units)

    # 疏附县人社局 renamed, 伽师县住建局 merged into 伽师县人民政府, a village dropped.
    changed = []
    for u in units:
        if u.id == "653121-rsj":
            u = u.model_copy(update={"name": "疏附县人力资源局"})
        if u.id == "653129-zjj":
            u = u.model_copy(update={"status": UnitStatus.MERGED, "merged_into": "653129-gov"})
        if u.id == "653121100001":
            continue
        changed.append(u)
    report = directory.load(changed, D2, "slice-2.csv")
    assert report.load_id == 2
    assert report.diff.counts == {"renamed": 1, "merged": 1, "dissolved": 1}
    assert {c.unit_id: c.kinds for c in report.diff.changes}["653121-rsj"] == (ChangeKind.RENAMED,)

    # Before the change the old name answers; after it the new one does.
    before = directory.resolve(["疏附县人力资源和社会保障局"], D1).units[0]
    assert before.unit is not None and before.unit.active and before.parent is not None
    assert before.parent.name == "喀什地区人力资源和社会保障局"
    after = directory.resolve(["疏附县人力资源和社会保障局", "疏附县人力资源局"], D2)
    old, new = after.units
    assert old.unit is not None and old.unit.name == "疏附县人力资源局"  # renamed since
    assert new.unit is not None and new.unit.id == "653121-rsj"
    merged = directory.resolve(["伽师县住房和城乡建设局"], D2).units[0]
    assert merged.unit is not None and merged.unit.status is UnitStatus.MERGED
    assert merged.successor is not None and merged.successor.name == "伽师县人民政府"
    assert directory.resolve(["没有这个单位"], D2).units[0].unit is None
    assert [v.version for v in directory.history("653121-rsj")] == [1, 2]
    assert len(directory.units_on(D2)) == len(units) - 2
    assert len(directory.units_on(D1)) == len(units)

    with pytest.raises(DirectoryOrderError, match="Load files in date order"):
        directory.load(units, D1, "late.csv")


def test_a_dry_run_reports_and_stores_nothing(store: EventStore) -> None:
    directory = DirectoryStore(store.engine)
    report = directory.load(slice_units(), D1, "slice.csv", dry_run=True)
    assert report.load_id is None and report.diff.counts["created"] == len(slice_units())
    assert directory.last_load() is None


def test_petition_show_says_what_the_directory_has_of_the_units() -> None:
    from rich.console import Console

    from petitionflow.cli import render
    from petitionflow.domain import commands as c
    from petitionflow.domain.units import DirectoryIndex, UnitVersion
    from testkit.builders import COUNTY_UNIT, CaseDriver

    d = CaseDriver().registered()
    d.at(1).ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    units = slice_units()
    versions = [UnitVersion(u, 1, D1, 1) for u in units]
    renamed = next(u for u in units if u.id == "653121-rsj").model_copy(
        update={"name": "疏附县人力资源局"}
    )
    versions.append(UnitVersion(renamed, 2, D2, 2))
    versions.sort(key=lambda v: (v.unit.id, v.version))
    index = DirectoryIndex(2, versions)

    def shown(answer: object) -> str:
        console = Console(width=200, record=True)
        for part in render.show(d.case_id, d.state, reveal=False, units=answer):  # type: ignore[arg-type]
            console.print(part)
        return console.export_text()

    assert "653121-rsj, department, county; now 疏附县人力资源局" in shown(
        index.resolve([COUNTY_UNIT.name], D2)
    )
    assert "(653121-rsj, department, county)" in shown(index.resolve([COUNTY_UNIT.name], D1))
    assert "not in the unit directory" in shown(
        DirectoryIndex(1, []).resolve([COUNTY_UNIT.name], D1)
    )
    assert "653121-rsj" not in shown(None)
