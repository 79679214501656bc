"""``grace-edge val``, and ``evaluate`` end to end on a .pt (Ultralytics predictor) and an exported .onnx (Detector)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from grace_edge import cli
from grace_edge.artifact import ArtifactMeta
from grace_edge.errors import InputError
from grace_edge.evaluate import evaluate
from grace_edge.evaluate.groundtruth import read_split


@pytest.fixture
def val_cli(monkeypatch: pytest.MonkeyPatch):
    """The real ``grace-edge`` main() with only the ``val`` stage registered, so other stages cannot break it."""
    monkeypatch.setattr(cli, "STAGE_CLI_MODULES", ("grace_edge.evaluate.cli",))
    return cli.main


@pytest.fixture(scope="module")
def untrained_pt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained grace-n saved as an Ultralytics checkpoint (enough to exercise the whole path)."""
    import torch

    from grace_edge.model.build import build_model

    path = tmp_path_factory.mktemp("weights") / "grace-n.pt"
    torch.save({"model": build_model("grace-n").half(), "train_args": {"imgsz": 64}}, path)
    return path


def test_help_explains_every_option(val_cli, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        val_cli(["val", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("ARTIFACT", "--data", "--split", "--imgsz", "--batch", "--device", "--conf", "--f1-conf",
                   "--max-images", "--json"):
        assert option in out
    assert "mAP50-95" in out and ".onnx" in out


@pytest.mark.parametrize(
    ("weights", "message"),
    [("missing.pt", "missing.pt: weights file not found"), ("model.tflite", "unknown weights type '.tflite'")],
)
def test_bad_weights_exit_2_with_one_line(val_cli, tmp_path: Path, capsys, weights: str, message: str) -> None:
    code = val_cli(["val", str(tmp_path / weights), "--data", str(tmp_path / "d.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err and err.startswith("grace-edge val: error:")


def test_missing_data_yaml_exit_2(val_cli, tmp_path: Path, capsys) -> None:
    weights = tmp_path / "w.onnx"
    weights.write_bytes(b"")
    assert val_cli(["val", str(weights), "--data", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: data YAML not found" in capsys.readouterr().err


def test_bad_options_are_input_errors(tmp_path: Path) -> None:
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"")
    with pytest.raises(InputError, match="batch >= 1"):
        evaluate(weights, tmp_path / "d.yaml", batch=0)
    with pytest.raises(InputError, match="conf=1.5"):
        evaluate(weights, tmp_path / "d.yaml", conf=1.5)


class FakeDetector:
    """Stand-in for grace_edge.runtime.Detector, to test our logic around its API (not proof the runtime works).

    Each image gets one box covering its left half, class 0, score 0.9; calls are recorded."""

    calls: list[int] = []
    opened_with: dict = {}
    NAMES = ["crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches_renamed"]

    def __init__(self, meta: ArtifactMeta) -> None:
        self.meta, self.names, self.backend = meta, list(meta.names), "fake"

    @classmethod
    def open(cls, path, conf=0.25, **kwargs):
        cls.opened_with = {"path": Path(path), "conf": conf, **kwargs}
        return cls(ArtifactMeta(names=cls.NAMES, imgsz=(64, 64), input_format="uint8_nhwc",
                                input_shape=(200, 200, 1), conf_thres=0.01))

    def detect_arrays(self, images):
        FakeDetector.calls.append(len(images))
        return [np.array([[0, 0, im.shape[1] / 2, im.shape[0], 0.9, 0]], np.float32) for im in images]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


@pytest.mark.data
def test_artifact_path_with_a_fake_detector(tiny_dataset: Path, tmp_path: Path, monkeypatch) -> None:
    import grace_edge.runtime

    monkeypatch.setattr(grace_edge.runtime, "Detector", FakeDetector)
    FakeDetector.calls = []
    weights = tmp_path / "fake.onnx"
    weights.write_bytes(b"")
    result = evaluate(weights, tiny_dataset, batch=4, max_images=6, conf=0.001)
    from grace_edge.runtime.options import RuntimeOptions

    assert FakeDetector.opened_with == {"path": weights, "conf": 0.001, "options": RuntimeOptions()}
    assert FakeDetector.calls == [4, 2]
    assert result.images == 6 and sum(result.tp.values()) + sum(result.fp.values()) == 6
    assert result.settings["backend"] == "fake"
    assert result.settings["warnings"] == [
        "class names differ: model ['crazing', 'inclusion', 'patches', 'pitted_surface', 'rolled-in_scale', "
        "'scratches_renamed'], dataset ['crazing', 'inclusion', 'patches', 'pitted_surface', 'rolled-in_scale', "
        "'scratches']; compared by index",
        "conf 0.001 is below the artifact's in-graph score floor 0.01: mAP misses the detections under it",
    ]


@pytest.mark.data
def test_model_with_other_class_count_is_an_input_error(tiny_dataset: Path, tmp_path: Path, monkeypatch) -> None:
    import grace_edge.runtime

    monkeypatch.setattr(grace_edge.runtime, "Detector", FakeDetector)
    monkeypatch.setattr(FakeDetector, "NAMES", ["defect", "scratch"])
    weights = tmp_path / "fake.onnx"
    weights.write_bytes(b"")
    with pytest.raises(InputError, match=r"fake\.onnx: the model has 2 classes .* the dataset has 6"):
        evaluate(weights, tiny_dataset, max_images=2)


@pytest.mark.slow
@pytest.mark.data
def test_val_end_to_end_on_pt(val_cli, untrained_pt: Path, tiny_dataset: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "metrics" / "val.json"
    run = tmp_path / "run"
    code = val_cli(["val", str(untrained_pt), "--data", str(tiny_dataset),  # --imgsz: the checkpoint's 64
                    "--batch", "4", "--max-images", "6", "--f1-conf", "0", "--json", str(out), "--out", str(run)])
    printed = capsys.readouterr().out
    assert code == 0 and f"metrics written to {out}" in printed
    assert "COCO protocol (ours):" in printed and "Ultralytics protocol (what model.val() prints" in printed
    assert f"{untrained_pt} (ultralytics, 64 px) on split 'val'" in printed and "AP50-95" in printed and "crazing" in printed
    saved = json.loads(out.read_text())
    assert saved["images"] == 6 and saved["settings"]["backend"] == "ultralytics" and saved["settings"]["imgsz"] == 64
    assert sum(saved["instances"].values()) == read_split(tiny_dataset, "val", max_images=6).num_instances
    assert sum(saved["tp"].values()) + sum(saved["fp"].values()) > 0  # the model's detections reached the metrics
    for key in ("map50_95", "map50", "precision", "recall", "f1"):
        assert 0.0 <= saved[key] <= 1.0
    ul = saved["ultralytics"]
    assert ul["protocol"] == "ultralytics" and ul["images"] == 6 and ul["settings"]["imgsz"] == 64
    assert all(0.0 <= ul[k] <= 1.0 for k in ("map50_95", "map50", "precision", "recall"))
    assert list(tmp_path.joinpath("metrics").iterdir()) == [out]  # atomic write left no temp file
    assert json.loads((run / "metrics.json").read_text()) == saved  # the run folder holds the same metrics
    for name in ("report.html", "thresholds.yaml", "confusion_matrix.png", "gallery_crazing.png"):
        assert (run / name).is_file()  # the report of a .pt (its COCO predictions), see tests/evaluate/test_report.py


@pytest.mark.slow
@pytest.mark.data
def test_pt_boxes_come_back_in_original_pixels(untrained_pt: Path, tiny_dataset: Path) -> None:
    from grace_edge.evaluate.predict import predict_pt

    split = read_split(tiny_dataset, "val", max_images=3)
    preds, info = predict_pt(untrained_pt, split, imgsz=64, batch=2, device="cpu", conf=0.001, iou=0.7, max_det=50)
    boxes = np.concatenate([p[:, :4] for p in preds.values()])
    assert set(preds) == {im.name for im in split.images} and len(boxes) > 0
    assert boxes.min() >= 0 and boxes.max() <= 200 and boxes.max() > 64  # 200x200 image pixels, not the 64 input
    assert all(len(p) <= 50 for p in preds.values())


@pytest.mark.slow
@pytest.mark.data
def test_evaluate_exported_onnx_through_the_runtime(untrained_pt: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    pytest.importorskip("grace_edge.export.onnx_export")
    from grace_edge.export import export_onnx

    onnx_path = export_onnx(untrained_pt, tmp_path / "g.onnx", imgsz=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate(onnx_path, tiny_dataset, batch=4, max_images=5, f1_conf=0.0)
    assert result.images == 5 and result.settings["backend"] == "onnxruntime"
    assert result.settings["imgsz"] == [64, 64] and sum(result.tp.values()) + sum(result.fp.values()) > 0
