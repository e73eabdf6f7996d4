"""Update latency, update -> durable event, against a bare workflow, side by side in one run.

    .venv/bin/python -m bench.latency [--cases 150] [--rounds 3] [--store sqlite|postgres]\
        [--before /path/to/other/worktree] [--trace FILE]

One dev server (as ``bench.lifecycle`` starts it), one event store, and one worker
process per side, each on its own task queue; this process is the client only. One
case at a time, the sides alternating case by case (the order rotating), so the
machine's load falls on all of them alike:

- **petition**: PetitionWorkflow, registered, then the 7 updates of ``LIFECYCLE``,
  each sent and timed until it returns, which is when its events are durable.
- **bare**: ``BareStoreWorkflow``: a start that inserts one row, then 7 updates that
  each run ONE local activity inserting ONE row into the same store
  (``EventStore.append``) under a lock.
- **before** (with ``--before PATH``): PetitionWorkflow as the code in PATH has it (a
  git worktree with its own ``.venv``), run by a worker from that tree's venv.

Reported per side: p50, p95, p99 and max over all its updates, the ratio to the bare
workflow's, the median of the per-round p99s, and from the histories of the last
cases: workflow tasks, events, markers, timers and search attribute upserts per
update. ``--trace FILE`` also writes, per update, where its time went (the worker's
activations and local activities against the client's send and return), for
``--explain FILE``, which prints the slowest updates and the mean of each part.

``--throughput CASES [--concurrency 20]`` measures cases/s instead, the sides in
alternating rounds of CASES cases with that many in flight, against the bare workflow
above and ``bench.lifecycle``'s bare workflow with no-op local activities, with the CPU
per case of each side's worker process and of the dev server during its rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
    workflow_sandbox,
)

from bench.bare_workflow import BareStore, BareStoreWorkflow, BareWorkflow, noop
from petitionflow.activities.records import stream_id
from petitionflow.client import PetitionClient
from petitionflow.domain.policy import DeadlinePolicy
from petitionflow.eventstore import EventStore
from testkit.builders import BUREAU, make_intake
from testkit.keys import CONVERTER, SEALER
from testkit.processes import DevServer
from testkit.workloads import LIFECYCLE

STEPS = len(LIFECYCLE)
PG_DSN = os.environ.get(
    "PETITIONFLOW_TEST_PG", "host=127.0.0.1 port=5432 dbname=test user=postgres"
)


# ---- the worker processes --------------------------------------------------------------


class _Trace:
    """Wall-clock marks from inside the worker: activations (per run id) and activities
    (per workflow id), written as JSON lines at exit."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.runs: dict[str, str] = {}  # run id -> workflow id

    def install(self) -> None:
        original = workflow_sandbox._runner._Instance.activate
        trace = self

        def activate(instance: Any, act: Any) -> Any:
            started = time.time()
            try:
                return original(instance, act)
            finally:
                jobs = [j.WhichOneof("variant") for j in act.jobs]
                for j in act.jobs:
                    if j.WhichOneof("variant") == "initialize_workflow":
                        trace.runs[act.run_id] = j.initialize_workflow.workflow_id
                trace.rows.append(
                    {
                        "what": "activation",
                        "wf": trace.runs.get(act.run_id, act.run_id),
                        "start": started,
                        "end": time.time(),
                        "jobs": jobs,
                        "replay": act.is_replaying,
                    }
                )

        workflow_sandbox._runner._Instance.activate = activate  # type: ignore[method-assign,assignment]

    def dump(self, path: Path) -> None:
        with path.open("w") as f:
            for row in self.rows:
                f.write(json.dumps(row) + "\n")


TRACE = _Trace()


