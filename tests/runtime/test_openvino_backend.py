"""OpenVINO backend: the same ONNX graph as ONNX Runtime behind the same Detector, its precision hints, its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grace_edge.errors import ArtifactError, InputError

ov = pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from grace_edge.export.onnx_export import export_onnx
    from grace_edge.model.build import build_model

    torch.manual_seed(0)
    model = build_model("grace-n")
    for conv in model.model[-1].cv3:  # lift class scores of the untrained head above the 0.001 floor: real rows
        conv[-1].bias.data += 4.0
    return export_onnx(model, tmp_path_factory.mktemp("ov") / "grace-n.onnx", imgsz=64)


def frames(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (200, 200), dtype=np.uint8) for _ in range(n)]


def matched_share(a: np.ndarray, b: np.ndarray) -> float:
    """Share of rows of ``a`` that ``b`` has too (same class, box within 0.5 px, score within 1e-3)."""
    if len(a) == 0:
        return 1.0 if len(b) == 0 else 0.0
    hits = 0
    for row in a:
        same = (b[:, 5] == row[5]) & (np.abs(b[:, :4] - row[:4]).max(1) < 0.5) & (np.abs(b[:, 4] - row[4]) < 1e-3)
        hits += bool(same.any())
    return hits / len(a)


def test_openvino_fp32_detects_what_onnxruntime_detects(fp32_onnx: Path) -> None:
    from grace_edge.runtime import Detector

    with Detector.open(fp32_onnx, conf=0.01) as ort_det, Detector.open(fp32_onnx, conf=0.01, backend="openvino") as ov_det:
        assert (ort_det.backend, ov_det.backend) == ("onnxruntime", "openvino")
        images = frames(3)
        ours, theirs = ort_det.detect_arrays(images), ov_det.detect_arrays(images)
    assert sum(len(r) for r in ours) > 0, "the test model must produce detections"
    for a, b in zip(ours, theirs):
        assert abs(len(a) - len(b)) <= max(2, len(a) // 20)
        assert matched_share(b, a) >= 0.9  # near-tied scores may swap a few rows at the top-K / max_det cut


def test_openvino_detector_batches_and_profiles(fp32_onnx: Path) -> None:
    from grace_edge.runtime import Detector

    with Detector.open(fp32_onnx, conf=0.01, backend="openvino", shared_cpu=True, workers=2) as det:
        out, times = det.profile(frames(2))
        assert len(out) == 2 and times["compute"] > 0
        assert len(det.submit(frames(1)).result()) == 1


def test_bf16_hint_follows_the_cpu(fp32_onnx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grace_edge.runtime import Detector, openvino_backend

    if openvino_backend.cpu_supports("bf16"):
        with Detector.open(fp32_onnx, conf=0.01, backend="openvino", inference_precision="bf16") as det:
            assert det._backend.precision == "bf16" and len(det.detect_arrays(frames(1))) == 1
    monkeypatch.setattr(openvino_backend, "cpu_supports", lambda precision: precision == "fp32")
    with pytest.raises(InputError, match="no native BF16"):
        Detector.open(fp32_onnx, backend="openvino", inference_precision="bf16")


def test_option_errors_are_one_line(fp32_onnx: Path) -> None:
    from grace_edge.runtime import Detector

    with pytest.raises(InputError, match="choose one of"):
        Detector.open(fp32_onnx, backend="openvino", inference_precision="int4")
    with pytest.raises(InputError, match="applies to OpenVINO only"):
        Detector.open(fp32_onnx, inference_precision="bf16")  # ONNX Runtime has no such hint
    with pytest.raises(InputError, match="backend 'nope'"):
        Detector.open(fp32_onnx, backend="nope")


def test_missing_openvino_names_the_extra(fp32_onnx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from grace_edge.runtime import Detector

    real_import = builtins.__import__

    def no_openvino(name: str, *args, **kwargs):
        if name == "openvino" or name.startswith("openvino."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openvino)
    with pytest.raises(InputError, match=r"grace-edge\[openvino\]"):
        Detector.open(fp32_onnx, backend="openvino")


def test_foreign_graph_is_rejected(tmp_path: Path, fp32_onnx: Path) -> None:
    import onnx

    from grace_edge.artifact import read_onnx_meta
    from grace_edge.runtime.openvino_backend import OpenVinoBackend

    model = onnx.load(str(fp32_onnx))
    model.graph.output[0].name = "boxes"
    for node in model.graph.node:
        node.output[:] = ["boxes" if o == "detections" else o for o in node.output]
    bad = tmp_path / "renamed.onnx"
    onnx.save(model, str(bad))
    with pytest.raises(ArtifactError, match="graph I/O"):
        OpenVinoBackend(bad, read_onnx_meta(fp32_onnx), bad.read_bytes())
