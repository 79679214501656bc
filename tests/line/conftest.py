"""Fixtures of the line tests: Debian's mosquitto on 127.0.0.1 and a free port, a real ONNX model on ONNX Runtime
(tests/helpers/fake_graph.py's graph: every frame gets crazing 0.9, pitted_surface 0.6, scratches 0.3, inclusion 0.1,
so verdicts are known), and NEU-DET frames."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from tests.helpers.fake_graph import make_fake_onnx
from tests.helpers.line import Broker


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    if shutil.which("mosquitto") is None:
        pytest.fail("mosquitto is not installed (apt-get install -y mosquitto mosquitto-clients)")
    broker = Broker(tmp_path / "broker")
    broker.start()
    yield broker
    if broker.process is not None:
        broker.kill()


@pytest.fixture(scope="session")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 200x200 raw-input ONNX graph: every frame gets crazing 0.9, pitted_surface 0.6, scratches 0.3, ..."""
    return make_fake_onnx(tmp_path_factory.mktemp("line_model") / "fake200.onnx", hw=(200, 200))


@pytest.fixture(scope="session")
def neu_frames(neu_det: Path) -> list[np.ndarray]:
    import cv2

    paths = sorted((neu_det / "IMAGES").glob("*.jpg"))[:12]
    return [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths]
