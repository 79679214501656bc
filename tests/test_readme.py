"""The README's fresh-machine test command is the one .ci/run runs."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _fenced_commands(text: str, heading: str) -> list[str]:
    section = text.split(heading, 1)[1]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S)
    assert block, f"no code block after {heading!r}"
    return [l.strip() for l in block.group(1).splitlines() if l.strip() and not l.strip().startswith("#")]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    commands = _fenced_commands(readme, "### Run the tests")
    assert len(commands) == 1
    assert commands[0] in [l.strip() for l in ci]


def test_readme_says_where_to_get_the_data() -> None:
    readme = (REPO / "README.md").read_text()
    assert "zenodo.org/records/16882077" in readme
