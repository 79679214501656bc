"""Issue 11: the README's SECURITY section says what is trusted, what --trust-weights means, what is checked."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_readme_has_a_security_section() -> None:
    readme = (REPO / "README.md").read_text()
    assert "\n## Security\n" in readme
    section = readme.split("\n## Security\n", 1)[1].split("\n## ", 1)[0]
    assert "no input file by default" in section
    assert "`--trust-weights`" in section and "runs code from the file" in section
    for checked in ("weights_only", "labels/*.cache", "SHA-256", "calibration", "grace-build-"):
        assert checked in section, checked
