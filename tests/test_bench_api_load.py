"""``bench.api_load`` run tiny, so it cannot rot: both sides drive their cases and the
store holds exactly the expected events for each."""

from __future__ import annotations

from bench.api_load import SIDES, parse, report, run


async def test_the_api_load_benchmark_runs_tiny() -> None:
    result = await run(parse(["--clients", "2", "--cases", "2", "--rounds", "2", "--warmup", "1"]))
    assert not result.problems, result.problems
    assert {side: len(ids) for side, ids in result.cases_by_side.items()} == {s: 3 for s in SIDES}
    assert result.events == 6 * len(result.expected) and result.expected[-1] == "CaseClosed"
    assert all(len(rates) == 2 for rates in result.rates.values())
    assert "0 lost, 0 duplicated." in report(result)
