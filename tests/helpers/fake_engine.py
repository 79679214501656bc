"""A grace-edge engine file whose "plan" is placeholder bytes: enough for code that reads or strips our header."""

from __future__ import annotations

from pathlib import Path

from grace_edge.artifact import ArtifactMeta, pack_engine

PLAN = b"\x00TRT-PLAN-BYTES" * 64  # stands for a serialized TensorRT engine


def make_engine(path: Path, batch=(1, 4, 8), trt: str = "10.3.0", **meta: object) -> Path:
    """Write an engine file with our header around :data:`PLAN` (48x64x1 uint8 input, 8 detections)."""
    fields = dict(names=["a", "b"], imgsz=(48, 64), input_format="uint8_nhwc", input_shape=(48, 64, 1), max_det=8,
                  precision="fp16", batch=batch, backend={"tensorrt": trt})
    fields.update(meta)
    path.write_bytes(pack_engine(ArtifactMeta(**fields), PLAN))  # type: ignore[arg-type]
    return path
