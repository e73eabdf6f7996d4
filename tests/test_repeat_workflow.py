"""Repeat petitions through PetitionWorkflow on the dev server, SQLite and PostgreSQL:
screening at registration, not accepted and linked both ways, suggestions the
registering office confirms or dismisses. The cases here share one petitioner
(``PETITIONER_DATA``); the default of the harness gives each case its own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio.api.sdk.v1 import WorkflowMetadata

from petitionflow.domain import commands as c
from petitionflow.domain.state import CaseState, Stage
from petitionflow.workers.ui_metadata import METADATA_QUERY
from petitionflow.workflows import search
from testkit.builders import (
    BUREAU,
    COUNTY_UNIT,
    HANDLER,
    OTHER_COUNTY_UNIT,
    PETITIONER,
    PETITIONER_DATA,
    PREFECTURE_UNIT,
    REGION_UNIT,
    id_with_check,
)
from tests.temporal import Case, Harness
from tests.test_workflow import DECISION, PREFECTURE_ACTOR, to_handling, to_replied

REGION_ACTOR = BUREAU.model_copy(update={"unit": REGION_UNIT.name})
REQUEST = "请求支付拖欠的2025年度工资共计48000元"
REWORDED = "要求公司支付拖欠的2025年度工资"  # 0.48 against REQUEST: a suggestion
REWORDED_AGAIN = "请求公司尽快支付2025年度拖欠工资48000元"  # 0.43 against REQUEST


async def same_petitioner(h: Harness, request: str = REQUEST) -> Case:
    return await h.submit(petitioner=PETITIONER_DATA, request=request)


async def until(case: Case, test: Callable[[CaseState], object], what: str) -> CaseState:
    """The case's state once ``test`` holds (a signal or screening lands a moment later)."""
    for _ in range(200):
        state = await case.state()
        if test(state):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"{case.case_id}: never {what}")


async def details(case: Case) -> str:
    metadata = await case.handle.query(METADATA_QUERY, result_type=WorkflowMetadata)
    return str(metadata.current_details)


def types(case: Case) -> list[str]:
    return [e.type for e in case.events()]


async def linked_attribute(case: Case) -> list[str] | None:
    desc = await case.handle.describe()
    value = desc.typed_search_attributes.get(search.LINKED_CASES)
    return None if value is None else list(value)


async def test_an_open_duplicate_is_not_accepted_and_both_streams_carry_the_link(
    petitions: Harness,
) -> None:
    first = await to_handling(await same_petitioner(petitions))
    second = await same_petitioner(petitions)
    state = await until(second, lambda s: s.stage is Stage.CLOSED, "closed")
    assert types(second) == [
        "PetitionRegistered",
        "CaseLinked",
        "PetitionNotAccepted",
        "CaseClosed",
    ]
    linked, not_accepted = second.events()[1:3]
    assert (linked.other_case_id, linked.relation) == (first.case_id, "repeat_of")
    assert not_accepted.reason.value == "duplicate_in_progress"
    assert first.case_id in not_accepted.detail and "第十九条" in not_accepted.detail
    assert state.closed_reason == "not_accepted" and state.repeat_of == first.case_id
    # the open case records the link through its workflow (a signal)
    earlier = await until(first, lambda s: s.linked_cases, "linked")
    assert earlier.linked_cases == (second.case_id,) and earlier.stage is Stage.HANDLING
    link = first.events()[-1]
    assert (link.type, link.relation, link.other_case_id) == (
        "CaseLinked",
        "repeated_by",
        second.case_id,
    )
    assert await linked_attribute(first) == [second.case_id]
    assert await linked_attribute(second) == [first.case_id]
    assert f"{first.case_id} (this case repeats it)" in await details(second)


