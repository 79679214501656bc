"""Per-epoch schedules of GRACE training: the Lite-FEN strength ``s_e`` and the DS-CBSM++ blend ``gamma_e``.

Both ramp linearly over the first ``ramp_epochs`` epochs (default 30, the paper's gamma ramp; we use the same
length for ``s_e``) and then stay constant. Epochs are 0-based: epoch 0 uses the start value, epoch
``ramp_epochs`` and later the end value.
"""

from __future__ import annotations

from grace_edge.model.lite_fen import S_E_MAX, S_E_MIN
from grace_edge.train.protocol import GAMMA_MAX, RAMP_EPOCHS

S_BASE = 0.20  # Lite-FEN target strength


def linear_ramp(epoch: int, start: float, end: float, ramp_epochs: int = RAMP_EPOCHS) -> float:
    """``start`` at epoch 0, rising linearly to ``end`` at ``ramp_epochs``, ``end`` afterwards."""
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    if ramp_epochs <= 0:
        return float(end)
    t = min(epoch / ramp_epochs, 1.0)
    return float(start + (end - start) * t)


def lite_fen_strength(epoch: int, ramp_epochs: int = RAMP_EPOCHS, s_base: float = S_BASE) -> float:
    """``s_e`` for ``epoch``: from 0.05 towards ``s_base`` (0.20), clipped to [0.05, 0.30]."""
    s = linear_ramp(epoch, S_E_MIN, s_base, ramp_epochs)
    return min(max(s, S_E_MIN), S_E_MAX)


def gamma(epoch: int, ramp_epochs: int = RAMP_EPOCHS, gamma_max: float = GAMMA_MAX) -> float:
    """``gamma_e`` for ``epoch``: 0 -> ``gamma_max`` (0.60) over ``ramp_epochs`` epochs."""
    return linear_ramp(epoch, 0.0, gamma_max, ramp_epochs)
