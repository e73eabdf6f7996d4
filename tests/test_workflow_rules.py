"""Who may issue a command, and delivery (送达), through the workflow on the dev server.

Updates are refused with the rejection code as the error type; a signal from the wrong
actor becomes a ``CommandRejected`` event; a reply never delivered is reminded to the
unit that owes it; the windows run from the day the petitioner received the reply.
"""

from __future__ import annotations

from datetime import timedelta

from petitionflow.domain import commands as c
from petitionflow.domain.policy import DeadlineKind
from petitionflow.domain.state import Stage
from petitionflow.domain.values import Actor
from testkit.builders import BUREAU, COUNTY_UNIT, HANDLER, PETITIONER, PREFECTURE_UNIT
from tests.temporal import Harness
from tests.test_needs_attention import details
from tests.test_workflow import DECISION, to_handling, to_replied

PREFECTURE = Actor(unit=PREFECTURE_UNIT.name, person="刘洋")


async def test_a_decision_from_another_unit_is_refused_before_it_enters_history(
    petitions: Harness,
) -> None:
    case = await to_handling(await petitions.submit())
    code = await case.rejected(c.IssueDecision, BUREAU, outcome="support", **DECISION)
    assert code == "not_the_handling_unit"
    assert (await case.state()).stage is Stage.HANDLING
    await case.ok(c.IssueDecision, HANDLER, outcome="support", **DECISION)


async def test_a_signal_from_the_wrong_actor_is_kept_as_a_rejection(petitions: Harness) -> None:
    case = await to_replied(await petitions.submit())
    rating = case.cmd(c.RecordRating, HANDLER, rating="satisfied")  # the unit rating itself
    await case.signal(rating)
    state = await case.settled(rating.command_id)
    assert state.rating is None and state.stage is Stage.REPLIED
    rejected = [e for e in case.events() if e.type == "CommandRejected"]
    assert [(e.command_kind, e.code) for e in rejected] == [("record_rating", "petitioner_only")]


async def test_an_undelivered_reply_is_reminded_and_the_windows_wait_for_delivery(
    petitions: Harness,
) -> None:
    case = await to_replied(await petitions.submit(), delivered=False)
    assert (
        await case.rejected(
            c.RequestReview, PETITIONER, review_unit=PREFECTURE_UNIT, reasons="不服"
        )
        == "reply_not_delivered"
    )
    assert "Awaiting delivery" in await details(case)  # the UI's current details say so
    await case.advance(12)  # the 7-day delivery period passes
    state = await case.state()
    assert state.overdue and state.deadlines[DeadlineKind.DELIVERY].missed
    notices = petitions.client_outbox(case.case_id)
    assert ("reminder", COUNTY_UNIT.name) in [(n.kind, n.recipient) for n in notices]
    assert "delivery" in notices[0].message and "买买提" not in notices[0].message
    await case.advance(30)  # a month on, nothing has lapsed against the petitioner
    state = await case.state()
    assert state.stage is Stage.REPLIED and state.replied_on is not None
    # two days ago in the case's time (42 days after the reply; the time-skipping
    # server runs ahead of the wall clock)
    received = state.replied_on + timedelta(days=40)
    await case.ok(c.RecordDelivery, HANDLER, document="reply", method="post", delivered_on=received)
    state = await case.state()
    assert state.deadlines[DeadlineKind.REVIEW_REQUEST].start == received
    await case.advance(20)
    await case.ok(c.RequestReview, PETITIONER, review_unit=PREFECTURE_UNIT, reasons="不服")
    assert (await case.state()).stage is Stage.REVIEW


async def test_a_review_after_a_satisfied_rating_says_why_it_is_refused(
    petitions: Harness,
) -> None:
    case = await to_replied(await petitions.submit())
    await case.ok(c.RecordRating, PETITIONER, rating="satisfied")
    code = await case.rejected(
        c.RequestReview, PETITIONER, review_unit=PREFECTURE_UNIT, reasons="又不服"
    )
    assert code == "concluded_by_satisfied_rating"
    summary = await case.handle.result()
    assert summary.closed_reason == "resolved"


async def test_the_re_review_reply_is_final_once_delivered_by_the_re_review_unit(
    petitions: Harness,
) -> None:
    case = await to_replied(await petitions.submit())
    await case.ok(c.RequestReview, PETITIONER, review_unit=PREFECTURE_UNIT, reasons="不服")
    assert await case.rejected(c.DecideReview, HANDLER, outcome="explain", **DECISION) == (
        "not_the_review_unit"
    )
    await case.ok(c.DecideReview, PREFECTURE, outcome="explain", **DECISION)
    await case.ok(c.ReplyReview, PREFECTURE)
    await case.advance(10)  # the review reply is not delivered: the review unit is reminded
    notices = petitions.client_outbox(case.case_id)
    assert ("reminder", PREFECTURE_UNIT.name) in [(n.kind, n.recipient) for n in notices]
    result = await case.ok(c.RecordDelivery, PREFECTURE, document="review_reply", method="post")
    assert result.events == ["DeliveryRecorded"]
    assert DeadlineKind.RE_REVIEW_REQUEST in (await case.state()).deadlines
