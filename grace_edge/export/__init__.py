"""Export: fuse the trained model and write one ONNX graph with in-graph preprocessing and NMS.

``export_onnx`` is imported lazily so that ``import grace_edge.export`` (and ``grace-edge --help``) stays cheap.
"""

from __future__ import annotations

__all__ = ["export_onnx", "parse_raw_input"]


def __getattr__(name: str):
    if name in __all__:
        from grace_edge.export import onnx_export

        return getattr(onnx_export, name)
    raise AttributeError(f"module 'grace_edge.export' has no attribute {name!r}")