async def test_a_repeat_of_a_case_final_after_re_review_is_not_accepted_again(
    petitions: Harness,
) -> None:
    first = await to_replied(await same_petitioner(petitions))
    await first.ok(c.RequestReview, PETITIONER, review_unit=PREFECTURE_UNIT, reasons="不服")
    await first.advance(10)
    await first.ok(c.DecideReview, PREFECTURE_ACTOR, outcome="not_support", **DECISION)
    await first.ok(c.ReplyReview, PREFECTURE_ACTOR)
    await first.ok(c.RecordDelivery, PREFECTURE_ACTOR, document="review_reply", method="post")
    await first.ok(c.RequestReReview, PETITIONER, review_unit=REGION_UNIT, reasons="仍不服")
    await first.ok(c.DecideReReview, REGION_ACTOR, outcome="not_support", **DECISION)
    await first.ok(c.ReplyReReview, REGION_ACTOR)
    await first.ok(c.RecordDelivery, REGION_ACTOR, document="re_review_reply", method="post")
    summary = await first.handle.result()  # the workflow has ended
    assert summary.final
    second = await same_petitioner(petitions)
    state = await until(second, lambda s: s.stage is Stage.CLOSED, "closed")
    assert types(second)[1:] == ["CaseLinked", "PetitionNotAccepted", "CaseClosed"]
    assert second.events()[2].reason.value == "final_after_re_review"
    assert "不再受理" in second.events()[2].detail
    assert state.repeat_of == first.case_id
    # no workflow owns the final case's stream: the link was appended to the store
    for _ in range(100):
        if types(first)[-1] == "CaseLinked":
            break
        await asyncio.sleep(0.05)
    records = petitions.store.read_stream(f"petition-{first.case_id}")
    assert records[-1].type == "CaseLinked"
    assert records[-1].metadata["workflow"]["workflow_id"] == f"petition-{second.case_id}"
    assert petitions.store.verify(f"petition-{first.case_id}").ok
    earlier = await first.state()  # the ended workflow's state and what came after
    assert earlier.linked_cases == (second.case_id,) and earlier.final


async def test_a_possible_repeat_is_suggested_and_the_registrar_decides(
    petitions: Harness,
) -> None:
    first = await to_handling(await same_petitioner(petitions))
    dismissed = await same_petitioner(petitions, REWORDED)
    state = await until(dismissed, lambda s: s.repeat_suggestions, "suggested")
    suggestion = state.repeat_suggestions[first.case_id]
    assert (suggestion.status.value, suggestion.certainty.value) == ("open", "possible")
    assert types(dismissed) == ["PetitionRegistered", "RepeatSuggested"]
    # only the registering office decides; the handling unit is refused
    code = await dismissed.rejected(c.DismissRepeat, HANDLER, other_case_id=first.case_id)
    assert code == "not_the_registering_office"
    code = await dismissed.rejected(c.ConfirmRepeat, BUREAU, other_case_id="KS-NONE")
    assert code == "no_such_suggestion"
    await dismissed.ok(c.DismissRepeat, BUREAU, other_case_id=first.case_id)
    state = await dismissed.state()
    assert not state.repeat_suggestions and state.stage is Stage.REGISTERED
    assert dismissed.events()[-1].actor == BUREAU

    confirmed = await same_petitioner(petitions, REWORDED_AGAIN)
    await until(confirmed, lambda s: s.repeat_suggestions, "suggested")
    # pending suggestions do not hold up routing
    await confirmed.ok(c.TransferPetition, to_unit=COUNTY_UNIT)
    result = await confirmed.ok(c.ConfirmRepeat, BUREAU, other_case_id=first.case_id)
    assert result.events == ["RepeatConfirmed", "CaseLinked", "PetitionNotAccepted", "CaseClosed"]
    assert confirmed.events()[-2].reason.value == "duplicate_in_progress"
    assert all(e.actor == BUREAU for e in confirmed.events()[-4:])
    earlier = await until(first, lambda s: s.linked_cases, "linked")
    assert earlier.linked_cases == (confirmed.case_id,)


async def test_another_petitioner_or_another_matter_is_not_flagged(petitions: Harness) -> None:
    first = await to_handling(await same_petitioner(petitions))
    other_matter = await same_petitioner(petitions, "请求修复小区门前道路的积水问题")
    someone_else = await petitions.submit(
        petitioner={**PETITIONER_DATA, "id_number": id_with_check("65312119900101001")},
        request=REQUEST,
    )
    elsewhere = await petitions.submit(
        petitioner=PETITIONER_DATA,
        request=REQUEST,
        jurisdiction={"region": "新疆维吾尔自治区", "prefecture": "喀什地区", "county": "伽师县"},
    )
    # a transfer waits for screening, which holds the case while it runs
    for case, unit in ((other_matter, COUNTY_UNIT), (someone_else, COUNTY_UNIT)):
        await case.ok(c.TransferPetition, to_unit=unit)
        assert types(case) == ["PetitionRegistered", "PetitionTransferred"]
    await elsewhere.ok(c.TransferPetition, to_unit=OTHER_COUNTY_UNIT)
    assert types(elsewhere) == ["PetitionRegistered", "PetitionTransferred"]
    state = await first.state()
    assert state.linked_cases == () and not state.repeat_suggestions
