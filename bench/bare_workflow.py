"""The bare workflow the lifecycle benchmark compares against (sandboxed like ours)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow

STEPS = 6  # the updates of a full petition lifecycle after registration


@activity.defn(name="bench_noop")
def noop(step: int) -> int:
    return step


@workflow.defn(name="BareWorkflow")
class BareWorkflow:
    def __init__(self) -> None:
        self.steps = 0
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self) -> int:
        await workflow.execute_activity(
            "bench_noop", 0, start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.wait_condition(lambda: self.steps >= STEPS)
        return self.steps

    @workflow.update
    async def step(self, n: int) -> int:
        async with self.lock:
            await workflow.execute_activity(
                "bench_noop", n, start_to_close_timeout=timedelta(seconds=10)
            )
            self.steps += 1
        return n
