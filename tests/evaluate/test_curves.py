"""PR and F1 curves on the hand case's class a (scores 0.875 TP, 0.5 FP, 0.375 TP, 0.25 FP; 2 boxes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grace_edge.evaluate.curves import f1_curve, plot_class, plot_f1, plot_pr, plot_pr_compare, pr_curve
from grace_edge.evaluate.groundtruth import read_split
from grace_edge.evaluate.matching import match_split
from grace_edge.evaluate.operating_points import operating_points
from tests.helpers import hand_case


@pytest.fixture(scope="module")
def matches(tmp_path_factory: pytest.TempPathFactory):
    split = read_split(hand_case.write_dataset(tmp_path_factory.mktemp("hand")), "val")
    return match_split(split, hand_case.predictions())


def test_pr_curve_by_hand(matches) -> None:
    recall, precision = pr_curve(matches[0])
    np.testing.assert_allclose(recall, [0.5, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(precision, [1.0, 2 / 3, 2 / 3, 0.5])  # raw 1, 1/2, 2/3, 1/2 made monotone


def test_f1_curve_by_hand(matches) -> None:
    grid = np.array([0.0, 0.25, 0.3, 0.375, 0.4, 0.5, 0.6, 0.875, 0.9])
    np.testing.assert_allclose(f1_curve(matches[0], grid), [2 / 3, 2 / 3, 0.8, 0.8, 0.5, 0.5, 2 / 3, 2 / 3, 0.0])
    np.testing.assert_allclose(f1_curve(matches[1], grid), 0.0)  # b: nothing found at any threshold


def test_plots_are_pngs(matches, tmp_path: Path) -> None:
    ap50 = {"a": 0.83, "b": 0.0, "c": 0.0}
    points = operating_points(matches, 0.95)
    paths = [plot_pr(matches, ap50, tmp_path / "pr.png", "t"), plot_f1(matches, tmp_path / "f1.png", "t"),
             plot_class(matches[0], points[0], 0.83, 0.95, tmp_path / "a.png"),
             plot_pr_compare([("A", matches, ap50), ("B", matches, ap50)], tmp_path / "cmp.png")]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
