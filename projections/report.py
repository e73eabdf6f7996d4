"""Statistics per unit or jurisdiction level, from the read models (Art 41 figures).

- satisfaction rate: (satisfied + basically satisfied) / evaluated; "not evaluated"
  is counted apart and never as satisfied;
- on-time rate per deadline: met / (met + missed) over the obligations decided;
- overdue now: open cases with a missed deadline still open;
- backlog (积案): open cases past their handling deadline;
- provisional: open cases with a deadline counted across a year whose official
  holiday arrangement is not loaded yet (Monday to Friday); a warning says so.

Routing deadlines, and cases never routed to a unit (diverted, not accepted), belong
to the registering petition office: they are grouped under "(petition office)".

- repeat petitions (重复信访): later petitions of the same petitioner on the same
  matter, found at registration and not accepted (Art 19(3), or 不再受理 after
  re-review). Each counts where the matter it repeats is: under the unit and the place
  of the case it repeats (the repeat itself was never routed). The repeat rate is
  repeats / (the group's cases that are not repeats + its repeats): the share of
  petitions on the group's matters that were repeats;
- skipped a level (越级): cases registered by an office above the level of the unit
  they were routed to (``projections/readmodel.py`` says how the levels are read).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import Engine, select

from petitionflow.domain.units import DirectoryIndex, DirectoryUnit

from .readmodel import case_list, deadline_outcomes

GroupBy = Literal["unit", "prefecture", "county", "level", "kind"]
OFFICE = "(petition office)"
UNLISTED = "(not in the unit directory)"


def _grouper(
    by: GroupBy, directory: DirectoryIndex | None, on: date
) -> Callable[[dict[str, Any]], str]:
    """The group a case (or a deadline outcome) counts in. With the unit directory, a
    unit is named as the directory has it today (a renamed unit's cases stay together),
    and ``level`` and ``kind`` are the handling unit's in the directory."""
    if by in ("prefecture", "county"):
        return lambda row: row[by] or OFFICE
    known: dict[str, DirectoryUnit | None] = {}

    def unit(name: str) -> DirectoryUnit | None:
        if name not in known:
            found = directory.resolve_one(name, on).unit if directory else None
            known[name] = directory.on(found.id, on) if directory and found else None
        return known[name]

    if by == "unit":
        return lambda row: (
            OFFICE if not row["unit"] else (u.name if (u := unit(row["unit"])) else row["unit"])
        )
    if directory is None:
        raise ValueError(f"a report by {by} needs the unit directory (petition units load)")
    return lambda row: (
        OFFICE
        if not row["unit"]
        else (getattr(u, by).value if (u := unit(row["unit"])) else UNLISTED)
    )


KINDS = ("routing", "notification", "handling", "review_decision", "re_review_decision")


def statistics(
    engine: Engine,
    by: GroupBy = "unit",
    since: str | None = None,
    within: tuple[str, ...] = (),
    directory: DirectoryIndex | None = None,
) -> list[dict[str, Any]]:
    """The figures per ``by``; ``within`` (a place's path, top first) keeps the cases of
    that place and below (the HTTP API's jurisdiction scope); ``directory`` names the
    units as the unit directory has them today, and groups by ``level`` or ``kind``."""
    group = _grouper(by, directory, datetime.now(UTC).date())
    cases = select(case_list)
    outcomes = select(deadline_outcomes)
    if within:
        levels = (
            case_list.c.region,
            case_list.c.prefecture,
            case_list.c.county,
            case_list.c.township,
        )
        place = [column == name for column, name in zip(levels, within, strict=False)]
        cases = cases.where(*place)
        outcomes = outcomes.where(
            deadline_outcomes.c.case_id.in_(select(case_list.c.case_id).where(*place))
        )
    if since:
        cases = cases.where(case_list.c.received_on >= since)
        outcomes = outcomes.where(deadline_outcomes.c.decided_on >= since)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(cases)]
        decided = [dict(r._mapping) for r in conn.execute(outcomes)]
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[group(row)].append(row)
    # a repeat counts where the matter it repeats is (that case's unit or place)
    by_id = {row["case_id"]: row for row in rows}
    repeats: Counter[str] = Counter()
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        if row["repeat_of"]:
            matter = group(by_id.get(row["repeat_of"], row))
            repeats[matter] += 1
            reasons[matter][row["repeat_reason"]] += 1
    on_time: dict[str, Counter[tuple[str, bool]]] = defaultdict(Counter)
    for o in decided:
        on_time[group(o)][(o["kind"], o["met"])] += 1
    report = []
    # a review unit may owe deadlines (review decisions) of no case of its own
    for name in sorted(groups.keys() | repeats.keys() | on_time.keys()):
        g = groups[name]
        originals = sum(not r["repeat_of"] for r in g)
        ratings = Counter(r["rating"] for r in g if r["rating"])
        evaluated = ratings["satisfied"] + ratings["basically_satisfied"] + ratings["dissatisfied"]
        content = ratings["satisfied"] + ratings["basically_satisfied"]
        is_open = [r for r in g if r["stage"] != "closed"]
        times = on_time[name]
        met = sum(n for (_, ok), n in times.items() if ok)
        missed = sum(n for (_, ok), n in times.items() if not ok)
        report.append(
            {
                by: name,
                "cases": len(g),
                "open": len(is_open),
                "by_stage": dict(sorted(Counter(r["stage"] for r in g).items())),
                "overdue_now": sum(r["overdue"] for r in is_open),
                "backlog": sum(
                    bool(r["deadlines"].get("handling", {}).get("missed")) for r in is_open
                ),
                "provisional": sum(
                    any(d.get("provisional") for d in r["deadlines"].values()) for r in is_open
                ),
                "supervised": sum(bool(r["supervised"]) for r in g),
                "extensions": sum(r["extension_days"] > 0 for r in g),
                "satisfaction_rate": round(content / evaluated, 4) if evaluated else None,
                "evaluated": evaluated,
                "not_evaluated": ratings["not_evaluated"],
                "on_time_rate": round(met / (met + missed), 4) if met + missed else None,
                "on_time_by_deadline": {
                    kind: round(
                        times[(kind, True)] / (times[(kind, True)] + times[(kind, False)]), 4
                    )
                    for kind in KINDS
                    if times[(kind, True)] + times[(kind, False)]
                },
                "diverted": dict(Counter(r["diverted_to"] for r in g if r["diverted_to"])),
                "reviews": sum(r["review_level"] >= 1 for r in g),
                "re_reviews": sum(r["review_level"] >= 2 for r in g),
                "review_outcomes": dict(
                    Counter(r["review_outcome"] for r in g if r["review_outcome"])
                ),
                "repeats": repeats[name],
                "repeat_rate": (
                    round(repeats[name] / (originals + repeats[name]), 4)
                    if originals + repeats[name]
                    else None
                ),
                "repeats_by_reason": dict(reasons[name]),
                "skipped_level": sum(bool(r["skipped_level"]) for r in g),
            }
        )
    return report


