"""The README is the contract other services code against: it must name everything."""

import os
import re
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from domain.decide import CODES, EXTERNAL_COMMANDS
from tests.clistack import PETITION, ROOT, CliStack
from tests.faults.processes import free_port
from workflows import search

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def test_readme_names_every_command_code_and_search_attribute() -> None:
    missing = [f"`{k}`" for k in [*EXTERNAL_COMMANDS, *CODES] if f"`{k}`" not in README]
    missing += [key.name for key in search.ALL if key.name not in README]
    assert not missing, f"README lacks {missing}"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line for line in ci.splitlines() if line.startswith("python3.11 -m venv"))
    top = README.split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0].strip() for b in top.split("```sh\n")[1:]]
    assert blocks[1] == command  # the second command at the top is the test command


# ---- every `petition` command in the README runs as written -------------------------


def readme_commands() -> list[str]:
    """Each ``petition ...`` line of the README's ``sh`` code blocks, continuation lines
    joined. ``petition dev`` is left out: it runs until Ctrl-C (the demo's own hints are
    checked by test_demo_hints_run_as_printed)."""
    commands = []
    for block in re.findall(r"^[ \t]*```sh\n(.*?)^[ \t]*```", README, flags=re.S | re.M):
        for line in textwrap.dedent(block).replace("\\\n", " ").splitlines():
            words = line.split()
            if words and Path(words[0]).name == "petition" and words[1:2] != ["dev"]:
                commands.append(line.strip())
    return commands


def test_readme_shows_the_walk_through() -> None:
    commands = readme_commands()
    assert len(commands) >= 12, commands
    assert commands[0] == "petition submit examples/intake.json"
    for step in ("transfer_petition", "accept_petition", "issue_decision", "record_rating"):
        assert any(f" {step} " in c for c in commands), step


def test_every_readme_command_runs_as_written(tmp_path: Path) -> None:
    with CliStack(tmp_path) as stack:
        for command in readme_commands():
            call = stack.run(shell=command)
            assert call.returncode == 0, (
                f"README command failed ({call.returncode}): {command}\n{call.stderr}"
            )
            assert call.stdout.strip(), f"README command printed nothing: {command}"


@pytest.mark.slow
def test_demo_hints_run_as_printed(tmp_path: Path) -> None:
    """`petition dev --demo`, then each command it suggests, pasted into a shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "PETITIONFLOW_"))}
    ports = [str(free_port()) for _ in range(3)]
    dev = subprocess.Popen(
        [str(PETITION), "dev", "--demo", "--data-dir", str(tmp_path / "data"),
         "--port", ports[0], "--ui-port", ports[1], "--codec-port", ports[2]],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert dev.stdout is not None
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = dev.stdout.readline()
            assert line, "petition dev ended:\n" + "".join(lines)
            lines.append(line)
            if line.startswith("running; Ctrl-C"):
                break
        hints = [x.strip() for x in lines if "petition " in x and x.startswith("  ")]
        hints = [h for h in hints if h.split()[0].startswith(("TEMPORAL_ADDRESS=", ".venv", "/"))]
        assert len(hints) >= 4, "".join(lines)
        for hint in hints:
            done = subprocess.run(
                hint, shell=True, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
            )
            assert done.returncode == 0, f"{hint}\n{done.stdout}\n{done.stderr}"
            assert done.stdout.strip() and "no cases" not in done.stdout, hint
    finally:
        dev.send_signal(signal.SIGINT)
        try:
            dev.wait(30)
        except subprocess.TimeoutExpired:
            dev.kill()
