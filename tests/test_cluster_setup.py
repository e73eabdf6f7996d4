"""petition setup-cluster's parts against the real dev server: idempotent."""

from __future__ import annotations

import uuid

from temporalio.testing import WorkflowEnvironment

from petitionflow.workflows import search
from petitionflow.workflows.search import ensure_namespace, register_search_attributes


async def test_namespace_and_search_attributes_are_registered_once(
    temporal_env: WorkflowEnvironment,
) -> None:
    client = temporal_env.client
    namespace = f"pf-{uuid.uuid4().hex[:8]}"
    assert await ensure_namespace(client, namespace, retention_days=3) is True
    assert await ensure_namespace(client, namespace, retention_days=3) is False
    first = await register_search_attributes(client, namespace)
    assert first == sorted(key.name for key in search.ALL)
    assert await register_search_attributes(client, namespace) == []
    # the default namespace got them at server start, as petition dev does
    assert await register_search_attributes(client, "default") == []
