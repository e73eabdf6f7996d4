"""The read side reads past the joint conferences' streams: the case list holds cases only,
and the checkpoint still counts every event read. On SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from petitionflow.activities.conference import from_record as conference_from_record
from petitionflow.activities.conference import to_record as conference_to_record
from petitionflow.activities.records import stream_id, to_record
from petitionflow.domain import commands as c
from petitionflow.domain import conference as cf
from petitionflow.eventstore import EventStore
from petitionflow.projections.projector import Projector
from petitionflow.projections.readmodel import case_list
from testkit.builders import COUNTY_UNIT, CaseDriver, make_intake
from testkit.keys import SEALER
from tests.test_conference_domain import T0, apply, decision, fresh, item, meeting


def test_projections_skip_a_conference_stream(store: EventStore) -> None:
    case = CaseDriver(case_id="KS-PROJ-1")
    case.send(c.RegisterPetition, case_id=case.case_id, intake=make_intake())
    # a conference stream written between the case's events
    conference = apply(apply(fresh(), item("KS-PROJ-1")), meeting(decision("KS-PROJ-1")))
    events: list[cf.ConferenceEvent] = []
    state = fresh()
    for command in (item("KS-PROJ-1"), meeting(decision("KS-PROJ-1"))):
        result = cf.decide(state, command, T0)
        assert isinstance(result, cf.Accepted)
        events += result.events
        state = cf.fold(result.events, state)
    assert state == conference
    store.append(stream_id(case.case_id), 0, [to_record(e, sealer=SEALER) for e in case.events])
    store.append(cf.stream_id("653100"), 0, [conference_to_record(e) for e in events])
    written = len(case.events)
    case.send(c.TransferPetition, to_unit=COUNTY_UNIT)
    store.append(
        stream_id(case.case_id),
        written,
        [to_record(e, sealer=SEALER) for e in case.events[written:]],
    )

    projector = Projector(store)
    projected = projector.run_once(batch=2)  # batches that mix both kinds of stream
    total = len(case.events) + len(events)
    assert projected == total and projector.position()[1] == total
    with store.engine.connect() as conn:
        rows = conn.execute(select(case_list.c.case_id, case_list.c.stage)).all()
    assert [tuple(r) for r in rows] == [("KS-PROJ-1", "routed")]
    # and the conference's own stream reads back as its events
    stored = [conference_from_record(r) for r in store.read_stream(cf.stream_id("653100"))]
    assert stored == events
    assert cf.fold(stored, fresh()) == conference
