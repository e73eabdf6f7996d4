"""A worker process that dies right after a durable append: the lost workflow task.

``python -m tests.faults.crash_after_append`` runs the real worker (``petitionflow.workers.main``),
except that once the ``append_events`` activity has *written* events of the type named
by ``PETITIONFLOW_CRASH_AFTER`` (``HearingRecorded``...), the process ends at once with
``os._exit``: the event is committed, the workflow task that ran the append never
completes, and Temporal retries it on another worker. That is the exact moment a
SIGKILL can only hit by chance.
"""

from __future__ import annotations

import os
from unittest import mock

from temporalio import activity

from petitionflow.activities.store import AppendEvents, AppendResult, StoreActivities
from petitionflow.workers import main as worker_main

CRASH_AFTER = os.environ.get("PETITIONFLOW_CRASH_AFTER", "")
EXIT_CODE = 75


class CrashingStoreActivities(StoreActivities):
    @activity.defn(name="append_events")
    def append_events(self, request: AppendEvents) -> AppendResult:
        result = super().append_events(request)
        if any(e.type == CRASH_AFTER for e in request.events):
            stored = self.store.read_stream(f"petition-{request.case_id}")
            if stored and stored[-1].event_id == request.events[-1].event_id:
                os._exit(EXIT_CODE)  # committed; the workflow task is lost with us
        return result


if __name__ == "__main__":
    with mock.patch.object(worker_main, "StoreActivities", CrashingStoreActivities):
        worker_main.main()
