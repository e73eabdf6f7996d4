"""The bare workflow the lifecycle benchmark compares against (sandboxed like ours).

It runs its activity calls either as regular activities or, with ``local=True``, as
local activities, so PetitionWorkflow can be compared with Temporal's own cost for
the same shape either way.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from petitionflow.eventstore import EventStore, NewEvent

STEPS = 7  # the updates of a full petition lifecycle after registration (LIFECYCLE)
TIMEOUT = timedelta(seconds=10)


@activity.defn(name="bench_noop")
def noop(step: int) -> int:
    return step


@workflow.defn(name="BareWorkflow")
class BareWorkflow:
    @workflow.init
    def __init__(self, local: bool) -> None:
        self.local = local
        self.steps = 0
        self.lock = asyncio.Lock()

    async def _call(self, n: int) -> None:
        if self.local:
            await workflow.execute_local_activity("bench_noop", n, start_to_close_timeout=TIMEOUT)
        else:
            await workflow.execute_activity("bench_noop", n, start_to_close_timeout=TIMEOUT)

    @workflow.run
    async def run(self, local: bool) -> int:
        await self._call(0)
        await workflow.wait_condition(lambda: self.steps >= STEPS)
        return self.steps

    @workflow.update
    async def step(self, n: int) -> int:
        async with self.lock:
            await self._call(n)
            self.steps += 1
        return n


# ---- the latency comparison's bare workflow (bench/latency.py) -------------------------


class BareStore:
    """The bare workflow's one local activity: insert one row into the event store, the
    same store and the same append (``EventStore.append``) the petition's events go
    through, so the comparison is the workflow's own cost."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    @activity.defn(name="bench_insert")
    def insert(self, stream: str, version: int) -> int:
        event = NewEvent(
            event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{stream}/{version}"),
            type="BenchStep",
            schema_version=1,
            data={"step": version},
        )
        return self.store.append(stream, version, [event])[0]


@workflow.defn(name="BareStoreWorkflow")
class BareStoreWorkflow:
    """A start that inserts one row, then updates that each run ONE local activity
    inserting ONE row, one at a time, and return once it is committed."""

    @workflow.init
    def __init__(self, steps: int) -> None:
        self.version = 0
        self.lock = asyncio.Lock()
        self.stream = f"bench-{workflow.info().workflow_id}"

    async def _insert(self) -> None:
        await workflow.execute_local_activity(
            "bench_insert", args=[self.stream, self.version], start_to_close_timeout=TIMEOUT
        )
        self.version += 1

    @workflow.run
    async def run(self, steps: int) -> int:
        async with self.lock:
            await self._insert()
        await workflow.wait_condition(lambda: self.version > steps)
        return self.version

    @workflow.update
    async def step(self, n: int) -> int:
        async with self.lock:
            await self._insert()
        return self.version


@workflow.defn(name="BareStepsWorkflow")
class BareStepsWorkflow:
    """The bare workflow with a given number of updates, each running one local
    activity, after one at the start: Temporal's own cost for a path of that many
    commands (``bench.year`` compares each case path's actions and history with it)."""

    @workflow.init
    def __init__(self, steps: int) -> None:
        self.done = 0
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self, steps: int) -> int:
        await workflow.execute_local_activity("bench_noop", 0, start_to_close_timeout=TIMEOUT)
        await workflow.wait_condition(lambda: self.done >= steps)
        return self.done

    @workflow.update
    async def step(self, n: int) -> int:
        async with self.lock:
            await workflow.execute_local_activity("bench_noop", n, start_to_close_timeout=TIMEOUT)
            self.done += 1
        return n
