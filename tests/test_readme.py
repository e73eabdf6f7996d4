"""The README is the contract other services code against: it must name everything."""

import contextlib
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from petitionflow.domain.decide import CODES, EXTERNAL_COMMANDS
from petitionflow.workflows import search
from testkit.processes import free_port, terminate
from tests.clistack import PETITION, ROOT, CliStack

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


# ---- every `petition` and `temporal` command in the README runs as written ---------

PROGRAMS = ("petition", "temporal")


def readme_commands() -> list[str]:
    """Each ``petition ...`` and ``temporal ...`` line of the README's ``sh`` code
    blocks, continuation lines joined, in the order a reader meets them. ``petition
    dev`` is left out: it runs until Ctrl-C (the demo's own hints are checked by
    test_demo_hints_run_as_printed)."""
    commands = []
    for block in re.findall(r"^[ \t]*```sh\n(.*?)^[ \t]*```", README, flags=re.S | re.M):
        for line in textwrap.dedent(block).replace("\\\n", " ").splitlines():
            words = line.split()
            if words and Path(words[0]).name in PROGRAMS and words[:2] != ["petition", "dev"]:
                commands.append(line.strip())
    return commands


def program(command: str) -> str:
    return Path(command.split()[0]).name


def test_readme_shows_the_walk_through() -> None:
    commands = readme_commands()
    petition = [c for c in commands if program(c) == "petition"]
    assert len(petition) >= 10, petition
    assert petition[0] == "petition submit examples/intake.json"
    for step in ("transfer_petition", "accept_petition", "issue_decision", "record_rating"):
        assert any(f" {step} " in c for c in commands), step
    temporal = [shlex.split(c)[1:3] for c in commands if program(c) == "temporal"]
    for sub in (["workflow", "update"], ["workflow", "signal"], ["workflow", "show"]):
        assert sub in temporal, f"no `temporal {' '.join(sub)}` in the README"


def flag(command: str, name: str) -> str:
    words = shlex.split(command)
    return words[words.index(name) + 1]


@contextlib.contextmanager
def codec_server(stack: CliStack, data_dir: Path) -> Iterator[str]:
    """``petition codec-server`` with the stack's keys, and ``data_dir/codec.json`` as
    ``petition dev`` writes it. Yields the endpoint."""
    token = secrets.token_urlsafe(24)
    port = free_port()
    log = data_dir.parent / "codec-server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(PETITION), "codec-server", "--origin", "http://127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**stack.env, "PETITIONFLOW_CODEC_TOKEN": token},
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "codec server on" not in log.read_text(encoding="utf-8"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text("utf-8")
            time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}/{token}"
        (data_dir / "codec.json").write_text(
            json.dumps({
                "endpoint": endpoint, "url": f"http://127.0.0.1:{port}", "token": token,
                "namespace": "default", "temporal_flags": ["--codec-endpoint", endpoint],
            }),
            encoding="utf-8",
        )  # fmt: skip
        yield endpoint
    finally:
        terminate(proc)


def settle_signal(stack: CliStack, command: str, cwd: Path) -> None:
    """A signal is fire and forget; wait, as a reader does, until the case has taken it:
    its event is in the store (and not a CommandRejected) and the workflow has nothing
    pending (the search attributes are upserted)."""
    workflow_id = flag(command, "--workflow-id")
    command_id = json.loads(flag(command, "--input"))["command_id"]
    deadline = time.monotonic() + 60
    while True:
        history = stack.run("history", workflow_id.removeprefix("petition-"), "--json", cwd=cwd)
        events = json.loads(history.stdout) if history.returncode == 0 else []
        taken = [e for e in events if command_id in json.dumps(e, ensure_ascii=False)]
        if taken:
            assert all(e["type"] != "CommandRejected" for e in taken), f"{command}\n{taken}"
            break
        assert time.monotonic() < deadline, f"signal never taken: {command}\n{history}"
        time.sleep(0.2)
    while True:
        described = stack.run(shell=f"temporal workflow describe -o json -w {workflow_id}")
        body = json.loads(described.stdout)
        if not body.get("pendingWorkflowTask") and not body.get("pendingActivities"):
            return
        assert time.monotonic() < deadline, f"workflow still busy after: {command}"
        time.sleep(0.2)


# "binary/encrypted", the codec's encoding, as the CLI shows it raw and in base64
ENCRYPTED = re.compile(r"binary/encrypted|YmluYXJ5L2VuY3J5cHRlZA|encryption-key-id")


