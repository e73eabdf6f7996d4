"""The unit directory as values: the units of the four-level network (四纵三横), what
a directory file changes, and the answers a case needs from it.

Pure: the directory lives in the store (``eventstore/directory.py``) and reaches a
workflow only as a ``UnitResolution`` returned by a local activity, so history holds
what ``decide`` was told and a replay decides the same after the directory changed.

A unit keeps its id for life; its name, place, kind or parent change by dated
versions, so a case decided last year still names the unit as it was then (the
events hold that name).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints, model_validator

from .values import Frozen, Jurisdiction, ShortText, Unit

UnitId = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")]
PlaceCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")]


class UnitKind(StrEnum):
    PETITION_BUREAU = "petition_bureau"  # 信访局 / 乡镇信访办
    DEPARTMENT = "department"  # 职能部门 (厅, 局)
    GOVERNMENT = "government"  # 人民政府
    ENTERPRISE = "enterprise"  # 企事业单位
    VILLAGE = "village"  # 村 (民委员会), where the information officers are


class UnitLevel(StrEnum):
    """The four jurisdiction levels and the village below them."""

    REGION = "region"
    PREFECTURE = "prefecture"
    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"


UNIT_LEVELS: tuple[UnitLevel, ...] = tuple(UnitLevel)
_CODE_LENGTH = {
    UnitLevel.REGION: 6,
    UnitLevel.PREFECTURE: 6,
    UnitLevel.COUNTY: 6,
    UnitLevel.TOWNSHIP: 9,
    UnitLevel.VILLAGE: 12,
}


class UnitStatus(StrEnum):
    ACTIVE = "active"
    DISSOLVED = "dissolved"  # 撤销
    MERGED = "merged"  # 合并: its work went to ``merged_into``


class DirectoryUnit(Frozen):
    """One unit as a directory file or a version states it."""

    id: UnitId
    name: ShortText
    kind: UnitKind
    level: UnitLevel
    place: PlaceCode
    jurisdiction: Jurisdiction  # a village's is its township's
    parent: UnitId | None = None
    status: UnitStatus = UnitStatus.ACTIVE
    merged_into: UnitId | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DirectoryUnit:
        expected = self.level if self.level is not UnitLevel.VILLAGE else UnitLevel.TOWNSHIP
        if self.jurisdiction.level.value != expected.value:
            raise ValueError(
                f"a {self.level.value} unit's jurisdiction goes down to {expected.value}; "
                f"this one ends at {self.jurisdiction.level.value}"
            )
        if len(self.place) != _CODE_LENGTH[self.level]:
            raise ValueError(
                f"a {self.level.value} place code has {_CODE_LENGTH[self.level]} digits; "
                f"{self.place} has {len(self.place)}"
            )
        if (self.status is UnitStatus.MERGED) != (self.merged_into is not None):
            raise ValueError("merged_into is given exactly when status is merged")
        if self.kind is UnitKind.VILLAGE and self.level is not UnitLevel.VILLAGE:
            raise ValueError("a village unit has level village")
        return self

    @property
    def active(self) -> bool:
        return self.status is UnitStatus.ACTIVE

    def unit(self) -> Unit:
        """The unit as commands and events name it."""
        return Unit(name=self.name, jurisdiction=self.jurisdiction)

    def same_as(self, other: DirectoryUnit) -> bool:
        return self.model_dump() == other.model_dump()


# ---- validating a whole directory (a file, before it is loaded) --------------------


@dataclass(frozen=True)
class Problem:
    unit_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.unit_id}: {self.message}"


def check_directory(units: Sequence[DirectoryUnit]) -> list[Problem]:
    """What makes ``units`` unusable as a directory: duplicate ids, two active units of
    one name, a parent or successor that is not there or not active, a parent that is
    not above (or beside, for a village or an enterprise) its child."""
    problems: list[Problem] = []
    ids = Counter(u.id for u in units)
    problems += [Problem(i, f"the id appears {n} times") for i, n in ids.items() if n > 1]
    names = Counter(u.name for u in units if u.active)
    problems += [
        Problem(u.id, f"the name {u.name} is also another active unit's")
        for u in units
        if u.active and names[u.name] > 1
    ]
    by_id = {u.id: u for u in units}
    for u in units:
        if u.merged_into is not None:
            successor = by_id.get(u.merged_into)
            if successor is None or not successor.active:
                problems.append(Problem(u.id, f"merged into {u.merged_into}, not an active unit"))
        if not u.active:
            continue
        if u.parent is None:
            if u.level is not UnitLevel.REGION:
                problems.append(Problem(u.id, f"a {u.level.value} unit needs a parent"))
            continue
        parent = by_id.get(u.parent)
        if parent is None or not parent.active:
            problems.append(Problem(u.id, f"the parent {u.parent} is not an active unit"))
        elif not _parent_fits(u, parent):
            problems.append(
                Problem(
                    u.id,
                    f"the parent {parent.name} ({parent.level.value}, {parent.jurisdiction}) "
                    f"is not above {u.name} ({u.level.value}, {u.jurisdiction})",
                )
            )
    return problems


def _parent_fits(child: DirectoryUnit, parent: DirectoryUnit) -> bool:
    if not parent.jurisdiction.contains(child.jurisdiction):
        return False
    if child.level is UnitLevel.VILLAGE or child.kind is UnitKind.ENTERPRISE:
        return True  # a village under its township, an enterprise under its place's government
    return UNIT_LEVELS.index(parent.level) == UNIT_LEVELS.index(child.level) - 1


# ---- what loading a file changes ---------------------------------------------------


class ChangeKind(StrEnum):
    CREATED = "created"
    RENAMED = "renamed"
    MOVED = "moved"  # another parent or place
    CHANGED = "changed"  # another kind or level
    DISSOLVED = "dissolved"
    MERGED = "merged"
    RESTORED = "restored"


@dataclass(frozen=True)
class Change:
    unit_id: str
    kinds: tuple[ChangeKind, ...]
    before: DirectoryUnit | None
    after: DirectoryUnit

    def describe(self) -> str:
        b, a = self.before, self.after
        parts = []
        for k in self.kinds:
            if k is ChangeKind.RENAMED and b:
                parts.append(f"renamed {b.name} → {a.name}")
            elif k is ChangeKind.MOVED and b:
                parts.append(f"moved: parent {b.parent} → {a.parent}, place {b.place} → {a.place}")
            elif k is ChangeKind.MERGED:
                parts.append(f"merged into {a.merged_into}")
            else:
                parts.append(k.value)
        return f"{a.id} {a.name}: " + "; ".join(parts)


@dataclass(frozen=True)
class Diff:
    changes: tuple[Change, ...]
    unchanged: int
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.changes


def diff(current: Iterable[DirectoryUnit], snapshot: Sequence[DirectoryUnit]) -> Diff:
    """What storing ``snapshot`` as the whole directory changes against ``current`` (the
    units as they stand, active or not). A unit ``current`` has active and the snapshot
    lacks is dissolved."""
    now = {u.id: u for u in current}
    given = {u.id for u in snapshot}
    changes: list[Change] = []
    unchanged = 0
    for after in snapshot:
        before = now.get(after.id)
        if before is None:
            if after.active:
                changes.append(Change(after.id, (ChangeKind.CREATED,), None, after))
            continue
        if before.same_as(after):
            unchanged += 1
            continue
        kinds: list[ChangeKind] = []
        if not after.active and before.active:
            kinds.append(
                ChangeKind.MERGED if after.status is UnitStatus.MERGED else ChangeKind.DISSOLVED
            )
        elif after.active and not before.active:
            kinds.append(ChangeKind.RESTORED)
        if before.name != after.name:
            kinds.append(ChangeKind.RENAMED)
        if (before.parent, before.place, before.jurisdiction) != (
            after.parent,
            after.place,
            after.jurisdiction,
        ):
            kinds.append(ChangeKind.MOVED)
        if (before.kind, before.level) != (after.kind, after.level):
            kinds.append(ChangeKind.CHANGED)
        if not kinds:  # e.g. a dissolved unit stated dissolved again with other fields
            unchanged += 1
            continue
        changes.append(Change(after.id, tuple(kinds), before, after))
    for unit_id, before in now.items():
        if unit_id not in given and before.active:
            gone = before.model_copy(update={"status": UnitStatus.DISSOLVED})
            changes.append(Change(unit_id, (ChangeKind.DISSOLVED,), before, gone))
    counts = Counter(k.value for c in changes for k in c.kinds)
    return Diff(tuple(changes), unchanged, dict(counts))


# ---- what a case asks of the directory ---------------------------------------------


@dataclass(frozen=True)
class UnitVersion:
    unit: DirectoryUnit
    version: int
    valid_from: date
    load_id: int


class ResolvedUnit(Frozen):
    """A unit name as the directory knew it on the day asked."""

    name: str
    unit: DirectoryUnit | None = None  # None: no unit of that name (then or ever)
    parent: DirectoryUnit | None = None  # the unit above it, for review
    successor: DirectoryUnit | None = None  # where a merged unit's work went


class UnitResolution(Frozen):
    """The directory's answer for the units one command names, on one day.

    ``loaded`` is false while no directory has been loaded: units are then checked by
    their jurisdiction alone, as before the directory existed."""

    on: date
    loaded: bool
    units: tuple[ResolvedUnit, ...] = ()

    def get(self, name: str) -> ResolvedUnit | None:
        return next((r for r in self.units if r.name == name), None)


class UnitLookup(Frozen):
    """The directory's answer for one unit id on one day (``loaded`` as above)."""

    on: date
    loaded: bool
    unit: DirectoryUnit | None = None


