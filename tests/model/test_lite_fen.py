"""Lite-FEN against the paper: att = 0.5 CA + 0.5 SA, y = x + s_e * x * att, s_e a clipped buffer, nothing else."""

from __future__ import annotations

import pytest
import torch

from grace_edge.model.lite_fen import LiteFEN


def _zero(module: torch.nn.Module) -> None:
    for p in module.parameters():
        torch.nn.init.zeros_(p)


def test_zero_weights_give_half_attention_by_hand():
    fen = LiteFEN(8)
    _zero(fen)
    fen.set_strength(0.2)
    x = torch.randn(2, 8, 5, 7)
    # CA = sigmoid(0) = 0.5, SA = sigmoid(0) = 0.5 -> att = 0.5; y = x + 0.2 * x * 0.5 = 1.1 x
    torch.testing.assert_close(fen(x), 1.1 * x)


def test_spatial_attention_broadcasts_over_channels_and_channel_attention_over_space():
    fen = LiteFEN(4)
    _zero(fen)
    fen.set_strength(0.3)
    with torch.no_grad():
        fen.sa_pw.bias.fill_(100.0)  # SA -> 1 everywhere
        fen.ca[3].bias.copy_(torch.tensor([-100.0, 100.0, -100.0, 100.0]))  # CA -> 0, 1, 0, 1 per channel
    x = torch.ones(1, 4, 3, 3)
    y = fen(x)
    # att = 0.5 * CA + 0.5 * SA = 0.5 / 1.0 per channel; y = 1 + 0.3 * att = 1.15 / 1.30
    assert y[0, :, 1, 1].tolist() == pytest.approx([1.15, 1.30, 1.15, 1.30], abs=1e-6)


def test_structure_has_no_norm_and_no_learned_fusion():
    fen = LiteFEN(128)
    names = {n for n, _ in fen.named_parameters()}
    assert names == {"ca.1.weight", "ca.1.bias", "ca.3.weight", "ca.3.bias", "sa_dw.weight", "sa_dw.bias", "sa_pw.weight", "sa_pw.bias"}
    assert fen.ca[1].out_channels == 32 and isinstance(fen.ca[2], torch.nn.SiLU) and isinstance(fen.ca[4], torch.nn.Sigmoid)
    assert fen.sa_dw.groups == 128 and fen.sa_dw.kernel_size == (3, 3) and fen.sa_pw.out_channels == 1
    # CA: 128*32 + 32 + 32*128 + 128 = 8352; SA: 128*9 + 128 + 128 + 1 = 1409; total 9761
    assert sum(p.numel() for p in fen.parameters()) == 9761


def test_s_e_is_a_clipped_buffer_saved_in_state_dict():
    fen = LiteFEN(8)
    assert float(fen.s_e) == pytest.approx(0.05)
    assert "s_e" in fen.state_dict() and not any(n == "s_e" for n, _ in fen.named_parameters())
    fen.set_strength(0.9)
    assert float(fen.s_e) == pytest.approx(0.30)
    fen.set_strength(0.0)
    assert float(fen.s_e) == pytest.approx(0.05)


def test_rejects_channels_not_divisible_by_reduction():
    with pytest.raises(ValueError, match="multiple of 4"):
        LiteFEN(6)
