"""The confusion matrix on the hand case (every cell computed by hand in tests/helpers/hand_case.py) and its sums."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grace_edge.evaluate.coco import greedy_counts
from grace_edge.evaluate.confusion import confusion_matrix, normalise, plot_confusion
from grace_edge.evaluate.groundtruth import read_split
from tests.helpers import hand_case


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory):
    return read_split(hand_case.write_dataset(tmp_path_factory.mktemp("hand")), "val")


def test_every_cell_by_hand(split) -> None:
    #                          a  b  c  background  (predicted)
    expected_03 = np.array([[2, 0, 0, 0],   # a: 0.png found, 1.png found at 0.375
                            [0, 0, 1, 0],   # b: found but named c
                            [0, 0, 0, 1],   # c: missed on 2.png
                            [1, 1, 0, 0]])  # background: a 0.5 on the good part 3.png, b 0.625 over nothing
    np.testing.assert_array_equal(confusion_matrix(split, hand_case.predictions(), conf=0.3), expected_03)
    expected_02 = expected_03.copy()
    expected_02[3, 0] += 1  # the 0.25 duplicate on 1.png joins as a false alarm
    np.testing.assert_array_equal(confusion_matrix(split, hand_case.predictions(), conf=0.2), expected_02)
    expected_08 = np.array([[1, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]])  # only a 0.875 left
    np.testing.assert_array_equal(confusion_matrix(split, hand_case.predictions(), conf=0.8), expected_08)


def test_a_wrong_class_needs_iou_half(split) -> None:
    preds = hand_case.predictions()
    preds["0.png"][1, :4] = [50, 50, 90, 65]  # the c box now covers 15/40 of the b box: IoU 0.375
    m = confusion_matrix(split, preds, conf=0.3)
    assert m[1, 2] == 0 and m[1, 3] == 1 and m[3, 2] == 1  # b missed, c a false alarm


def test_sums_and_diagonal_agree_with_precision_recall(split) -> None:
    rng = np.random.default_rng(1)
    preds = {}
    for im in split.images:  # noisy copies of the truth plus clutter, random classes
        boxes = np.concatenate([im.boxes + rng.normal(0, 6, im.boxes.shape), rng.uniform(0, 60, (5, 2)).repeat(2, 1)
                                + [0, 0, 30, 30]])
        preds[im.name] = np.column_stack([boxes, rng.uniform(0, 1, len(boxes)), rng.integers(0, 3, len(boxes))])
    for conf in (0.0, 0.3, 0.7):
        m = confusion_matrix(split, preds, conf)
        counts = greedy_counts(split, preds, conf)
        np.testing.assert_array_equal(np.diag(m)[:3], counts[:, 0])  # diagonal = TP at --f1-conf
        kept = np.concatenate([p[p[:, 4] >= conf, 5] for p in preds.values()]).astype(int)
        np.testing.assert_array_equal(m[:, :3].sum(axis=0), np.bincount(kept, minlength=3))
        np.testing.assert_array_equal(m[:3].sum(axis=1), counts[:, 0] + counts[:, 2])  # = boxes per class
        assert m[3, 3] == 0


def test_normalise_rows() -> None:
    m = np.array([[2, 0, 2], [0, 0, 0], [1, 3, 0]])
    np.testing.assert_allclose(normalise(m), [[0.5, 0, 0.5], [0, 0, 0], [0.25, 0.75, 0]])


def test_plot_is_a_png(split, tmp_path: Path) -> None:
    m = confusion_matrix(split, hand_case.predictions(), conf=0.3)
    for normalised in (False, True):
        path = plot_confusion(m, split.names, tmp_path / f"{normalised}.png", normalised=normalised, conf=0.3)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
