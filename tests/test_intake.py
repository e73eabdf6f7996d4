import pytest
from pydantic import ValidationError

from petitionflow.domain.intake import Intake, field_errors
from petitionflow.domain.values import Channel, Jurisdiction
from testkit.builders import intake_data, make_intake


def errors(**overrides: object) -> list[str]:
    with pytest.raises(ValidationError) as err:
        Intake.model_validate(intake_data(**overrides))
    return field_errors(err.value)


def petitioner(**overrides: object) -> dict[str, object]:
    return {**intake_data()["petitioner"], **overrides}


def test_a_complete_intake_is_accepted() -> None:
    intake = make_intake()
    assert intake.channel is Channel.VISIT and not intake.is_group
    assert intake.jurisdiction.level.value == "township"


def test_leader_channels_are_sub_channels() -> None:
    assert Channel.LEADER_MAILBOX.parent is Channel.ONLINE
    assert Channel.LEADER_RECEPTION.parent is Channel.VISIT
    assert make_intake(channel="leader_mailbox").channel.parent is Channel.ONLINE


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"channel": "carrier_pigeon"}, "channel"),
        ({"request": "   "}, "request"),
        ({"facts": "x" * 10_001}, "facts"),
        ({"reasons": "含有\x07控制字符"}, "reasons"),
        ({"classification": "complaint"}, "classification"),
        ({"received_at": "2026-03-02T09:00:00"}, "received_at"),
        ({"petitioner": petitioner(name="")}, "petitioner.name"),
        ({"petitioner": petitioner(phone="12345")}, "petitioner.phone"),
        ({"petitioner": petitioner(id_number="65312119850612003X")}, "petitioner.id_number"),
        ({"petitioner": petitioner(id_number="653121198513320031")}, "petitioner.id_number"),
        ({"petitioner": petitioner(nickname="x")}, "petitioner.nickname"),
        ({"jurisdiction": {"region": "新疆维吾尔自治区", "county": "疏附县"}}, "jurisdiction"),
    ],
)
def test_bad_fields_are_rejected_with_their_location(
    overrides: dict[str, object], field: str
) -> None:
    lines = errors(**overrides)
    assert any(line.startswith(f"{field}:") for line in lines), lines


def test_at_most_five_representatives() -> None:
    rep = {"name": "代表", "phone": "13900001111"}
    assert make_intake(representatives=[rep] * 5).is_group
    assert errors(representatives=[rep] * 6) == [
        "representatives: at most 5 representatives may be named (Art 20)"
    ]


def test_phones_are_normalised() -> None:
    assert make_intake(petitioner=petitioner(phone="+86 138 9988 7766")).petitioner.phone == (
        "13899887766"
    )
    assert (
        make_intake(petitioner=petitioner(phone="0998-2823456")).petitioner.phone == "0998-2823456"
    )


def test_jurisdiction_levels() -> None:
    j = Jurisdiction(region="新疆维吾尔自治区", prefecture="喀什地区", county="疏附县")
    up = j.up()
    assert up == Jurisdiction(region="新疆维吾尔自治区", prefecture="喀什地区")
    assert up is not None and up.contains(j) and not j.contains(up)
    assert Jurisdiction(region="新疆维吾尔自治区").up() is None
    assert str(j) == "新疆维吾尔自治区 > 喀什地区 > 疏附县"
