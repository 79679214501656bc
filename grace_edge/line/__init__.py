"""The line service: camera -> ``Detector`` -> verdict -> PLC, MQTT and logs, with metrics and a health check.

    from grace_edge.line import LineService, load_config
    summary = LineService(load_config("line.yaml")).run()   # until the source ends or SIGTERM; then drains

Every captured frame gets exactly one verdict: ``ok``, ``reject`` (with its defects) or ``uninspected`` (with the
reason: dropped, unreadable frame, backend error, shutdown); none is ever passed without a detector result.
"""

from __future__ import annotations

from grace_edge._lazy import lazy_getattr

_EXPORTS = {
    "LineService": "grace_edge.line.service",
    "Summary": "grace_edge.line.service",
    "LineConfig": "grace_edge.line.config",
    "ConfigError": "grace_edge.line.config",
    "load_config": "grace_edge.line.config",
    "parse_config": "grace_edge.line.config",
    "VerdictRules": "grace_edge.line.verdict",
    "Verdict": "grace_edge.line.verdict",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
