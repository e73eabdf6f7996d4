"""Reading a directory file: CSV or JSON, each row a unit (README, The unit directory).

Every problem is reported with its line (CSV) or index (JSON) and what to do; nothing
is loaded from a file with a problem.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from petitionflow.domain.units import DirectoryUnit, Problem, check_directory

COLUMNS = (
    "id",
    "name",
    "kind",
    "level",
    "place",
    "region",
    "prefecture",
    "county",
    "township",
    "parent",
    "status",
    "merged_into",
)
# The generated directory shipped as test, benchmark and demo data (directory/xinjiang.py).
XINJIANG = Path(__file__).parent / "data" / "xinjiang-generated.csv"
_PLACE = ("region", "prefecture", "county", "township")


class DirectoryFileError(ValueError):
    def __init__(self, path: str, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:20]
        more = f"\n… and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{path}: {len(problems)} problem(s):\n" + "\n".join(shown) + more)


@dataclass(frozen=True)
class DirectoryFile:
    path: str
    source: str
    generated: bool
    units: tuple[DirectoryUnit, ...]


def _unit(row: dict[str, Any]) -> DirectoryUnit:
    place = {k: row.get(k) or None for k in _PLACE}
    return DirectoryUnit.model_validate(
        {
            "id": row.get("id"),
            "name": row.get("name"),
            "kind": row.get("kind"),
            "level": row.get("level"),
            "place": row.get("place"),
            "jurisdiction": row.get("jurisdiction") or place,
            "parent": row.get("parent") or None,
            "status": row.get("status") or "active",
            "merged_into": row.get("merged_into") or None,
        }
    )


def _why(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors()
    )


def read_directory(path: str | Path, source: str | None = None) -> DirectoryFile:
    """The units of a CSV or JSON directory file, checked as a whole directory."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DirectoryFileError(str(p), [f"cannot read it: {exc.strerror}"]) from exc
    except UnicodeDecodeError as exc:
        raise DirectoryFileError(str(p), ["not UTF-8 text; save it as UTF-8"]) from exc
    rows: list[tuple[str, dict[str, Any]]]
    generated = "generated" in p.name
    if p.suffix.lower() == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DirectoryFileError(str(p), [f"not JSON: {exc}"]) from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("units"), list):
            raise DirectoryFileError(str(p), ['expected {"units": [ {...}, ... ]}'])
        source = source or doc.get("source") or p.name
        generated = bool(doc.get("generated", generated))
        rows = [
            (f"units[{i}]", r if isinstance(r, dict) else {}) for i, r in enumerate(doc["units"])
        ]
    else:
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise DirectoryFileError(
                str(p),
                [f"line 1: the header lacks {', '.join(missing)}; expected {','.join(COLUMNS)}"],
            )
        rows = [(f"line {n}", r) for n, r in enumerate(reader, start=2)]
        source = source or p.name
    units: list[DirectoryUnit] = []
    problems: list[str] = []
    for where, row in rows:
        try:
            units.append(_unit(row))
        except ValidationError as exc:
            problems.append(f"{where} ({row.get('id') or 'no id'}): {_why(exc)}")
    if not problems and not units:
        problems.append("no units in it")
    if not problems:
        problems = [str(pr) for pr in check_directory(units)]
    if problems:
        raise DirectoryFileError(str(p), problems)
    return DirectoryFile(str(p), source, generated, tuple(units))


def write_csv(units: list[DirectoryUnit], out: io.TextIOBase | Any) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for u in units:
        j = u.jurisdiction
        w.writerow(
            [
                u.id,
                u.name,
                u.kind.value,
                u.level.value,
                u.place,
                j.region,
                j.prefecture or "",
                j.county or "",
                j.township or "",
                u.parent or "",
                "" if u.active else u.status.value,
                u.merged_into or "",
            ]
        )


__all__ = [
    "COLUMNS",
    "XINJIANG",
    "DirectoryFile",
    "DirectoryFileError",
    "Problem",
    "read_directory",
    "write_csv",
]
