"""Benchmarking: latency percentiles, throughput, per-stage times and side-by-side peers (``grace-edge bench``).

Modules: :mod:`~grace_edge.bench.latency` (timed loops, statistics, batch sweep), :mod:`~grace_edge.bench.compare`
(Ultralytics peers), :mod:`~grace_edge.bench.sysinfo` (machine description), :mod:`~grace_edge.bench.report`
(JSON, markdown, plot). Imports are lazy so ``grace-edge --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "LatencyStats": "latency", "summarize": "latency", "time_interleaved": "latency", "time_calls": "latency",
    "sweep": "latency", "plan_batches": "latency", "ratio": "latency",
    "Runner": "compare", "detector_runner": "compare", "ultralytics_runner": "compare",
    "write_report": "report", "to_markdown": "report", "write_plot": "report",
    "collect_sysinfo": "sysinfo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'grace_edge.bench' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(f"grace_edge.bench.{_EXPORTS[name]}")
    return getattr(module, "collect" if name == "collect_sysinfo" else name)
