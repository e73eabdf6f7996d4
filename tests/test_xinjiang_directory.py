"""The generated Xinjiang directory (directory/data/xinjiang-generated.csv): the committed
file is the generator's output, it has the issue's shape, and it names every unit the demo
and the tests use, with the right jurisdiction."""

import csv
import io
from collections import Counter
from pathlib import Path

import pytest

from petitionflow.directory import xinjiang
from petitionflow.domain.values import Jurisdiction

COMMITTED = Path(__file__).resolve().parents[1] / "directory" / "data" / xinjiang.FILE_NAME
XJ, KS = "新疆维吾尔自治区", "喀什地区"
Row = dict[str, str]


@pytest.fixture(scope="module")
def generated() -> str:
    return xinjiang.render(xinjiang.generate())


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    with COMMITTED.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def by_id(rows: list[Row]) -> dict[str, Row]:
    return {row["id"]: row for row in rows}


@pytest.fixture(scope="module")
def by_name(rows: list[Row]) -> dict[str, Row]:
    return {row["name"]: row for row in rows}


def test_the_committed_file_is_the_generators_output(generated: str) -> None:
    assert COMMITTED.read_text(encoding="utf-8") == generated, (
        "directory/data/xinjiang-generated.csv is stale: run "
        "python -m petitionflow.directory.xinjiang and commit the file"
    )
    assert xinjiang.render(xinjiang.generate()) == generated  # the same on every run


def test_the_header_is_the_contracts(generated: str) -> None:
    assert generated.splitlines()[0] == (
        "id,name,kind,level,place,region,prefecture,county,township,parent,status,merged_into"
    )


def test_the_shape_is_xinjiangs(rows: list[Row]) -> None:
    places = Counter(row["level"] for row in rows if row["kind"] == "government")
    kinds = Counter(row["kind"] for row in rows)
    assert places["region"] == 1
    assert places["prefecture"] == 14
    assert 90 <= places["county"] <= 115
    assert 1_000 <= places["township"] <= 1_200
    assert 12_000 <= kinds["village"] <= 13_200
    assert 6_500 <= len(rows) - kinds["village"] <= 7_100
    assert kinds["enterprise"] == 73
    assert {row["status"] for row in rows} == {"active"}
    assert {row["merged_into"] for row in rows} == {""}
    prefectures = {
        row["place"]: row["prefecture"]
        for row in rows
        if row["kind"] == "government" and row["level"] == "prefecture"
    }
    assert prefectures == {
        "650100": "乌鲁木齐市",
        "650200": "克拉玛依市",
        "650400": "吐鲁番市",
        "650500": "哈密市",
        "652300": "昌吉回族自治州",
        "652700": "博尔塔拉蒙古自治州",
        "652800": "巴音郭楞蒙古自治州",
        "652900": "阿克苏地区",
        "653000": "克孜勒苏柯尔克孜自治州",
        "653100": "喀什地区",
        "653200": "和田地区",
        "654000": "伊犁哈萨克自治州",
        "654200": "塔城地区",
        "654300": "阿勒泰地区",
    }


def test_ids_and_names_are_unique(rows: list[Row]) -> None:
    assert len({row["id"] for row in rows}) == len(rows)
    assert len({row["name"] for row in rows}) == len(rows)


def test_place_codes_and_jurisdictions_have_the_levels_shape(rows: list[Row]) -> None:
    digits = {"region": 6, "prefecture": 6, "county": 6, "township": 9, "village": 12}
    depth = {"region": 1, "prefecture": 2, "county": 3, "township": 4, "village": 4}
    for row in rows:
        place, level = row["place"], row["level"]
        assert place.isdigit() and len(place) == digits[level], row
        assert row["id"] == place if row["kind"] == "village" else row["id"].startswith(place + "-")
        path = Jurisdiction(
            region=row["region"],
            prefecture=row["prefecture"] or None,
            county=row["county"] or None,
            township=row["township"] or None,
        ).path
        assert path[0] == XJ and len(path) == depth[level], row


