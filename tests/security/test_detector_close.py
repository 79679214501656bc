"""Issue 11 item 5: close() finishes queued work, and works from a future's done-callback."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from grace_edge.errors import GraceEdgeError
from grace_edge.runtime import Detector
from tests.helpers.fake_graph import make_fake_onnx


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fake_onnx(tmp_path_factory.mktemp("close") / "fake.onnx")


def _frame(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(48, 64), dtype=np.uint8)


def test_close_finishes_all_queued_work(onnx_path: Path) -> None:
    det = Detector.open(onnx_path, workers=2)
    futures = [det.submit(_frame(i)) for i in range(200)]
    det.close()
    assert all(f.done() for f in futures)
    results = [f.result() for f in futures]  # none raised "closed"
    assert len(results) == 200 and all(len(r) == 1 for r in results)
    assert det._backend.session is None  # freed
    with pytest.raises(GraceEdgeError, match="closed"):
        det.submit(_frame())


def test_close_finishes_queued_work_while_other_threads_hold_the_slot(onnx_path: Path) -> None:
    """Queued work that must wait for a slot (another thread is using it) still runs after close()."""
    det = Detector.open(onnx_path, workers=1)
    stop = threading.Event()

    def busy() -> None:  # a second caller thread of the line controller, detecting until the detector closes
        while not stop.is_set():
            try:
                det.detect(_frame())
            except GraceEdgeError:
                return

    caller = threading.Thread(target=busy)
    caller.start()
    futures = [det.submit(_frame(i)) for i in range(60)]
    det.close()
    stop.set()
    caller.join(10)
    assert [type(f.exception()).__name__ for f in futures if f.exception()] == []
    assert det._backend.session is None


@pytest.mark.parametrize("workers", [1, 3])
def test_close_from_a_done_callback_frees_the_session(onnx_path: Path, workers: int) -> None:
    det = Detector.open(onnx_path, workers=workers)
    errors: list[BaseException] = []

    def on_done(future) -> None:
        try:
            det.close()  # the line controller's pattern: stop after the frame that says so
        except BaseException as e:  # noqa: BLE001 - the executor would swallow it
            errors.append(e)

    futures = [det.submit(_frame(i)) for i in range(20)]
    futures[0].add_done_callback(on_done)
    assert det.wait_closed(timeout=30), "close() from a callback never freed the detector"
    assert not errors, errors
    assert all(f.result() is not None for f in futures)  # the work queued before close still completed
    assert det._backend.session is None
    assert not [t for t in threading.enumerate() if t.name.startswith("grace-edge-detector") and t.is_alive()
                and t is not threading.current_thread()] or det.wait_closed(0)
