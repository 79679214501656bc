"""Verdict rules: per-class thresholds, minimum defect area, ROI mask; an uninspected verdict always has a reason."""

from __future__ import annotations

import numpy as np
import pytest

from grace_edge.errors import InputError
from grace_edge.line.verdict import OK, REJECT, UNINSPECTED, Verdict, VerdictRules, load_roi, uninspected
from grace_edge.runtime.types import Detection
from grace_edge.thresholds import Thresholds

NAMES = ["crazing", "scratches"]


def det(score: float, cls: int = 0, box: tuple[float, float, float, float] = (10, 10, 20, 20)) -> Detection:
    return Detection(*box, score, cls, NAMES[cls])


def test_per_class_thresholds() -> None:
    rules = VerdictRules(Thresholds({"scratches": 0.8}, default=0.5))
    assert rules.judge([det(0.6, 0)], (100, 100)).verdict == REJECT
    assert rules.judge([det(0.7, 1)], (100, 100)).verdict == OK
    v = rules.judge([det(0.9, 1), det(0.4, 0)], (100, 100))
    assert v.verdict == REJECT and [d.class_name for d in v.defects] == ["scratches"]
    assert rules.floor(NAMES) == 0.5


def test_thresholds_naming_a_class_the_model_lacks_are_refused() -> None:
    with pytest.raises(InputError, match="'cracks' is not one of the model's classes"):
        VerdictRules(Thresholds({"cracks": 0.3})).floor(NAMES)


def test_minimum_area_in_pixels() -> None:
    rules = VerdictRules(Thresholds(default=0.5), min_area_px=100)
    assert rules.judge([det(0.9, box=(0, 0, 9, 10))], (50, 50)).verdict == OK  # 90 px
    assert rules.judge([det(0.9, box=(0, 0, 10, 10))], (50, 50)).verdict == REJECT  # 100 px


def test_roi_mask_by_box_centre_and_a_size_mismatch_is_uninspected(tmp_path) -> None:
    import cv2

    mask = np.zeros((50, 50), np.uint8)
    mask[:, 25:] = 1
    cv2.imwrite(str(tmp_path / "m.png"), mask * 255)
    rules = VerdictRules(Thresholds(default=0.5), roi=load_roi(str(tmp_path / "m.png")))
    assert rules.judge([det(0.9, box=(0, 0, 20, 20))], (50, 50)).verdict == OK
    assert rules.judge([det(0.9, box=(20, 0, 40, 20))], (50, 50)).verdict == REJECT
    wrong = rules.judge([], (60, 50))
    assert wrong.verdict == UNINSPECTED and "ROI mask is 50x50" in wrong.detail


def test_an_empty_roi_mask_is_refused(tmp_path) -> None:
    import cv2

    cv2.imwrite(str(tmp_path / "black.png"), np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match="every pixel is 0"):
        load_roi(str(tmp_path / "black.png"))


def test_uninspected_needs_a_reason_and_only_it_has_one() -> None:
    assert uninspected("dropped").reason == "dropped"
    with pytest.raises(ValueError):
        Verdict(UNINSPECTED)
    with pytest.raises(ValueError):
        Verdict(OK, reason="dropped")
