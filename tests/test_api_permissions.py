"""The permission table: every role × every permission × four scope setups, through the
API against the real dev server, each cell allowed or refused with the exact code.

The expected answers come from the tables written below, not from
``identity.roles.MATRIX``: ``test_the_written_table_is_the_matrix`` compares the two,
so a wrong matrix fails here twice, once by name and once by behaviour.

Each role's row runs on a case of its own, registered by 喀什地区信访局 and transferred
to 疏附县人力资源和社会保障局 (its place: 疏附县托克扎克镇). Its tokens:

========== =================================== =============================== ============
scope      unit                                juris                           unit named?
========== =================================== =============================== ============
out        伽师县住房和城乡建设局              新疆 / 喀什地区 / 伽师县        no, outside
unit_only  疏附县人力资源和社会保障局          新疆 / 和田地区                 yes, outside
juris_only 疏附县住房和城乡建设局              新疆 / 喀什地区 / 疏附县        no, inside
in         疏附县人力资源和社会保障局          新疆 / 喀什地区 / 疏附县        yes, inside
========== =================================== =============================== ============

A unit-scoped permission passes when the token's unit is named on the case, a
subtree-scoped one when the case's place is in the token's jurisdiction; the crossed
setups (unit_only, juris_only) catch a check that mixes the two. Registering needs the
petition's place inside the token's jurisdiction whatever the role's scope; search and
report have no case, so no scope refusal (they filter to the caller's scope).

An allowed cell only has to get past the permission layer: the answer is a 200/201 or
a problem whose code is the domain's (409 for the case's stage, 422 for the empty body,
403 ``not_the_registering_office``...), never ``permission_denied`` or ``out_of_scope``.
Commands go with an empty body, so only acknowledge and accept (and the petitioner's
withdrawal) can change the case; none of them changes the units named on it or its
place. Within a row the cells run reads first and the withdrawal last, each command in
the scopes ``out``, ``unit_only``, ``juris_only``, ``in``: every refusal expected of a
cell is checked before the case could have been withdrawn.

SQLite only: the table tests the permission layer, which reads the case from the
workflow, not from the store (``test_api.py`` runs the API on both stores).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from petitionflow.api.problems import PROBLEM_BASE
from petitionflow.domain.decide import EXTERNAL_COMMANDS
from petitionflow.identity.roles import (
    DECIDE_DISPUTE,
    DISPUTE_PERMISSIONS,
    MATRIX,
    MEDIATE_DISPUTE,
    READ_CASE,
    READ_DISPUTE,
    REPORT,
    REPORT_DISPUTE,
    SCOPES,
    SEARCH,
    Role,
    Scope,
)
from testkit.builders import COUNTY_UNIT, OTHER_COUNTY_UNIT, intake_data
from tests.apistack import SHUFU, Answer, ApiStack
from tests.temporal import Harness

BUREAU = "喀什地区信访局"
DENIED, OUT = "permission_denied", "out_of_scope"
PERMISSION_CODES = {DENIED, OUT}


@pytest.fixture
def store_url(sqlite_url: str) -> str:
    """SQLite only (see the module's docstring)."""
    return sqlite_url


# ---- the written table ----------------------------------------------------------------

READS = {READ_CASE, SEARCH}
ROUTING = {
    "transfer_petition",
    "assign_petition",
    "divert_petition",
    "not_accept_petition",
    "confirm_repeat",
    "dismiss_repeat",
}
ALLOWED: dict[Role, set[str]] = {
    Role.REGISTRAR: READS | ROUTING | {"register_petition", "escalate_to_conference"},
    Role.HANDLER: READS
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
        READ_DISPUTE,
        MEDIATE_DISPUTE,
    },
    Role.SUPERVISOR: READS | {REPORT, READ_DISPUTE},
    Role.CONFERENCE_SECRETARY: READS | {"record_conference_decision", READ_DISPUTE, DECIDE_DISPUTE},
    Role.REVIEWER: READS
    | {
        "decide_review",
        "reply_review",
        "decide_re_review",
        "reply_re_review",
        "record_hearing",
        "record_delivery",
    },
    Role.ANALYST: READS | {REPORT, READ_DISPUTE},
    Role.ADMINISTRATOR: READS | {REPORT, READ_DISPUTE},
    # 村信访信息员: disputes only; every case cell is refused
    Role.INFORMATION_OFFICER: {REPORT_DISPUTE, READ_DISPUTE},
    Role.PETITIONER_PROXY: {
        "record_rating",
        "request_review",
        "request_re_review",
        "withdraw_petition",
    },
}
UNIT_SCOPED = {
    Role.REGISTRAR,
    Role.HANDLER,
    Role.CONFERENCE_SECRETARY,
    Role.REVIEWER,
}  # the others: subtree


@dataclass(frozen=True)
class Setup:
    name: str
    unit: str
    juris: tuple[str, ...]
    unit_named: bool  # the token's unit is named on the case
    place_inside: bool  # the case's place is in the token's jurisdiction


SETUPS = (
    Setup("out", OTHER_COUNTY_UNIT.name, ("新疆维吾尔自治区", "喀什地区", "伽师县"), False, False),
    Setup("unit_only", COUNTY_UNIT.name, ("新疆维吾尔自治区", "和田地区"), True, False),
    Setup("juris_only", "疏附县住房和城乡建设局", SHUFU, False, True),
    Setup("in", COUNTY_UNIT.name, SHUFU, True, True),
)


@dataclass(frozen=True)
class Cell:
    name: str  # what a failure is called: the command, or the read's route
    permission: str
    method: str
    path: str  # {case} is the row's case


