"""Where the worker's CPU goes per case: the profile behind BENCHMARKS.md's lifecycle steps.

    .venv/bin/python -m bench.profile_worker [--cases 60] [--concurrency 20] [--cprofile 40]
    .venv/bin/python -m bench.profile_worker --command-names [--rounds 4]
    .venv/bin/python -m bench.profile_worker --converters [--rounds 4]

One dev server, one in-process worker, one round of full petition lifecycles (as in
``bench.lifecycle``). Client and worker share the asyncio thread, where workflow
activations run; the report gives that thread's CPU per case and, per case, the time
in the SDK's sandbox: creating a workflow instance (importing the workflow module)
and running activations. ``--cprofile N`` also prints that thread's N heaviest
functions by cumulative time (cProfile sees the asyncio thread only).

``--command-names`` compares, on one dev server and in alternating rounds, three ways
for the Temporal UI to list the command names: none (the dynamic handlers alone), the
metadata interceptor the worker uses (``workers/ui_metadata.py``), and 23 updates with
validators plus 23 signals registered by name at the start of every run
(``workflow.set_update_handler``/``set_signal_handler``, delegating to the dynamic
handlers), the alternative it was chosen over.

``--converters`` compares, the same way, the worker's data converter as it is
(``ScopedDataConverter``: one copy per workflow id for the serialization contexts)
with the plain ``DataConverter`` it replaced, which the SDK cloned for every payload
outside the workflow's own context.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import pstats
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RawValue
from temporalio.converter import DataConverter
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    workflow_sandbox,
)

from bench.lifecycle import petition_round
from bench.stack import dev_stack
from petitionflow.client import PetitionClient
from petitionflow.domain.decide import EXTERNAL_COMMANDS
from petitionflow.security.codec import data_converter
from petitionflow.workers.main import build_worker
from petitionflow.workers.ui_metadata import CommandNamesInterceptor
from petitionflow.workflows.contract import CommandResult
from testkit.keys import SEALER, TEST_KEYS

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


class _NamedHandlers(WorkflowInboundInterceptor):
    """At the start of every run, one named update (with its validator) and one named
    signal per command, each delegating to the workflow's dynamic handler."""

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        instance = workflow.instance()
        for kind in EXTERNAL_COMMANDS:
            update, validate, signal = _delegates(instance, kind)
            workflow.set_update_handler(kind, update, validator=validate)
            workflow.set_signal_handler(kind, signal)
        return await self.next.execute_workflow(input)


def _delegates(instance: Any, kind: str) -> tuple[Any, Any, Any]:
    async def update(payload: RawValue) -> CommandResult:
        result: CommandResult = await instance.command(kind, [payload])
        return result

    def validate(payload: RawValue) -> None:
        instance.validate_command(kind, [payload])

    def signal(payload: RawValue) -> None:
        instance.command_signal(kind, [payload])

    return update, validate, signal


class NamedHandlersInterceptor(Interceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _NamedHandlers


VARIANTS: dict[str, Sequence[Interceptor]] = {
    "dynamic handlers only (no names in the UI)": (),
    "+ metadata interceptor (chosen)": (CommandNamesInterceptor(),),
    "+ 46 handlers registered by name per run": (NamedHandlersInterceptor(),),
}


async def compare_command_names(cases: int, concurrency: int, rounds: int) -> None:
    spent: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    async with dev_stack("pf-profile-") as stack:
        for n in range(rounds + 1):  # round 0 warms each variant up
            for i, (name, interceptors) in enumerate(VARIANTS.items()):
                queue = f"profile-{i}"
                pc = stack.petitions(queue)
                async with build_worker(
                    stack.client, stack.store, SEALER, queue, interceptors=interceptors
                ):
                    SPENT.clear()
                    started = time.thread_time()
                    await petition_round(pc, cases if n else 10, concurrency, [])
                    cpu = time.thread_time() - started
                if n:
                    per_case = 1000 / cases
                    spent[name].append(
                        (
                            cpu * per_case,
                            SPENT["create_instance"] * per_case,
                            SPENT["activate"] * per_case,
                        )
                    )
    print(f"{rounds} rounds of {cases} cases per variant, {concurrency} in flight, alternating")
    print("| variant | asyncio thread CPU per case | sandbox instance created | activations |")
    print("|---|---|---|---|")
    for name, rows in spent.items():
        cpu, create, activate = (statistics.median(col) for col in zip(*rows, strict=True))
        print(f"| {name} | {cpu:.1f} ms | {create:.2f} ms | {activate:.2f} ms |")
    print("(medians; per-round CPU per case: ", end="")
    print("; ".join(f"{' '.join(f'{r[0]:.1f}' for r in rows)}" for rows in spent.values()) + ")")


def _cloning(converter: DataConverter) -> DataConverter:
    """The converter as it was before ``ScopedDataConverter``: a plain DataConverter."""
    fields = dataclasses.fields(DataConverter)
    return DataConverter(**{f.name: getattr(converter, f.name) for f in fields if f.init})


async def compare_converters(cases: int, concurrency: int, rounds: int) -> None:
    kept = data_converter(TEST_KEYS.payload)
    variants = {
        "plain DataConverter, cloned per payload (before)": _cloning(kept),
        "ScopedDataConverter, one copy per workflow (now)": kept,
    }
    spent: dict[str, list[float]] = defaultdict(list)
    async with dev_stack("pf-profile-") as stack:
        address = stack.client.service_client.config.target_host
        for n in range(rounds + 1):  # round 0 warms each variant up
            for i, (name, converter) in enumerate(variants.items()):
                queue = f"converter-{i}"
                client = await Client.connect(address, data_converter=converter)
                pc = PetitionClient(client, task_queue=queue, store=stack.store, sealer=SEALER)
                async with build_worker(client, stack.store, SEALER, queue):
                    started = time.thread_time()
                    await petition_round(pc, cases if n else 10, concurrency, [])
                    cpu = time.thread_time() - started
                if n:
                    spent[name].append(cpu * 1000 / cases)
    print(f"{rounds} rounds of {cases} cases per variant, {concurrency} in flight, alternating")
    print("| converter | asyncio thread CPU per case (median) | per round |")
    print("|---|---|---|")
    for name, rows in spent.items():
        each = " ".join(f"{r:.1f}" for r in rows)
        print(f"| {name} | {statistics.median(rows):.1f} ms | {each} |")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--cprofile", type=int, default=0, metavar="N")
    parser.add_argument("--command-names", action="store_true")
    parser.add_argument("--converters", action="store_true")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    timed(workflow_sandbox.SandboxedWorkflowRunner, "create_instance")
    timed(workflow_sandbox._runner._Instance, "activate")
    if args.command_names:
        await compare_command_names(args.cases, args.concurrency, args.rounds)
        return
    if args.converters:
        await compare_converters(args.cases, args.concurrency, args.rounds)
        return
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
