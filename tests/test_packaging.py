"""What the project installs: one import root, ``petitionflow``, and the ``petition`` script.

The repository keeps its top-level folders (``domain/``, ``workflows/`` ...); pyproject maps
each onto ``petitionflow.<folder>``. A wheel built from the checkout must hold nothing else
at its top, so no generic name (``cli``, ``client``, ``domain``) lands in site-packages.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
FOLDERS = {
    "config",
    "domain",
    "eventstore",
    "activities",
    "workflows",
    "workers",
    "cli",
    "client",
    "security",
    "projections",
    "identity",
    "directory",
    "api",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--wheel-dir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("petitionflow-*.whl")
    return built


def test_the_wheel_has_one_import_root(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"petitionflow"}
    packages = {
        n.split("/")[1] for n in names if n.startswith("petitionflow/") and n.count("/") > 1
    }
    assert packages == FOLDERS
    assert not any(n.startswith(("petitionflow/tests", "testkit", "bench")) for n in names)


def test_the_wheel_runs_petition_from_the_package(wheel: Path) -> None:
    z = zipfile.ZipFile(wheel)
    (ep,) = [n for n in z.namelist() if n.endswith("entry_points.txt")]
    entry = configparser.ConfigParser()
    entry.read_string(z.read(ep).decode())
    assert dict(entry["console_scripts"]) == {"petition": "petitionflow.cli.main:entry"}


def test_no_generic_name_is_importable_from_site_packages() -> None:
    """Run from a directory outside the checkout, so only what is installed can be found."""
    probe = (
        "import importlib.util as u, sys; print(sorted(m for m in sys.argv[1:] if u.find_spec(m)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *sorted(FOLDERS), "petitionflow.domain"],
        cwd="/",
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out.strip() == "['petitionflow.domain']"
