"""``petition verify --live``: does every open case's workflow hold what the store holds?

A case is wedged when its workflow and its stream disagree: the store has events
the workflow never applied (or the other way round), or the workflow failed, was
terminated or is gone while the store says the case is open. For every case that is
open in the store, and every workflow still running, this compares the stream's
version (its number of events) with the version in the workflow's ``state`` query.
A command landing between the two reads can make them differ for a moment, so a
difference is read again twice before it is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from petitionflow.activities.records import stream_id
from petitionflow.cli.render import plural
from petitionflow.client import PetitionClient, PetitionError
from petitionflow.eventstore import EventStore

CONCURRENCY = 8
RECHECKS = 2


@dataclass
class Mismatch:
    case_id: str
    stored: int  # events in the store
    workflow: int | None  # the workflow's version; None when it could not be asked
    problem: str

    def __str__(self) -> str:
        return f"{self.case_id}: {self.problem}"


@dataclass
class LiveReport:
    checked: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    what: str = "open case"  # or "case", when one was asked for by name

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def text(self) -> str:
        theirs = "its workflow" if self.checked == 1 else "their workflows"
        head = f"live: {plural(self.checked, self.what)} compared with {theirs}: "
        if self.ok:
            return head + "all agree"
        lines = [head + f"{len(self.mismatches)} differ"]
        lines += [f"  {m}" for m in sorted(self.mismatches, key=lambda m: m.case_id)]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "ok": self.ok,
            "mismatches": [asdict(m) for m in self.mismatches],
        }


async def check_live(args: argparse.Namespace, store: EventStore, stream: str | None) -> LiveReport:
    from petitionflow.cli.main import _petitions

    petitions: PetitionClient = await _petitions(args, store)
    versions = await asyncio.to_thread(store.stream_heads, stream, containing="CaseClosed")
    cases = {
        s.removeprefix("petition-")
        for s, (_, closed) in versions.items()
        if not closed and s.startswith("petition-")  # not a conference's or dispute's stream
    }
    if stream:
        cases = {stream.removeprefix("petition-")}  # asked for by name: open or not
    else:
        running = await petitions.list('ExecutionStatus = "Running"', limit=10_000_000)
        cases |= {row["case_id"] for row in running}
    report = LiveReport(what="case" if stream else "open case")
    started = last = time.monotonic()
    done = 0
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(case_id: str) -> None:
        nonlocal done, last
        async with gate:
            head = versions.get(stream_id(case_id))
            problem = await _compare(petitions, store, case_id, head[0] if head else 0)
        if problem:
            report.mismatches.append(problem)
        done += 1
        now = time.monotonic()
        if now - last >= 1.0:
            last = now
            rate = done / (now - started)
            print(
                f"  live: {done:,} of {len(cases):,} cases compared ({rate:,.0f}/s), "
                f"{len(report.mismatches)} differ so far",
                file=sys.stderr,
                flush=True,
            )

    await asyncio.gather(*(one(c) for c in sorted(cases)))
    report.checked = len(cases)
    return report


async def _compare(
    petitions: PetitionClient, store: EventStore, case_id: str, stored: int
) -> Mismatch | None:
    try:
        desc = await petitions.handle(case_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return Mismatch(case_id, stored, None, f"open in the store (v{stored}) but no workflow")
        return Mismatch(case_id, stored, None, f"cannot describe its workflow: {exc}")
    status = desc.status
    if status not in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED):
        name = status.name if status else "UNKNOWN"
        return Mismatch(case_id, stored, None, f"its workflow is {name} (store at v{stored})")
    for attempt in range(RECHECKS + 1):
        try:
            state = await petitions.state(case_id)
        except PetitionError as exc:
            return Mismatch(case_id, stored, None, f"the state query failed: {exc}")
        if state.version == stored:
            return None
        if attempt < RECHECKS:
            await asyncio.sleep(0.5)
            stored = await asyncio.to_thread(store.stream_version, stream_id(case_id))
    return Mismatch(
        case_id,
        stored,
        state.version,
        f"the store has {plural(stored, 'event')}, the workflow {state.version}"
        + (" (the workflow is behind)" if state.version < stored else " (the store is behind)"),
    )
