"""The role → permission matrix, in one place, and the scope each permission has.

A permission is a command kind (``transfer_petition``...) or one of the read
permissions below. Each is scoped:

- ``unit`` scope: the case names the person's unit (registering office, handling unit,
  review unit). Registering a petition needs the petition's place inside the unit's
  jurisdiction instead.
- ``subtree`` scope (supervisors, analysts, administrators, information officers):
  the case's (or dispute's) place lies in the person's jurisdiction or below it.

For a village dispute, ``unit`` scope means the dispute names the person's unit as its
mediator; ``start_mediation``, before any mediator is named, needs the dispute's place
inside the unit's jurisdiction, as registering a petition does; the conference
secretary's ``decide_dispute`` needs the place inside its jurisdiction (the township's
conference office). See :data:`DISPUTE_COMMANDS`.

The domain's own checks (``domain/decide.py``'s who-may table) still run after these:
a handler's token lets its unit send ``issue_decision``; ``decide`` then refuses it
unless that unit is the one handling this case.
"""

from __future__ import annotations

from enum import StrEnum

from petitionflow.domain.decide import EXTERNAL_COMMANDS, PETITIONER_COMMANDS
from petitionflow.domain.values import Jurisdiction


class Role(StrEnum):
    REGISTRAR = "registrar"  # 登记
    HANDLER = "handler"  # 承办
    SUPERVISOR = "supervisor"  # 督办
    CONFERENCE_SECRETARY = "conference_secretary"  # 联席会议
    REVIEWER = "reviewer"  # 复查/复核
    ANALYST = "analyst"  # read-only
    ADMINISTRATOR = "administrator"
    # A backend service that collects the petitioner's own acts (the evaluation service
    # takes ratings by SMS or phone): its commands carry the petitioner actor.
    PETITIONER_PROXY = "petitioner_proxy"
    # 村信访信息员: reports the disputes found in the villages of its ``juris`` (subtree)
    # and reads them (矛盾纠纷排查化解, workflows/dispute.py). No case permission.
    INFORMATION_OFFICER = "information_officer"


class Scope(StrEnum):
    UNIT = "unit"
    SUBTREE = "subtree"


# Read permissions (besides the command kinds).
READ_CASE = "read_case"  # one case's view and its event history
SEARCH = "search"  # list and filter cases
REPORT = "report"  # the statistics report


_READS = frozenset({READ_CASE, SEARCH})

# Village disputes (domain/dispute.py). Their commands share names with a case's
# (start_mediation...), so a dispute's permissions are their own:
REPORT_DISPUTE = "report_dispute"  # report a dispute found in a village
READ_DISPUTE = "read_dispute"  # one dispute's view
# start mediation and record its outcome: resolution, follow-up, conversion into a
# petition, escalation (the domain then checks the actor is the dispute's mediator)
MEDIATE_DISPUTE = "mediate_dispute"
DECIDE_DISPUTE = "decide_dispute"  # record the township conference's decision on it
DISPUTE_PERMISSIONS = frozenset({REPORT_DISPUTE, READ_DISPUTE, MEDIATE_DISPUTE, DECIDE_DISPUTE})
# Which permission each dispute command needs.
DISPUTE_COMMANDS: dict[str, str] = {
    "report_dispute": REPORT_DISPUTE,
    "start_mediation": MEDIATE_DISPUTE,
    "record_resolution": MEDIATE_DISPUTE,
    "record_follow_up": MEDIATE_DISPUTE,
    "convert_to_petition": MEDIATE_DISPUTE,
    "escalate_to_conference": MEDIATE_DISPUTE,
    "record_conference_decision": DECIDE_DISPUTE,
}

MATRIX: dict[Role, frozenset[str]] = {
    Role.REGISTRAR: _READS
    | {
        "register_petition",
        "transfer_petition",
        "assign_petition",
        "divert_petition",
        "not_accept_petition",
        "confirm_repeat",
        "dismiss_repeat",
        "escalate_to_conference",
    },
    Role.HANDLER: _READS
    | {
        "acknowledge_receipt",
        "accept_petition",
        "object_to_routing",
        "start_mediation",
        "record_mediation",
        "record_hearing",
        "extend_handling",
        "escalate_to_conference",
        "issue_decision",
        "report_implementation",
        "record_delivery",
        # mediators (人民调解委员会, 司法所) are handling units: they mediate disputes too
        READ_DISPUTE,
        MEDIATE_DISPUTE,
    },
    Role.SUPERVISOR: _READS | {REPORT, READ_DISPUTE},
    Role.CONFERENCE_SECRETARY: _READS
    | {"record_conference_decision", READ_DISPUTE, DECIDE_DISPUTE},
    Role.REVIEWER: _READS
    | {
        "decide_review",
        "reply_review",
        "decide_re_review",
        "reply_re_review",
        "record_hearing",
        "record_delivery",
    },
    Role.ANALYST: _READS | {REPORT, READ_DISPUTE},
    Role.ADMINISTRATOR: _READS | {REPORT, READ_DISPUTE},
    Role.PETITIONER_PROXY: PETITIONER_COMMANDS,
    Role.INFORMATION_OFFICER: frozenset({REPORT_DISPUTE, READ_DISPUTE}),
}

SCOPES: dict[Role, Scope] = {
    Role.REGISTRAR: Scope.UNIT,
    Role.HANDLER: Scope.UNIT,
    Role.SUPERVISOR: Scope.SUBTREE,
    Role.CONFERENCE_SECRETARY: Scope.UNIT,
    Role.REVIEWER: Scope.UNIT,
    Role.ANALYST: Scope.SUBTREE,
    Role.ADMINISTRATOR: Scope.SUBTREE,
    Role.PETITIONER_PROXY: Scope.SUBTREE,
    Role.INFORMATION_OFFICER: Scope.SUBTREE,
}

# Every command a caller may send is someone's permission; the engine's own are nobody's.
_GRANTED = frozenset().union(*MATRIX.values())
assert set(EXTERNAL_COMMANDS) | {"register_petition"} <= _GRANTED, set(EXTERNAL_COMMANDS) - _GRANTED


def roles_for(permission: str) -> tuple[Role, ...]:
    return tuple(role for role in Role if permission in MATRIX[role])


def dispute_refusal(
    roles: frozenset[Role],
    unit: str,
    jurisdiction: Jurisdiction,
    permission: str,
    place: Jurisdiction | None,
    mediator: str | None,
    kind: str | None = None,
) -> str | None:
    """Why a caller may not use ``permission`` on a dispute (``permission_denied``,
    ``out_of_scope``), or None. ``place``/``mediator``: the dispute's; ``kind``: the
    command (``start_mediation`` names no mediator yet, so it is scoped by place)."""
    scopes = {SCOPES[r] for r in roles if permission in MATRIX[r]}
    if not scopes:
        return "permission_denied"
    inside = place is not None and jurisdiction.contains(place)
    if Scope.SUBTREE in scopes and inside:
        return None
    if Scope.UNIT in scopes:
        if permission in (REPORT_DISPUTE, DECIDE_DISPUTE) or kind == "start_mediation":
            return None if inside else "out_of_scope"
        if mediator is not None and unit == mediator:
            return None
    return "out_of_scope"
