"""Repeat screening at registration, and the link written to a case whose workflow
has ended. Both run as activities, so their answers are recorded in the case's
history and a replay decides on the same answers (``workflows/petition.py``).

Nothing personal leaves here: the index holds keyed hashes only, the result holds
case ids, scores and statuses, and the log lines the case id and counts.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from pydantic import BaseModel, Field
from temporalio import activity

from petitionflow.domain import commands as c
from petitionflow.domain.decide import Accepted, decide
from petitionflow.domain.intake import Intake
from petitionflow.domain.policy import DeadlinePolicy
from petitionflow.domain.repeat import MAX_CANDIDATES, lookups, petitioner_keys, screen
from petitionflow.domain.state import CaseState, fold
from petitionflow.domain.values import Actor, Candidate, NotAcceptedReason
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.index import PetitionerIndex
from petitionflow.security.index import PetitionerHasher
from petitionflow.security.sealing import Sealer

from .records import from_record, stream_id, to_record

log = structlog.get_logger("petitionflow.repeat")

# Who records what the engine decided about repeats (screening, links).
ENGINE_ACTOR = Actor(unit="petitionflow", person="repeat screening")


class ScreenRequest(BaseModel):
    case_id: str
    intake: Intake


class ScreenResult(BaseModel):
    """The earlier cases that may be the same matter, best first (``domain.repeat.screen``)."""

    candidates: list[Candidate] = Field(default_factory=list)
    looked_at: int = 0  # earlier cases of the same petitioner key that were read
    indexed: bool = True  # False: this worker has no index key; nothing was screened


class LinkRequest(BaseModel):
    """Record in ``case_id``'s stream that ``other_case_id`` repeats it."""

    case_id: str
    other_case_id: str
    reason: NotAcceptedReason
    issued_at: datetime


class LinkResult(BaseModel):
    written: bool  # False: the link was there already
    version: int  # the stream's version after it


def link_command(other_case_id: str, reason: NotAcceptedReason, at: datetime) -> c.RecordLink:
    """The command that records, in the earlier case, that ``other_case_id`` repeats it;
    its id names the later case, so sending it again records nothing."""
    return c.RecordLink(
        command_id=f"link:{other_case_id}",
        actor=ENGINE_ACTOR,
        issued_at=at,
        other_case_id=other_case_id,
        reason=reason,
    )


class RepeatActivities:
    def __init__(
        self, store: EventStore, sealer: Sealer, hasher: PetitionerHasher | None = None
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.hasher = hasher
        self.index = PetitionerIndex(store.engine)

    def _state(self, case_id: str) -> CaseState:
        records = self.store.read_stream(stream_id(case_id))
        return fold(from_record(r, self.sealer) for r in records)

    @activity.defn(name="screen_repeats")
    def screen_repeats(self, request: ScreenRequest) -> ScreenResult:
        """Index the new case under its petitioner's keyed hashes and return the earlier
        cases of the same petitioner that may be the same matter, each with its status
        folded from its events now. Idempotent: a retry finds the case indexed already
        and compares it with the same earlier cases (those indexed before it)."""
        if self.hasher is None:
            log.warning("repeat screening skipped: no index key", case_id=request.case_id)
            return ScreenResult(indexed=False)
        texts = petitioner_keys(request.intake)
        entries = {kind: self.hasher.newest(text) for kind, text in texts.items()}
        lookup = [(self.hasher.all(text), kinds) for text, kinds in lookups(request.intake)]
        hits = self.index.index_and_find(request.case_id, entries, lookup, MAX_CANDIDATES)
        earlier: list[tuple[str, CaseState]] = []
        for hit in hits:
            try:
                earlier.append((hit.case_id, self._state(hit.case_id)))
            except Exception as exc:  # one unreadable case does not stop the others
                log.warning(
                    "repeat screening: an earlier case cannot be read",
                    case_id=request.case_id,
                    earlier_case_id=hit.case_id,
                    error=type(exc).__name__,
                )
        found = screen(request.intake, earlier)
        log.info(
            "repeat screening",
            case_id=request.case_id,
            looked_at=len(earlier),
            found=len(found),
            certain=sum(1 for f in found if f.certainty.value == "certain"),
        )
        return ScreenResult(candidates=found, looked_at=len(earlier))

    @activity.defn(name="link_case_in_store")
    def link_case_in_store(self, request: LinkRequest) -> LinkResult:
        """Append the link to a case whose workflow has ended (closed for good: no
        workflow owns its stream any more), through ``decide`` as the workflow would.
        A version conflict (someone appended meanwhile) is retried by the policy."""
        info = activity.info()
        writer = {"workflow_id": info.workflow_id or "", "run_id": info.workflow_run_id or ""}
        stream = stream_id(request.case_id)
        state = self._state(request.case_id)
        command = link_command(request.other_case_id, request.reason, request.issued_at)
        now = max(request.issued_at, datetime.now(UTC))
        decision = decide(state, command, now, DeadlinePolicy())
        if not isinstance(decision, Accepted) or decision.duplicate or not decision.events:
            return LinkResult(written=False, version=state.version)
        # A ConcurrencyError (the stream moved meanwhile) is retried by the activity's
        # policy: read again, decide again.
        self.store.append(
            stream, state.version, [to_record(e, writer, self.sealer) for e in decision.events]
        )
        log.info(
            "case linked in the store",
            case_id=request.case_id,
            other_case_id=request.other_case_id,
            version=state.version + len(decision.events),
        )
        return LinkResult(written=True, version=state.version + len(decision.events))
