"""``petition dev``: the Temporal dev server with its Web UI, a worker, and the demo.

Everything runs in one process group and stops on Ctrl-C. Temporal keeps its state
in ``data/temporal.db`` (SQLite, WAL) and the events go to the store, so a restart
picks up where it left off: open cases resume and their timers still fire.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import TimeSkipper, TimeSkippingConfig

from petitionflow.api.serve import dev_issuer_file, start_dev_api
from petitionflow.client import PetitionClient
from petitionflow.config import Settings
from petitionflow.eventstore import EventStore
from petitionflow.eventstore.store import safe_url
from petitionflow.identity.issuer import DevIssuer
from petitionflow.identity.tokens import TokenVerifier
from petitionflow.security.codec import EncryptionCodec, data_converter
from petitionflow.security.codec_server import CodecServer
from petitionflow.security.files import write_private_json
from petitionflow.security.index import PetitionerHasher
from petitionflow.security.keys import INDEX_KEY_MISSING, Keys, ensure_keys_file
from petitionflow.security.sealing import Sealer
from petitionflow.workers import logs
from petitionflow.workers.devserver import SQLITE_PRAGMAS, TIME_SKIPPING, temporal_binary
from petitionflow.workers.main import build_worker
from petitionflow.workflows import search
from petitionflow.workflows.contract import TASK_QUEUE


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
            text = await asyncio.to_thread(
                Path(log_path).read_text, encoding="utf-8", errors="replace"
            )
            tail = text[-600:].strip().splitlines()
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


def _die_with_parent(command: list[str]) -> list[str]:
    """``command`` under util-linux's ``setpriv --pdeathsig``: the server gets SIGTERM if
    ``petition dev`` dies, even by SIGKILL. setpriv sets it in its own process before it
    execs the server, where a ``preexec_fn`` would run Python in a child forked from a
    process with threads (unsafe, as Python's documentation says). Without setpriv
    (not Linux), Ctrl-C still stops the server through the normal path."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else command


async def run_dev(args: argparse.Namespace, store: EventStore) -> int:
    from petitionflow.cli.main import CliError

    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens

    settings: Settings = args.settings
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    for port in (args.port, args.ui_port, args.codec_port, args.api_port, args.issuer_port):
        if not _port_free(port):
            raise CliError(
                f"port {port} is in use (another Temporal server or `petition dev`?); "
                "stop it or pass --port / --ui-port / --codec-port / --api-port / "
                "--issuer-port"
            )
    if settings.payload_keys or settings.sealing_keys:
        keys = settings.keys()  # the environment's keys, as a worker would use them
        if keys.index is None:
            raise CliError(INDEX_KEY_MISSING)
    else:
        keys = ensure_keys_file(settings.default_keys_file)  # adds an index key if missing
    assert keys.index is not None
    hasher = PetitionerHasher(keys.index)
    token = secrets.token_urlsafe(24)
    ui_origins = [f"http://127.0.0.1:{args.ui_port}", f"http://localhost:{args.ui_port}"]
    verifier = None
    if args.operator_scopes:
        # the codec server shows each operator the cases of their jurisdiction: the UI
        # (or a browser test standing in for its single sign-on) sends the operator's
        # token from the development issuer
        issuer = DevIssuer.load_or_create(
            dev_issuer_file(settings), issuer=f"http://127.0.0.1:{args.issuer_port}"
        )
        verifier = TokenVerifier(
            issuer=issuer.issuer, audience=settings.oidc_audience, jwks=issuer.jwks()
        )
    codec_server = await CodecServer(
        EncryptionCodec(keys.payload), token, ui_origins, port=args.codec_port, verifier=verifier
    ).start()
    codec_endpoint = f"http://127.0.0.1:{codec_server.port}/{token}"
    codec_file = data_dir / "codec.json"
    write_private_json(
        codec_file,
        {
            "endpoint": codec_endpoint,
            "url": f"http://127.0.0.1:{codec_server.port}",
            "token": token,
            "namespace": "default",
            "temporal_flags": ["--codec-endpoint", codec_endpoint],
        },
    )
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
        codec_endpoint,
        "--log-level",
        "warn",
    ]
    logs.configure("WARNING")
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        server = await asyncio.create_subprocess_exec(
            *_die_with_parent(command), stdout=log_fd, stderr=log_fd
        )
    finally:
        os.close(log_fd)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stack = contextlib.AsyncExitStack()
    try:
        address = f"127.0.0.1:{args.port}"
        print(f"starting Temporal dev server ({data_dir / 'temporal.db'}, log {log_path}) ...")
        temporal = await _connect(address, server, log_path, keys)
        print(f"Temporal UI:  http://127.0.0.1:{args.ui_port}/namespaces/default/workflows")
        print(f"event store:  {store.safe_url}")
        print(f"units:        {_directory(store)}")
        print(
            f"codec server: http://127.0.0.1:{codec_server.port} (payloads are AES-GCM "
            f"encrypted; keys in {data_dir / 'keys.json'}, endpoint and token in {codec_file})"
        )
        print(
            f"  decoded in the CLI: {_temporal_cli()} workflow show --detailed "
            f"--address {address} -w petition-<case id> --codec-endpoint {codec_endpoint}"
        )
        async with build_worker(temporal, store, Sealer(keys.sealing), TASK_QUEUE, hasher=hasher):
            print(f"worker:       task queue {TASK_QUEUE!r}")
            dev_api = await start_dev_api(
                settings,
                temporal,
                store,
                Sealer(keys.sealing),
                keys.payload,
                api_port=args.api_port,
                issuer_port=args.issuer_port,
            )
            stack.push_async_callback(dev_api.stop)  # before the worker stops
            petition, options = _petition_command(args)
            print(
                f"HTTP API:     {dev_api.api.url}/docs (tokens from the dev issuer "
                f"{dev_api.issuer.issuer}: {petition} token --unit 喀什地区信访局 "
                f"--role registrar --juris 新疆维吾尔自治区/喀什地区{options})"
            )
            print(f"网上信访:     {dev_api.api.url}/petition (the petitioner's page)")
            if args.demo:
                await _demo(temporal, store, Sealer(keys.sealing), args)
            print("running; Ctrl-C to stop")
            await stop.wait()
            print("stopping ...")
            await stack.aclose()
    except DevError as exc:
        raise CliError(str(exc)) from None
    finally:
        await stack.aclose()
        await codec_server.stop()
        with contextlib.suppress(FileNotFoundError):
            codec_file.unlink()  # the token dies with this process
        if server.returncode is None:
            server.terminate()
            try:
                await asyncio.wait_for(server.wait(), 15)
            except TimeoutError:
                server.kill()
    print("stopped")
    return 0


