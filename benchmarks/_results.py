"""What every benchmark script shares: where results go (``benchmarks/results/<tag>.{json,md}``, atomically) and
how metrics are printed in their tables."""

from __future__ import annotations

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


def publish(tag: str, report: Any, lines: list[str], quiet: bool = False) -> str:
    """Save ``report`` and the markdown ``lines`` under ``tag`` and print the markdown (unless ``quiet``)."""
    md = "\n".join(lines) + "\n"
    save_results(tag, report, md)
    if not quiet:
        print(md)
    return md
