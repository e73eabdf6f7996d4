"""``petition dev``: the Temporal dev server with its Web UI, a worker, and the demo.

Everything runs in one process group and stops on Ctrl-C. Temporal keeps its state
in ``data/temporal.db`` (SQLite, WAL) and the events go to the store, so a restart
picks up where it left off: open cases resume and their timers still fire.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import secrets
import signal
import socket
import sys
from datetime import datetime

from temporalio.client import Client
from temporalio.testing import TimeSkipper, TimeSkippingConfig

from client import PetitionClient
from eventstore import EventStore
from security.codec import EncryptionCodec, data_converter
from security.codec_server import CodecServer
from security.keys import Keys, ensure_keys_file
from security.sealing import Sealer
from workers import logs
from workers.devserver import SQLITE_PRAGMAS, TIME_SKIPPING, temporal_binary
from workers.main import build_worker
from workflows import search
from workflows.contract import TASK_QUEUE


class DevError(Exception):
    pass


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _connect(
    address: str, server: asyncio.subprocess.Process, log_path: str, keys: Keys
) -> Client:
    for _ in range(120):
        if server.returncode is not None:
            with open(log_path, encoding="utf-8", errors="replace") as f:
                tail = f.read()[-600:].strip().splitlines()
            raise DevError(
                f"the Temporal dev server exited ({server.returncode}): "
                f"{tail[-1] if tail else 'no output'}; full log in {log_path}"
            )
        try:
            return await Client.connect(address, data_converter=data_converter(keys.payload))
        except RuntimeError:
            await asyncio.sleep(0.5)
    raise DevError(
        f"the Temporal dev server did not answer at {address} within 60 s; see {log_path}"
    )


def _die_with_parent() -> None:
    """In the server's child process: get SIGTERM if ``petition dev`` dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: Ctrl-C still stops it through the normal path


async def run_dev(args: argparse.Namespace, store: EventStore) -> int:
    from cli.main import CliError

    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens

    data_dir = args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    for port in (args.port, args.ui_port):
        if not _port_free(port):
            raise CliError(
                f"port {port} is in use (another Temporal server or `petition dev`?); "
                "stop it or pass --port / --ui-port"
            )
    keys = ensure_keys_file(data_dir / "keys.json")
    token = secrets.token_urlsafe(24)
    ui_origins = [f"http://127.0.0.1:{args.ui_port}", f"http://localhost:{args.ui_port}"]
    codec_server = CodecServer(
        EncryptionCodec(keys.payload), token, ui_origins, port=args.codec_port
    ).start()
    log_path = str(data_dir / "temporal.log")
    command = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(args.port),
        "--ui-port",
        str(args.ui_port),
        "--db-filename",
        str(data_dir / "temporal.db"),
        *SQLITE_PRAGMAS,
        *TIME_SKIPPING,
        *search.server_flags(),
        "--ui-codec-endpoint",
        f"http://127.0.0.1:{codec_server.port}/{token}",
        "--log-level",
        "warn",
    ]
    logs.configure("WARNING")
    with open(log_path, "ab") as log_file:
        server = await asyncio.create_subprocess_exec(
            *command, stdout=log_file, stderr=log_file, preexec_fn=_die_with_parent
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        address = f"127.0.0.1:{args.port}"
        print(f"starting Temporal dev server ({data_dir / 'temporal.db'}, log {log_path}) ...")
        temporal = await _connect(address, server, log_path, keys)
        print(f"Temporal UI:  http://127.0.0.1:{args.ui_port}/namespaces/default/workflows")
        print(f"event store:  {store.url}")
        print(
            f"codec server: http://127.0.0.1:{codec_server.port} (payloads are AES-GCM "
            f"encrypted; keys in {data_dir / 'keys.json'})"
        )
        async with build_worker(temporal, store, Sealer(keys.sealing), TASK_QUEUE):
            print(f"worker:       task queue {TASK_QUEUE!r}")
            if args.demo:
                await _demo(temporal, store, Sealer(keys.sealing))
            print("running; Ctrl-C to stop")
            await stop.wait()
            print("stopping ...")
    except DevError as exc:
        raise CliError(str(exc)) from None
    finally:
        codec_server.stop()
        if server.returncode is None:
            server.terminate()
            try:
                await asyncio.wait_for(server.wait(), 15)
            except TimeoutError:
                server.kill()
    print("stopped")
    return 0


async def _demo(temporal: Client, store: EventStore, sealer: Sealer) -> None:
    from cli.demo import SCENARIOS, run_demo

    # Demo cases start with time skipping off; each scenario fast-forwards its own
    # case's clock, so a 60-day handling period passes in a second and its timer fires.
    skipper = TimeSkipper(temporal, config=TimeSkippingConfig(enabled=False))
    petitions = PetitionClient(skipper.client, store=store, sealer=sealer)
    prefix = "DEMO-" + datetime.now().strftime("%m%d-%H%M%S")
    print(f"demo: {len(SCENARIOS)} cases, prefix {prefix} ...")
    runs = await run_demo(
        petitions, skipper.fast_forward, prefix, progress=lambda m: print("  " + m)
    )
    for (title, _, _), run in zip(SCENARIOS, runs, strict=True):
        state = await run.state()
        print(
            f"  {run.case_id}  {state.stage.value:<8} {state.version:>3} events"
            f"  {state.closed_reason or '':<12} {title}"
        )
        for rejection in run.rejections:
            print(f"      refused as it should be: {rejection}")
    report = store.verify()
    print(
        f"demo done; event store verified: {report.streams} streams, {report.events} events, "
        f"{'intact' if report.ok else 'BROKEN'}"
    )
    print(
        f"try: petition show {runs[0].case_id} · petition history {runs[7].case_id} · "
        "petition list --query 'Overdue = true'"
    )