def test_every_parent_exists_one_level_up(by_id: dict[str, Row]) -> None:
    up = {
        "prefecture": "region",
        "county": "prefecture",
        "township": "county",
        "village": "township",
    }
    digits = {"region": 2, "prefecture": 4, "county": 6}  # the code prefix a place shares
    for row in by_id.values():
        if row["level"] == "region":
            assert row["parent"] == "", row
            continue
        parent = by_id[row["parent"]]
        if row["kind"] == "enterprise":
            assert parent["id"] == f"{row['place']}-gov", row
        elif row["kind"] == "village":
            assert parent["kind"] == "government", row
            assert parent["place"] == row["place"][:9], row
        else:
            assert parent["level"] == up[row["level"]], row
            assert row["place"].startswith(parent["place"][: digits[parent["level"]]]), row
            same_line = row["id"].split("-")[1] == parent["id"].split("-")[1]
            if row["kind"] == "petition_bureau" and row["level"] == "township":
                assert parent["id"].endswith("-xfj"), row  # 信访办 -> 县信访局
            else:
                assert same_line and parent["kind"] == row["kind"], row
        # the parent's jurisdiction contains the unit's
        for level in ("region", "prefecture", "county", "township"):
            assert parent[level] in ("", row[level]), (row, parent)


@pytest.mark.parametrize(
    ("name", "id", "path"),
    [
        ("新疆维吾尔自治区信访局", "650000-xfj", (XJ,)),
        ("新疆维吾尔自治区人民政府", "650000-gov", (XJ,)),
        ("自治区人力资源和社会保障厅", "650000-rsj", (XJ,)),
        ("喀什地区信访局", "653100-xfj", (XJ, KS)),
        ("喀什地区人力资源和社会保障局", "653100-rsj", (XJ, KS)),
        ("喀什地区住房和城乡建设局", "653100-zjj", (XJ, KS)),
        ("疏附县信访局", "653121-xfj", (XJ, KS, "疏附县")),
        ("疏附县人民政府", "653121-gov", (XJ, KS, "疏附县")),
        ("疏附县人力资源和社会保障局", "653121-rsj", (XJ, KS, "疏附县")),
        ("疏附县住房和城乡建设局", "653121-zjj", (XJ, KS, "疏附县")),
        ("伽师县信访局", "653129-xfj", (XJ, KS, "伽师县")),
        ("伽师县住房和城乡建设局", "653129-zjj", (XJ, KS, "伽师县")),
    ],
)
def test_the_units_the_demo_and_tests_use_are_listed(
    by_name: dict[str, Row], name: str, id: str, path: tuple[str, ...]
) -> None:
    row = by_name[name]
    assert row["id"] == id
    assert tuple(row[lvl] for lvl in ("region", "prefecture", "county") if row[lvl]) == path


@pytest.mark.parametrize(
    ("county", "township"),
    [
        ("疏附县", "托克扎克镇"),
        ("疏附县", "吾库萨克镇"),
        ("疏附县", "塔什米里克乡"),
        ("疏附县", "站敏乡"),
        ("伽师县", "巴仁镇"),
        ("伽师县", "西克尔库勒镇"),
        ("伽师县", "夏普吐勒镇"),
    ],
)
def test_the_demos_townships_are_listed(
    by_name: dict[str, Row], by_id: dict[str, Row], county: str, township: str
) -> None:
    office = by_name[f"{county}{township}信访办"]
    government = by_name[f"{county}{township}人民政府"]
    for row in (office, government):
        assert (row["region"], row["prefecture"], row["county"], row["township"]) == (
            XJ,
            KS,
            county,
            township,
        )
        assert row["level"] == "township"
    assert by_id[office["parent"]]["name"] == f"{county}信访局"
    assert by_id[government["parent"]]["name"] == f"{county}人民政府"
    assert f"{office['place']}001" in by_id  # and it has villages


def test_the_demo_address_village_is_listed(by_name: dict[str, Row]) -> None:
    # testkit and the demo use the address 喀什地区疏附县托克扎克镇阿亚格曼干村3组
    village = by_name["疏附县托克扎克镇阿亚格曼干村"]
    assert village["kind"] == village["level"] == "village"
    assert village["township"] == "托克扎克镇"


def test_totals_are_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.csv"
    assert xinjiang.main(["--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "73" in printed and "12600 villages" in printed
    assert next(csv.reader(io.StringIO(out.read_text(encoding="utf-8")))) == list(xinjiang.HEADER)
