"""The registered petition (登记, Arts 19, 22, 23) and its strict validation.

Every field error comes back from pydantic with the field's location, e.g.
``petitioner.phone: not a mainland mobile or landline number``.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field, ValidationError

from .values import (
    Channel,
    Classification,
    Frozen,
    Jurisdiction,
    LongText,
    MediumText,
    ShortText,
)

MAX_REPRESENTATIVES = 5  # Art 20

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _phone(value: str) -> str:
    compact = value.replace(" ", "")
    if compact.startswith("+86"):
        compact = compact[3:]
    if not (_MOBILE.match(compact) or _LANDLINE.match(compact)):
        raise ValueError(
            "not a mainland mobile (11 digits starting 13-19) or landline number (0xx-xxxxxxxx)"
        )
    return compact


def id_check_character(first17: str) -> str:
    """GB 11643 check character (ISO 7064 MOD 11-2) of the first 17 digits."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def _id_number(value: str) -> str:
    """18-character resident ID: region code, birth date, sequence, ISO 7064 check character."""
    v = value.strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", v):
        raise ValueError("a resident ID number has 17 digits and a check digit or X")
    try:
        date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        raise ValueError("the birth date inside the ID number is not a real date") from None
    if v[17] != id_check_character(v[:17]):
        raise ValueError("the ID number's check character is wrong; re-read it from the card")
    return v


Phone = Annotated[str, Field(max_length=20), AfterValidator(_phone)]
IdNumber = Annotated[str, Field(max_length=18), AfterValidator(_id_number)]


class Petitioner(Frozen):
    name: ShortText  # a person's or an organisation's name
    address: MediumText
    phone: Phone
    id_number: IdNumber | None = None


class Representative(Frozen):
    name: ShortText
    phone: Phone
    id_number: IdNumber | None = None


class Intake(Frozen):
    channel: Channel
    petitioner: Petitioner
    request: LongText  # 请求
    facts: LongText  # 事实
    reasons: LongText  # 理由
    classification: Classification
    jurisdiction: Jurisdiction
    received_at: AwareDatetime
    representatives: tuple[Representative, ...] = Field(
        default=(),
        max_length=MAX_REPRESENTATIVES,
        description="group visits name at most 5 representatives (Art 20)",
    )

    @property
    def is_group(self) -> bool:
        return bool(self.representatives)


def field_errors(error: ValidationError) -> list[str]:
    """Flatten a pydantic error into ``field.path: message`` lines for people and logs."""
    lines = []
    for item in error.errors():
        loc = ".".join(str(p) for p in item["loc"]) or "(root)"
        msg = item["msg"]
        if item["type"] == "too_long" and loc.endswith("representatives"):
            msg = f"at most {MAX_REPRESENTATIVES} representatives may be named (Art 20)"
        lines.append(f"{loc}: {msg}")
    return lines
