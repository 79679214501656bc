"""A tiny fake GRACE detector graph (exact grace-edge I/O names, shapes and metadata) for runtime tests.

It is a stand-in for the real export, not a detector: per image it outputs ``MAX_DET`` fixed rows ``ROWS`` whose
x1/x2 shift right by ``10 * mean(image) / 255`` pixels (so a result proves which image it came from), and
``num_detections = VALID``. Rows past ``VALID`` are junk with a high score: a runtime that ignores the count shows them.
Runtime test modules import the builder from here; tests/helpers/test_fake_graph.py checks the fake against numpy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from grace_edge.artifact import INPUT_NAME, OUTPUT_COUNT, OUTPUT_DETECTIONS, ArtifactMeta, set_onnx_meta

NAMES = ["crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches"]
MAX_DET = 8
VALID = 4
# x1, y1, x2, y2, score, class (network-input pixels); valid rows sorted by score, then junk rows.
ROWS = np.array(
    [
        [10, 12, 40, 50, 0.90, 0],
        [20, 22, 60, 70, 0.60, 3],
        [5, 5, 30, 30, 0.30, 5],
        [50, 40, 70, 60, 0.10, 1],
    ]
    + [[1, 1, 2, 2, 0.99, 2]] * (MAX_DET - VALID),
    dtype=np.float32,
)
SHIFT = np.zeros((MAX_DET, 6), dtype=np.float32)
SHIFT[:, [0, 2]] = 10.0


def make_fake_onnx(
    path: Path,
    *,
    input_format: str = "uint8_nhwc",
    hw: tuple[int, int] = (48, 64),
    channels: int = 1,
    batch: tuple[int, int, int] = (1, 4, 8),
    static_batch: int | None = None,
    shift: bool = True,
    conf_thres: float = 0.001,
    names: list[str] | None = None,
    metadata: bool = True,
    input_name: str = INPUT_NAME,
) -> Path:
    """Write the fake detector ONNX to ``path`` and return it."""
    h, w = hw
    if input_format == "uint8_nhwc":
        in_shape, in_type, axes = (h, w, channels), TensorProto.UINT8, [1, 2, 3]
    else:
        in_shape, in_type, axes = (channels, h, w), TensorProto.FLOAT, [1, 2, 3]
    b = static_batch if static_batch else "batch"
    nodes = [
        helper.make_node("Cast", [input_name], ["x"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=axes, keepdims=0),
        helper.make_node("Div", ["mean", "c255"], ["s"]),
        helper.make_node("Reshape", ["s", "shape_b11"], ["s3"]),
        helper.make_node("Mul", ["s3", "shift"], ["moved"]),
        helper.make_node("Add", ["rows", "moved"], [OUTPUT_DETECTIONS]),
        helper.make_node("Mul", ["s", "zero"], ["s0"]),
        helper.make_node("Add", ["s0", "valid"], ["countf"]),
        helper.make_node("Cast", ["countf"], [OUTPUT_COUNT], to=TensorProto.INT32),
    ]
    scale = 255.0 if input_format == "uint8_nhwc" else 1.0
    inits = [
        numpy_helper.from_array(np.array(scale, np.float32), "c255"),
        numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape_b11"),
        numpy_helper.from_array((SHIFT if shift else SHIFT * 0)[None], "shift"),
        numpy_helper.from_array(ROWS[None], "rows"),
        numpy_helper.from_array(np.array(0, np.float32), "zero"),
        numpy_helper.from_array(np.array(VALID, np.float32), "valid"),
    ]
    graph = helper.make_graph(
        nodes,
        "fake_grace",
        [helper.make_tensor_value_info(input_name, in_type, [b, *in_shape])],
        [
            helper.make_tensor_value_info(OUTPUT_DETECTIONS, TensorProto.FLOAT, [b, MAX_DET, 6]),
            helper.make_tensor_value_info(OUTPUT_COUNT, TensorProto.INT32, [b]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata:
        meta = ArtifactMeta(
            names=names or NAMES,
            imgsz=hw,
            input_format=input_format,
            input_shape=in_shape,
            max_det=MAX_DET,
            conf_thres=conf_thres,
            batch=(static_batch,) * 3 if static_batch else batch,
            model="fake",
        )
        set_onnx_meta(model, meta)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def fake_rows(image: np.ndarray, conf: float, scale: float = 255.0) -> np.ndarray:
    """What the fake graph + host postprocess must give for one (network-input) image, before any unletterbox."""
    s = float(np.asarray(image, np.float64).mean()) / scale
    rows = ROWS[:VALID] + np.float32(s) * SHIFT[:VALID]
    return rows[rows[:, 4] >= conf]
