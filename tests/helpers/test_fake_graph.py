"""The fake detector graph the runtime tests use matches its numpy definition (so a runtime test that fails is the
runtime's fault, not the fake's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grace_edge.artifact import INPUT_NAME
from tests.helpers.fake_graph import MAX_DET, VALID, fake_rows, make_fake_onnx


def test_fake_graph_matches_its_numpy_definition(tmp_path: Path) -> None:
    import onnxruntime as ort

    path = make_fake_onnx(tmp_path / "fake.onnx")
    batch = np.random.default_rng(0).integers(0, 256, size=(3, 48, 64, 1), dtype=np.uint8)
    dets, counts = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {INPUT_NAME: batch})
    assert dets.shape == (3, MAX_DET, 6) and counts.dtype == np.int32 and counts.tolist() == [VALID] * 3
    for image, rows in zip(batch, dets):
        np.testing.assert_allclose(rows[:VALID], fake_rows(image, 0.0), atol=1e-4)
        assert (rows[VALID:, 4] == np.float32(0.99)).all()
