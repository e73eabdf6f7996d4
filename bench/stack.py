"""The stack every worker benchmark runs on: a dev server and an event store, both on
files in a fresh temporary folder, and a client connected with the test keys."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from petitionflow.client import PetitionClient
from petitionflow.eventstore import EventStore
from testkit.keys import CONVERTER, SEALER
from testkit.processes import DevServer


@dataclass
class Stack:
    workdir: Path
    server: DevServer
    store_url: str
    store: EventStore
    client: Client

    def petitions(self, task_queue: str) -> PetitionClient:
        return PetitionClient(self.client, task_queue=task_queue, store=self.store, sealer=SEALER)


@asynccontextmanager
async def dev_stack(prefix: str) -> AsyncIterator[Stack]:
    """Dev server (SQLite file, WAL) and event store (SQLite file); both gone after."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    server = DevServer(workdir)
    server.start()
    store_url = f"sqlite:///{workdir / 'events.db'}"
    store = EventStore(store_url, create=True)
    try:
        client = await Client.connect(server.address, data_converter=CONVERTER)
        yield Stack(workdir, server, store_url, store, client)
    finally:
        store.close()
        server.stop()