def test_every_readme_command_runs_as_written(tmp_path: Path) -> None:
    """Each command in a folder like the reader's (``examples/``, and ``data/codec.json``
    from a codec server this test starts), pasted into bash. ``temporal`` is the venv's
    (first on PATH) and finds the dev server through ``TEMPORAL_ADDRESS``, which it
    honours as ``--address``; nothing else may hand it a codec (no TEMPORAL_CODEC_*, no
    config file), so a result shows decoded only if the command says how."""
    reader = tmp_path / "reader"
    (reader / "data").mkdir(parents=True)
    (reader / "examples").symlink_to(ROOT / "examples")
    with CliStack(tmp_path) as stack, codec_server(stack, reader / "data"):
        stack.env = {
            **{k: v for k, v in stack.env.items()
               if not k.startswith(("TEMPORAL_CODEC_", "TEMPORAL_ENV", "TEMPORAL_PROFILE"))},
            "TEMPORAL_CONFIG_FILE": str(tmp_path / "no-temporal.toml"),
        }  # fmt: skip
        assert stack.env["TEMPORAL_ADDRESS"] == stack.server.address
        sent: list[str] = []  # the command ids given to `temporal` so far
        for command in readme_commands():
            call = stack.run(shell=command, cwd=reader)
            assert call.returncode == 0, (
                f"README command failed ({call.returncode}): {command}\n{call.stdout}\n{call.stderr}"
            )
            assert call.stdout.strip(), f"README command printed nothing: {command}"
            words = shlex.split(command)
            if program(command) != "temporal":
                continue
            if "--input" in words:
                sent.append(json.loads(flag(command, "--input"))["command_id"])
            if words[1:3] == ["workflow", "signal"]:
                settle_signal(stack, command, reader)
            if "--codec-endpoint" in words:
                assert not ENCRYPTED.search(call.stdout), f"not decoded: {command}\n{call.stdout}"
            if words[1:4] == ["workflow", "update", "execute"]:
                assert re.search(r"\bstage:[a-z_]+", call.stdout), f"not decoded: {call.stdout}"
            if words[1:3] == ["workflow", "show"]:  # the inputs it was sent, in plain text
                assert all(f"command_id: {c}" in call.stdout for c in sent), (sent, call.stdout)


@pytest.mark.slow
def test_demo_hints_run_as_printed(tmp_path: Path) -> None:
    """`petition dev --demo`, then each command it suggests, pasted into a shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "PETITIONFLOW_"))}
    ports = [str(free_port()) for _ in range(5)]
    dev = subprocess.Popen(
        [str(PETITION), "dev", "--demo", "--data-dir", str(tmp_path / "data"),
         "--port", ports[0], "--ui-port", ports[1], "--codec-port", ports[2],
         "--api-port", ports[3], "--issuer-port", ports[4]],
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


def readme_block(containing: str) -> str:
    """The README's ``sh`` block that contains ``containing``."""
    blocks: list[str] = re.findall(r"^```sh\n(.*?)^```", README, flags=re.S | re.M)
    return next(b for b in blocks if containing in b)


@pytest.mark.slow
def test_the_api_example_runs_as_written(tmp_path: Path) -> None:
    """`petition dev`, then the README's HTTP API block pasted into bash (its ports
    moved to free ones): a token from the dev issuer registers, routes and shows a
    case, and the events name the token's unit as the actor."""
    ports = {name: free_port() for name in ("port", "ui", "codec", "api", "issuer")}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "PETITIONFLOW_"))},
        "PETITIONFLOW_DATA_DIR": str(tmp_path / "data"),
    }
    dev = subprocess.Popen(
        [str(PETITION), "dev", "--port", str(ports["port"]), "--ui-port", str(ports["ui"]),
         "--codec-port", str(ports["codec"]), "--api-port", str(ports["api"]),
         "--issuer-port", str(ports["issuer"])],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert dev.stdout is not None
    try:
        lines: list[str] = []
        while not lines or not lines[-1].startswith("running; Ctrl-C"):
            line = dev.stdout.readline()
            assert line, "petition dev ended:\n" + "".join(lines)
            lines.append(line)
        assert any(f"http://127.0.0.1:{ports['api']}/docs" in x for x in lines), lines
        block = readme_block("petition token").replace(":8089/", f":{ports['api']}/")
        script = block.replace("\\\n", " ").strip().splitlines()
        # one line per command: print each answer on its own line
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c",
             script[0] + "\n" + "\n".join(f"{x}; echo" for x in script[1:])],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        answers = [json.loads(x) for x in ran.stdout.splitlines() if x.strip()]
        assert answers[0] == {"case_id": "API-0001", "workflow_id": "petition-API-0001"}
        assert answers[1]["events"] == ["PetitionTransferred"], answers[1]
        assert answers[2]["stage"] == "routed"
        assert answers[2]["intake"]["petitioner"]["phone"] == "138****7766"
        history = subprocess.run(
            [str(PETITION), "history", "API-0001", "--json"],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
        )  # fmt: skip
        assert history.returncode == 0, history.stderr
        actors = {tuple(sorted(e["metadata"]["actor"].items())) for e in json.loads(history.stdout)}
        assert actors == {(("person", "喀什地区信访局/staff"), ("unit", "喀什地区信访局"))}
    finally:
        dev.send_signal(signal.SIGINT)
        try:
            dev.wait(30)
        except subprocess.TimeoutExpired:
            dev.kill()
