"""The INT8 calibration set: stratified by class (a rare class is not crowded out), the same on every run, and
checked on the graph's input before any quantizer runs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from grace_edge.artifact import OnnxModel
from grace_edge.data.calibration import _shares, calibration_images, calibration_set, checked_set
from grace_edge.errors import InputError
from tests.helpers.models import gray_image, untrained_onnx

NAMES = ["common", "rare"]


def _dataset(root: Path, counts: dict[str, int], size: tuple[int, int] = (200, 200)) -> Path:
    """A YOLO dataset whose train images are named so that a pick spread over sorted names misses ``rare``."""
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    i = 0
    for cls, n in counts.items():
        for _ in range(n):
            stem = f"img_{i:03d}"
            cv2.imwrite(str(root / "images" / "train" / f"{stem}.png"), gray_image(i, size))
            if cls != "background":
                line = f"{NAMES.index(cls)} 0.5 0.5 0.2 0.2\n"
                (root / "labels" / "train" / f"{stem}.txt").write_text(line * (1 + i % 2))
            i += 1
    yaml = root / "data.yaml"
    yaml.write_text(f"path: {root}\ntrain: images/train\nval: images/train\nnames:\n  0: common\n  1: rare\n")
    return yaml


def test_shares_take_turns_and_never_exceed_a_group() -> None:
    assert _shares(6, {"a": 10, "b": 1, "c": 10}) == {"a": 3, "b": 1, "c": 2}
    assert _shares(100, {"a": 2, "b": 3}) == {"a": 2, "b": 3}  # fewer images than asked: all of them
    assert sum(_shares(7, {"a": 4, "b": 4, "c": 4}).values()) == 7


def test_a_rare_class_gets_its_turn(tmp_path: Path) -> None:
    # 20 "common" images, then 1 "rare" one (img_020), then 3 background: spreading 4 picks over the sorted names
    # (the old rule) takes img_000, img_008, img_015, img_023 and never the rare image
    yaml = _dataset(tmp_path, {"common": 20, "rare": 1, "background": 3})
    picked = calibration_images(yaml, 4)
    assert tmp_path / "images" / "train" / "img_020.png" in picked
    assert picked == sorted(picked) == calibration_images(yaml, 4)  # the same choice on every run


def test_the_set_reports_its_class_mix_and_is_checked_on_the_graph(tmp_path: Path) -> None:
    yaml = _dataset(tmp_path / "ds", {"common": 5, "rare": 2, "background": 2})
    fp32 = OnnxModel.read(untrained_onnx(tmp_path))
    calib = calibration_set(yaml, 5, fp32.proto, fp32.meta)
    assert calib.per_class == {"common": 2, "rare": 2, "(background)": 1}
    assert calib.describe() == "common 2, rare 2, (background) 1"
    batch = calib.reader().get_next()[calib.input_name]
    assert batch.shape == (calib.batch, *fp32.meta.input_shape) and batch.dtype == np.dtype(fp32.meta.input.dtype)


def test_images_that_do_not_fit_the_graph_fail_before_any_quantizer(tmp_path: Path) -> None:
    # the FP32 graph takes raw 200x200 frames; 120x90 ones are refused when the set is made, naming the image
    yaml = _dataset(tmp_path / "ds", {"common": 3}, size=(90, 120))
    fp32 = OnnxModel.read(untrained_onnx(tmp_path))
    with pytest.raises(InputError, match=r"calibration images \['img_000.png'\]: .*120x90"):
        calibration_set(yaml, 3, fp32.proto, fp32.meta)
    with pytest.raises(InputError, match="none were given"):
        checked_set([], fp32.proto, fp32.meta)


def test_a_broken_train_label_is_one_line_naming_it(tmp_path: Path) -> None:
    yaml = _dataset(tmp_path, {"common": 3})
    (tmp_path / "labels" / "train" / "img_001.txt").write_text("0 0.5 0.5\n")
    with pytest.raises(InputError, match=r"img_001.txt:1: expected 5 values"):
        calibration_images(yaml, 2)
