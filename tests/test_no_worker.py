"""With no worker polling a workflow's task queue, nothing can answer a query: the
client says so, with what to do, instead of Temporal's bare "Timeout expired" after
30 s (code ``worker_unavailable``, a 503 in the API, sent again by the callers that
retry transient errors)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable

import pytest
from temporalio.testing import WorkflowEnvironment

from petitionflow.client import PetitionError
from petitionflow.eventstore import EventStore
from testkit.builders import BUREAU, make_intake
from tests.conference import Conference
from tests.temporal import Harness


async def _refused(call: Awaitable[object]) -> PetitionError:
    with pytest.raises(PetitionError) as caught:
        await call
    return caught.value


async def test_a_query_no_worker_answers_says_to_start_one(
    temporal_env: WorkflowEnvironment, store: EventStore
) -> None:
    # a task queue no worker polls: the case and the conference start, nothing runs them
    idle = Harness(temporal_env, store, f"no-worker-{uuid.uuid4().hex[:8]}")
    case_id = f"NW-{uuid.uuid4().hex[:8]}"
    await idle.client.submit(case_id, make_intake(case_id), BUREAU)
    conference = Conference(idle)
    await conference.join(case_id)
    case_error, conference_error = await asyncio.gather(
        _refused(idle.client.state(case_id)), _refused(conference.view())
    )
    for error, what in ((case_error, f"case {case_id}"), (conference_error, "conference")):
        assert error.code == "worker_unavailable", error
        assert what in str(error) and "`petition worker`" in str(error), error
