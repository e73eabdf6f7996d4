"""Fault scenarios: run real case lifecycles while something breaks, then audit.

Each scenario returns a :class:`FaultResult`: how many cases ran, how many events were
lost, duplicated or corrupted, how many workflow tasks failed, and how long the system
took to make progress again after each fault. The tests assert the zeros; the report
(``python -m tests.faults.report``) writes them to RELIABILITY.md.
"""

from __future__ import annotations

import asyncio
import functools
import random
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import TimeSkipper, TimeSkippingConfig

from petitionflow.activities.records import from_record, stream_id
from petitionflow.client import PetitionClient, PetitionError
from petitionflow.domain.state import fold
from petitionflow.eventstore import EventStore
from testkit.builders import BUREAU, make_intake
from testkit.keys import CONVERTER, SEALER
from testkit.processes import DevServer, TcpProxy, WorkerProcess
from testkit.workloads import LIFECYCLE

EXPECTED = [
    "PetitionRegistered",
    "PetitionTransferred",
    "ReceiptAcknowledged",
    "PetitionAccepted",
    "DecisionIssued",
    "DeliveryRecorded",
    "ImplementationReported",
    "SatisfactionRated",
    "CaseClosed",
]
TRANSIENT_CODES = {"temporal_error", "case_not_running", "worker_unavailable"}


@dataclass
class FaultResult:
    fault: str
    cases: int
    store: str
    events_expected: int = 0
    events_found: int = 0
    lost: int = 0
    duplicated: int = 0
    corrupted: int = 0
    task_failures: int = 0
    unfinished: int = 0
    recovery_seconds: list[float] = field(default_factory=list)
    duration: float = 0.0
    faults_injected: int = 0

    @property
    def ok(self) -> bool:
        return not (
            self.lost or self.duplicated or self.corrupted or self.task_failures or self.unfinished
        )


async def _retry(action: Callable[[], Awaitable[Any]], deadline: float) -> Any:
    """Retry through outages; a real rejection is not retried and propagates."""
    while True:
        try:
            return await action()
        except PetitionError as exc:
            if exc.code == "duplicate_case":
                return None  # the start went through before the fault
            if exc.code not in TRANSIENT_CODES or time.monotonic() > deadline:
                raise
        except Exception:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.5)


async def run_case(
    petitions: PetitionClient,
    case_id: str,
    steps: int = len(LIFECYCLE),
    start: bool = True,
    first: int = 0,
    budget: float = 600,
) -> None:
    deadline = time.monotonic() + budget
    if start:
        intake = make_intake(case_id, received_at=datetime.now(UTC).isoformat())
        await _retry(
            lambda: petitions.submit(case_id, intake, BUREAU, command_id=f"register-{case_id}"),
            deadline,
        )
    for n in range(first, steps):
        cls, actor, fields = LIFECYCLE[n]
        # A fixed command id per step: resending after a fault is idempotent.
        command = cls(
            command_id=f"{case_id}-{n}", actor=actor, issued_at=datetime.now(UTC), **fields
        )
        await _retry(functools.partial(petitions.send, case_id, command.kind, command), deadline)


async def run_all(
    petitions: PetitionClient, case_ids: list[str], concurrency: int = 16, **kwargs: Any
) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(case_id: str) -> None:
        async with gate:
            await run_case(petitions, case_id, **kwargs)

    await asyncio.gather(*(one(i) for i in case_ids))


