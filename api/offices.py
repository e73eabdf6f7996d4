"""The competent offices a petitioner chooses from online (属地选择), from the unit
directory: the petition bureaus (信访局) of the region, the prefectures and the
counties, each with its place and, for a county, the townships below it. The case's
place is the office's place and, if chosen, a township; the office registers the case.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime

from petitionflow.domain.units import UnitKind, UnitLevel
from petitionflow.domain.values import Jurisdiction, Unit
from petitionflow.eventstore.directory import DirectoryStore

_OFFICE_LEVELS = (UnitLevel.REGION, UnitLevel.PREFECTURE, UnitLevel.COUNTY)


@dataclass(frozen=True, slots=True)
class Office:
    id: str  # the petition bureau's unit id
    name: str
    place: Jurisdiction
    townships: tuple[str, ...] = ()

    def jurisdiction(self, township: str | None) -> Jurisdiction:
        if township is None:
            return self.place
        return self.place.model_copy(update={"township": township})


class Offices:
    """The offices as the directory has them today, rebuilt after each directory load."""

    def __init__(self, directory: DirectoryStore) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._built: tuple[int, date, tuple[Office, ...]] | None = None

    def all(self) -> tuple[Office, ...]:
        index = self.directory.index()
        if index is None:
            return ()
        today = datetime.now(UTC).date()
        with self._lock:
            if self._built is None or self._built[:2] != (index.load_id, today):
                self._built = (index.load_id, today, self._build(today))
            return self._built[2]

    def get(self, office_id: str) -> Office | None:
        return next((o for o in self.all() if o.id == office_id), None)

    def _build(self, on: date) -> tuple[Office, ...]:
        units = self.directory.units_on(on)
        townships: dict[tuple[str, ...], set[str]] = {}
        for u in units:
            if u.level is UnitLevel.TOWNSHIP and u.jurisdiction.township:
                townships.setdefault(u.jurisdiction.path[:-1], set()).add(u.jurisdiction.township)
        return tuple(
            Office(
                u.id,
                u.name,
                u.jurisdiction,
                tuple(sorted(townships.get(u.jurisdiction.path, ())))
                if u.level is UnitLevel.COUNTY
                else (),
            )
            for u in sorted(units, key=lambda u: u.place)
            if u.kind is UnitKind.PETITION_BUREAU and u.level in _OFFICE_LEVELS
        )

    def unit_above(self, unit: Unit) -> Unit | None:
        """The unit the directory has above ``unit`` today: where review goes (Art 35)."""
        found = self.directory.resolve([unit.name], datetime.now(UTC).date()).get(unit.name)
        if found is None or found.unit is None or found.parent is None:
            return None
        return found.parent.unit()
