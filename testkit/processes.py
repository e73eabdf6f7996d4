"""The moving parts the fault scenarios break: dev server, worker processes, a TCP proxy."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from petitionflow.workers.devserver import SQLITE_PRAGMAS, TIME_SKIPPING, temporal_binary
from petitionflow.workflows import search
from testkit.keys import TEST_KEYS


def _ephemeral_range() -> range:
    """The ports the kernel hands out to outgoing connections (and to ``bind(0)``)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        low, high = map(int, text.split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def free_port() -> int:
    """A free port outside the ephemeral range.

    A port from ``bind(0)`` is free only until it is released: a server started a
    moment later found it taken by some outgoing connection's local port ("bind:
    address already in use", the dev server then panicked), as the kernel gives
    outgoing connections ports from that same range. Ports below it are never handed
    out that way, so once found free here they stay free for the server."""
    ephemeral = _ephemeral_range()
    # below 31000: a dev server also binds ports a little above its own
    candidates = [p for p in range(10000, 31000) if p not in ephemeral]
    for port in random.sample(candidates, 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 10000 and the ephemeral range")


class DevServer:
    """``temporal server start-dev`` on a SQLite file, so it can be stopped and restarted."""

    def __init__(self, workdir: Path) -> None:
        self.db = workdir / "temporal.db"
        self.log = workdir / "temporal.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            temporal_binary(),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db-filename",
            str(self.db),
            "--log-level",
            "warn",
            *SQLITE_PRAGMAS,
            *TIME_SKIPPING,
            *search.server_flags(),
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 1),
            ):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"dev server exited: {self.log.read_text()[-500:]}")
            time.sleep(0.2)
        raise RuntimeError("dev server did not start in 60 s")

    def stop(self) -> None:
        terminate(self.proc)


def terminate(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL after 20 s."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class WorkerProcess:
    """``python -m petitionflow.workers.main`` (or ``module``) as its own OS process, killable with
    SIGKILL. ``server`` is the dev server or its address."""

    def __init__(
        self,
        server: DevServer | str,
        store_url: str,
        task_queue: str,
        log: Path,
        module: str = "petitionflow.workers.main",
        **env: str,
    ) -> None:
        self.module = module
        self.env = {
            **os.environ,
            **env,
            "TEMPORAL_ADDRESS": server if isinstance(server, str) else server.address,
            "PETITIONFLOW_STORE_URL": store_url,
            "PETITIONFLOW_TASK_QUEUE": task_queue,
            "PETITIONFLOW_PAYLOAD_KEYS": ",".join(f"{k}:{v}" for k, v in TEST_KEYS.payload.dump()),
            "PETITIONFLOW_SEALING_KEYS": ",".join(f"{k}:{v}" for k, v in TEST_KEYS.sealing.dump()),
            "PETITIONFLOW_INDEX_KEYS": ",".join(
                f"{k}:{v}" for k, v in (TEST_KEYS.index.dump() if TEST_KEYS.index else [])
            ),
        }
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=self.env,
                stdout=log,
                stderr=log,
                cwd=Path(__file__).parents[1],
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        terminate(self.proc)


class TcpProxy:
    """Forwards a local port to PostgreSQL; ``block`` cuts every connection and refuses
    new ones, as a network partition or a database going away would."""

    def __init__(self, target_port: int = 5432) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.blocked = False
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.blocked:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}

    def block(self) -> None:
        self.blocked = True
        for w in list(self.writers):
            w.transport.abort()
        self.writers.clear()

    def unblock(self) -> None:
        self.blocked = False

    async def stop(self) -> None:
        self.block()
        if self.server:
            self.server.close()
            await self.server.wait_closed()