class _Timed(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        from temporalio import activity

        info = activity.info()
        started = time.time()
        try:
            return await self.next.execute_activity(input)
        finally:
            TRACE.rows.append(
                {
                    "what": "activity",
                    "wf": info.workflow_id,
                    "type": info.activity_type,
                    "local": info.is_local,
                    "start": started,
                    "end": time.time(),
                }
            )


class TimedActivities(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Timed(next)


async def serve(side: str, address: str, store_url: str, queue: str, trace: str | None) -> None:
    """One side's worker, until SIGTERM."""
    from petitionflow.workers.main import build_worker
    from petitionflow.workers.ui_metadata import CommandNamesInterceptor

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    client = await Client.connect(address, data_converter=CONVERTER)
    store = EventStore(store_url)
    interceptors: list[Interceptor] = [TimedActivities()] if trace else []
    if trace:
        TRACE.install()
    worker = (
        Worker(
            client,
            task_queue=queue,
            workflows=[BareStoreWorkflow, BareWorkflow],
            activities=[BareStore(store).insert, noop],
            activity_executor=ThreadPoolExecutor(16),
            interceptors=interceptors,
        )
        if side == "bare"
        else build_worker(
            client, store, SEALER, queue, interceptors=[CommandNamesInterceptor(), *interceptors]
        )
    )
    async with worker:
        print("ready", flush=True)
        await stop.wait()
    if trace:
        TRACE.dump(Path(trace))
    store.close()


# ---- the client ------------------------------------------------------------------------


@dataclass
class Side:
    name: str
    queue: str
    proc: subprocess.Popen[bytes]
    run_case: Callable[[list[float], list[dict[str, Any]]], Awaitable[str]]
    latencies: list[list[float]]  # per round
    workflow_ids: list[str]


def spawn(
    side: str,
    python: str,
    address: str,
    store_url: str,
    queue: str,
    trace: Path | None,
    log: Path,
) -> subprocess.Popen[bytes]:
    """A worker process for one side; its log (the workflow's warnings) in the workdir."""
    cmd = [python, "-m", "bench.latency", "--serve", side, "--address", address]
    cmd += ["--store-url", store_url, "--queue", queue]
    if trace:
        cmd += ["--trace-out", str(trace)]
    # cwd: this tree, for bench/ and testkit/; petitionflow comes from the venv's install
    proc = subprocess.Popen(
        cmd,
        cwd=Path(__file__).parent.parent,
        stdout=subprocess.PIPE,
        stderr=log.open("ab"),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != b"ready":
        raise RuntimeError(f"worker {side} did not start: {line!r}")
    return proc


class SnapshotlessClient(PetitionClient):
    """A client that starts cases without the calendar snapshot (as before patch
    "calendar-from-start"): the workflow reads it in its registration's task."""

    def _stored_and_calendar(
        self, case_id: str, policy: DeadlinePolicy, now: datetime
    ) -> tuple[int, DeadlinePolicy]:
        assert self.store is not None
        return self.store.stream_version(stream_id(case_id)), policy


async def petition_case(pc: PetitionClient, lat: list[float], marks: list[dict[str, Any]]) -> str:
    case_id = f"BL{uuid.uuid4().hex[:10]}"
    handle = await pc.submit(
        case_id, make_intake(case_id, received_at=datetime.now(UTC).isoformat()), BUREAU
    )
    for n, (cls, actor, fields) in enumerate(LIFECYCLE):
        command = cls(
            command_id=f"{case_id}-{n}", actor=actor, issued_at=datetime.now(UTC), **fields
        )
        t0, w0 = time.perf_counter(), time.time()
        await pc.send(case_id, command.kind, command)
        lat.append(time.perf_counter() - t0)
        marks.append({"wf": handle.id, "n": n, "sent": w0, "back": time.time()})
    await handle.result()
    return handle.id


async def bare_case(
    client: Client, queue: str, lat: list[float], marks: list[dict[str, Any]]
) -> str:
    handle = await client.start_workflow(
        BareStoreWorkflow.run, STEPS, id=f"bare-{uuid.uuid4().hex[:12]}", task_queue=queue
    )
    for n in range(STEPS):
        t0, w0 = time.perf_counter(), time.time()
        await handle.execute_update(BareStoreWorkflow.step, n)
        lat.append(time.perf_counter() - t0)
        marks.append({"wf": handle.id, "n": n, "sent": w0, "back": time.time()})
    await handle.result()
    return handle.id


async def bare_noop_case(
    client: Client, queue: str, lat: list[float], marks: list[dict[str, Any]]
) -> str:
    """``bench.lifecycle``'s bare workflow with local activities (no-op ones)."""
    handle = await client.start_workflow(
        BareWorkflow.run, True, id=f"bare-noop-{uuid.uuid4().hex[:12]}", task_queue=queue
    )
    for n in range(STEPS):
        t0 = time.perf_counter()
        await handle.execute_update(BareWorkflow.step, n)
        lat.append(time.perf_counter() - t0)
    await handle.result()
    return handle.id


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def throughput(
    sides: list[Side], cases: int, concurrency: int, rounds: int, server_pid: int
) -> None:
    """Cases per second with ``concurrency`` cases in flight, sides in alternating
    rounds (the order rotating); the median of the rounds, and the ratio to each bare."""
    rates: dict[str, list[float]] = defaultdict(list)
    # CPU ms per case: the side's worker process, and the dev server during its rounds
    cpu: dict[str, list[tuple[float, float]]] = defaultdict(list)
    load0 = os.getloadavg()
    for r in range(rounds + 1):  # round 0 warms up
        k = r % len(sides)
        for side in sides[k:] + sides[:k]:
            gate = asyncio.Semaphore(concurrency)

            async def one(side: Side = side, gate: asyncio.Semaphore = gate) -> None:
                async with gate:
                    await side.run_case([], [])

            n = cases if r else 10
            started = time.perf_counter()
            worker0, server0 = proc_cpu(side.proc.pid), proc_cpu(server_pid)
            await asyncio.gather(*(one() for _ in range(n)))
            if r:
                rates[side.name].append(n / (time.perf_counter() - started))
                cpu[side.name].append(
                    (
                        (proc_cpu(side.proc.pid) - worker0) * 1000 / n,
                        (proc_cpu(server_pid) - server0) * 1000 / n,
                    )
                )
    load1 = os.getloadavg()
    median = {k: statistics.median(v) for k, v in rates.items()}
    print(
        f"throughput: {rounds} rounds x {cases} cases per side, {concurrency} in flight, "
        f"sides alternating; load average {load0[0]:.2f} before, {load1[0]:.2f} after"
    )
    print(
        "| workflow | cases/s (median) | / bare (insert) | / bare (no-op local) | rounds "
        "| worker CPU/case | dev server CPU/case | CPU/case / bare (no-op local) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    total = {k: sum(map(statistics.median, zip(*v, strict=True))) for k, v in cpu.items()}
    for name, value in median.items():
        worker, server = (statistics.median(c) for c in zip(*cpu[name], strict=True))
        print(
            f"| {name} | {value:.1f} | {value / median['bare']:.2f} | "
            f"{value / median['bare-noop-local']:.2f} | "
            f"{' '.join(f'{v:.1f}' for v in rates[name])} | {worker:.0f} ms | {server:.0f} ms | "
            f"{total[name] / total['bare-noop-local']:.2f} |"
        )
    print()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


@contextlib.asynccontextmanager
async def store_url_for(kind: str, workdir: Path) -> AsyncIterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'events.db'}"
        return
    import psycopg

    schema = f"pf_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    params = psycopg.conninfo.conninfo_to_dict(PG_DSN)
    try:
        yield (
            f"postgresql+psycopg://{params.get('user', 'postgres')}@"
            f"{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}/"
            f"{params.get('dbname', 'test')}?options=-csearch_path%3D{schema}"
        )
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def history_counts(client: Client, workflow_ids: list[str]) -> dict[str, float]:
    """Per update, over these cases: workflow tasks, events and some kinds of event."""
    kinds = {
        "workflow tasks": EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        "markers (local activities)": EventType.EVENT_TYPE_MARKER_RECORDED,
        "timers started": EventType.EVENT_TYPE_TIMER_STARTED,
        "timers cancelled": EventType.EVENT_TYPE_TIMER_CANCELED,
        "search attribute upserts": EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        "activities scheduled": EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    }
    counts: Counter[str] = Counter()
    for wid in workflow_ids:
        history = await client.get_workflow_handle(wid).fetch_history()
        counts["events"] += len(history.events)
        for e in history.events:
            for label, kind in kinds.items():
                if e.event_type == kind:
                    counts[label] += 1
    updates = len(workflow_ids) * STEPS
    return {k: counts[k] / updates for k in ["events", *kinds]}


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="pf-latency-"))
    server = DevServer(workdir)
    server.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        async with store_url_for(args.store, workdir) as store_url:
            EventStore(store_url, create=True).close()
            client = await Client.connect(server.address, data_converter=CONVERTER)
            store = EventStore(store_url)
            trace_dir = Path(args.trace) if args.trace else None
            if trace_dir:
                trace_dir.mkdir(parents=True, exist_ok=True)
            here = sys.executable
            pythons = {"bare": here, "petition": here}
            if args.before:
                pythons["before"] = str(Path(args.before) / ".venv/bin/python")
            sides: list[Side] = []
            for name, python in pythons.items():
                queue = f"lat-{name}"
                trace = trace_dir / f"worker-{name}.jsonl" if trace_dir else None
                proc = spawn(
                    "bare" if name == "bare" else "petition",
                    python,
                    server.address,
                    store_url,
                    queue,
                    trace,
                    workdir / f"worker-{name}.log",
                )
                procs.append(proc)
                kind = (
                    SnapshotlessClient
                    if name == "before" and args.before_without_calendar
                    else PetitionClient
                )
                pc = kind(client, task_queue=queue, store=store, sealer=SEALER)

                def runner(
                    name: str = name, queue: str = queue, pc: PetitionClient = pc
                ) -> Callable[[list[float], list[dict[str, Any]]], Awaitable[str]]:
                    if name == "bare":
                        return lambda lat, marks: bare_case(client, queue, lat, marks)
                    return lambda lat, marks: petition_case(pc, lat, marks)

                sides.append(Side(name, queue, proc, runner(), [], []))
            if args.throughput:
                noop_side = Side(
                    "bare-noop-local",
                    "lat-bare",
                    procs[0],
                    lambda lat, marks: bare_noop_case(client, "lat-bare", lat, marks),
                    [],
                    [],
                )
                assert server.proc is not None
                await throughput(
                    [*sides, noop_side],
                    args.throughput,
                    args.concurrency,
                    args.rounds,
                    server.proc.pid,
                )
                return
            marks: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for side in sides:  # warm-up, not counted
                for _ in range(5):
                    await side.run_case([], [])
            load0 = os.getloadavg()
            started = time.perf_counter()
            for _ in range(args.rounds):
                for side in sides:
                    side.latencies.append([])
                for i in range(args.cases):
                    k = i % len(sides)
                    for side in sides[k:] + sides[:k]:
                        side.workflow_ids.append(
                            await side.run_case(side.latencies[-1], marks[side.name])
                        )
            elapsed = time.perf_counter() - started
            load1 = os.getloadavg()
            counts = {
                s.name: await history_counts(client, s.workflow_ids[-args.histories :])
                for s in sides
            }
            store.close()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        server.stop()
    if trace_dir:
        for name, rows in marks.items():
            with (trace_dir / f"client-{name}.jsonl").open("w") as f:
                for row in rows:
                    f.write(json.dumps(row) + "\n")
    report(args, sides, counts, elapsed, load0, load1)


def report(
    args: argparse.Namespace,
    sides: list[Side],
    counts: dict[str, dict[str, float]],
    elapsed: float,
    load0: tuple[float, float, float],
    load1: tuple[float, float, float],
) -> None:
    print(
        f"{args.store} store; {args.rounds} rounds x {args.cases} cases per side, one case "
        f"at a time, sides alternating; {elapsed:.0f} s; load average "
        f"{load0[0]:.2f} before, {load1[0]:.2f} after (2 cores)"
    )
    bare = next(s for s in sides if s.name == "bare")
    every = {s.name: [v for r in s.latencies for v in r] for s in sides}
    print("| workflow | updates | p50 | p95 | p99 | max | p99 / bare p99 | p99 per round |")
    print("|---|---|---|---|---|---|---|---|")
    for s in sides:
        values = every[s.name]
        rounds_p99 = [pct(r, 99) for r in s.latencies]
        print(
            f"| {s.name} | {len(values):,} | {pct(values, 50):.1f} ms | {pct(values, 95):.1f} ms "
            f"| {pct(values, 99):.1f} ms | {max(values) * 1000:.0f} ms | "
            f"{pct(values, 99) / pct(every[bare.name], 99):.2f} | "
            f"{' '.join(f'{v:.0f}' for v in rounds_p99)} |"
        )
    print()
    print("the same, split: each case's first update (sent while its registration may still")
    print("be running) and the other six")
    print("| workflow | first: p50 | p95 | p99 | max | others: p50 | p95 | p99 | max |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in sides:
        values = every[s.name]
        first = values[::STEPS]
        others = [v for i, v in enumerate(values) if i % STEPS]
        cells = [f"{pct(vs, p):.1f} ms" for vs in (first, others) for p in (50, 95, 99, 100)]
        print(f"| {s.name} | " + " | ".join(cells) + " |")
    print()
    print(f"per update, from the histories of the last {args.histories} cases of each side")
    names = [s.name for s in sides]
    print("| per update | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for key in counts[names[0]]:
        print(f"| {key} | " + " | ".join(f"{counts[n][key]:.2f}" for n in names) + " |")


def explain(trace_dir: Path, top: int) -> None:
    """Per update, where the time went: from the client's send to the first activation
    that ran for it, activations, local activities, and from the last one to the
    client's return. The slowest ``top`` updates per side, and the mean of each part."""
    for client_file in sorted(trace_dir.glob("client-*.jsonl")):
        name = client_file.stem.removeprefix("client-")
        marks = [json.loads(line) for line in client_file.read_text().splitlines()]
        rows = [json.loads(line) for line in (trace_dir / f"worker-{name}.jsonl").open()]
        by_wf: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            by_wf[r["wf"]].append(r)
        parts: list[dict[str, Any]] = []
        for m in marks:
            inside = [
                r for r in by_wf[m["wf"]] if r["start"] >= m["sent"] and r["end"] <= m["back"]
            ]
            acts = [r for r in inside if r["what"] == "activation"]
            las = [r for r in inside if r["what"] == "activity"]
            total = (m["back"] - m["sent"]) * 1000
            first = min((r["start"] for r in inside), default=m["back"])
            last = max((r["end"] for r in inside), default=m["back"])
            parts.append(
                {
                    "wf": m["wf"],
                    "n": m["n"],
                    "total": total,
                    "to first activation": (first - m["sent"]) * 1000,
                    "activations": len(acts),
                    "in activations": sum(r["end"] - r["start"] for r in acts) * 1000,
                    "local activities": "+".join(r["type"] for r in las),
                    "in activities": sum(r["end"] - r["start"] for r in las) * 1000,
                    "gaps inside": (last - first) * 1000
                    - sum(r["end"] - r["start"] for r in inside) * 1000,
                    "last to return": (m["back"] - last) * 1000,
                    "jobs": [j for r in acts for j in r["jobs"]],
                }
            )
        print(f"## {name}: {len(parts)} updates")
        numeric = [k for k, v in parts[0].items() if isinstance(v, float | int) and k != "n"]
        print(
            "mean: " + ", ".join(f"{k} {statistics.mean(p[k] for p in parts):.1f}" for k in numeric)
        )
        by_n: dict[int, list[float]] = defaultdict(list)
        for p in parts:
            by_n[p["n"]].append(p["total"])
        print(
            "by step (p50/p99 ms): "
            + ", ".join(
                f"{n}: {pct([v / 1000 for v in vs], 50):.0f}/{pct([v / 1000 for v in vs], 99):.0f}"
                for n, vs in sorted(by_n.items())
            )
        )
        for p in sorted(parts, key=lambda p: -p["total"])[:top]:
            print(
                "  "
                + ", ".join(
                    f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in p.items()
                    if k != "wf"
                )
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=150, help="per side per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--before", help="a worktree (with .venv) whose PetitionWorkflow to add")
    parser.add_argument(
        "--before-without-calendar",
        action="store_true",
        help="the --before side's submit sends no calendar snapshot with the start, as "
        "PetitionClient did before patch calendar-from-start (its case reads it)",
    )
    parser.add_argument("--histories", type=int, default=20)
    parser.add_argument(
        "--throughput",
        type=int,
        metavar="CASES",
        help="measure cases/s instead: CASES per side per round, --concurrency in flight",
    )
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--trace", help="a folder for per-update traces")
    parser.add_argument("--explain", help="print the traces in this folder")
    parser.add_argument("--top", type=int, default=15)
    # a worker process of one side (started by the run)
    parser.add_argument("--serve", choices=["bare", "petition"], help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--store-url", help=argparse.SUPPRESS)
    parser.add_argument("--queue", help=argparse.SUPPRESS)
    parser.add_argument("--trace-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.explain:
        explain(Path(args.explain), args.top)
    elif args.serve:
        asyncio.run(serve(args.serve, args.address, args.store_url, args.queue, args.trace_out))
    else:
        asyncio.run(main(args))
