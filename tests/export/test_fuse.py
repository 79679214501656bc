"""Fusion for inference (Lite-FEN re-parameterisation + Conv/BN folding) leaves the model's output unchanged."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from grace_edge.export.fuse import FusedLiteFEN, fuse_for_inference, fuse_lite_fen, merge_dw_pw
from grace_edge.model.build import lite_fen_modules
from grace_edge.model.lite_fen import LiteFEN
from tests.helpers.models import gray_image, randomized_model


def test_merge_dw_pw_is_exact():
    torch.manual_seed(1)
    dw, pw = nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.Conv2d(16, 1, 1)
    x = torch.randn(2, 16, 12, 12)
    torch.testing.assert_close(merge_dw_pw(dw, pw)(x), pw(dw(x)), rtol=1e-5, atol=1e-5)


def test_fused_lite_fen_equals_lite_fen():
    torch.manual_seed(2)
    module = LiteFEN(32, s_e=0.05).eval()
    module.set_strength(0.27)
    fused = fuse_lite_fen(module)
    x = torch.randn(2, 32, 10, 10)
    assert isinstance(fused, FusedLiteFEN) and fused.strength == 0.5 * module.s_e.item()
    torch.testing.assert_close(fused(x), module(x), rtol=1e-5, atol=1e-5)


def test_fused_model_matches_unfused_and_leaves_it_alone():
    model = randomized_model(imgsz=64)
    fused = fuse_for_inference(model)
    assert not lite_fen_modules(fused) and not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert len(lite_fen_modules(model)) == 1 and any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    x = torch.from_numpy(np.stack([gray_image(s, (64, 64)) for s in (1, 2)]) / np.float32(255))
    x = x[:, None].expand(-1, 3, -1, -1).contiguous()
    with torch.no_grad():
        expected, got = model(x)[0], fused(x)[0]
    assert expected.shape == got.shape
    torch.testing.assert_close(got[:, :4], expected[:, :4], rtol=1e-3, atol=1e-2)  # box pixels
    torch.testing.assert_close(got[:, 4:], expected[:, 4:], rtol=1e-4, atol=1e-4)  # class probabilities
    assert expected[:, 4:].std() > 0.05  # the comparison covers spread-out scores, not a constant
