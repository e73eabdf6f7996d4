"""``petition`` as separate processes against a real dev server and worker.

Each subcommand runs a few hundred times, a few at a time: none may end abnormally.
Before the CLI ended its process deliberately (cli.main.entry), 3 to 18 of every 187
calls aborted at exit with ``Fatal Python error: PyGILState_Release`` (exit 134), a
race between the Temporal SDK's Rust threads and the interpreter's finalization; this
test saw 7 of 209 then, and none since.
"""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.clistack import ROOT, Call, CliStack

LABOUR = {"unit": "疏附县人力资源和社会保障局", "person": "王建国"}
TRANSFER_INLINE = json.dumps(
    json.loads((ROOT / "examples" / "transfer.json").read_text(encoding="utf-8")),
    ensure_ascii=False,
    indent=2,
)
CASES = 26  # 8 calls each, and one more for an unknown case: 209 calls


def _one_case(stack: CliStack, n: int) -> list[tuple[Call, int]]:
    case = f"PROC-{n:03d}"
    calls = [(stack.submit(case), 0)]
    # The command's fields from a file, or inline (over 255 bytes: no file name limit).
    data = "@examples/transfer.json" if n % 2 else TRANSFER_INLINE
    calls.append((stack.run("send", case, "transfer_petition", "--data", data), 0))
    # The CLI's default actor is not the receiving unit: refused with exit 2.
    calls.append((stack.run("send", case, "accept_petition"), 2))
    ack = json.dumps({"actor": LABOUR}, ensure_ascii=False)
    calls.append((stack.run("send", case, "acknowledge_receipt", "--data", ack), 0))
    calls.append((stack.run("show", case), 0))
    calls.append((stack.run("history", case), 0))
    calls.append((stack.run("verify", case), 0))
    calls.append((stack.run("list", "--limit", "5"), 0))
    return calls


@pytest.mark.slow
def test_every_subcommand_exits_cleanly_hundreds_of_times(tmp_path: Path) -> None:
    with CliStack(tmp_path) as stack, ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda n: _one_case(stack, n), range(CASES)))
        calls = [c for run in runs for c in run]
        calls.append((stack.run("show", "NO-SUCH-CASE"), 2))
    abnormal = [str(call) for call, _ in calls if call.abnormal]
    codes = Counter(call.returncode for call, _ in calls)
    assert len(calls) >= 200 and len(TRANSFER_INLINE.encode()) > 255
    assert not abnormal, (
        f"{len(abnormal)} of {len(calls)} calls ended abnormally ({codes}): {abnormal[:5]}"
    )
    unexpected = [f"{call} (expected {want})" for call, want in calls if call.returncode != want]
    assert not unexpected, unexpected[:5]
