"""Where the worker's CPU goes per case: the profile behind BENCHMARKS.md's lifecycle steps.

    .venv/bin/python -m bench.profile_worker [--cases 60] [--concurrency 20] [--cprofile 40]

One dev server, one in-process worker, one round of full petition lifecycles (as in
``bench.lifecycle``). Client and worker share the asyncio thread, where workflow
activations run; the report gives that thread's CPU per case and, per case, the time
in the SDK's sandbox: creating a workflow instance (importing the workflow module)
and running activations. ``--cprofile N`` also prints that thread's N heaviest
functions by cumulative time (cProfile sees the asyncio thread only).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from temporalio.worker import workflow_sandbox

from bench.lifecycle import petition_round
from bench.stack import dev_stack
from tests.keys import SEALER
from workers.main import build_worker

SPENT: dict[str, float] = defaultdict(float)


def timed(cls: type, name: str) -> None:
    """Wrap ``cls.name`` to add its thread CPU time to SPENT[name]."""
    original: Callable[..., Any] = getattr(cls, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            SPENT[name] += time.thread_time() - started

    setattr(cls, name, wrapper)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--cprofile", type=int, default=0, metavar="N")
    args = parser.parse_args()
    timed(workflow_sandbox.SandboxedWorkflowRunner, "create_instance")
    timed(workflow_sandbox._runner._Instance, "activate")
    async with dev_stack("pf-profile-") as stack:
        pc = stack.petitions("profile")
        async with build_worker(stack.client, stack.store, SEALER, "profile"):
            await petition_round(pc, 10, args.concurrency, [])  # warm-up
            SPENT.clear()
            profile = cProfile.Profile() if args.cprofile else None
            started = time.thread_time()
            if profile:
                profile.enable()
            rate = await petition_round(pc, args.cases, args.concurrency, [])
            if profile:
                profile.disable()
            spent = time.thread_time() - started
    per_case = 1000 / args.cases
    print(f"{args.cases} cases, {args.concurrency} in flight: {rate:.1f} cases/s")
    print(
        f"asyncio thread CPU per case: {spent * per_case:.1f} ms" + (" (profiled)" * bool(profile))
    )
    print(f"  sandbox instance created: {SPENT['create_instance'] * per_case:.1f} ms")
    print(f"  sandbox activations:      {SPENT['activate'] * per_case:.1f} ms")
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.cprofile)


if __name__ == "__main__":
    asyncio.run(main())
