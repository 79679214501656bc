"""DS-CBSM++ equations (paper eqs 6-10) against hand computations, the refresh cadence, and the conf >= 0.01 rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grace_edge.errors import InputError
from grace_edge.train.ds_cbsm import (
    ClassBalanceState,
    DSCBSMConfig,
    base_class_weights,
    blend,
    class_counts,
    difficulty,
    dynamic_class_weights,
    image_weights,
)
from grace_edge.train.sampler import DSCBSM, DynamicWeightedSampler, batch_class_stats

G = np.array([0.5, 1.0, 3.0])
CONF = np.array([0.8, 0.5, 0.2])


def test_eq6_base_weights_inverse_frequency_mean_one():
    # 1/n = 0.01, 0.02, 0.04; mean 0.07/3 = 0.0233333 -> 0.428571, 0.857143, 1.714286
    assert base_class_weights([100, 50, 25]) == pytest.approx([0.428571, 0.857143, 1.714286], rel=1e-5)
    # a class without boxes gets the mean weight 1; the others are normalised among themselves
    assert base_class_weights([10, 0, 10]) == pytest.approx([1.0, 1.0, 1.0])
    with pytest.raises(InputError):
        base_class_weights([3, -1])


def test_eq7_difficulty():
    # 0.22*ln(1.5) + 0.14*(1-0.8) = 0.0892023 + 0.028 = 0.1172023
    # 0.22*ln(2)   + 0.14*(1-0.5) = 0.1524924 + 0.070 = 0.2224924
    # 0.22*ln(4)   + 0.14*(1-0.2) = 0.3049847 + 0.112 = 0.4169847
    assert difficulty(G, CONF, 0.22, 0.14) == pytest.approx([0.1172023, 0.2224924, 0.4169847], rel=1e-6)


def test_eq8_dynamic_weights_normalised_then_clipped():
    delta = np.array([0.1172023, 0.2224924, 0.4169847])
    # w_base = 1: exp(delta) = 1.124346, 1.249191, 1.517398; mean 1.296978 -> 0.86690, 0.96316, 1.16994
    assert dynamic_class_weights(np.ones(3), delta, 0.85, 1.35) == pytest.approx([0.86690, 0.96316, 1.16994], rel=1e-4)
    # w_base = 0.428571, 0.857143, 1.714286: products 0.481863, 1.070735, 2.601254; mean 1.384617
    # -> 0.348012, 0.773314, 1.878681, clipped to [0.85, 1.35]
    w_base = np.array([0.428571, 0.857143, 1.714286])
    assert dynamic_class_weights(w_base, delta, 0.85, 1.35) == pytest.approx([0.85, 0.85, 1.35])


def test_eq9_blend():
    # 0.7 * 1 + 0.3 * (0.86690, 0.96316, 1.16994) = 0.960070, 0.988948, 1.050982
    assert blend(np.ones(3), np.array([0.86690, 0.96316, 1.16994]), 0.3) == pytest.approx([0.960070, 0.988948, 1.050982], rel=1e-5)
    assert blend(np.array([2.0]), np.array([1.0]), 0.0) == pytest.approx([2.0])


def test_eq10_image_weights_mean_of_box_classes():
    w = np.array([0.5, 1.0, 2.0])
    # image 0: one box of class 0; image 1: classes 1 and 2 -> (1 + 2)/2; image 2: no box -> 1; image 3: 0, 0, 2 -> 1
    assert image_weights([np.array([0]), np.array([1, 2]), np.array([]), np.array([0, 0, 2])], w) == pytest.approx([0.5, 1.5, 1.0, 1.0])


def test_class_counts_rejects_unknown_class():
    assert class_counts([np.array([0, 2]), np.array([2])], 3) == pytest.approx([1, 0, 2])
    with pytest.raises(InputError, match="class id 3"):
        class_counts([np.array([3])], 3)


def _window(loss_mean: float, conf_mean: float) -> list[np.ndarray]:
    # class 0 only: 4 positives per batch
    return [np.array([4 * loss_mean, 0.0]), np.array([4.0, 0.0]), np.array([4 * conf_mean, 0.0]), np.array([4.0, 0.0])]


def test_refresh_every_20_batches_and_ema():
    state = ClassBalanceState(np.array([10.0, 10.0]), DSCBSMConfig(refresh_every=20, ema_momentum=0.9))
    for _ in range(19):
        assert not state.observe(*_window(0.5, 0.4))
    assert state.ema_loss[0] == 0.0 and state.refreshes == 0
    assert state.observe(*_window(0.5, 0.4))  # 20th batch: refresh; the first window initialises the EMA
    assert state.ema_loss[0] == pytest.approx(0.5) and state.ema_conf[0] == pytest.approx(0.4)
    assert state.ema_loss[1] == 0.0  # class 1 never observed: EMA untouched
    for _ in range(20):
        state.observe(*_window(1.0, 0.6))
    # 0.9 * 0.5 + 0.1 * 1.0 = 0.55; 0.9 * 0.4 + 0.1 * 0.6 = 0.42
    assert state.ema_loss[0] == pytest.approx(0.55) and state.ema_conf[0] == pytest.approx(0.42)
    assert state.refreshes == 2
    # weights follow: class 0 Delta = 0.22*ln(1.55) + 0.14*0.58 = 0.096416 + 0.0812 = 0.177616;
    # class 1 (never seen, conf EMA 0) Delta = 0.14. exp: 1.194367, 1.150274; mean 1.172320 -> 1.018806, 0.981194
    assert state.w_dyn == pytest.approx([1.018806, 0.981194], rel=1e-5)


def test_gamma_blends_class_weights():
    state = ClassBalanceState(np.array([30.0, 10.0]))  # w_base = 0.5, 1.5; no stats yet: w_dyn = clip(w_base) = 0.85, 1.35
    assert state.class_weights == pytest.approx([0.5, 1.5])
    state.set_gamma(0.6)
    # 0.4 * (0.5, 1.5) + 0.6 * (0.85, 1.35) = 0.71, 1.41
    assert state.class_weights == pytest.approx([0.71, 1.41])


def test_batch_stats_count_only_assigned_positives_and_conf_at_least_0_01():
    # 4 anchors: anchor 0 -> class 0 (sigmoid 0.5), anchor 1 -> class 0 (sigmoid 0.005, below the floor),
    # anchor 2 -> class 1 (sigmoid 0.9), anchor 3 background (all-zero target row)
    logits = torch.tensor([[[0.0, 5.0], [-5.293305, 0.0], [0.0, 2.197225], [9.0, 9.0]]])
    target = torch.tensor([[[0.7, 0.0], [0.2, 0.0], [0.0, 0.9], [0.0, 0.0]]])
    bce = torch.tensor([[[0.3, 9.0], [0.8, 9.0], [9.0, 0.1], [9.0, 9.0]]])
    s = batch_class_stats(logits, target, bce, conf_floor=0.01)
    assert s[0].tolist() == pytest.approx([0.3 + 0.8, 0.1])  # BCE of the assigned channel
    assert s[1].tolist() == pytest.approx([2.0, 1.0])  # positives per class
    assert s[2].tolist() == pytest.approx([0.5, 0.9], rel=1e-5)  # 0.005 is not counted
    assert s[3].tolist() == pytest.approx([1.0, 1.0])


def test_controller_refreshes_sampler_every_20_batches():
    ds = DSCBSM([np.array([0]), np.array([1])], nc=2, config=DSCBSMConfig(refresh_every=20))
    ds.set_gamma(0.6)
    before = ds.sampler.weights.clone()
    hard_class_1 = torch.tensor([[1.0, 8.0], [1.0, 4.0], [0.9, 0.1], [1.0, 4.0]])  # class 1: loss 2, conf 0.025
    for _ in range(19):
        ds.record(hard_class_1)
    assert torch.equal(ds.sampler.weights, before) and ds.state.refreshes == 0
    ds.record(hard_class_1)
    assert ds.state.refreshes == 1
    assert ds.sampler.weights[1] > before[1]  # the hard class's image gained weight


def test_sampler_draws_num_samples_with_replacement_and_checks_weights():
    s = DynamicWeightedSampler([0.0, 1.0, 0.0], num_samples=7, block=3)
    assert list(s) == [1] * 7
    s.set_weights([1.0, 0.0, 0.0])
    assert list(s) == [0] * 7
    with pytest.raises(InputError):
        s.set_weights([1.0, 0.0])
    with pytest.raises(InputError):
        DynamicWeightedSampler([0.0, 0.0])
