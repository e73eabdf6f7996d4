"""``petition dev`` as a process for the browser tests: free ports, a data folder of its
own, its output collected, stopped afterwards."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from testkit.processes import free_port
from tests.clistack import PETITION, ROOT

PORTS = ("port", "ui", "codec", "api", "issuer")
FLAGS = {"port": "--port", "ui": "--ui-port", "codec": "--codec-port",
         "api": "--api-port", "issuer": "--issuer-port"}  # fmt: skip


@dataclass
class DevProcess:
    proc: subprocess.Popen[str]
    env: dict[str, str]  # the environment a user's shell would have beside it
    data: Path
    ports: dict[str, int]
    lines: list[str] = field(default_factory=list)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*args], capture_output=True, text=True, env=self.env, cwd=ROOT, timeout=120
        )

    def petition(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = self.run(str(PETITION), *args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done


D = TypeVar("D", bound=DevProcess)


@contextlib.contextmanager
def petition_dev(data: Path, *flags: str, cls: type[D]) -> Iterator[D]:
    """``petition dev`` with ``flags``, once it says it is running."""
    ports = {name: free_port() for name in PORTS}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "PETITIONFLOW_"))},
        "PETITIONFLOW_DATA_DIR": str(data),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{ports['port']}",
    }
    command = [str(PETITION), "dev", *flags]
    for name, port in ports.items():
        command += [FLAGS[name], str(port)]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    stack = cls(proc, env, data, ports)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            stack.lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        while not any(x.startswith("running; Ctrl-C") for x in stack.lines):
            assert proc.poll() is None, "".join(stack.lines)
            assert time.monotonic() < deadline, "".join(stack.lines)
            time.sleep(0.2)
        yield stack
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
