"""``grace-edge predict`` and its sources/drawing, on the fake detector graph (see tests/helpers/fake_graph.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.helpers.fake_graph import VALID, fake_rows, make_fake_onnx
from tests.helpers.images import png_bomb

from grace_edge.cli import main
from grace_edge.runtime.draw import draw_detections
from grace_edge.runtime.sources import iter_frames
from grace_edge.runtime.types import Detection


@pytest.fixture(scope="module")
def model_200(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fake_onnx(tmp_path_factory.mktemp("m") / "fake200.onnx", hw=(200, 200))


def test_folder_with_a_corrupt_file_is_reported_counted_and_the_rest_saved(
    tmp_path: Path, model_200: Path, neu_det: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for name in ("crazing_1.jpg", "scratches_2.jpg"):
        shutil.copy(neu_det / "IMAGES" / name, src / name)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    cv2.imwrite(str(src / "small.png"), np.zeros((50, 60), np.uint8))  # wrong size for this raw-input model
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    code = main(["predict", str(model_200), str(src), "--out", str(out), "--save-json", "--conf", "0.05"])
    captured = capsys.readouterr()
    assert code == 1  # something could not be used
    assert "broken.jpg: SKIPPED, not a decodable image" in captured.err
    assert "small.png: SKIPPED" in captured.err and "200x200" in captured.err
    assert "ignoring 1 non-image file(s)" in captured.err and "notes.txt" in captured.err
    assert "predict: 2 image(s), 8 detection(s), 2 unreadable" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["crazing_1.jpg", "crazing_1.json", "scratches_2.jpg", "scratches_2.json"]
    record = json.loads((out / "crazing_1.json").read_text())
    image = cv2.imread(str(src / "crazing_1.jpg"), cv2.IMREAD_GRAYSCALE)
    expected = fake_rows(image[:, :, None], 0.05)
    assert record["width"] == 200 and len(record["detections"]) == VALID == len(expected)
    assert record["detections"][0]["class_name"] == "crazing"
    np.testing.assert_allclose([d["x1"] for d in record["detections"]], expected[:, 0], atol=1e-3)
    assert cv2.imread(str(out / "crazing_1.jpg")).shape == (600, 600, 3)  # drawn 3x: readable labels


def test_an_image_bomb_is_one_skipped_line_and_the_good_images_are_written(
    tmp_path: Path, model_200: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 22 item 2: a PNG named .jpg declaring 40000x30000 ended the run with a cv2.error traceback
    src = tmp_path / "in"
    src.mkdir()
    (src / "a_bomb.jpg").write_bytes(png_bomb(40000, 30000))  # sorted first: the good image comes after it
    cv2.imwrite(str(src / "b_good.png"), np.full((200, 200), 90, np.uint8))
    out = tmp_path / "out"
    assert main(["predict", str(model_200), str(src), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "a_bomb.jpg: SKIPPED, its header declares 40000x30000 pixels" in err
    assert sorted(p.name for p in out.iterdir()) == ["b_good.jpg"]


def test_video_source_with_frame_limit_and_no_draw(tmp_path: Path, model_200: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    video = tmp_path / "line.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (200, 200))
    for i in range(4):
        writer.write(np.full((200, 200, 3), 40 * i, np.uint8))
    writer.release()
    assert [f.name for f in iter_frames(str(video))] == [f"line_{i:06d}" for i in range(4)]
    out = tmp_path / "out"
    code = main(["predict", str(model_200), str(video), "--out", str(out), "--no-draw", "--save-json",
                 "--max-frames", "2"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["line_000000.json", "line_000001.json"]
    assert "predict: 2 image(s)" in capsys.readouterr().out


def test_missing_source_and_model_are_one_line_errors(tmp_path: Path, model_200: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(model_200), str(tmp_path / "nope.jpg")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((200, 200), np.uint8))
    assert main(["predict", str(tmp_path / "missing.onnx"), str(tmp_path / "a.png")]) == 2
    assert "model file not found" in capsys.readouterr().err


def test_draw_handles_gray_and_boxes_at_the_edge() -> None:
    gray = np.zeros((100, 120), np.uint8)
    dets = [Detection(0, 0, 50, 40, 0.9, 0, "crazing"), Detection(60, 50, 119, 99, 0.5, 7, "other")]
    canvas = draw_detections(gray, dets)
    assert canvas.shape == (100, 120, 3) and canvas.any() and not gray.any()  # a copy, drawn on


def test_draw_enlarges_small_images_by_a_whole_factor_and_keeps_labels_inside() -> None:
    gray = np.full((200, 200), 128, np.uint8)
    det = Detection(150, 0, 199, 60, 0.41, 4, "rolled-in_scale")  # label wider than the space right of x1
    canvas = draw_detections(gray, [det], min_side=600)
    assert canvas.shape == (600, 600, 3)
    assert (canvas[300:, :450] == 128).all()  # nothing drawn away from the box: it scaled 3x with the image
    assert (canvas[:, 599] != 128).any()  # the label band reaches the right edge instead of being cut off
    assert draw_detections(gray, [det]).shape == (200, 200, 3)  # min_side 0: the image's own size


def test_default_output_keeps_each_run(tmp_path: Path, model_200: Path, neu_det: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    image = str(neu_det / "IMAGES" / "crazing_1.jpg")
    for _ in range(2):
        assert main(["predict", str(model_200), image]) == 0
    out = capsys.readouterr().out
    runs = tmp_path / "runs" / "predict"
    assert sorted(p.name for p in runs.iterdir()) == ["fake200", "fake200-2"]
    assert f"results in {Path('runs/predict/fake200-2')}" in out
    assert (runs / "fake200" / "crazing_1.jpg").is_file() and (runs / "fake200-2" / "crazing_1.jpg").is_file()


def test_draw_leaves_out_a_label_that_would_cover_a_better_one() -> None:
    gray = np.full((200, 200), 128, np.uint8)
    best, dup = Detection(20, 60, 120, 150, 0.9, 0, "crazing"), Detection(22, 62, 118, 148, 0.3, 1, "inclusion")
    alone = draw_detections(gray, [best], min_side=600)
    both = draw_detections(gray, [dup, best], min_side=600)
    label_band = (slice(60 * 3 - 40, 60 * 3), slice(60, 400))  # above the best box's top-left corner
    assert (both[label_band] == alone[label_band]).all()  # only the 0.90 label there, not the 0.30 one over it
    assert (both != alone).any()  # the duplicate's box is still drawn


def test_predict_reads_the_thresholds_file_val_writes(tmp_path: Path, model_200: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from grace_edge.thresholds import Thresholds, save_thresholds

    image = tmp_path / "part.png"
    cv2.imwrite(str(image), np.full((200, 200), 100, np.uint8))
    # fake rows: crazing 0.90, pitted_surface 0.60, scratches 0.30, inclusion 0.10
    path = save_thresholds(tmp_path / "thresholds.yaml", Thresholds({"crazing": 0.95, "scratches": 0.2}, 0.05))
    out = tmp_path / "out"
    assert main(["predict", str(model_200), str(image), "--thresholds", str(path), "--out", str(out),
                 "--save-json", "--no-draw"]) == 0
    record = json.loads((out / "part.json").read_text())
    assert [d["class_name"] for d in record["detections"]] == ["pitted_surface", "scratches", "inclusion"]
    assert record["thresholds"] == str(path) and record["conf"] == 0.05
    capsys.readouterr()
    assert main(["predict", str(model_200), str(image), "--thresholds", str(path), "--conf", "0.3"]) == 2
    err = capsys.readouterr().err
    assert "conf and thresholds both given" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