# reads first, the commands that can end the case last
_LAST = ("withdraw_petition",)
CELLS = (
    Cell("GET case", READ_CASE, "GET", "/v1/cases/{case}"),
    Cell("GET events", READ_CASE, "GET", "/v1/cases/{case}/events"),
    Cell("search", SEARCH, "GET", "/v1/cases"),
    Cell("report", REPORT, "GET", "/v1/report"),
    Cell("register_petition", "register_petition", "POST", "/v1/cases"),
    *(
        Cell(kind, kind, "POST", f"/v1/cases/{{case}}/commands/{kind}")
        for kind in sorted(EXTERNAL_COMMANDS, key=lambda k: (k in _LAST, k))
    ),
)


def expected(role: Role, cell: Cell, setup: Setup) -> str | None:
    """The refusal code of this cell, or None: the permission layer lets it through."""
    if cell.permission not in ALLOWED[role]:
        return DENIED
    if cell.permission in (SEARCH, REPORT):
        return None
    if cell.permission == "register_petition" or role not in UNIT_SCOPED:
        return None if setup.place_inside else OUT
    return None if setup.unit_named else OUT


# ---- the tests --------------------------------------------------------------------------


def test_the_written_table_is_the_matrix() -> None:
    assert {role: set(MATRIX[role]) for role in Role} == ALLOWED
    assert {role for role in Role if SCOPES[role] is Scope.UNIT} == UNIT_SCOPED
    every = {c.permission for c in CELLS}
    assert every == set(EXTERNAL_COMMANDS) | {"register_petition", READ_CASE, SEARCH, REPORT}
    # no permission left out of the table; the disputes' have no HTTP cells yet (their
    # scopes are checked in tests/test_dispute_roles.py)
    assert every >= set().union(*MATRIX.values()) - DISPUTE_PERMISSIONS


def test_the_table_covers_every_cell() -> None:
    assert len(Role) == 9 and len(CELLS) == 31 and len(SETUPS) == 4


async def _case(api: ApiStack) -> str:
    registrar = api.token(BUREAU, "registrar")
    case_id = f"P{uuid.uuid4().hex[:10]}"
    answer = await api.call(
        "POST", "/v1/cases", registrar, {"case_id": case_id, "intake": intake_data(case_id)}
    )
    assert answer.status == 201, answer.body
    routed = await api.call(
        "POST",
        f"/v1/cases/{case_id}/commands/transfer_petition",
        registrar,
        {"to_unit": COUNTY_UNIT.model_dump(mode="json")},
    )
    assert routed.status == 200, routed.body
    return case_id


async def _send(api: ApiStack, token: str, cell: Cell, case_id: str) -> tuple[Answer, str | None]:
    path = cell.path.format(case=case_id)
    if cell.permission == "register_petition":
        new_id = f"P{uuid.uuid4().hex[:10]}"
        body: dict[str, Any] = {"case_id": new_id, "intake": intake_data(new_id)}
        return await api.call("POST", path, token, body), new_id
    return await api.call(cell.method, path, token, {} if cell.method == "POST" else None), None


def _wrong(role: Role, cell: Cell, setup: Setup, answer: Answer) -> str | None:
    """What is wrong with this answer, or None."""
    want = expected(role, cell, setup)
    body = answer.body
    code = body.get("code") if isinstance(body, dict) else None
    got = f"{answer.status} {code or str(body)[:100]}"
    if want is not None:
        if (answer.status, code) == (403, want):
            return None
        return f"expected 403 {want}, got {got}"
    if answer.status in (200, 201):
        return None
    problem = isinstance(body, dict) and str(body.get("type", "")).startswith(PROBLEM_BASE)
    # a domain answer: the case's stage, the empty body, the domain's own who-may
    domain = code not in PERMISSION_CODES and not str(code).startswith("token_")
    if 400 <= answer.status < 500 and problem and domain:
        return None
    return f"expected to pass the permission layer, got {got}"


@pytest.mark.parametrize("role", list(Role), ids=str)
async def test_permission_table(api: ApiStack, petitions: Harness, role: Role) -> None:
    case_id = await _case(api)
    petitions.track(case_id)
    tokens = {s.name: api.token(s.unit, role, juris=s.juris) for s in SETUPS}
    failures: list[str] = []
    for cell in CELLS:
        for setup in SETUPS:
            answer, registered = await _send(api, tokens[setup.name], cell, case_id)
            if registered and answer.status == 201:
                petitions.track(registered)
            wrong = _wrong(role, cell, setup, answer)
            if wrong:
                failures.append(f"{role} × {cell.name} × {setup.name}: {wrong}")
    assert not failures, "\n".join(failures)


def test_cells_run_reads_first_and_the_withdrawal_last() -> None:
    names = [c.name for c in CELLS]
    assert names[:5] == ["GET case", "GET events", "search", "report", "register_petition"]
    assert names[-1] == "withdraw_petition"
    assert [s.name for s in SETUPS][-1] == "in"


@pytest.mark.parametrize("body", [{}, {"intake": {"channel": "pigeon"}}], ids=["empty", "bad"])
async def test_registering_without_the_permission_is_refused_before_the_intake_is_read(
    api: ApiStack, body: dict[str, Any]
) -> None:
    """A role without register_petition learns nothing about the intake's fields."""
    handler = api.token(COUNTY_UNIT.name, "handler", juris=SHUFU)
    answer = await api.call("POST", "/v1/cases", handler, body)
    assert (answer.status, answer.body["code"]) == (403, DENIED)
    registrar = api.token(BUREAU, "registrar")
    answer = await api.call("POST", "/v1/cases", registrar, body)
    assert (answer.status, answer.body["code"]) == (422, "invalid_request")
