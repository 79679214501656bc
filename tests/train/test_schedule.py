"""The per-epoch ramps: s_e (Lite-FEN strength) and gamma_e (DS-CBSM++ blend)."""

from __future__ import annotations

import pytest

from grace_edge.train import schedule


def test_gamma_ramps_linearly_from_0_to_0_60_over_30_epochs():
    assert schedule.gamma(0) == 0.0
    assert schedule.gamma(15) == pytest.approx(0.30)  # 0.60 * 15/30
    assert schedule.gamma(3) == pytest.approx(0.06)  # 0.60 * 3/30
    assert schedule.gamma(30) == pytest.approx(0.60)
    assert schedule.gamma(199) == pytest.approx(0.60)


def test_s_e_ramps_from_0_05_to_0_20_then_holds():
    assert schedule.lite_fen_strength(0) == pytest.approx(0.05)
    assert schedule.lite_fen_strength(10) == pytest.approx(0.10)  # 0.05 + 0.15 * 10/30
    assert schedule.lite_fen_strength(30) == pytest.approx(0.20)
    assert schedule.lite_fen_strength(150) == pytest.approx(0.20)


def test_s_e_is_clipped_to_0_05_and_0_30():
    assert schedule.lite_fen_strength(30, s_base=0.5) == pytest.approx(0.30)
    assert schedule.lite_fen_strength(30, s_base=0.0) == pytest.approx(0.05)


def test_custom_ramp_length_and_zero_length():
    assert schedule.gamma(2, ramp_epochs=4) == pytest.approx(0.30)
    assert schedule.gamma(0, ramp_epochs=0) == pytest.approx(0.60)
    with pytest.raises(ValueError):
        schedule.gamma(-1)
