"""``petition list --query`` and ``PetitionClient.list``: the caller's filter is read token
by token before it is ANDed inside the petition-only query, so it cannot widen it."""

from __future__ import annotations

import pytest

from petitionflow.client.visibility import QueryError, check_filter


@pytest.mark.parametrize(
    "query",
    [
        'Stage = "handling" AND Overdue = true',
        "Supervised = true",
        "(Stage = 'handling' OR Stage = 'review') AND NOT Overdue = false",
        'HandlingUnit STARTS_WITH "某县" AND ExtensionDays >= 20',
        'Stage IN ("handling", "review") AND NextDeadline < "2026-12-01T00:00:00Z"',
        'ExecutionStatus = "Running" AND StartTime BETWEEN "2026-01-01" AND "2026-12-31"',
        'Stage = "a ) OR ( b"',  # parentheses inside a string are text
        'WorkflowType = "PetitionWorkflow" AND ParentWorkflowId IS NULL',  # the Web UI's own
    ],
)
def test_filters_over_known_attributes_pass_unchanged(query: str) -> None:
    assert check_filter(query) == query


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ('true) OR (WorkflowType = "Other"', "closes a parenthesis it did not open"),
        ('Stage = "handling") OR (1 = 1', "closes a parenthesis it did not open"),
        ('(Stage = "handling"', "parenthesis(es) open"),
        ('Handler = "x"', "'Handler' is not a search attribute"),
        ("Stage\u00a0= 'handling'", "cannot be read at character 6"),  # a pasted no-break space
        ("ExtensionDays = \u0663", "cannot be read"),  # an Arabic-Indic digit
        ('Stage = "handling" ORDER BY StartTime', "ORDER BY"),
        ('Stage = "handling; DROP', "cannot be read at character 9"),
        ("Stage = handling", "'handling' is not a search attribute"),
        ("   ", "empty"),
    ],
)
def test_a_filter_that_could_widen_the_query_is_refused_with_a_reason(
    query: str, says: str
) -> None:
    with pytest.raises(QueryError, match=None) as caught:
        check_filter(query)
    assert says in str(caught.value)
