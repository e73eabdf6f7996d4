"""The report as one static HTML file: inline SVG charts, inline CSS, no external assets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy import Engine, select

from petitionflow.domain.policy import DeadlinePolicy

from .readmodel import case_list, deadline_outcomes

BAR_W, ROW_H, LABEL_W = 360, 22, 260


def backlog_over_time(
    engine: Engine, weeks: int = 26, today: date | None = None
) -> list[tuple[str, int]]:
    """Open cases past their handling deadline at the end of each of the last ``weeks``."""
    with engine.connect() as conn:
        missed = dict(
            conn.execute(
                select(deadline_outcomes.c.case_id, deadline_outcomes.c.decided_on).where(
                    deadline_outcomes.c.kind == "handling", deadline_outcomes.c.met.is_(False)
                )
            ).all()
        )
        closed = dict(conn.execute(select(case_list.c.case_id, case_list.c.closed_on)).all())
    end = today or max(
        [date.fromisoformat(d) for d in missed.values()]
        or [DeadlinePolicy().local_date(datetime.now(UTC))]
    )
    series = []
    for w in range(weeks - 1, -1, -1):
        day = (end - timedelta(weeks=w)).isoformat()
        count = sum(
            1
            for case_id, on in missed.items()
            if on <= day and not (closed.get(case_id) and closed[case_id] <= day)
        )
        series.append((day, count))
    return series


def _bars(rows: list[dict[str, Any]], by: str, key: str, title: str, colour: str) -> str:
    height = ROW_H * len(rows) + 30
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{LABEL_W + BAR_W + 70}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="0" y="14" class="t">{escape(title)}</text>',
    ]
    for i, r in enumerate(rows):
        y = 24 + i * ROW_H
        value = r[key]
        width = 0 if value is None else round(value * BAR_W)
        label = _pct(value)
        parts += [
            f'<text x="0" y="{y + 14}">{escape(str(r[by]))}</text>',
            f'<rect x="{LABEL_W}" y="{y + 3}" width="{BAR_W}" height="{ROW_H - 6}" fill="#eee"/>',
            f'<rect x="{LABEL_W}" y="{y + 3}" width="{width}" height="{ROW_H - 6}" fill="{colour}"/>',
            f'<text x="{LABEL_W + BAR_W + 6}" y="{y + 14}">{label}</text>',
        ]
    return "".join(parts) + "</svg>"


def _line(series: list[tuple[str, int]], title: str) -> str:
    w, h, pad = 640, 200, 36
    top = max([v for _, v in series] or [0]) or 1
    step = (w - 2 * pad) / max(len(series) - 1, 1)
    points = " ".join(
        f"{pad + i * step:.1f},{h - pad - v / top * (h - 2 * pad):.1f}"
        for i, (_, v) in enumerate(series)
    )
    first, last = (series[0][0], series[-1][0]) if series else ("", "")
    return (
        f'<svg role="img" aria-label="{escape(title)}" width="{w}" height="{h}" '
        f'xmlns="http://www.w3.org/2000/svg"><text x="0" y="14" class="t">{escape(title)}</text>'
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#999"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#999"/>'
        f'<text x="4" y="{pad + 4}">{top}</text><text x="4" y="{h - pad}">0</text>'
        f'<polyline fill="none" stroke="#c0392b" stroke-width="2" points="{points}"/>'
        f'<text x="{pad}" y="{h - 8}">{first}</text>'
        f'<text x="{w - pad - 70}" y="{h - 8}">{last}</text></svg>'
    )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def render_html(
    report: list[dict[str, Any]], by: str, backlog: list[tuple[str, int]], generated: str
) -> str:
    rows = "".join(
        f"<tr><td>{escape(str(r[by]))}</td><td>{r['cases']}</td><td>{r['open']}</td>"
        f"<td>{r['overdue_now']}</td><td>{r['backlog']}</td><td>{r['supervised']}</td>"
        f"<td>{_pct(r['satisfaction_rate'])}</td><td>{r['evaluated']}/{r['not_evaluated']}</td>"
        f"<td>{_pct(r['on_time_rate'])}</td></tr>"
        for r in report
    )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>信访工作统计</title>
<style>
body{{font-family:sans-serif;margin:24px;color:#222}} svg text{{font-size:12px}}
svg text.t{{font-weight:bold;font-size:13px}} table{{border-collapse:collapse;margin:16px 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} td:first-child{{text-align:left}}
</style></head><body>
<h1>信访工作统计 · by {escape(by)}</h1>
<p>Generated {escape(generated)} from the read models. Satisfaction rate: satisfied and
basically satisfied over evaluated cases; not evaluated counted apart.</p>
<table><tr><th>{escape(by)}</th><th>cases</th><th>open</th><th>overdue</th><th>积案</th>
<th>督办</th><th>满意率</th><th>评价/未评价</th><th>按期率</th></tr>{rows}</table>
{_bars(report, by, "satisfaction_rate", "满意率 satisfaction rate", "#2e86de")}
{_bars(report, by, "on_time_rate", "按期办结率 on-time rate", "#27ae60")}
{_line(backlog, "积案 backlog over time (open past the handling deadline)")}
</body></html>
"""
