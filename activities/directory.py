"""The directory activity: the workflow's only way to the unit directory.

Run as a local activity before ``decide`` takes a command that names units (routing,
the conference's lead unit, review; a dispute's village): its result, the directory's
answer on the engine's day, is recorded in history, so a replay decides with the same
answer after the directory changed.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from temporalio import activity

from petitionflow.domain.units import UnitLookup, UnitResolution
from petitionflow.eventstore.directory import DirectoryStore


class ResolveUnits(BaseModel):
    names: list[str]
    on: date


class UnitById(BaseModel):
    unit_id: str
    on: date


class DirectoryActivities:
    def __init__(self, directory: DirectoryStore) -> None:
        self.directory = directory

    @activity.defn(name="resolve_units")
    def resolve_units(self, request: ResolveUnits) -> UnitResolution:
        return self.directory.resolve(request.names, request.on)

    @activity.defn(name="unit_by_id")
    def unit_by_id(self, request: UnitById) -> UnitLookup:
        index = self.directory.index()
        if index is None:
            return UnitLookup(on=request.on, loaded=False)
        return UnitLookup(on=request.on, loaded=True, unit=index.on(request.unit_id, request.on))
