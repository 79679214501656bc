"""Operating points on the hand case (tests/helpers/hand_case.py) and on hand-made score lists."""

from __future__ import annotations

import numpy as np
import pytest

from grace_edge.errors import InputError
from grace_edge.evaluate.groundtruth import read_split
from grace_edge.evaluate.matching import ClassMatches, match_split
from grace_edge.evaluate.operating_points import (
    best_f1, for_recall, operating_points, point_at, round_down, to_thresholds,
)
from grace_edge.thresholds import load_thresholds, save_thresholds
from tests.helpers import hand_case


@pytest.fixture(scope="module")
def matches(tmp_path_factory: pytest.TempPathFactory) -> list[ClassMatches]:
    split = read_split(hand_case.write_dataset(tmp_path_factory.mktemp("hand")), "val")
    return match_split(split, hand_case.predictions())


def scored(scores: list[float], tp: list[bool], num_gt: int, good_max: list[float] = ()) -> ClassMatches:
    n = len(scores)
    gt_score = np.full(num_gt, -np.inf)
    gt_score[: sum(tp)] = [s for s, t in zip(scores, tp) if t]
    return ClassMatches("x", np.asarray(scores, float), np.asarray(tp, bool), np.zeros(n, int), np.arange(n),
                        np.zeros(num_gt, int), np.arange(num_gt), gt_score, np.asarray(good_max, float))


def test_class_a_by_hand(matches) -> None:
    a = matches[0]
    # a: 0.875 TP, 0.5 FP (good part 3.png), 0.375 TP, 0.25 FP (duplicate); 2 boxes; good parts 2.png, 3.png.
    # F1 at 0.875: 2/3, at 0.5: 1/2, at 0.375: 4/5, at 0.25: 2/3.
    f = best_f1(a)
    assert (f.conf, f.tp, f.fp, f.fn, f.f1) == (0.375, 2, 1, 0, pytest.approx(0.8))
    assert (f.false_rejects, f.good_parts, f.false_rejects_per_100) == (1, 2, 50.0)
    r = for_recall(a, 0.95)
    assert (r.conf, r.recall, r.reached) == (0.375, 1.0, True)
    half = for_recall(a, 0.5)  # the highest threshold finding half: 0.875, where 3.png's 0.5 no longer fires
    assert (half.conf, half.recall, half.false_rejects_per_100) == (0.875, 0.5, 0.0)


def test_targets_out_of_reach_say_so(matches) -> None:
    b, c = matches[1], matches[2]
    # b: its only detection (0.625) hits nothing; good parts 1, 2, 3.png, none fired on.
    rb = for_recall(b, 0.95)
    assert (rb.conf, rb.recall, rb.reached, rb.false_rejects, rb.good_parts) == (0.625, 0.0, False, 0, 3)
    # c: its 0.75 lies on 0.png's b box, which is a good part for c: 1 of 3 good parts rejected.
    rc = for_recall(c, 0.95)
    assert (rc.conf, rc.reached, rc.false_rejects, rc.good_parts) == (0.75, False, 1, 3)
    assert rc.false_rejects_per_100 == pytest.approx(100 / 3)


def test_equal_f1_picks_the_higher_threshold() -> None:
    m = scored([0.9, 0.5, 0.4, 0.3], [True, False, False, True], num_gt=2)  # F1 2/3 at 0.9 and at 0.3
    assert best_f1(m).conf == 0.9


def test_tied_scores_are_one_threshold() -> None:
    m = scored([0.8, 0.6, 0.6, 0.2], [True, True, False, True], num_gt=3)
    p = for_recall(m, 0.6)  # 2 of 3 boxes: 0.6 keeps both tied detections, one of them FP
    assert (p.conf, p.tp, p.fp) == (0.6, 2, 1)


def test_recall_target_tolerates_float_products() -> None:
    m = scored([1 - i / 1000 for i in range(100)], [True] * 100, num_gt=100)
    assert 0.07 * 100 > 7  # 7.000000000000001
    assert for_recall(m, 0.07).tp == 7  # not 8


def test_no_box_or_no_detection_gives_no_point() -> None:
    assert best_f1(scored([0.5], [False], num_gt=0)) is None and for_recall(scored([], [], num_gt=3), 0.9) is None


def test_round_down_never_rises_and_loses_under_1e4() -> None:
    values = np.random.default_rng(0).uniform(0, 1, 20000).astype(np.float32).astype(float)
    for v in [*values, 0.3, 0.7, 1.0, 0.0]:
        r = round_down(v)
        assert r <= v and v - r < 1e-4 + 1e-12 and r == round(r, 4)
        assert np.float32(v) >= np.float32(r)  # the Detector's float32 comparison keeps what ours kept


def test_points_are_counted_at_the_rounded_threshold() -> None:
    m = scored([0.70004, 0.70002], [True, False], num_gt=1)
    p = point_at(m, 0.70004)
    assert (p.conf, p.tp, p.fp) == (0.7, 1, 1)  # 0.7000 keeps the 0.70002 false alarm too: what the line will see


def test_thresholds_file_round_trip(matches, tmp_path) -> None:
    points = operating_points(matches, 0.95)
    t = to_thresholds(points, 0.95, default=0.25, source={"artifact": "m.onnx"})
    back = load_thresholds(save_thresholds(tmp_path / "thresholds.yaml", t))
    assert dict(back.classes) == {"a": 0.375, "b": 0.625, "c": 0.75} and back.default == 0.25
    assert back.source["not_reached"] == ["b", "c"] and back.source["recall_target"] == 0.95
    assert back.source["best_f1"] == {"a": 0.375, "b": 0.625, "c": 0.75} and back.source["artifact"] == "m.onnx"


@pytest.mark.parametrize("recall", [0.0, 1.5, -0.1])
def test_bad_recall_target(matches, recall: float) -> None:
    with pytest.raises(InputError, match="recall target must be in"):
        operating_points(matches, recall)