def most_complaints(report: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    """The units with the most petitions (Art 41: 信访问题较多的单位), from a report by
    unit: most cases first, then the most reviews and the lowest satisfaction."""
    units = [r for r in report if r["unit"] not in (OFFICE, UNLISTED)]
    units.sort(key=lambda r: (-r["cases"], -r["reviews"], r["satisfaction_rate"] or 0, r["unit"]))
    return units[:top]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


COLUMNS = [
    "cases",
    "open",
    "overdue_now",
    "backlog",
    "supervised",
    "extensions",
    "satisfaction_rate",
    "evaluated",
    "not_evaluated",
    "on_time_rate",
    "reviews",
    "re_reviews",
    "repeats",
    "repeat_rate",
    "skipped_level",
]


def render(report: list[dict[str, Any]], by: GroupBy, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, ensure_ascii=False, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([by, *COLUMNS, "by_stage", "diverted"])
        for r in report:
            writer.writerow(
                [
                    r[by],
                    *(r[c] for c in COLUMNS),
                    json.dumps(r["by_stage"]),
                    json.dumps(r["diverted"], ensure_ascii=False),
                ]
            )
        return out.getvalue()
    header = [
        by,
        "cases",
        "open",
        "overdue",
        "积案",
        "督办",
        "延期",
        "满意率",
        "评价/未评价",
        "按期率",
        "复查/复核",
        "重复信访",
        "重复率",
        "越级",
    ]
    lines = [header]
    for r in report:
        lines.append(
            [
                r[by],
                str(r["cases"]),
                str(r["open"]),
                str(r["overdue_now"]),
                str(r["backlog"]),
                str(r["supervised"]),
                str(r["extensions"]),
                _pct(r["satisfaction_rate"]),
                f"{r['evaluated']}/{r['not_evaluated']}",
                _pct(r["on_time_rate"]),
                f"{r['reviews']}/{r['re_reviews']}",
                str(r["repeats"]),
                _pct(r["repeat_rate"]),
                str(r["skipped_level"]),
            ]
        )
    widths = [max(_width(line[i]) for line in lines) for i in range(len(header))]
    table = "\n".join(
        "  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(line, widths, strict=True))
        for line in lines
    )
    warning = provisional_warning(report)
    return f"{table}\n{warning}" if warning else table


def provisional_warning(report: list[dict[str, Any]]) -> str | None:
    """One line when open cases have provisional deadlines, else None."""
    count = sum(r.get("provisional", 0) for r in report)
    if not count:
        return None
    return (
        f"warning: {count} open case{'s' if count != 1 else ''} with provisional deadlines "
        "(counted Monday to Friday: their year's official holiday arrangement is not "
        "loaded); load it with `petition calendar load FILE`"
    )


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
