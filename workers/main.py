"""The worker: petition workflows plus the store and notifier activities.

Configured from the environment, the same way in development and production:

- ``TEMPORAL_ADDRESS`` (default ``127.0.0.1:7233``), ``TEMPORAL_NAMESPACE`` (``default``)
- ``PETITIONFLOW_TASK_QUEUE`` (``petitions``)
- ``PETITIONFLOW_STORE_URL`` (the SQLite file ``data/events.db``)
- the keys: see :mod:`security.keys`
- a real cluster or Temporal Cloud: ``TEMPORAL_TLS_CERT`` and ``TEMPORAL_TLS_KEY`` (mTLS
  client certificate and key files), ``TEMPORAL_TLS_CA`` (server CA file, optional),
  ``TEMPORAL_TLS=1`` (TLS without a client certificate), ``TEMPORAL_API_KEY``
"""

from __future__ import annotations

import asyncio
import compileall
import os
import signal
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import structlog
from temporalio.client import Client
from temporalio.service import TLSConfig
from temporalio.worker import Interceptor, Worker

import petitionflow.workflows
from petitionflow.activities.notify import NotifyActivities, Sender
from petitionflow.activities.store import StoreActivities
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.outbox import Outbox
from petitionflow.security.codec import data_converter
from petitionflow.security.keys import Keys, load_keys
from petitionflow.security.sealing import Sealer
from petitionflow.workers.ui_metadata import CommandNamesInterceptor
from petitionflow.workflows.contract import TASK_QUEUE
from petitionflow.workflows.petition import PetitionWorkflow

log = structlog.get_logger("petitionflow.worker")


@dataclass
class Settings:
    temporal_address: str = field(
        default_factory=lambda: os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233")
    )
    namespace: str = field(default_factory=lambda: os.environ.get("TEMPORAL_NAMESPACE", "default"))
    task_queue: str = field(
        default_factory=lambda: os.environ.get("PETITIONFLOW_TASK_QUEUE", TASK_QUEUE)
    )
    store_url: str = field(
        default_factory=lambda: os.environ.get("PETITIONFLOW_STORE_URL", "sqlite:///data/events.db")
    )


def tls_config() -> TLSConfig | bool:
    env = os.environ
    cert, key, ca = (
        env.get("TEMPORAL_TLS_CERT"),
        env.get("TEMPORAL_TLS_KEY"),
        env.get("TEMPORAL_TLS_CA"),
    )
    if cert or key or ca:
        return TLSConfig(
            client_cert=Path(cert).read_bytes() if cert else None,
            client_private_key=Path(key).read_bytes() if key else None,
            server_root_ca_cert=Path(ca).read_bytes() if ca else None,
        )
    return bool(env.get("TEMPORAL_API_KEY")) or env.get("TEMPORAL_TLS") == "1"


async def connect(settings: Settings, keys: Keys) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.namespace,
        data_converter=data_converter(keys.payload),
        tls=tls_config(),
        api_key=os.environ.get("TEMPORAL_API_KEY") or None,
    )


def compile_workflow_modules() -> bool:
    """Write the .pyc files of ``workflows/``; False when its folder is read-only.

    The sandbox imports a workflow's module afresh for every new run (and every run
    that comes back into the cache), and without a .pyc it compiles the source each
    time: about 3 ms per case here. PYTHONDONTWRITEBYTECODE, set on many machines and
    in the Dockerfile, stops Python from writing them itself. A wheel install already
    has them; an editable install does not.
    """
    return compileall.compile_dir(Path(petitionflow.workflows.__file__).parent, quiet=2)


def build_worker(
    client: Client,
    store: EventStore,
    sealer: Sealer,
    task_queue: str = TASK_QUEUE,
    sender: Sender | None = None,
    executor: ThreadPoolExecutor | None = None,
    interceptors: Sequence[Interceptor] = (CommandNamesInterceptor(),),
) -> Worker:
    """The worker for ``task_queue``. ``interceptors``: by default the one that lists the
    command names in the Temporal UI (``workers/ui_metadata.py``)."""
    if not compile_workflow_modules():
        log.warning(
            "could not write the .pyc files of workflows/ (read-only?); every new case "
            "compiles the workflow module, about 3 ms each. Install the package as a "
            "wheel, or run python -m compileall on it once."
        )
    store_activities = StoreActivities(store, sealer)
    notify = NotifyActivities(Outbox(store.engine), sender)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[PetitionWorkflow],
        activities=[store_activities.append_events, notify.notify],
        activity_executor=executor or ThreadPoolExecutor(max_workers=16),
        interceptors=interceptors,
        graceful_shutdown_timeout=timedelta(seconds=10),
        # A case cached on a worker that died moves to another after this long.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=3),
    )


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM or SIGINT (or ``stop``), then finish the tasks in hand."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    keys = load_keys(Path("data") / "keys.json")
    store = EventStore(settings.store_url)
    client = await connect(settings, keys)
    worker = build_worker(client, store, Sealer(keys.sealing), settings.task_queue)
    log.info(
        "worker started",
        task_queue=settings.task_queue,
        temporal=settings.temporal_address,
        namespace=settings.namespace,
        store=store.url,
    )
    async with worker:
        await stop.wait()
        log.info("worker stopping: finishing the tasks in hand")
    store.close()
    log.info("worker stopped")


def main() -> None:
    from petitionflow.workers import logs

    logs.configure()
    asyncio.run(run(Settings()))


if __name__ == "__main__":
    main()
