"""Which failures the gallery shows, in which order, on the hand case (tests/helpers/hand_case.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grace_edge.evaluate.gallery import false_alarms, missed, plot_gallery
from grace_edge.evaluate.groundtruth import read_split
from grace_edge.evaluate.matching import match_split
from tests.helpers import hand_case


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory):
    split = read_split(hand_case.write_dataset(tmp_path_factory.mktemp("hand")), "val")
    preds = hand_case.predictions()
    return split, preds, match_split(split, preds)


def names(split, failures) -> list[tuple[str, float]]:
    return [(split.images[f.image].name, f.score) for f in failures]


def test_missed_defects(case) -> None:
    split, preds, (a, b, c) = case
    assert names(split, missed(a, split, preds, 0.375)) == []
    # at 0.5, 1.png's box is missed; its best overlapping a-score is 0.375
    assert names(split, missed(a, split, preds, 0.5)) == [("1.png", 0.375)]
    # at 0.9 both are missed: 1.png (best 0.375) comes before 0.png (best 0.875), the blinder miss first
    assert names(split, missed(a, split, preds, 0.9)) == [("1.png", 0.375), ("0.png", 0.875)]
    assert names(split, missed(b, split, preds, 0.625)) == [("0.png", 0.0)]  # only a c detection lies on it
    assert missed(c, split, preds, 0.75)[0].box == (20.0, 20.0, 80.0, 80.0)


def test_false_alarms_worst_first(case) -> None:
    split, preds, (a, b, c) = case
    assert names(split, false_alarms(a, split, preds, 0.2)) == [("3.png", 0.5), ("1.png", 0.25)]
    assert names(split, false_alarms(a, split, preds, 0.3)) == [("3.png", 0.5)]
    assert names(split, false_alarms(a, split, preds, 0.2, k=1)) == [("3.png", 0.5)]
    assert names(split, false_alarms(c, split, preds, 0.75)) == [("0.png", 0.75)]


def test_drawn(case, tmp_path: Path) -> None:
    split, preds, (a, *_) = case
    rows = (missed(a, split, preds, 0.9), false_alarms(a, split, preds, 0.9))
    path = plot_gallery("a", rows, split, preds, np.full(3, 0.9, np.float32), 0.9, tmp_path / "g.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
