"""Where every benchmark script writes its results: ``benchmarks/results/<tag>.{json,md}``, atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grace_edge.io import write_json, write_text

RESULTS = Path(__file__).resolve().parent / "results"


def save_results(tag: str, report: Any, markdown: str) -> tuple[Path, Path]:
    """Write ``report`` as ``<tag>.json`` and ``markdown`` as ``<tag>.md``; return both paths."""
    return write_json(RESULTS / f"{tag}.json", report), write_text(RESULTS / f"{tag}.md", markdown)
