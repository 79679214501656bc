"""What every benchmark script shares: where results go (``benchmarks/results/<tag>.{json,md}``, atomically) and
how metrics are printed in their tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grace_edge.io import write_json, write_text

RESULTS = Path(__file__).resolve().parent / "results"


def save_results(tag: str, report: Any, markdown: str) -> tuple[Path, Path]:
    """Write ``report`` as ``<tag>.json`` and ``markdown`` as ``<tag>.md``; return both paths."""
    return write_json(RESULTS / f"{tag}.json", report), write_text(RESULTS / f"{tag}.md", markdown)


def fmt(v: float | None, scale: float = 100.0) -> str:
    """A metric in points (a fraction x 100) with 2 decimals; ``-`` when it was not measured."""
    return "-" if v is None else f"{v * scale:.2f}"


def publish(tag: str, report: Any, markdown: str | list[str], quiet: bool = False, echo_json: bool = False) -> str:
    """Save ``report`` and the markdown (a string, or lines to join) under ``tag``; print the report as JSON first if
    ``echo_json``, then the markdown unless ``quiet``. Returns the markdown."""
    md = markdown if isinstance(markdown, str) else "\n".join(markdown) + "\n"
    save_results(tag, report, md)
    if echo_json:
        print(json.dumps(report, indent=1))
    if not quiet:
        print(md)
    return md
