"""Detector on the ONNX Runtime backend, run for real on the fake detector graph (see test_runtime_fake_graph)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from tests.helpers.fake_graph import MAX_DET, NAMES, ROWS, VALID, fake_rows, make_fake_onnx

from grace_edge.artifact import ArtifactMeta, pack_engine
from grace_edge.errors import ArtifactError, BackendUnavailable, GraceEdgeError, InputError
from grace_edge.runtime import Detection, Detector

RNG = np.random.default_rng(0)


def frames(n: int, hw=(48, 64), channels: int | None = None) -> list[np.ndarray]:
    shape = hw if channels is None else (*hw, channels)
    return [RNG.integers(0, 256, size=shape, dtype=np.uint8) for _ in range(n)]


@pytest.fixture(scope="module")
def raw_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fake_onnx(tmp_path_factory.mktemp("raw") / "raw.onnx")


@pytest.fixture()
def det(raw_onnx: Path):
    with Detector.open(raw_onnx, conf=0.25, workers=2) as d:
        yield d


def test_raw_input_results_slice_by_count_filter_by_conf_and_name_classes(det: Detector) -> None:
    images = frames(3)
    out = det.detect_arrays(images)
    assert det.backend == "onnxruntime" and det.names == NAMES and det.meta.max_det == MAX_DET
    for image, rows in zip(images, out):
        assert rows.dtype == np.float32 and rows.shape == (3, 6)  # 4 valid rows, one under conf; junk rows ignored
        np.testing.assert_allclose(rows, fake_rows(image, 0.25), atol=1e-4)
    first = det.detect(images[0])[0]
    assert [d.class_name for d in first] == ["crazing", "pitted_surface", "scratches"]
    assert isinstance(first[0], Detection) and first[0].score == pytest.approx(0.9)
    with pytest.raises(AttributeError):
        first[0].score = 1.0  # frozen


def test_host_conf_and_floor_warning(raw_onnx: Path) -> None:
    with Detector.open(raw_onnx, conf=0.05) as d:
        assert len(d.detect_arrays(frames(1))[0]) == VALID
        d.conf = 0.95
        assert len(d.detect_arrays(frames(1))[0]) == 0
        with pytest.raises(InputError, match="conf"):
            d.conf = 1.5
    path = make_fake_onnx(raw_onnx.parent / "floor.onnx", conf_thres=0.2)
    with pytest.warns(UserWarning, match="score floor"):
        Detector.open(path, conf=0.1).close()


@pytest.mark.parametrize("channels", [None, 1, 3])
def test_gray_artifact_takes_hw_hwx1_and_hwx3(raw_onnx: Path, channels: int | None) -> None:
    gray = frames(1)[0]
    image = gray if channels is None else np.repeat(gray[:, :, None], channels, axis=2)
    with Detector.open(raw_onnx) as d:
        np.testing.assert_allclose(d.detect_arrays(image)[0], fake_rows(gray, 0.25), atol=1e-4)


def test_color_artifact_gets_gray_repeated(tmp_path: Path) -> None:
    path = make_fake_onnx(tmp_path / "rgb.onnx", channels=3)
    gray = frames(1)[0]
    with Detector.open(path) as d:
        np.testing.assert_allclose(d.detect_arrays(gray)[0], fake_rows(gray, 0.25), atol=1e-4)


def test_nhwc_batch_array_and_large_batches_are_split(det: Detector) -> None:
    images = frames(19)
    out = det.detect_arrays(np.stack(images)[..., None])  # NHWC; max batch 8 -> chunks of 8, 8, 3
    assert det.max_batch == 8 and len(out) == 19
    for image, rows in zip(images, out):
        np.testing.assert_allclose(rows, fake_rows(image, 0.25), atol=1e-4)


def test_static_batch_graph_is_padded(tmp_path: Path) -> None:
    path = make_fake_onnx(tmp_path / "static.onnx", static_batch=4)
    images = frames(5)
    with Detector.open(path) as d:
        out = d.detect_arrays(images)  # 4 + 1 (padded with zero rows to 4)
    assert len(out) == 5
    for image, rows in zip(images, out):
        np.testing.assert_allclose(rows, fake_rows(image, 0.25), atol=1e-4)


def test_float_artifact_letterboxes_and_maps_boxes_back(tmp_path: Path) -> None:
    path = make_fake_onnx(tmp_path / "float.onnx", input_format="float32_nchw", channels=3, hw=(64, 64), shift=False)
    image = frames(1, hw=(100, 200), channels=3)[0]  # wide: scale 64/200, resized to 64x32, 16 rows padded on top
    with Detector.open(path) as d:
        rows = d.detect_arrays(image)[0]
    expected = ROWS[:VALID][ROWS[:VALID, 4] >= 0.25].copy()
    expected[:, [0, 2]] = expected[:, [0, 2]] / 0.32
    expected[:, [1, 3]] = ((expected[:, [1, 3]] - 16) / 0.32).clip(0, 100)
    np.testing.assert_allclose(rows, expected, atol=1e-3)
    assert rows[:, [1, 3]].max() == pytest.approx(100)  # the (20..70) box reaches past the image: clipped


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((48, 64), np.float32), "dtype is float32"),
        (np.full((48, 64), np.nan, np.float32), "NaN"),
        (np.zeros((48, 64), np.uint16), "dtype is uint16"),
        (np.zeros((48, 64, 4), np.uint8), "shape"),
        (np.zeros((48, 64, 2), np.uint8), "HxW"),
        (np.zeros((0, 64), np.uint8), "empty image"),
        (np.zeros((50, 64), np.uint8), "raw-input artifact takes exactly 64x48"),
        ([], "empty batch"),
        ("frame.png", "expected a numpy array"),
        ([np.zeros((48, 64), np.uint8), None], "image 1"),
    ],
)
def test_bad_input_is_a_clear_error_and_the_detector_keeps_working(det: Detector, bad, match: str) -> None:
    good = frames(1)
    for call in (det.detect, det.detect_arrays, det.submit, det.profile):
        with pytest.raises(InputError, match=match):
            call(bad)
        np.testing.assert_allclose(det.detect_arrays(good)[0], fake_rows(good[0], 0.25), atol=1e-4)


def test_low_level_run_above_max_batch_is_an_error(det: Detector) -> None:
    slot = det._backend.create_slot()
    with pytest.raises(InputError, match="outside this artifact's batch range 1..8"):
        slot.run(9)
    slot.close()


def test_submit_callbacks_and_many_in_flight(det: Detector) -> None:
    images = frames(12)
    done = threading.Event()
    seen: list[int] = []
    futures = []
    for i, image in enumerate(images):
        fut = det.submit(image)
        fut.add_done_callback(lambda f, i=i: (seen.append(i), len(seen) == len(images) and done.set()))
        futures.append(fut)
    assert done.wait(30)
    for image, fut in zip(images, futures):
        got = fut.result()[0]
        np.testing.assert_allclose([d.box for d in got], fake_rows(image, 0.25)[:, :4], atol=1e-4)


def test_submit_copies_the_callers_buffer(det: Detector) -> None:
    buffer = frames(1)[0]
    expected = fake_rows(buffer.copy(), 0.25)
    fut = det.submit(buffer)
    buffer[:] = 0  # the camera reuses its buffer at once
    np.testing.assert_allclose([d.box for d in fut.result()[0]], expected[:, :4], atol=1e-4)


def test_many_threads_give_the_same_results_as_one(raw_onnx: Path) -> None:
    images = frames(40)
    with Detector.open(raw_onnx, workers=3) as d:
        reference = [d.detect_arrays(im)[0] for im in images]
        results: dict[tuple[int, int], np.ndarray] = {}

        def worker(t: int) -> None:
            for i in range(t, len(images), 2):
                results[(t, i)] = d.detect_arrays(images[i])[0]

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(results) == sum(len(range(t, 40, 2)) for t in range(8))
    for (_, i), rows in results.items():
        np.testing.assert_array_equal(rows, reference[i])


def test_profile_reports_every_stage(det: Detector) -> None:
    images = frames(3)
    out, times = det.profile(images)
    assert list(times) == ["preprocess", "h2d", "compute", "d2h", "postprocess"]
    assert times["h2d"] == 0.0 and times["d2h"] == 0.0 and times["compute"] > 0 and times["preprocess"] > 0
    for image, rows in zip(images, out):
        np.testing.assert_allclose(rows, fake_rows(image, 0.25), atol=1e-4)


def test_close_frees_and_later_calls_fail_clearly(raw_onnx: Path) -> None:
    d = Detector.open(raw_onnx)
    fut = d.submit(frames(1))
    d.close()
    assert fut.done() and len(fut.result()) == 1  # queued work finishes before close returns
    d.close()  # twice is fine
    for call in (d.detect, d.detect_arrays, d.submit, d.profile):
        with pytest.raises(GraceEdgeError, match="closed"):
            call(frames(1))
    assert "closed" in repr(d)


def test_repeated_calls_do_not_grow_memory(tmp_path: Path) -> None:
    def rss_kb() -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

    path = make_fake_onnx(tmp_path / "small.onnx", hw=(16, 16))
    image = frames(1, hw=(16, 16))[0]
    with Detector.open(path) as d:
        for _ in range(500):  # warm-up: arenas, caches
            d.detect(image)
        before = rss_kb()
        for _ in range(10_000):
            d.detect(image)
        growth_kb = rss_kb() - before
    print(f"RSS growth over 10,000 calls: {growth_kb} kB")
    assert growth_kb < 3 * 1024, f"RSS grew by {growth_kb} kB over 10,000 calls"


def test_open_errors(tmp_path: Path, raw_onnx: Path) -> None:
    foreign = tmp_path / "foreign.onnx"
    foreign.write_bytes(b"\x00\x01 not an onnx model" * 10)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(raw_onnx.read_bytes()[:200])
    no_meta = make_fake_onnx(tmp_path / "nometa.onnx", metadata=False)
    renamed = make_fake_onnx(tmp_path / "renamed.onnx", input_name="input")
    cases = [
        (tmp_path / "missing.onnx", ArtifactError, "not found"),
        (foreign, ArtifactError, "foreign.onnx"),
        (truncated, ArtifactError, "truncated.onnx"),
        (no_meta, ArtifactError, "no grace-edge metadata"),
        (renamed, ArtifactError, "graph I/O"),
    ]
    for path, error, match in cases:
        with pytest.raises(error, match=match):
            Detector.open(path)
    with pytest.raises(InputError, match="device"):
        Detector.open(raw_onnx, device="cuda")
    with pytest.raises(InputError, match="workers"):
        Detector.open(raw_onnx, workers=0)
    with pytest.raises(InputError, match="cuda_graph"):
        Detector.open(raw_onnx, cuda_graph=True)


def test_engine_files_are_checked_before_tensorrt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meta = ArtifactMeta(names=NAMES, imgsz=(48, 64), input_format="uint8_nhwc", input_shape=(48, 64, 1))
    good = tmp_path / "good.engine"
    good.write_bytes(pack_engine(meta, b"serialized engine bytes"))
    foreign = tmp_path / "foreign.engine"
    foreign.write_bytes(b"some other vendor's engine")
    truncated = tmp_path / "cut.engine"
    truncated.write_bytes(good.read_bytes()[:-5])
    for path, match in ((foreign, "not a grace-edge engine"), (truncated, "truncated")):
        with pytest.raises(ArtifactError, match=match):
            Detector.open(path)
    with pytest.raises(InputError, match="only on a GPU"):
        Detector.open(good, device="cpu")
    import sys

    monkeypatch.setitem(sys.modules, "tensorrt", None)  # as on a machine without TensorRT
    with pytest.raises(BackendUnavailable, match="TensorRT is not installed"):
        Detector.open(good)


def test_graph_class_ids_beyond_the_names_are_an_artifact_error(tmp_path: Path) -> None:
    path = make_fake_onnx(tmp_path / "fewnames.onnx", names=["a", "b", "c"])  # the graph emits classes 3 and 5
    with Detector.open(path, conf=0.05) as d:
        with pytest.raises(ArtifactError, match=r"class ids \[0.0, 1.0, 3.0, 5.0\] but the artifact names 3 classes"):
            d.detect(frames(1))
        d.conf = 0.95  # nothing left to name: the slot was returned and the detector still runs
        assert d.detect(frames(2)) == [[], []]


# The fake graph's valid rows: crazing 0.90, pitted_surface 0.60, scratches 0.30, inclusion 0.10.
PER_CLASS = {"crazing": 0.95, "scratches": 0.2}  # default 0.05: pitted_surface and inclusion pass, crazing does not


def test_per_class_thresholds_from_an_object_and_from_the_file(raw_onnx: Path, tmp_path: Path) -> None:
    from grace_edge.thresholds import Thresholds, save_thresholds

    t = Thresholds(classes=PER_CLASS, default=0.05)
    path = save_thresholds(tmp_path / "thresholds.yaml", t)
    for given in (t, path, str(path)):
        with Detector.open(raw_onnx, thresholds=given) as d:
            found = d.detect(frames(1))[0]
            assert [x.class_name for x in found] == ["pitted_surface", "scratches", "inclusion"]
            assert d.conf == 0.05 and d.class_thresholds[[0, 5]].tolist() == pytest.approx([0.95, 0.2])
            d.conf = 0.5  # one threshold for all again
            assert [x.class_name for x in d.detect(frames(1))[0]] == ["crazing", "pitted_surface"]
            assert d.class_thresholds is None


def test_thresholds_errors(raw_onnx: Path, tmp_path: Path) -> None:
    from grace_edge.thresholds import Thresholds

    with pytest.raises(InputError, match="conf and thresholds both given"):
        Detector.open(raw_onnx, conf=0.3, thresholds=Thresholds())
    with pytest.raises(InputError, match="'scratch' is not one of the model's classes"):
        Detector.open(raw_onnx, thresholds=Thresholds(classes={"scratch": 0.3}))
    with pytest.raises(InputError, match="cannot be read"):
        Detector.open(raw_onnx, thresholds=tmp_path / "missing.yaml")
    path = make_fake_onnx(raw_onnx.parent / "floor2.onnx", conf_thres=0.2)
    with pytest.warns(UserWarning, match="thresholds: 0.05 is below the artifact's in-graph score floor"):
        Detector.open(path, thresholds=Thresholds(default=0.05)).close()
