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


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def _grace_edge_commands(block: str) -> list[list[str]]:
    """Each ``grace-edge ...`` invocation of a block, as argv (continuations joined, comments dropped)."""
    import shlex

    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        line = re.sub(r"<[^<>\s]+>", "placeholder", line)  # engines/<artifact> -> engines/placeholder
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)  # quotes respected, '#' starts a comment
        lexer.whitespace_split = True
        words: list[str] = []
        for token in [*lexer, "&&"]:
            if token in {"&&", "||", ";", "|", "&"}:
                if words[:1] == ["grace-edge"]:
                    commands.append(words[1:])
                words = []
            else:
                words.append(token)
    return commands


def test_every_readme_command_parses() -> None:
    """A renamed or removed flag breaks the README before it breaks a newcomer's first hour."""
    from grace_edge.cli import build_parser

    readme = (REPO / "README.md").read_text()
    commands = [c for b in _bash_blocks(readme) for c in _grace_edge_commands(b)]
    assert len(commands) > 10
    for argv in commands:
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            raise AssertionError(f"README command does not parse: grace-edge {' '.join(argv)}") from None


def test_each_setup_block_stands_alone() -> None:
    """Every block under 'Set up on a fresh machine' that trains activates the venv and makes the data itself."""
    setup = (REPO / "README.md").read_text().split("## Set up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in _bash_blocks(setup) if "grace-edge train" in b]
    assert len(blocks) >= 3  # the GPU main job, the CPU plumbing check, the CPU demo
    for block in blocks:
        assert ". .venv/bin/activate" in block, f"block does not activate the venv:\n{block}"
        if "datasets/neu-det/data.yaml" in block:
            assert "grace-edge data neu-det" in block, f"block uses the dataset without making it:\n{block}"


CPU_TORCH = "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu"


def test_cpu_blocks_install_cpu_torch_before_the_train_extra() -> None:
    """issue 22 item 5: the CPU blocks installed the CUDA torch (5.2 GB) because the CPU-torch line came later."""
    setup = (REPO / "README.md").read_text().split("## Set up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    cpu_sections = [part for part in setup.split("\n### ")[1:] if part.startswith("On a CPU")]
    assert len(cpu_sections) == 2
    for section in cpu_sections:
        block = _bash_blocks(section)[0]
        assert CPU_TORCH in block and block.index(CPU_TORCH) < block.index('pip install -e ".[train]"'), block
