"""Village disputes' read model and their statistics (矛盾纠纷排查化解).

``dispute_list``: one row per dispute, projected from the ``dispute-<id>`` streams by
the same projector run as the cases (``projections/projector.py``), in the same batch
transaction and checkpoint. Codes, names of places and units, dates and outcomes only:
never the parties, the summary or the agreement.

``dispute_statistics(store, by, county)``: per village, township or county, disputes
found, resolved (an agreement recorded), converted into petitions, escalated to the
joint conference, overdue (the mediation passed its time limit) and still open.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)

from petitionflow.eventstore import EventStore

from .readmodel import metadata

STREAM_PREFIX = "dispute-"

dispute_list = Table(
    "dispute_list",
    metadata,
    Column("dispute_id", String, primary_key=True),
    Column("status", String, nullable=False),
    Column("outcome", String),
    Column("category", String),
    Column("urgency", String),
    Column("region", String),
    Column("prefecture", String),
    Column("county", String),
    Column("township", String),
    Column("village", String),
    Column("county_code", String),
    Column("township_code", String),
    Column("village_code", String),
    Column("reported_on", String),
    Column("mediation_level", String),
    Column("mediator", String),
    Column("due", String),
    Column("overdue", Boolean, nullable=False, default=False),
    Column("resolved_on", String),
    Column("closed_on", String),
    Column("escalated", Boolean, nullable=False, default=False),
    Column("case_id", String),
    Column("conference_id", String),
)


def new_row(dispute_id: str) -> dict[str, Any]:
    row: dict[str, Any] = {c.name: None for c in dispute_list.columns}
    return row | {"dispute_id": dispute_id, "status": "new", "overdue": False, "escalated": False}


def apply(row: dict[str, Any], event_type: str, data: dict[str, Any]) -> None:
    """One stored event's JSON onto its dispute's row (types it does not know: nothing)."""
    match event_type:
        case "DisputeReported":
            place = data["place"]
            where = place["jurisdiction"]
            code = place["village_code"]
            row |= {
                "status": "reported",
                "category": data["category"],
                "urgency": data["urgency"],
                "region": where.get("region"),
                "prefecture": where.get("prefecture"),
                "county": where.get("county"),
                "township": where.get("township"),
                "village": place["village"],
                "village_code": code,
                "township_code": code[:9],
                "county_code": code[:6],
                "reported_on": data["day"],
            }
        case "DisputeMediationStarted":
            row |= {
                "status": "mediating",
                "mediation_level": data["level"],
                "mediator": data["mediator"],
                "due": data["due"],
            }
        case "DisputeOverdue":
            row["overdue"] = True
        case "DisputeResolved":
            row |= {"status": "resolved", "resolved_on": data["day"]}
        case "DisputeConverted":
            row["case_id"] = data["case_id"]
        case "DisputeEscalated":
            row |= {
                "status": "escalated",
                "escalated": True,
                "conference_id": data["conference_id"],
            }
        case "DisputeClosed":
            row |= {"status": "closed", "outcome": data["outcome"], "closed_on": data["day"]}


def project(conn: Connection, records: list[tuple[int, str, str, dict[str, Any]]]) -> None:
    """The dispute streams' events of one batch, in the projector's transaction."""
    ids = {stream.removeprefix(STREAM_PREFIX) for _, stream, _, _ in records}
    if not ids:
        return
    existing = {
        row.dispute_id: dict(row._mapping)
        for row in conn.execute(select(dispute_list).where(dispute_list.c.dispute_id.in_(ids)))
    }
    rows = {i: existing.get(i) or new_row(i) for i in ids}
    for _, stream, event_type, data in records:
        apply(rows[stream.removeprefix(STREAM_PREFIX)], event_type, data)
    fresh = [row for i, row in rows.items() if i not in existing]
    if fresh:
        conn.execute(insert(dispute_list), fresh)
    changed = [{**row, "b_dispute_id": i} for i, row in rows.items() if i in existing]
    if changed:
        conn.execute(
            update(dispute_list).where(dispute_list.c.dispute_id == bindparam("b_dispute_id")),
            changed,
        )


LEVELS = {
    "county": ("county_code", ("region", "prefecture", "county")),
    "township": ("township_code", ("county", "township")),
    "village": ("village_code", ("township", "village")),
}
FIGURES = ("found", "resolved", "converted", "escalated", "overdue", "open")


def dispute_statistics(
    store: EventStore, by: str = "township", county: str | None = None
) -> list[dict[str, Any]]:
    """One row per place at level ``by`` (county, township, village), by code, with the
    place's names and the figures; ``county``: only that county's code."""
    code_column, name_columns = LEVELS[by]
    query = select(dispute_list)
    if county:
        query = query.where(dispute_list.c.county_code == county)
    groups: dict[str, dict[str, Any]] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(query):
            r = row._mapping
            code = r[code_column] or "?"
            g = groups.setdefault(
                code,
                {"code": code, "place": " > ".join(r[c] or "?" for c in name_columns)}
                | dict.fromkeys(FIGURES, 0),
            )
            g["found"] += 1
            g["resolved"] += r["resolved_on"] is not None
            g["converted"] += r["outcome"] == "converted"
            g["escalated"] += bool(r["escalated"])
            g["overdue"] += bool(r["overdue"])
            g["open"] += r["status"] != "closed"
    return [groups[k] for k in sorted(groups)]