def conference_id(unit: DirectoryUnit) -> str:
    """The joint conference (联席会议) a unit's place holds: one per place, its office
    the place's petition bureau."""
    return f"conference-{unit.place}"


class DirectoryIndex:
    """Every version of every unit, by unit and by name, answering "as of a day"
    (the store keeps one in memory: about 20k units take a few MB)."""

    def __init__(self, load_id: int, versions: Iterable[UnitVersion]) -> None:
        self.load_id = load_id
        self.by_unit: dict[str, list[UnitVersion]] = defaultdict(list)
        self.by_name: dict[str, list[UnitVersion]] = defaultdict(list)
        for v in versions:  # ordered by unit, version
            self.by_unit[v.unit.id].append(v)
            self.by_name[v.unit.name].append(v)
        self.starts = {uid: [v.valid_from for v in vs] for uid, vs in self.by_unit.items()}

    def on(self, unit_id: str, day: date) -> DirectoryUnit | None:
        versions = self.by_unit.get(unit_id)
        if not versions:
            return None
        i = bisect_right(self.starts[unit_id], day)
        return versions[i - 1].unit if i else None

    def resolve_one(self, name: str, day: date) -> ResolvedUnit:
        named = self.by_name.get(name, [])
        # The unit that bore the name on that day, else the one that bore it last before.
        best: DirectoryUnit | None = None
        for v in sorted(named, key=lambda v: v.valid_from, reverse=True):
            if v.valid_from > day:
                continue
            now = self.on(v.unit.id, day)
            if now is not None and now.name == name and now.active:
                best = now
                break
            if best is None:
                best = now
        if best is None:
            return ResolvedUnit(name=name)
        parent = self.on(best.parent, day) if best.parent else None
        successor = self.on(best.merged_into, day) if best.merged_into else None
        return ResolvedUnit(name=name, unit=best, parent=parent, successor=successor)

    def resolve(self, names: Iterable[str], day: date) -> UnitResolution:
        return UnitResolution(
            on=day, loaded=True, units=tuple(self.resolve_one(n, day) for n in dict.fromkeys(names))
        )
