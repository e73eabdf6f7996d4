"""Fixtures: every store test runs against SQLite and against real PostgreSQL.

PostgreSQL is found at PETITIONFLOW_TEST_PG (default: 127.0.0.1:5432, database
``test``, trust auth). Each test gets a fresh schema, dropped afterwards. When CI=true
an unreachable server fails the test; elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from temporalio.testing import TimeSkippingConfig, WorkflowEnvironment

from petitionflow.eventstore import EventStore
from petitionflow.workers.devserver import TIME_SKIPPING, temporal_binary
from petitionflow.workers.main import build_worker
from petitionflow.workflows import search
from testkit.keys import CONVERTER, HASHER, SEALER
from tests.apistack import ApiStack, api_stack
from tests.temporal import Harness

PG_DSN = os.environ.get(
    "PETITIONFLOW_TEST_PG", "host=127.0.0.1 port=5432 dbname=test user=postgres"
)
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def _pg_unreachable() -> str | None:
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        return f"PostgreSQL at '{PG_DSN}' is unreachable ({str(exc).strip()}). Start it with: {PG_START}"


@pytest.fixture(scope="session")
def pg_available() -> None:
    problem = _pg_unreachable()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(problem, pytrace=False)
    pytest.skip(problem)


@pytest.fixture
def pg_url(pg_available: None) -> Iterator[str]:
    schema = f"pf_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    params = psycopg.conninfo.conninfo_to_dict(PG_DSN)
    url = (
        f"postgresql+psycopg://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:"
        f"{params.get('port', 5432)}/{params.get('dbname', 'test')}?options=-csearch_path%3D{schema}"
    )
    yield url
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'events.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    s = EventStore(store_url, create=True)
    yield s
    s.close()


# ---- Temporal --------------------------------------------------------------------


# The SDK waits 5 s for the dev server by default; with its search attributes to
# register on a busy 2-core machine it took longer, and the whole session failed.
DEV_SERVER_STARTUP = timedelta(seconds=60)


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One dev server for the session. Workflows start with time skipping off; a test
    moves a case's clock with ``fast_forward``, so statutory periods run in full."""
    env = await WorkflowEnvironment.start_time_skipping_v2(
        ts_config=TimeSkippingConfig(enabled=False),
        dev_server_existing_path=temporal_binary(),
        dev_server_startup_timeout=DEV_SERVER_STARTUP,
        dev_server_extra_args=TIME_SKIPPING,
        search_attributes=search.ALL,
        data_converter=CONVERTER,
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def petitions(temporal_env: WorkflowEnvironment, store: EventStore) -> AsyncIterator[Harness]:
    """A worker on a task queue of its own, writing to the test's store."""
    task_queue = f"petitions-{uuid.uuid4().hex[:8]}"
    harness = Harness(temporal_env, store, task_queue)
    async with build_worker(temporal_env.client, store, SEALER, task_queue, hasher=HASHER):
        yield harness
        await harness.check()


@pytest.fixture
async def api(petitions: Harness, tmp_path: Path) -> AsyncIterator[ApiStack]:
    """The HTTP API over ``petitions``'s worker and store, with a development issuer."""
    async with api_stack(petitions, tmp_path) as stack:
        yield stack
