"""The backend registry, the one I/O check and the typed runtime options (issue 18).

A new backend is one module plus one REGISTRY line: shown here with a toy backend written to a temporary folder,
which Detector then opens like any other, with the registry's option checks applied to it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from grace_edge.artifact import OnnxModel
from grace_edge.errors import ArtifactError, InputError
from grace_edge.runtime import backends
from grace_edge.runtime.io_check import TensorSpec, check_io
from grace_edge.runtime.options import RuntimeOptions

TOY_BACKEND = '''
"""A toy backend: ONNX Runtime on one thread, under its own name."""
from grace_edge.runtime.onnxruntime_backend import OnnxRuntimeBackend

TITLE = "the toy runtime"
ACCEPTS = frozenset()


def problem():
    return None


def open_backend(model, options, workers):
    backend = OnnxRuntimeBackend(model.origin, model.meta, model.data, threads=1)
    backend.name = "toy"
    return backend
'''


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from grace_edge.export.onnx_export import export_onnx
    from grace_edge.model.build import build_model

    torch.manual_seed(0)
    model = build_model("grace-n")
    for conv in model.model[-1].cv3:  # lift class scores of the untrained head above the 0.001 floor: real rows
        conv[-1].bias.data += 4.0
    return export_onnx(model, tmp_path_factory.mktemp("reg") / "grace-n.onnx", imgsz=64)


def frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (200, 200), dtype=np.uint8) for _ in range(n)]


def test_a_new_backend_is_one_file_and_one_registry_line(fp32_onnx, tmp_path, monkeypatch) -> None:
    from grace_edge.runtime import Detector

    (tmp_path / "toy_backend.py").write_text(TOY_BACKEND, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = (*backends.REGISTRY, backends.BackendEntry("toy", "toy_backend", runs="onnx", device="cpu"))
    monkeypatch.setattr(backends, "REGISTRY", registry)  # the one line; the rest is derived from REGISTRY
    monkeypatch.setattr(backends, "BY_NAME", {e.name: e for e in registry})
    monkeypatch.setattr(backends, "BACKEND_CHOICES", ("auto", *(e.name for e in registry if e.runs != "url")))
    with Detector.open(fp32_onnx, conf=0.01, backend="toy") as toy, Detector.open(fp32_onnx, conf=0.01) as ort:
        assert toy.backend == "toy" and ort.backend == "onnxruntime"
        for a, b in zip(toy.detect_arrays(frames(2)), ort.detect_arrays(frames(2))):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    with pytest.raises(InputError, match="shared_cpu=True applies to ONNX Runtime and OpenVINO only, not to the toy"):
        Detector.open(fp32_onnx, backend="toy", shared_cpu=True)
    sys.modules.pop("toy_backend", None)


def test_an_in_memory_model_opens_without_a_file(fp32_onnx) -> None:
    from grace_edge.runtime import Detector

    model = OnnxModel.read(fp32_onnx)
    with Detector.open(model, conf=0.01) as det, Detector.open(fp32_onnx, conf=0.01) as from_file:
        assert str(det.path) == str(fp32_onnx)
        np.testing.assert_array_equal(det.detect_arrays(frames(1))[0], from_file.detect_arrays(frames(1))[0])


def test_runtime_options_are_checked_where_they_are_made() -> None:
    assert RuntimeOptions.of({"backend": "OpenVINO "}).backend == "openvino"
    assert RuntimeOptions(shared_cpu=True).changed() == {"shared_cpu": True}
    assert RuntimeOptions().describe() == "defaults"
    with pytest.raises(InputError, match="unknown runtime option\\(s\\) shraed_cpu"):
        RuntimeOptions.of({"shraed_cpu": True})
    with pytest.raises(InputError, match="shared_cpu 'yes' must be True or False"):
        RuntimeOptions(shared_cpu="yes")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="sync 'busy': choose one of blocking, spin"):
        RuntimeOptions(sync="busy")
    with pytest.raises(InputError, match="options and shared_cpu both given"):
        from grace_edge.runtime import Detector

        Detector.open("x.onnx", options=RuntimeOptions(), shared_cpu=True)


def test_one_io_check_for_every_backend(fp32_onnx) -> None:
    meta = OnnxModel.read(fp32_onnx).meta
    good_in = TensorSpec("images", np.uint8, (None, *meta.input_shape))
    outs = [TensorSpec("detections", np.float32, (None, meta.max_det, 6)), TensorSpec("num_detections", np.int32, (None,))]
    assert check_io("m", meta, [good_in], outs) == (1, meta.batch[2])
    assert check_io("m", meta, [TensorSpec("images", np.uint8, (4, *meta.input_shape))], outs) == (4, 4)
    assert check_io("m", meta, [good_in], outs, batch_range=(1, 8)) == (1, 8)
    with pytest.raises(ArtifactError, match="input 'images' is float32 \\[B,200,200,1\\], but its metadata says uint8"):
        check_io("m", meta, [TensorSpec("images", np.float32, good_in.shape)], outs)
    with pytest.raises(ArtifactError, match="output 'detections' is float32 \\[B,50,6\\]"):
        check_io("m", meta, [good_in], [TensorSpec("detections", np.float32, (None, 50, 6)), outs[1]])
    with pytest.raises(ArtifactError, match="graph I/O is"):
        check_io("m", meta, [good_in], outs[:1])
