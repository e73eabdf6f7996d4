"""The README is the contract other services code against: it must name everything."""

from pathlib import Path

from domain.decide import CODES, EXTERNAL_COMMANDS
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
