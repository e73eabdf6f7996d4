"""Worker memory and start time with many open cases waiting on timers.

    .venv/bin/python -m bench.open_cases [--cases 10000] [--concurrency 40]

1. A dev server (SQLite file, WAL) and an event store (SQLite file). An in-process
   worker registers ``--cases`` cases; each then waits on a timer, its 15-day
   registration deadline. That worker stops.
2. Side by side, two fresh worker processes (``python -m petitionflow.workers.main``), one after
   the other: one on an empty task queue, one on the queue of the open cases. For
   each: seconds from exec to its "worker started" log line, seconds until a first
   command to an open case is answered, and resident memory (RSS) once idle.
3. Every open case then gets a command (transfer_petition) through the fresh worker,
   ``--concurrency`` at a time. None is in its cache, so each is replayed from
   history first. Measured: commands per second, and the worker's RSS after, and at
   its peak (the SDK caches at most 1,000 runs by default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.stack import dev_stack
from petitionflow.client import PetitionClient
from petitionflow.domain import commands as c
from petitionflow.workers.main import build_worker
from testkit.builders import BUREAU, COUNTY_UNIT, make_intake
from testkit.keys import SEALER
from testkit.processes import DevServer, WorkerProcess


def memory_mib(pid: int) -> tuple[float, float]:
    """(resident now, resident at its peak) in MiB, from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def gather_limited(
    count: int, concurrency: int, label: str, one: Callable[[int], Awaitable[None]]
) -> float:
    """Run ``one(i)`` for every i, ``concurrency`` at a time, with progress; return per second."""
    gate = asyncio.Semaphore(concurrency)
    done = 0
    started = time.perf_counter()

    async def run(i: int) -> None:
        nonlocal done
        async with gate:
            await one(i)
        done += 1
        if done % 1000 == 0 or done == count:
            rate = done / (time.perf_counter() - started)
            print(f"  {label}: {done:,}/{count:,} ({rate:.0f}/s)", flush=True)

    await asyncio.gather(*(run(i) for i in range(count)))
    return count / (time.perf_counter() - started)


async def fresh_worker(
    server: DevServer, store_url: str, queue: str, log: Path, pc: PetitionClient, probe: str | None
) -> tuple[WorkerProcess, float, float | None]:
    """Start a worker process; seconds to its 'worker started' line and to a first answer."""
    worker = WorkerProcess(server, store_url, queue, log)
    started = time.perf_counter()
    worker.start()
    assert worker.proc is not None
    while "worker started" not in await asyncio.to_thread(_text, log):
        if worker.proc.poll() is not None:
            raise RuntimeError(f"the worker exited; see {log}")
        await asyncio.sleep(0.01)
    ready = time.perf_counter() - started
    answered = None
    if probe is not None:
        await transfer(pc, probe)
        answered = time.perf_counter() - started
    return worker, ready, answered


async def transfer(pc: PetitionClient, case_id: str) -> None:
    command = c.TransferPetition(
        command_id=f"{case_id}-transfer",
        actor=BUREAU,
        issued_at=datetime.now(UTC),
        to_unit=COUNTY_UNIT,
    )
    await pc.send(case_id, command.kind, command)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=40)
    args = parser.parse_args()
    queue = "open-cases"
    prefix = f"OC{uuid.uuid4().hex[:6]}-"
    async with dev_stack("pf-open-") as stack:
        server, store_url, workdir = stack.server, stack.store_url, stack.workdir
        client, pc = stack.client, stack.petitions(queue)
        print(f"registering {args.cases:,} cases (each then waits on a 15-day timer)")

        async def register(i: int) -> None:
            received = datetime.now(UTC).isoformat()  # its first deadline is 15 days away
            await pc.submit(
                f"{prefix}{i}", make_intake(f"{prefix}{i}", received_at=received), BUREAU
            )
            await pc.state(f"{prefix}{i}")  # registered: its first workflow task is done

        async with build_worker(client, stack.store, SEALER, queue):
            setup_rate = await gather_limited(args.cases, args.concurrency, "registered", register)
        open_now = await client.count_workflows("ExecutionStatus = 'Running'")
        print(f"{open_now.count:,} cases open, waiting on timers")

        idle, idle_ready, _ = await fresh_worker(
            server, store_url, "nothing-here", workdir / "idle.log", pc, None
        )
        await asyncio.sleep(5)
        assert idle.proc is not None
        idle_rss, _ = memory_mib(idle.proc.pid)
        idle.stop()

        worker, ready, answered = await fresh_worker(
            server, store_url, queue, workdir / "worker.log", pc, f"{prefix}0"
        )
        assert worker.proc is not None
        await asyncio.sleep(5)
        open_rss, _ = memory_mib(worker.proc.pid)
        rate = await gather_limited(
            args.cases - 1,
            args.concurrency,
            "cold commands",
            lambda i: transfer(pc, f"{prefix}{i + 1}"),
        )
        after_rss, peak_rss = memory_mib(worker.proc.pid)
        worker.stop()
        results = {
            "cases": args.cases,
            "registration_per_s": round(setup_rate, 1),
            "idle_worker": {"ready_s": round(idle_ready, 2), "rss_mib": round(idle_rss)},
            "open_cases_worker": {
                "ready_s": round(ready, 2),
                "first_answer_s": round(answered or 0, 2),
                "rss_mib_idle": round(open_rss),
                "cold_commands_per_s": round(rate, 1),
                "rss_mib_after": round(after_rss),
                "rss_mib_peak": round(peak_rss),
            },
        }
        print(json.dumps(results, indent=1))
        print()
        print(
            "| worker process | cases open | ready (log line) | first command answered | RSS idle |"
        )
        print("|---|---|---|---|---|")
        print(f"| empty task queue | 0 | {idle_ready:.2f} s | — | {idle_rss:.0f} MiB |")
        print(
            f"| the open cases' queue | {args.cases:,} | {ready:.2f} s | {answered:.2f} s | "
            f"{open_rss:.0f} MiB |"
        )
        print()
        print(
            f"{args.cases - 1:,} commands to cold cases: {rate:.1f}/s; worker RSS after "
            f"{after_rss:.0f} MiB, peak {peak_rss:.0f} MiB"
        )


if __name__ == "__main__":
    asyncio.run(main())
