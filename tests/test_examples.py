"""examples/line_controller.py runs end to end on grace_edge.line and ONNX Runtime with NEU-DET images as the camera
(fake graph)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from tests.helpers.fake_graph import make_fake_onnx

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "line_controller.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("line_controller", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("reject_conf, rejected", [(0.5, 25), (0.95, 0)])
def test_line_controller_rejects_parts_above_the_threshold(example, tmp_path: Path, neu_det: Path,
                                                           monkeypatch: pytest.MonkeyPatch, reject_conf: float,
                                                           rejected: int) -> None:
    model = make_fake_onnx(tmp_path / "fake200.onnx", hw=(200, 200))  # top defect score is always 0.9
    monkeypatch.chdir(tmp_path)  # its event log goes to runs/line_controller/
    stats = example.run(model, neu_det / "IMAGES", count=25, reject_conf=reject_conf)
    assert stats == {"parts": 25, "rejected": rejected, "fired": rejected, "uninspected": 0}
    assert len((tmp_path / "runs" / "line_controller" / "events.jsonl").read_text().splitlines()) == 25 + 3
