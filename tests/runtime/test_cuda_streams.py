"""Non-blocking streams and blocking-sync events (grace_edge.runtime.cuda_streams), with the FAKE pycuda.

The fake (tests/fakes/cuda.py, checked against pycuda 2026.1's recorded API) records every Stream's and Event's flags
and fails a blocking stream or a spinning event unless a test allows spinning. What the flags do to latency and CPU
load on a real GPU is measured by ``grace-edge bench --sync`` there, not here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grace_edge.errors import InputError
from grace_edge.runtime import Detector, cuda_streams
from grace_edge.runtime.tensorrt_backend import TensorRTBackend
from tests.fakes.cuda import Log, make_pycuda
from tests.runtime.test_tensorrt_backend import fakes, images, write_engine  # noqa: F401 - the fixture

BLOCKING_SYNC = 1  # pycuda event_flags.BLOCKING_SYNC (tests/fakes/api_surface/pycuda-2026.1.json)


def test_detector_streams_do_not_block_and_events_sleep(fakes: Log, tmp_path: Path) -> None:
    with Detector.open(write_engine(tmp_path / "fake.engine"), workers=2) as det:
        det.detect_arrays(images(3))
    assert fakes.stream_flags == [cuda_streams.CU_STREAM_NON_BLOCKING] * 2  # one stream per slot
    assert fakes.event_flags == [BLOCKING_SYNC] * 8  # four timing events per slot


def test_spin_is_an_option(fakes: Log, tmp_path: Path) -> None:
    from grace_edge.artifact import unpack_engine

    fakes.allow_spin = True
    meta, blob = unpack_engine(write_engine(tmp_path / "fake.engine"))
    backend = TensorRTBackend(blob, meta, "fake.engine", sync="spin")
    slot = backend.create_slot()
    slot.input_buffer(1)[...] = images(1)[0][..., None]
    assert slot.run(1)[2]["compute"] > 0  # timing still works: events keep timing enabled
    slot.close()
    backend.close()
    assert fakes.event_flags == [0] * 4 and fakes.stream_flags == [cuda_streams.CU_STREAM_NON_BLOCKING]
    with pytest.raises(InputError, match="sync='busy'"):
        TensorRTBackend(blob, meta, "fake.engine", sync="busy")


def test_the_fake_fails_a_blocking_stream_and_a_spinning_event() -> None:
    """What the code did before: cuda.Stream() and cuda.Event() with their default flags 0."""
    log = Log()
    _, cuda = make_pycuda(log)
    cuda.Device(0).retain_primary_context().push()
    with pytest.raises(AssertionError, match="blocking stream"):
        cuda.Stream()
    with pytest.raises(AssertionError, match="spins a CPU core"):
        cuda.Event()
    cuda.Stream(1), cuda.Event(cuda.event_flags.BLOCKING_SYNC)
    timing_off = cuda.Event(cuda.event_flags.BLOCKING_SYNC | cuda.event_flags.DISABLE_TIMING)
    with pytest.raises(AssertionError, match="DISABLE_TIMING"):
        timing_off.time_since(timing_off)


def test_describe_says_what_runs() -> None:
    assert "CU_STREAM_NON_BLOCKING" in cuda_streams.describe() and "BLOCKING_SYNC" in cuda_streams.describe()
    assert "spin" in cuda_streams.describe("spin")


def test_detector_open_takes_sync_and_refuses_it_for_cpu_models(fakes: Log, tmp_path: Path) -> None:
    fakes.allow_spin = True
    with Detector.open(write_engine(tmp_path / "fake.engine"), sync="spin") as det:
        det.detect_arrays(images(1))
    assert fakes.event_flags == [0] * 4
    (tmp_path / "model.onnx").write_bytes(b"not read: the option is refused first")
    with pytest.raises(InputError, match="sync='spin' applies to TensorRT engines only"):
        Detector.open(tmp_path / "model.onnx", sync="spin")
