"""The Temporal UI's "Send a Signal" and "Send an Update" lists name every command,
although the workflow takes them through one dynamic handler each."""

from __future__ import annotations

from temporalio.api.sdk.v1 import WorkflowMetadata

from petitionflow.domain.decide import EXTERNAL_COMMANDS
from petitionflow.workers.ui_metadata import METADATA_QUERY
from tests.temporal import Harness


async def test_the_metadata_query_lists_every_command(petitions: Harness) -> None:
    case = await petitions.submit()
    metadata = await case.handle.query(METADATA_QUERY, result_type=WorkflowMetadata)
    definition = metadata.definition
    assert definition.type == "PetitionWorkflow"
    for listed in (definition.update_definitions, definition.signal_definitions):
        assert [d.name for d in listed] == sorted(EXTERNAL_COMMANDS)  # no blank entry
    described = {d.name: d.description for d in definition.update_definitions}
    assert described["accept_petition"].startswith("受理: the handling period starts.")
    assert described["transfer_petition"].endswith("Fields: to_unit, command_id, actor, issued_at.")
    assert {"state", "deadlines"} <= {q.name for q in definition.query_definitions}
    assert "**Stage:**" in metadata.current_details  # the SDK's own part is kept