def event_count(store: EventStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM events")).scalar() or 0)


async def progress_after(store: EventStore, since: float, within: float = 120) -> float | None:
    """Seconds from ``since`` until a new event is in the store (None if none came)."""
    start = event_count(store)
    while time.monotonic() - since < within:
        if event_count(store) > start:
            return round(time.monotonic() - since, 2)
        await asyncio.sleep(0.1)
    return None


async def audit(
    result: FaultResult,
    client: Client,
    petitions: PetitionClient,
    store: EventStore,
    case_ids: list[str],
    expected: list[str],
) -> FaultResult:
    for case_id in case_ids:
        records = store.read_stream(stream_id(case_id))
        types = Counter(r.type for r in records)
        want = Counter(expected)
        result.events_expected += len(expected)
        result.events_found += len(records)
        result.lost += sum((want - types).values())
        result.duplicated += sum((types - want).values())
        result.duplicated += len(records) - len(
            {(r.type, r.metadata["causation_id"]) for r in records}
        )
        problems = store.verify(stream_id(case_id)).problems
        result.corrupted += len(problems)
        handle = client.get_workflow_handle(f"petition-{case_id}")
        desc = await handle.describe()
        if desc.status is None or desc.status.name != "COMPLETED":
            result.unfinished += 1
        state = await petitions.state(case_id)
        if fold(from_record(r, SEALER) for r in records) != state:
            result.corrupted += 1
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                result.task_failures += 1
    return result


class Stack:
    """A dev server with its SQLite file, worker processes, and a store."""

    def __init__(self, store_url: str | None = None, workers: int = 1) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pf-faults-"))
        self.server = DevServer(self.dir)
        self.store_url = store_url or f"sqlite:///{self.dir / 'events.db'}"
        self.worker_store_url = self.store_url
        self.task_queue = f"faults-{uuid.uuid4().hex[:6]}"
        self.workers = workers
        self.procs: list[WorkerProcess] = []

    async def __aenter__(self) -> Stack:
        self.server.start()
        self.store = EventStore(self.store_url, create=True)
        self.client = await Client.connect(self.server.address, data_converter=CONVERTER)
        self.skipper = TimeSkipper(self.client, config=TimeSkippingConfig(enabled=False))
        self.petitions = PetitionClient(
            self.skipper.client, task_queue=self.task_queue, store=self.store, sealer=SEALER
        )
        for n in range(self.workers):
            proc = WorkerProcess(
                self.server, self.worker_store_url, self.task_queue, self.dir / f"worker-{n}.log"
            )
            proc.start()
            self.procs.append(proc)
        await self._workers_polling()
        return self

    async def _workers_polling(self, within: float = 120) -> None:
        """Wait until every worker polls the task queue. A fault is timed from here: on a
        busy machine a worker took over 3 s to start, the store outage cut its first
        connection, and it exited ("worker cannot start") with nothing to restart it."""
        request = DescribeTaskQueueRequest(
            namespace=self.client.namespace,
            task_queue=TaskQueue(name=self.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        started = time.monotonic()
        while time.monotonic() - started < within:
            for proc in self.procs:
                if proc.proc is not None and proc.proc.poll() is not None:
                    tail = proc.log.read_text(encoding="utf-8", errors="replace")[-2000:]
                    raise RuntimeError(f"a worker exited before it polled: {tail}")
            answer = await self.client.workflow_service.describe_task_queue(request)
            if len(answer.pollers) >= self.workers:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"the workers did not poll {self.task_queue} within {within:g} s")

    async def __aexit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.stop()
        self.server.stop()
        self.store.close()


async def _one_fault(
    stack: Stack, result: FaultResult, prefix: str, fault: Callable[[], Awaitable[None]]
) -> FaultResult:
    """Run every case's lifecycle while ``fault`` happens once, then audit them."""
    ids = _ids(prefix, result.cases)
    started = time.monotonic()
    work = asyncio.create_task(run_all(stack.petitions, ids))
    await fault()
    recovered = await progress_after(stack.store, time.monotonic())
    if recovered is not None:
        result.recovery_seconds.append(recovered)
    await work
    result.faults_injected = 1
    result.duration = round(time.monotonic() - started, 1)
    return await audit(result, stack.client, stack.petitions, stack.store, ids, EXPECTED)


def _ids(prefix: str, n: int) -> list[str]:
    run = uuid.uuid4().hex[:4]
    return [f"{prefix}{run}-{i:04d}" for i in range(n)]


async def worker_crash(cases: int = 200, kills: int = 5) -> FaultResult:
    """SIGKILL the only worker at random moments while full lifecycles run."""
    async with Stack() as stack:
        result = FaultResult("worker killed with SIGKILL and restarted", cases, "SQLite")
        ids = _ids("CR", cases)
        started = time.monotonic()
        work = asyncio.create_task(run_all(stack.petitions, ids))
        worker = stack.procs[0]
        while not work.done() or worker.kills < kills:
            await asyncio.sleep(random.uniform(1.0, 2.5))
            worker.kill()
            await asyncio.sleep(random.uniform(0.2, 1.0))
            worker.start()
            if not work.done():
                recovered = await progress_after(stack.store, time.monotonic())
                if recovered is not None:
                    result.recovery_seconds.append(recovered)
        await work
        result.faults_injected = worker.kills
        result.duration = round(time.monotonic() - started, 1)
        return await audit(result, stack.client, stack.petitions, stack.store, ids, EXPECTED)


async def server_restart(cases: int = 30) -> FaultResult:
    """Stop and restart the dev server (SQLite file) with cases waiting on timers."""
    async with Stack() as stack:
        result = FaultResult("dev server stopped and restarted", cases, "SQLite")
        ids = _ids("SR", cases)
        started = time.monotonic()
        await run_all(stack.petitions, ids, steps=3)  # accepted: a 60-day timer runs
        stack.server.stop()
        await asyncio.sleep(2)
        stack.server.start()
        back = time.monotonic()
        # the first event written after the restart (the first fired timer)
        watch = asyncio.create_task(progress_after(stack.store, back))
        stack.client = await Client.connect(stack.server.address, data_converter=CONVERTER)
        stack.skipper = TimeSkipper(stack.client, config=TimeSkippingConfig(enabled=False))
        stack.petitions.client = stack.skipper.client
        for case_id in ids:  # the handling period passes: every timer must still fire
            handle = stack.skipper.client.get_workflow_handle(f"petition-{case_id}")
            await _retry(
                functools.partial(stack.skipper.fast_forward, handle, timedelta(days=70)),
                time.monotonic() + 120,
            )
        recovered = await watch
        if recovered is not None:
            result.recovery_seconds.append(recovered)
        await run_all(stack.petitions, ids, start=False, first=3)
        result.faults_injected = 1
        result.duration = round(time.monotonic() - started, 1)
        expected = [*EXPECTED, "DeadlineMissed"]
        return await audit(result, stack.client, stack.petitions, stack.store, ids, expected)


def _pg_schema() -> tuple[str, str]:
    schema = f"pf_faults_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("host=127.0.0.1 dbname=test user=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema, f"postgresql://postgres@127.0.0.1:{{port}}/test?options=-csearch_path%3D{schema}"


def _drop_schema(schema: str) -> None:
    with psycopg.connect("host=127.0.0.1 dbname=test user=postgres", autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def store_outage(cases: int = 50, seconds: float = 20) -> FaultResult:
    """Cut the workers off PostgreSQL for ``seconds`` mid-run (a blocking TCP proxy)."""
    schema, url = _pg_schema()
    proxy = TcpProxy(5432)
    await proxy.start()
    try:
        stack = Stack(store_url=url.format(port=5432))
        stack.worker_store_url = url.format(port=proxy.port)
        async with stack:
            result = FaultResult(f"event store unreachable for {seconds:g} s", cases, "PostgreSQL")

            async def cut_off() -> None:
                await asyncio.sleep(3)
                proxy.block()
                await asyncio.sleep(seconds)
                proxy.unblock()

            return await _one_fault(stack, result, "SO", cut_off)
    finally:
        await proxy.stop()
        _drop_schema(schema)


async def two_workers(cases: int = 100) -> FaultResult:
    """Two workers on one task queue; one is killed for good, the other takes over."""
    schema, url = _pg_schema()
    try:
        async with Stack(store_url=url.format(port=5432), workers=2) as stack:
            result = FaultResult("one of two workers killed for good", cases, "PostgreSQL")

            async def kill_one() -> None:
                await asyncio.sleep(2)
                stack.procs[0].kill()

            return await _one_fault(stack, result, "TW", kill_one)
    finally:
        _drop_schema(schema)
