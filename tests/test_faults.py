"""Faults injected into real processes on loopback; nothing may be lost.

The 200-case worker-crash run is marked ``slow``: CI runs it in a second step
(``pytest -m slow``). ``python -m tests.faults.report`` runs them all for RELIABILITY.md.
"""

from __future__ import annotations

import pytest

from tests.faults import scenarios
from tests.faults.scenarios import FaultResult


def assert_nothing_lost(result: FaultResult) -> None:
    assert result.events_found == result.events_expected, result
    assert (result.lost, result.duplicated, result.corrupted) == (0, 0, 0), result
    assert result.task_failures == 0, result
    assert result.unfinished == 0, result


@pytest.mark.slow
async def test_worker_killed_at_random_moments_200_cases() -> None:
    result = await scenarios.worker_crash(cases=200, kills=5)
    assert result.faults_injected >= 5
    assert_nothing_lost(result)


async def test_worker_killed_at_random_moments() -> None:
    result = await scenarios.worker_crash(cases=30, kills=5)
    assert result.faults_injected >= 5
    assert_nothing_lost(result)


async def test_dev_server_restart_keeps_cases_and_timers() -> None:
    assert_nothing_lost(await scenarios.server_restart(cases=20))


@pytest.mark.postgres
async def test_event_store_outage_is_waited_out(pg_available: None) -> None:
    assert_nothing_lost(await scenarios.store_outage(cases=30, seconds=20))


@pytest.mark.postgres
async def test_second_worker_takes_over(pg_available: None) -> None:
    assert_nothing_lost(await scenarios.two_workers(cases=40))
