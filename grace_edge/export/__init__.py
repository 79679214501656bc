"""Export: torch -> one FP32 ONNX graph, with the Lite-FEN fused and in-graph preprocessing and NMS.

Precision (FP16 / INT8) is the engine build's job (:mod:`grace_edge.engine`). ``export_onnx`` is imported lazily so
that ``import grace_edge.export`` (and ``grace-edge --help``) stays cheap.
"""

from __future__ import annotations

from grace_edge._lazy import lazy_getattr

_EXPORTS = {name: "grace_edge.export.onnx_export" for name in ("export_onnx", "parse_raw_input")}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
