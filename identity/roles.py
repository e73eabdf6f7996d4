"""The role → permission matrix, in one place, and the scope each permission has.

A permission is a command kind (``transfer_petition``...) or one of the read
permissions below. Each is scoped:

- ``unit`` scope: the case names the person's unit (registering office, handling unit,
  review unit). Registering a petition needs the petition's place inside the unit's
  jurisdiction instead.
- ``subtree`` scope (supervisors, analysts, administrators): the case's place lies in
  the person's jurisdiction or below it.

The domain's own checks (``domain/decide.py``'s who-may table) still run after these:
a handler's token lets its unit send ``issue_decision``; ``decide`` then refuses it
unless that unit is the one handling this case.
"""

from __future__ import annotations

from enum import StrEnum

from petitionflow.domain.decide import EXTERNAL_COMMANDS, PETITIONER_COMMANDS


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


class Scope(StrEnum):
    UNIT = "unit"
    SUBTREE = "subtree"


# Read permissions (besides the command kinds).
READ_CASE = "read_case"  # one case's view and its event history
SEARCH = "search"  # list and filter cases
REPORT = "report"  # the statistics report


_READS = frozenset({READ_CASE, SEARCH})

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
    },
    Role.SUPERVISOR: _READS | {REPORT},
    Role.CONFERENCE_SECRETARY: _READS | {"record_conference_decision"},
    Role.REVIEWER: _READS
    | {
        "decide_review",
        "reply_review",
        "decide_re_review",
        "reply_re_review",
        "record_hearing",
        "record_delivery",
    },
    Role.ANALYST: _READS | {REPORT},
    Role.ADMINISTRATOR: _READS | {REPORT},
    Role.PETITIONER_PROXY: PETITIONER_COMMANDS,
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
}

# Every command a caller may send is someone's permission; the engine's own are nobody's.
_GRANTED = frozenset().union(*MATRIX.values())
assert set(EXTERNAL_COMMANDS) | {"register_petition"} <= _GRANTED, set(EXTERNAL_COMMANDS) - _GRANTED


def roles_for(permission: str) -> tuple[Role, ...]:
    return tuple(role for role in Role if permission in MATRIX[role])
