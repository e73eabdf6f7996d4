"""A dev server and a worker as real processes, and ``petition`` run as a person runs it.

The CLI tests that start processes share this: ``CliStack`` starts ``temporal server
start-dev`` on free ports (testkit.processes.DevServer) and ``python -m
petitionflow.workers.main`` on a task queue of its own, with a SQLite store and the test keys in
the environment. ``run`` starts the installed ``petition`` script with that
environment, so what is tested is the entry point, the argument parsing and the exit
of a real process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from testkit.builders import petitioner_for
from testkit.processes import DevServer, WorkerProcess

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
PETITION = BIN / "petition"


@dataclass
class Call:
    args: list[str] | str
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def abnormal(self) -> bool:
        """Killed by a signal, aborted (134), or any exit but 0 and 2 (a refusal)."""
        return self.returncode not in (0, 2) or "Fatal Python error" in self.stderr

    def __str__(self) -> str:
        lines = self.stderr.strip().splitlines() or [""]
        tail = next((x for x in lines if x.startswith("Fatal Python error")), lines[-1])
        return f"{self.args!r} -> {self.returncode} in {self.seconds:.1f}s: {tail}"


class CliStack:
    def __init__(self, workdir: Path | None = None) -> None:
        self.dir = workdir or Path(tempfile.mkdtemp(prefix="pf-cli-"))
        self.server = DevServer(self.dir)
        self.store_url = f"sqlite:///{self.dir / 'events.db'}"
        self.worker = WorkerProcess(
            self.server, self.store_url, f"cli-{uuid.uuid4().hex[:6]}", self.dir / "worker.log"
        )
        self.env = {
            **self.worker.env,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "COLUMNS": "160",
        }

    def __enter__(self) -> CliStack:
        self.server.start()
        # As a deployment does it: the schema first (the worker only checks it).
        migrated = self.run("migrate")
        assert migrated.returncode == 0, f"{migrated}\n{migrated.stderr}"
        self.worker.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.worker.stop()
        self.server.stop()

    def run(
        self,
        *args: str,
        stdin: str | None = None,
        shell: str | None = None,
        timeout: float = 120,
        cwd: Path = ROOT,
    ) -> Call:
        """``petition *args`` (or a shell command line) in ``cwd``, the repository's folder
        unless told."""
        started = time.monotonic()
        done = subprocess.run(
            shell if shell is not None else [str(PETITION), *args],
            shell=shell is not None,
            executable="/bin/bash" if shell is not None else None,
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=cwd,
            timeout=timeout,
        )
        return Call(
            shell if shell is not None else list(args),
            done.returncode,
            done.stdout,
            done.stderr,
            time.monotonic() - started,
        )

    def submit(self, case_id: str) -> Call:
        """Submit examples/intake.json under another case id."""
        body = json.loads((ROOT / "examples" / "intake.json").read_text(encoding="utf-8"))
        path = self.dir / f"{case_id}.json"
        # a petitioner of its own: the same one twice would be a repeat petition
        body["intake"]["petitioner"]["id_number"] = petitioner_for(case_id)["id_number"]
        path.write_text(json.dumps({**body, "case_id": case_id}, ensure_ascii=False), "utf-8")
        return self.run("submit", str(path))
