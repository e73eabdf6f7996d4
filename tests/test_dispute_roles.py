"""Who may do what with a village dispute: a written table against identity/roles.py."""

from __future__ import annotations

import pytest

from petitionflow.domain.values import Jurisdiction
from petitionflow.identity.roles import (
    DISPUTE_COMMANDS,
    READ_DISPUTE,
    REPORT_DISPUTE,
    Role,
    dispute_refusal,
)
from testkit.builders import CASE_PLACE, COUNTY, PREFECTURE, REGION
from testkit.disputes import MEDIATOR, TOWNSHIP_MEDIATOR

DENIED, OUT = "permission_denied", "out_of_scope"
SHUFU = Jurisdiction(region=REGION, prefecture=PREFECTURE, county=COUNTY)
JIASHI = Jurisdiction(region=REGION, prefecture=PREFECTURE, county="伽师县")

# (role, unit, juris, command or read, expected)
TABLE = [
    # the information officer: reports and reads in its villages, nothing else
    (Role.INFORMATION_OFFICER, "村委会", CASE_PLACE, "report_dispute", None),
    (Role.INFORMATION_OFFICER, "村委会", CASE_PLACE, READ_DISPUTE, None),
    (Role.INFORMATION_OFFICER, "村委会", JIASHI, "report_dispute", OUT),
    (Role.INFORMATION_OFFICER, "村委会", CASE_PLACE, "start_mediation", DENIED),
    (Role.INFORMATION_OFFICER, "村委会", CASE_PLACE, "convert_to_petition", DENIED),
    # a mediator (handler): starts mediation in its jurisdiction, then only its own
    (Role.HANDLER, MEDIATOR.unit, CASE_PLACE, "start_mediation", None),
    (Role.HANDLER, MEDIATOR.unit, JIASHI, "start_mediation", OUT),
    (Role.HANDLER, MEDIATOR.unit, JIASHI, "record_resolution", None),  # it is the mediator
    (Role.HANDLER, TOWNSHIP_MEDIATOR.unit, CASE_PLACE, "record_resolution", OUT),
    (Role.HANDLER, MEDIATOR.unit, CASE_PLACE, "report_dispute", DENIED),
    # the conference secretary records the decision for its place
    (Role.CONFERENCE_SECRETARY, "托克扎克镇信访办", CASE_PLACE, "record_conference_decision", None),
    (Role.CONFERENCE_SECRETARY, "伽师县信访局", JIASHI, "record_conference_decision", OUT),
    # supervisors read their subtree
    (Role.SUPERVISOR, "疏附县信访局", SHUFU, READ_DISPUTE, None),
    (Role.SUPERVISOR, "伽师县信访局", JIASHI, READ_DISPUTE, OUT),
    (Role.SUPERVISOR, "疏附县信访局", SHUFU, "escalate_to_conference", DENIED),
    (Role.REGISTRAR, "疏附县信访局", SHUFU, "report_dispute", DENIED),
    (Role.PETITIONER_PROXY, "sms", SHUFU, READ_DISPUTE, DENIED),
]


@pytest.mark.parametrize(("role", "unit", "juris", "what", "want"), TABLE)
def test_dispute_permissions(
    role: Role, unit: str, juris: Jurisdiction, what: str, want: str | None
) -> None:
    permission = DISPUTE_COMMANDS.get(what, what)
    kind = what if what in DISPUTE_COMMANDS else None
    got = dispute_refusal(
        frozenset({role}), unit, juris, permission, CASE_PLACE, MEDIATOR.unit, kind
    )
    assert got == want


def test_every_dispute_command_has_a_permission() -> None:
    from petitionflow.domain.dispute import COMMAND_TYPES

    assert set(DISPUTE_COMMANDS) == set(COMMAND_TYPES) - {"expire_mediation"}
    assert REPORT_DISPUTE in DISPUTE_COMMANDS.values()
