"""Lite-FEN: lightweight feature enhancement on the P3 map (Chen et al. 2026, GRACE).

``att(x) = 0.5 * CA(x) + 0.5 * SA(x)`` and ``y = x + s_e * (x * att(x))``, where
CA = GAP -> Conv1x1 C->C/4 -> SiLU -> Conv1x1 C/4->C -> Sigmoid and
SA = DWConv3x3 -> Conv1x1 C->1 -> Sigmoid (broadcast over channels).
``s_e`` is not learned: the trainer sets it every epoch. It is a buffer, so it is saved with the weights.
"""

from __future__ import annotations

import torch
from torch import nn

S_E_MIN, S_E_MAX = 0.05, 0.30


class LiteFEN(nn.Module):
    """Residual channel + spatial attention with a scheduled (non-learned) strength ``s_e``."""

    def __init__(self, c: int, reduction: int = 4, s_e: float = S_E_MIN) -> None:
        super().__init__()
        if c < reduction or c % reduction:
            raise ValueError(f"LiteFEN channels must be a positive multiple of {reduction}, got {c}")
        hidden = c // reduction
        self.ca = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(c, hidden, 1),
            nn.SiLU(),
            nn.Conv2d(hidden, c, 1),
            nn.Sigmoid(),
        )
        self.sa_dw = nn.Conv2d(c, c, 3, padding=1, groups=c)
        self.sa_pw = nn.Conv2d(c, 1, 1)
        self.register_buffer("s_e", torch.tensor(float(s_e)))

    def set_strength(self, s_e: float) -> None:
        """Set ``s_e`` in place (clipped to [0.05, 0.30]); the trainer calls this once per epoch."""
        self.s_e.fill_(min(max(float(s_e), S_E_MIN), S_E_MAX))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        sa = torch.sigmoid(self.sa_pw(self.sa_dw(x)))
        return 0.5 * self.ca(x) + 0.5 * sa

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.s_e * (x * self.attention(x))
