"""Build: the deployable artifact for this machine from an FP32 ONNX (``grace-edge build``).

precision ONNX (FP16 / INT8 Q/DQ, :mod:`grace_edge.export.precision` / :mod:`~grace_edge.export.quantize`) ->
accuracy gate (:mod:`grace_edge.export.gate`) -> a strongly typed TensorRT engine (:mod:`.tensorrt_build`) when
TensorRT and a GPU are present, else the ONNX Runtime CPU model (:mod:`.onnxruntime_build`). Imports are lazy.
"""

from __future__ import annotations

__all__ = ["build", "BuildOptions", "BuildReport"]


def __getattr__(name: str):
    if name in __all__:
        from grace_edge.build import cli

        return getattr(cli, name)
    raise AttributeError(f"module 'grace_edge.build' has no attribute {name!r}")
