"""History bytes per case: what the append's result adds to Temporal's history.

    .venv/bin/python -m bench.history_size [--cases 20]

Runs ``--cases`` full lifecycles (registration and 7 updates: 9 events, 8 appends)
through PetitionWorkflow on a fresh dev server and worker, then reads each history
and counts its serialized size, and the part of it that is the append's local
activity markers. Sizes are of the encrypted payloads, as the server stores them.
Counting bytes needs no timing, so the figure is the same on a busy machine; run it
from two checkouts to compare a change.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import uuid
from datetime import UTC, datetime

from temporalio.api.enums.v1 import EventType

from bench.stack import dev_stack
from petitionflow.workers.main import build_worker
from testkit.builders import BUREAU, make_intake
from testkit.keys import SEALER
from testkit.workloads import LIFECYCLE


async def main(cases: int) -> None:
    async with dev_stack("pf-bench-history-") as stack:
        task_queue = f"history-{uuid.uuid4().hex[:8]}"
        pc = stack.petitions(task_queue)
        totals: list[int] = []
        markers: list[int] = []
        events: list[int] = []
        async with build_worker(stack.client, stack.store, SEALER, task_queue):
            for _ in range(cases):
                case_id = f"HS{uuid.uuid4().hex[:10]}"
                handle = await pc.submit(
                    case_id, make_intake(case_id, received_at=datetime.now(UTC).isoformat()), BUREAU
                )
                for n, (cls, actor, fields) in enumerate(LIFECYCLE):
                    command = cls(
                        command_id=f"{case_id}-{n}",
                        actor=actor,
                        issued_at=datetime.now(UTC),
                        **fields,
                    )
                    await pc.send(case_id, command.kind, command)
                await handle.result()
                history = await handle.fetch_history()
                totals.append(sum(e.ByteSize() for e in history.events))
                events.append(len(history.events))
                markers.append(
                    sum(
                        e.ByteSize()
                        for e in history.events
                        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
                        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
                    )
                )
    print(
        f"{cases} cases, {len(LIFECYCLE)} updates each: history {statistics.mean(totals):,.0f} "
        f"bytes per case (min {min(totals):,}, max {max(totals):,}), "
        f"{statistics.mean(events):,.0f} history events; local-activity markers "
        f"{statistics.mean(markers):,.0f} bytes per case"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    asyncio.run(main(parser.parse_args().cases))
