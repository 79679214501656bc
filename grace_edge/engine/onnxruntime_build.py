"""The CPU artifact: the precision ONNX, checked to load in ONNX Runtime, with backend facts in its metadata."""

from __future__ import annotations

from pathlib import Path

from grace_edge.artifact import ArtifactMeta
from grace_edge.errors import ArtifactError


def build_cpu_model(precision_onnx: str | Path, out: str | Path, meta: ArtifactMeta) -> Path:
    """Write ``precision_onnx`` to ``out`` with ``meta`` (plus ONNX Runtime facts), after a CPU session loads it."""
    import onnx
    import onnxruntime as ort

    from grace_edge.engine.precision import save_with_meta

    precision_onnx = Path(precision_onnx)
    try:
        ort.InferenceSession(str(precision_onnx), providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT raises its own exception types (Fail, InvalidGraph, NotImplemented...)
        raise ArtifactError(f"{precision_onnx}: ONNX Runtime {ort.__version__} cannot load it on this CPU: {e}") from None
    meta.backend = {"runtime": "onnxruntime-cpu", "onnxruntime": ort.__version__}
    return save_with_meta(onnx.load(str(precision_onnx)), out, meta)
