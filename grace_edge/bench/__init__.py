"""Benchmarking: latency percentiles, throughput, per-stage times and side-by-side peers (``grace-edge bench``).

Modules: :mod:`~grace_edge.bench.run` (:class:`BenchOptions` + :func:`bench`, the command's logic),
:mod:`~grace_edge.bench.latency` (timed loops, statistics, batch sweep), :mod:`~grace_edge.bench.compare`
(Ultralytics peers), :mod:`~grace_edge.bench.report` (JSON, markdown, plot); the machine description is the
hall's :mod:`~grace_edge.sysinfo` (bench, val reports and doctor all record it). Imports are lazy so ``grace-edge --help`` stays fast.
"""

from __future__ import annotations

from grace_edge._lazy import lazy_getattr

_MODULES = {
    "run": ("BenchOptions", "bench"),
    "latency": ("LatencyStats", "summarize", "time_interleaved", "time_calls", "sweep", "plan_batches", "ratio"),
    "compare": ("Runner", "detector_runner", "ultralytics_runner"),
    "report": ("write_report", "to_markdown", "write_plot"),
}
_EXPORTS = {name: f"grace_edge.bench.{module}" for module, names in _MODULES.items() for name in names}
_EXPORTS["collect_sysinfo"] = "grace_edge.sysinfo"  # kept for callers of grace_edge.bench; the module is the hall's
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
