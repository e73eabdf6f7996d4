"""The filter a caller gives ``PetitionClient.list``, checked before it joins the query.

``list`` always restricts visibility to petition workflows and ANDs the caller's filter
inside parentheses. Text pasted there could close that parenthesis and OR its way to
every workflow in the namespace (``true) OR (WorkflowType = "Other"``), so the filter
is read token by token first: only known attributes, literals, comparison operators,
AND / OR / NOT and balanced parentheses pass. The message says what was wrong where.
"""

from __future__ import annotations

import re

from petitionflow.workflows import search

# Temporal's own attributes an operator filters by, besides this project's.
SYSTEM_ATTRIBUTES = frozenset(
    {
        "WorkflowId",
        "RunId",
        "ExecutionStatus",
        "StartTime",
        "CloseTime",
        "ExecutionTime",
        "ExecutionDuration",
        "HistoryLength",
        "HistorySizeBytes",
        "StateTransitionCount",
        "TaskQueue",
        "TemporalChangeVersion",
        "BuildIds",
        # what the Web UI's own filters use
        "WorkflowType",
        "ParentWorkflowId",
        "RootWorkflowId",
        "TemporalScheduledById",
        "TemporalScheduledStartTime",
        "TemporalWorkerDeployment",
        "TemporalWorkerDeploymentVersion",
        "TemporalWorkflowVersioningBehavior",
    }
)
KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "BETWEEN", "IS", "NULL", "STARTS_WITH"})
EXAMPLE = 'Stage = "handling" AND Overdue = true'

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|=|<|>|,)
    | (?P<paren>[()])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | `(?P<quoted>[A-Za-z_][A-Za-z0-9_]*)`
    )""",
    re.VERBOSE | re.ASCII,  # \\s and \\d: no Unicode spaces or digits the server cannot read
)


class QueryError(ValueError):
    """The filter cannot be used; the message names the position and the problem."""


def attributes() -> frozenset[str]:
    return frozenset(key.name for key in search.ALL) | SYSTEM_ATTRIBUTES


def check_filter(query: str) -> str:
    """``query`` unchanged if it is a filter over known attributes; else QueryError."""
    known = attributes()
    depth = 0
    pos = 0
    tokens = 0
    query = query.strip()
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if not m or m.end() == pos:
            pos += len(query[pos:]) - len(query[pos:].lstrip(" \t\r\n"))
            raise QueryError(
                f"the filter cannot be read at character {pos + 1} ({query[pos : pos + 12]!r}); "
                f"write it like {EXAMPLE}"
            )
        pos = m.end()
        tokens += 1
        if m["paren"] == "(":
            depth += 1
        elif m["paren"] == ")":
            depth -= 1
            if depth < 0:
                raise QueryError(
                    f"the filter closes a parenthesis it did not open (character {pos}); remove it"
                )
        elif word := m["word"] or m["quoted"]:
            if word.upper() in KEYWORDS or word.lower() in ("true", "false"):
                continue
            if word.upper() == "ORDER":
                raise QueryError(
                    "ORDER BY cannot be used in a filter; `petition list --sort` sorts"
                )
            if word not in known:
                raise QueryError(
                    f"{word!r} is not a search attribute here; use one of "
                    f"{', '.join(sorted(known))}"
                )
    if depth:
        raise QueryError(f"the filter leaves {depth} parenthesis(es) open; close them")
    if not tokens:
        raise QueryError(f"the filter is empty; write it like {EXAMPLE}")
    return query
