"""``petition`` as separate processes against a real dev server and worker.

Each subcommand runs a few hundred times, a few at a time: none may end abnormally.
Before the CLI ended its process deliberately (petitionflow.cli.main.entry), 3 to 18 of every 187
calls aborted at exit with ``Fatal Python error: PyGILState_Release`` (exit 134), a
race between the Temporal SDK's Rust threads and the interpreter's finalization; this
test saw 7 of 209 then, and none since.
"""

from __future__ import annotations

import json
import time
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


def test_verify_live_names_every_wedged_case(tmp_path: Path) -> None:
    from petitionflow.activities.records import stream_id, to_record
    from petitionflow.eventstore import EventStore
    from testkit.builders import CaseDriver

    with CliStack(tmp_path) as stack:
        for case in ("LIVE-1", "LIVE-2", "LIVE-3"):
            assert stack.submit(case).returncode == 0
            assert stack.run("show", case).returncode == 0  # its registration is durable
        agree = stack.run("verify", "--live")
        assert agree.returncode == 0, agree.stderr
        assert "live: 3 open cases compared with their workflows: all agree" in agree.stdout
        # LIVE-2: an event in the store that its workflow never applied
        store = EventStore(stack.store_url, create=True)
        transfer = CaseDriver(case_id="LIVE-2").in_handling().events[1]
        store.append(stream_id("LIVE-2"), 1, [to_record(transfer)])
        store.close()
        # LIVE-3: its workflow is gone from under the case
        kill = f"temporal workflow terminate --address {stack.server.address} -w petition-LIVE-3"
        assert stack.run(shell=kill + " --reason test").returncode == 0
        wedged = stack.run("verify", "--live")
        assert wedged.returncode == 1, wedged.stderr
        assert "3 open cases compared with their workflows: 2 differ" in wedged.stdout
        assert (
            "LIVE-2: the store has 2 events, the workflow 1 (the workflow is behind)"
            in wedged.stdout
        )
        assert "LIVE-3: its workflow is TERMINATED (store at v1)" in wedged.stdout
        assert "LIVE-1" not in wedged.stdout
        one = stack.run("verify", "LIVE-2", "--live", "--json")
        assert one.returncode == 1
        assert json.loads(one.stdout)["live"]["mismatches"][0]["stored"] == 2


def test_calendar_load_refuses_a_bad_file_and_recomputes_with_a_good_one(tmp_path: Path) -> None:
    sample = ROOT / "tests" / "fixtures" / "calendar_2027_sample.json"
    body = json.loads(sample.read_text(encoding="utf-8"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**body, "workdays": ["2027-03-01"]}), encoding="utf-8")
    labour = json.dumps({"actor": LABOUR}, ensure_ascii=False)
    with CliStack(tmp_path) as stack:
        # A case accepted today: its 60-day handling period ends in 2027, which the
        # store (seeded with chinesecalendar's 2004-2026) does not know: provisional.
        assert stack.submit("CAL-1").returncode == 0
        transfer = ("send", "CAL-1", "transfer_petition", "--data", "@examples/transfer.json")
        assert stack.run(*transfer).returncode == 0
        for command in ("acknowledge_receipt", "accept_petition"):
            assert stack.run("send", "CAL-1", command, "--data", labour).returncode == 0
        before = json.loads(stack.run("show", "CAL-1", "--json").stdout)["deadlines"]["handling"]
        assert before["provisional"] is True and before["due"].startswith("2027-")
        shown = stack.run("show", "CAL-1")
        assert "(provisional)" in shown.stdout and "no official holiday arrangement" in shown.stdout
        for _ in range(100):  # visibility follows the case in a moment
            listed = stack.run("list", "--query", "ProvisionalDeadline = true", "--json")
            if json.loads(listed.stdout or "[]"):
                break
            time.sleep(0.2)

        refused = stack.run("calendar", "load", str(bad))
        assert refused.returncode == 2, refused
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert "workdays holds 2027-03-01, a Monday" in refused.stderr
        assert "list only those" in refused.stderr  # and what to do

        loaded = stack.run("calendar", "load", str(sample))
        assert loaded.returncode == 0, loaded.stderr
        assert "2027: stored as version 1" in loaded.stdout
        assert "told 1 running case with provisional deadlines" in loaded.stdout, loaded.stdout
        for _ in range(100):
            after = json.loads(stack.run("show", "CAL-1", "--json").stdout)
            if not after["deadlines"]["handling"]["provisional"]:
                break
            time.sleep(0.2)
        assert after["deadlines"]["handling"]["calendar"] == "2027.v1"
        history = stack.run("history", "CAL-1")
        assert "handling deadline recomputed with calendar 2027.v1" in history.stdout

        again = stack.run("calendar", "load", str(sample), "--json")
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["changed"] is False  # stored once; told again
        listed = stack.run("calendar", "list")
        assert listed.returncode == 0 and "SAMPLE for the tests" in listed.stdout
