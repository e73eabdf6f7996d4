"""The worker: petition and joint conference workflows plus their activities.

Configured by :class:`petitionflow.config.Settings` (the environment, the same way in
development and production): the Temporal connection through the SDK's
``TEMPORAL_*`` variables, ``PETITIONFLOW_TASK_QUEUE``, ``PETITIONFLOW_STORE_URL`` and
the keys. It opens the event store without migrating it: a store whose schema is
behind stops the worker with one line (run ``petition migrate``) and exit code 2.
"""

from __future__ import annotations

import asyncio
import compileall
import signal
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import structlog
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

import petitionflow.workflows
from petitionflow.activities.calendar import CalendarActivities
from petitionflow.activities.conference import ConferenceActivities
from petitionflow.activities.directory import DirectoryActivities
from petitionflow.activities.dispute import DisputeActivities
from petitionflow.activities.notify import NotifyActivities, Sender
from petitionflow.activities.repeat import RepeatActivities
from petitionflow.activities.store import StoreActivities
from petitionflow.config import WORKFLOW_TASK_SLOTS, ConfigError, Settings
from petitionflow.eventstore import EventStore, SchemaError
from petitionflow.eventstore.calendar import CalendarStore
from petitionflow.eventstore.directory import DirectoryStore
from petitionflow.eventstore.outbox import Outbox
from petitionflow.eventstore.store import safe_url
from petitionflow.security.codec import data_converter
from petitionflow.security.index import PetitionerHasher
from petitionflow.security.keys import INDEX_KEY_MISSING, KeyConfigError, Keys
from petitionflow.security.sealing import Sealer
from petitionflow.workers.ui_metadata import CommandNamesInterceptor
from petitionflow.workflows.conference import JointConferenceWorkflow
from petitionflow.workflows.contract import TASK_QUEUE
from petitionflow.workflows.dispute import DisputeWorkflow
from petitionflow.workflows.petition import PetitionWorkflow

log = structlog.get_logger("petitionflow.worker")


class TemporalUnreachable(Exception):
    """Temporal did not answer at the configured address; the message names it."""


async def connect(settings: Settings, keys: Keys | None) -> Client:
    """A client for the settings' Temporal (:mod:`temporalio.envconfig`), with the
    payload codec; without ``keys``, one that only manages the namespace (no payloads)."""
    config = settings.temporal()
    try:
        if keys is None:
            return await Client.connect(**config)
        return await Client.connect(**config, data_converter=data_converter(keys.payload))
    except RuntimeError as exc:  # the SDK's connect error
        raise TemporalUnreachable(
            f"cannot reach Temporal at {config['target_host']} ({exc}); start it with "
            "`petition dev` or set TEMPORAL_ADDRESS"
        ) from None


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
    hasher: PetitionerHasher | None = None,
    extra_workflows: Sequence[type] = (),
    workflow_task_slots: int = WORKFLOW_TASK_SLOTS,
) -> Worker:
    """The worker for ``task_queue``. ``interceptors``: by default the one that lists the
    command names in the Temporal UI (``workers/ui_metadata.py``). ``hasher``: the
    petitioner index's keyed hash; without it repeat screening finds nothing (``serve``
    refuses to start without the key; tests that do not screen leave it out).
    ``extra_workflows``: more workflow classes on the same task queue (tests).
    ``workflow_task_slots``: workflow tasks the worker takes at once (see
    ``WORKFLOW_TASK_SLOTS``)."""
    if not compile_workflow_modules():
        log.warning(
            "could not write the .pyc files of workflows/ (read-only?); every new case "
            "compiles the workflow module, about 3 ms each. Install the package as a "
            "wheel, or run python -m compileall on it once."
        )
    store_activities = StoreActivities(store, sealer)
    notify = NotifyActivities(Outbox(store.engine), sender)
    repeats = RepeatActivities(store, sealer, hasher)
    calendar = CalendarActivities(CalendarStore(store.engine))
    directory = DirectoryActivities(DirectoryStore(store.engine))
    disputes = DisputeActivities(store, client, task_queue, sealer)
    # The joint conferences (workflows/conference.py): their append, and the activity
    # that sends a decision to its case with this worker's client.
    conferences = ConferenceActivities(store, client, task_queue)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[PetitionWorkflow, DisputeWorkflow, JointConferenceWorkflow, *extra_workflows],
        activities=[
            store_activities.append_events,
            disputes.append_dispute_events,
            disputes.convert_dispute,
            disputes.add_dispute_to_agenda,
            notify.notify,
            repeats.screen_repeats,
            repeats.link_case_in_store,
            calendar.calendar_snapshot,
            directory.resolve_units,
            directory.unit_by_id,
            conferences.append_conference_events,
            conferences.deliver_conference_decision,
            conferences.join_conference_agenda,
        ],
        activity_executor=executor or ThreadPoolExecutor(max_workers=16),
        interceptors=interceptors,
        graceful_shutdown_timeout=timedelta(seconds=10),
        # A case cached on a worker that died moves to another after this long.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=3),
        max_concurrent_workflow_tasks=workflow_task_slots,
    )


async def run(
    settings: Settings, store: EventStore, keys: Keys, stop: asyncio.Event | None = None
) -> None:
    """Run until SIGTERM or SIGINT (or ``stop``), then finish the tasks in hand.

    ``store`` is opened (and its schema checked) by the caller, before the event loop
    runs: opening it does blocking I/O.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = await connect(settings, keys)
    assert keys.index is not None  # serve() checked
    worker = build_worker(
        client,
        store,
        Sealer(keys.sealing),
        settings.task_queue,
        hasher=PetitionerHasher(keys.index),
        workflow_task_slots=settings.workflow_task_slots,
    )
    log.info(
        "worker started",
        task_queue=settings.task_queue,
        temporal=settings.temporal_address,
        namespace=settings.namespace,
        store=store.safe_url,
    )
    async with worker:
        await stop.wait()
        log.info("worker stopping: finishing the tasks in hand")
    log.info("worker stopped")


def serve(settings: Settings) -> int:
    """Open the store, run the worker until it is stopped; the exit code."""

    def cannot_start(reason: str) -> int:
        log.error("worker cannot start", reason=reason)
        print(f"error: {reason}", file=sys.stderr)
        return 2

    try:
        keys = settings.keys()  # wrong keys stop the worker here, before it takes any task
        if keys.index is None:
            raise KeyConfigError(INDEX_KEY_MISSING)
        settings.temporal()
        store = EventStore(settings.store)
    except (KeyConfigError, ConfigError, SchemaError) as exc:
        return cannot_start(str(exc))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return cannot_start(f"event store {safe_url(settings.store)}: {reason}")
    try:
        asyncio.run(run(settings, store, keys))
    except TemporalUnreachable as exc:
        return cannot_start(str(exc))
    finally:
        store.close()
    return 0


def main() -> None:
    from petitionflow.workers import logs

    logs.configure()
    sys.exit(serve(Settings.load()))


if __name__ == "__main__":
    main()
