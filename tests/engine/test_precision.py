"""FP16 ONNX: sensitive parts stay FP32, I/O types unchanged, and it runs in ONNX Runtime close to FP32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from grace_edge.artifact import read_onnx_meta
from grace_edge.errors import ArtifactError
from grace_edge.engine.precision import convert_fp16, find_regions, name_nodes, tensor_types

F16 = onnx.TensorProto.FLOAT16


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from grace_edge.export.onnx_export import export_onnx
    from grace_edge.model.build import build_model

    return export_onnx(build_model("grace-n"), tmp_path_factory.mktemp("fp16") / "grace-n.onnx", imgsz=64)


@pytest.fixture(scope="module")
def fp16_onnx(fp32_onnx: Path) -> Path:
    return convert_fp16(fp32_onnx, fp32_onnx.with_name("grace-n_fp16.onnx"))


def _fp16_round_trips(model: onnx.ModelProto, types: dict[str, int]) -> int:
    """Count Cast(float16 -> float32) of Cast(float32 -> float16): a float32 value rounded to float16 and back."""
    producer = {o: n for n in model.graph.node for o in n.output}

    def cast_to(node: onnx.NodeProto | None) -> int | None:
        if node is None or node.op_type != "Cast":
            return None
        return next(a.i for a in node.attribute if a.name == "to")

    return sum(
        1
        for n in model.graph.node
        if cast_to(n) == onnx.TensorProto.FLOAT
        and cast_to(first := producer.get(n.input[0])) == F16
        and types.get(first.input[0]) == onnx.TensorProto.FLOAT
    )


def _regions(path: Path):
    model = onnx.load(str(path))
    name_nodes(model)
    return model, find_regions(model)


def test_regions_found_by_structure(fp32_onnx: Path) -> None:
    model, regions = _regions(fp32_onnx)
    ops = {n.name: n.op_type for n in model.graph.node}
    assert {ops[n] for n in regions.head_outputs} == {"Conv"}
    assert len(regions.head_outputs) == 6  # box + class branch at 3 levels
    decode_ops = {ops[n] for n in regions.decode}
    assert {"Exp", "ReduceSum", "Sigmoid", "TopK", "MatMul"} <= decode_ops  # DFL expectation, class sigmoid, NMS
    assert "Softmax" not in decode_ops and "Conv" not in decode_ops  # no Softmax(axis=1), no DFL convolution
    assert "Cast" in {ops[n] for n in regions.preprocess}  # uint8 -> float
    assert not any(ops[n] == "Conv" for n in regions.preprocess)
    assert len(regions.gates) == 2  # Lite-FEN channel + spatial attention sigmoids


def test_fp16_keeps_sensitive_parts_fp32(fp32_onnx: Path, fp16_onnx: Path) -> None:
    _, regions = _regions(fp32_onnx)
    half = onnx.load(str(fp16_onnx))
    types = tensor_types(half)
    by_name = {n.name: n for n in half.graph.node}
    for name in regions.preprocess | regions.decode:
        node = by_name[name]
        touched = [t for t in (*node.input, *node.output) if types.get(t) == F16]
        assert not touched, f"{node.op_type} {name} touches float16 tensors {touched}"
    assert _fp16_round_trips(half, types) == 0, "FP32 values pass through float16 between FP32 nodes"
    convs = [n for n in half.graph.node if n.op_type == "Conv" and n.name not in regions.decode]
    assert convs and all(types[n.input[1]] == F16 for n in convs), "feature convolutions must run in FP16"


def test_fp16_io_and_metadata(fp32_onnx: Path, fp16_onnx: Path) -> None:
    half = onnx.load(str(fp16_onnx))
    io = {v.name: v.type.tensor_type.elem_type for v in (*half.graph.input, *half.graph.output)}
    T = onnx.TensorProto
    assert io == {"images": T.UINT8, "detections": T.FLOAT, "num_detections": T.INT32}
    meta = read_onnx_meta(fp16_onnx)
    assert meta.precision == "fp16" and meta.source["onnx_fp32"]
    assert read_onnx_meta(fp32_onnx).precision == "fp32"


def test_fp16_graph_passes_the_onnx_checker(fp16_onnx: Path) -> None:
    """The converter appends its casts at the end; unsorted, onnx.checker (and polygraphy lint) rejected the file."""
    onnx.checker.check_model(onnx.load(str(fp16_onnx)), full_check=True)


def test_fp16_runs_close_to_fp32(fp32_onnx: Path, fp16_onnx: Path) -> None:
    import onnxruntime as ort

    x = np.random.default_rng(0).integers(0, 256, (1, 200, 200, 1), dtype=np.uint8)
    full = ort.InferenceSession(str(fp32_onnx), providers=["CPUExecutionProvider"]).run(None, {"images": x})
    half = ort.InferenceSession(str(fp16_onnx), providers=["CPUExecutionProvider"]).run(None, {"images": x})
    assert half[0].dtype == np.float32 and half[1].dtype == np.int32
    n = int(full[1][0])
    assert n > 0 and abs(int(half[1][0]) - n) <= max(1, n // 10)
    scores_full = np.sort(full[0][0, :n, 4])[::-1]
    scores_half = np.sort(half[0][0, : int(half[1][0]), 4])[::-1][: len(scores_full)]
    k = min(len(scores_full), len(scores_half))
    assert np.allclose(scores_full[:k], scores_half[:k], atol=2e-3, rtol=1e-2)


def test_fp16_rejects_non_fp32_input(fp16_onnx: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="already fp16"):
        convert_fp16(fp16_onnx, tmp_path / "again.onnx")
    assert not (tmp_path / "again.onnx").exists()


def test_fp16_rejects_foreign_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(ArtifactError, match="bad.onnx"):
        convert_fp16(bad, tmp_path / "out.onnx")
