"""One matching pass gives the counts of greedy_counts at every confidence, and the good parts per class."""

from __future__ import annotations

import numpy as np
import pytest

from grace_edge.evaluate.coco import greedy_counts
from grace_edge.evaluate.groundtruth import read_split
from grace_edge.evaluate.matching import match_split
from tests.helpers import hand_case


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory):
    return read_split(hand_case.write_dataset(tmp_path_factory.mktemp("hand")), "val")


def test_counts_equal_greedy_counts_at_every_threshold(split) -> None:
    preds = hand_case.predictions()
    matches = match_split(split, preds)
    for t in (0.0, 0.25, 0.3, 0.375, 0.5, 0.7, 0.875, 0.9):
        np.testing.assert_array_equal([m.counts(t) for m in matches], greedy_counts(split, preds, t))


def test_hand_case_tables(split) -> None:
    a, b, c = match_split(split, hand_case.predictions())
    np.testing.assert_array_equal(a.scores, [0.875, 0.5, 0.375, 0.25])
    np.testing.assert_array_equal(a.tp, [True, False, True, False])
    np.testing.assert_array_equal(a.gt_score, [0.875, 0.375])  # 0.png's box, 1.png's box
    np.testing.assert_array_equal(a.good_max, [-np.inf, 0.5])  # good parts for a: 2.png (nothing), 3.png (0.5)
    np.testing.assert_array_equal(b.gt_score, [-np.inf])  # never matched
    assert len(b.good_max) == 3 and (b.good_max == -np.inf).all()  # 0.png has a b box: its 0.625 is no good part
    np.testing.assert_array_equal(c.good_max, [0.75, -np.inf, -np.inf])
