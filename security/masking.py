"""Personal data masked for display: the petitioner's and representatives' names, ID
numbers, phones and addresses, and an accusation's material (检举控告, Art 30). Enough
is kept to recognise a case on the phone (the first character of a name, the last four
digits of a number). Used by the CLI and the HTTP API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from petitionflow.domain.values import Classification


def mask_name(name: str) -> str:
    return name[:1] + "**" if name else name


def mask_number(number: str) -> str:
    """138****7766 for a phone, 653121********0032 for an ID number."""
    if len(number) >= 15:
        return number[:6] + "*" * (len(number) - 10) + number[-4:]
    if len(number) >= 8:
        return number[:3] + "*" * (len(number) - 7) + number[-4:]
    return "*" * len(number)


def mask_address(address: str) -> str:
    return address[:6] + "****" if len(address) > 6 else "****"


def mask_person(person: dict[str, Any]) -> dict[str, Any]:
    masked = dict(person)
    for key, fn in (
        ("name", mask_name),
        ("phone", mask_number),
        ("id_number", mask_number),
        ("address", mask_address),
    ):
        if isinstance(masked.get(key), str):
            masked[key] = fn(masked[key])
    return masked


def mask_intake(intake: dict[str, Any]) -> dict[str, Any]:
    """An intake as JSON with its personal data masked (and an accusation's material)."""
    masked = dict(intake)
    if isinstance(masked.get("petitioner"), dict):
        masked["petitioner"] = mask_person(masked["petitioner"])
    if isinstance(masked.get("representatives"), list):
        masked["representatives"] = [
            mask_person(r) if isinstance(r, dict) else r for r in masked["representatives"]
        ]
    if masked.get("classification") == Classification.ACCUSATION.value:
        for key in ("request", "facts", "reasons"):
            if key in masked:
                masked[key] = "(withheld)"
    return masked


def mask_state_json(state: dict[str, Any]) -> dict[str, Any]:
    if isinstance(state.get("intake"), dict):
        return {**state, "intake": mask_intake(state["intake"])}
    return state


def mask_event_json(data: Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(data.get("intake"), dict):
        return {**data, "intake": mask_intake(data["intake"])}
    return dict(data)