def _temporal_cli() -> str:
    """``temporal`` as the user can type it here."""
    return _venv_script("temporal")


def _venv_script(name: str) -> str:
    """A console script of this venv as the user can type it here: its bare name when
    that is the one on PATH, else its path (relative to here when it is below)."""
    import shutil

    script = Path(sys.executable).parent / name
    found = shutil.which(name)
    if not script.exists() or (found and Path(found).resolve() == script.resolve()):
        return name
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _directory(store: EventStore) -> str:
    """The unit directory: the generated Xinjiang one, loaded on the first start."""
    from petitionflow.directory.files import XINJIANG, read_directory
    from petitionflow.eventstore.directory import DirectoryStore

    directory = DirectoryStore(store.engine)
    last = directory.last_load()
    if last is None:
        read = read_directory(XINJIANG)
        directory.load(read.units, date(2020, 1, 1), read.source, read.generated)
        last = directory.last_load()
        assert last is not None
    label = " (generated data, not an official directory)" if last.generated else ""
    units = len(directory.units_on(datetime.now(UTC).date()))
    return (
        f"{units:,} units from {last.source}{label}; `petition units list` shows them, "
        "`petition units load FILE` replaces them"
    )


async def _demo(
    temporal: Client, store: EventStore, sealer: Sealer, args: argparse.Namespace
) -> None:
    from petitionflow.cli.demo import SCENARIOS, run_demo

    # Demo cases start with time skipping off; each scenario fast-forwards its own
    # case's clock, so a 60-day handling period passes in a second and its timer fires.
    skipper = TimeSkipper(temporal, config=TimeSkippingConfig(enabled=False))
    petitions = PetitionClient(skipper.client, store=store, sealer=sealer)
    prefix = "DEMO-" + datetime.now(UTC).astimezone().strftime("%m%d-%H%M%S")
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
        if run.repeat:
            again = await run.repeat.state()
            print(
                f"  {run.repeat.case_id}  {again.stage.value:<8} {again.version:>3} events"
                f"  {again.closed_reason or '':<12} 重复信访 → 不再受理, linked to "
                f"{again.repeat_of or '—'}"
            )
    from petitionflow.cli.demo import run_dispute_demo
    from petitionflow.client.dispute import DisputeClient

    disputes = DisputeClient(skipper.client, store=store)
    print("demo: 3 village disputes (矛盾纠纷排查化解), one of each outcome ...")
    outcomes = await run_dispute_demo(disputes, skipper.fast_forward, prefix)
    for dispute_id, title in outcomes:
        d = await disputes.state(dispute_id)
        outcome = d.outcome.value if d.outcome else "open"
        print(f"  {dispute_id}  {d.status.value:<8} {d.version:>3} events  {outcome:<12} {title}")
    report = await asyncio.to_thread(store.verify)  # reads every event: off the event loop
    print(
        f"demo done; event store verified: {report.streams} streams, {report.events} events, "
        f"{'intact' if report.ok else 'BROKEN'}"
    )
    petition, options = _petition_command(args)
    print("try, in another shell in this folder:")
    for hint in (
        f"show {runs[6].case_id}",  # open, supervised, with its deadlines
        f"history {runs[7].case_id}",  # review and re-review to finality
        "list --query 'Supervised = true'",  # the demo answers its overdue case in time
        f"dispute show {outcomes[2][0]}",  # escalated and decided by the township conference
        "conference show 653121100",  # the township's joint conference, its supervision
        "disputes report --by township",
        "verify --live",
        "report",  # catches the read models up from the store first
    ):
        print(f"  {petition} {hint}{options}")


def _petition_command(args: argparse.Namespace) -> tuple[str, str]:
    """``petition`` as the user can type it here (the venv's script when that is not
    on PATH), and the options after it when the address, data folder or store are not
    the defaults."""
    import shlex

    command = _venv_script("petition")
    address = f"127.0.0.1:{args.port}"
    settings: Settings = args.settings
    if settings.temporal_address != address:
        command = f"TEMPORAL_ADDRESS={address} {command}"
    options = ""
    if settings.data_dir != Path("data"):
        options += f" --data-dir {shlex.quote(str(settings.data_dir))}"
    if args.store:  # the password, if any, stays off the screen: the user has it
        options += f" --store {shlex.quote(safe_url(args.store))}"
    return command, options
