"""Issue 11 item 7: one line, never a traceback, for the bad inputs the issue lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grace_edge.cli import main
from grace_edge.errors import ArtifactError, InputError
from grace_edge.runtime import Detector
from tests.helpers.fake_graph import make_fake_onnx
from tests.security.helpers import deny_read


def _one_line_error(argv: list[str], capsys) -> str:
    rc = main(argv)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, (rc, err)
    return err


@pytest.fixture()
def onnx_path(tmp_path: Path) -> Path:
    return make_fake_onnx(tmp_path / "fake.onnx")


def _images(tmp_path: Path) -> Path:
    import cv2

    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((48, 64), np.uint8))
    return folder


def test_predict_out_pointing_at_a_file(onnx_path: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "results.txt"
    out.write_text("keep me")
    err = _one_line_error(["predict", str(onnx_path), str(_images(tmp_path)), "--out", str(out)], capsys)
    assert "--out" in err and str(out) in err and out.read_text() == "keep me"


@pytest.mark.parametrize("where", ["under-a-file", "a-folder"])
def test_bench_json_unwritable_is_refused_before_timing(onnx_path: Path, tmp_path: Path, where: str, capsys) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    json_path = blocker / "bench.json" if where == "under-a-file" else tmp_path
    err = _one_line_error(["bench", str(onnx_path), "--synthetic", "--iters", "100000", "--json", str(json_path)],
                          capsys)  # one line: nothing was timed (timing logs a line first)
    assert "--json" in err and str(json_path) in err


def test_artifact_without_read_permission(onnx_path: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    images = _images(tmp_path)
    deny_read(monkeypatch, onnx_path)
    with pytest.raises(ArtifactError, match="cannot read"):
        Detector.open(onnx_path)
    renamed = onnx_path.with_name("model.bin")  # no suffix to go by: the first bytes are read to tell
    onnx_path.rename(renamed)
    deny_read(monkeypatch, renamed)
    with pytest.raises(ArtifactError, match="cannot read"):
        Detector.open(renamed)
    renamed.rename(onnx_path)
    err = _one_line_error(["predict", str(onnx_path), str(images), "--out", str(tmp_path / "o")], capsys)
    assert str(onnx_path) in err and "cannot read" in err


def test_engine_without_read_permission(tmp_path: Path, monkeypatch) -> None:
    from grace_edge.artifact import unpack_engine

    engine = tmp_path / "x.engine"
    engine.write_bytes(b"GRACEENG....")
    deny_read(monkeypatch, engine)
    with pytest.raises(ArtifactError, match="cannot read"):
        unpack_engine(engine)


def test_images_folder_without_permission(tmp_path: Path, monkeypatch, capsys) -> None:
    src = tmp_path / "NEU-DET"
    for name in ("IMAGES", "ANNOTATIONS"):
        (src / name).mkdir(parents=True)
    (src / "ANNOTATIONS" / "crazing_1.xml").write_text("<annotation/>")
    deny_read(monkeypatch, src / "IMAGES")
    err = _one_line_error(["data", "neu-det", "--src", str(src), "--out", str(tmp_path / "out")], capsys)
    assert "IMAGES" in err and "Permission denied" in err


def test_predict_images_folder_without_permission(onnx_path: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    images = _images(tmp_path)
    deny_read(monkeypatch, images)
    err = _one_line_error(["predict", str(onnx_path), str(images), "--out", str(tmp_path / "o")], capsys)
    assert str(images) in err and "Permission denied" in err


def test_conf_true_is_refused(onnx_path: Path) -> None:
    with pytest.raises(InputError, match="not a bool"):
        Detector.open(onnx_path, conf=True)
    with Detector.open(onnx_path) as det:
        with pytest.raises(InputError, match="not a bool"):
            det.conf = True


def test_empty_nhwc_batch_is_the_same_as_an_empty_list(onnx_path: Path) -> None:
    with Detector.open(onnx_path) as det:
        with pytest.raises(InputError) as from_list:
            det.detect([])
        for empty in (np.zeros((0, 48, 64, 1), np.uint8), np.zeros((0, 48, 64, 3), np.uint8)):
            with pytest.raises(InputError) as from_array:
                det.detect(empty)
            assert str(from_array.value) == str(from_list.value)
            with pytest.raises(InputError):
                det.submit(empty)


@pytest.mark.parametrize("command", ["predict", "bench"])
def test_a_checkpoint_given_as_the_artifact_says_export_it_first(command: str, tmp_path: Path, capsys) -> None:
    # issue 22 item 4: a .pt said only "not a readable ONNX model (DecodeError)"
    import torch

    weights = tmp_path / "best.pt"
    torch.save({"model": None, "train_args": {}}, weights)
    argv = {"predict": ["predict", str(weights), str(_images(tmp_path)), "--out", str(tmp_path / "p")],
            "bench": ["bench", str(weights), "--synthetic", "--iters", "1", "--json", str(tmp_path / "b.json")]}
    err = _one_line_error(argv[command], capsys)
    assert str(weights) in err and f"run 'grace-edge export --weights {weights}' first" in err, err


def test_val_on_a_dataset_folder_gives_the_data_hint(onnx_path: Path, tmp_path: Path, capsys) -> None:
    # issue 22 item 4: val said "data YAML not found" without the hint train gives
    from grace_edge.data.yolo_yaml import MAKE_DATA_YAML

    folder = tmp_path / "neu-det"
    folder.mkdir()
    err = _one_line_error(["val", str(onnx_path), "--data", str(folder)], capsys)
    assert str(folder) in err and MAKE_DATA_YAML in err, err
    (folder / "data.yaml").write_text("names: [a]\n")
    err = _one_line_error(["val", str(onnx_path), "--data", str(folder)], capsys)
    assert f"pass {folder / 'data.yaml'}" in err, err
