"""Fusion for inference (Lite-FEN re-parameterisation + Conv/BN folding) leaves the model's output unchanged."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn

from grace_edge.export.fuse import FusedLiteFEN, fuse_for_inference, fuse_lite_fen, merge_dw_pw
from grace_edge.model.build import build_model, lite_fen_modules
from grace_edge.model.lite_fen import LiteFEN


def gray_image(seed: int, shape: tuple[int, int] = (200, 200)) -> np.ndarray:
    """A smooth synthetic gray image with a few bright and dark blobs (uint8 HxW)."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, shape, dtype=np.uint8), (0, 0), 6).astype(np.float32)
    for _ in range(6):
        y, x = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        cv2.circle(img, (int(x), int(y)), int(rng.integers(5, 30)), float(rng.choice([20, 235])), -1)
    return img.clip(0, 255).astype(np.uint8)


def randomized_model(name: str = "grace-n", seed: int = 0, s_e: float = 0.23, imgsz: int = 128) -> nn.Module:
    """An untrained model made to behave like a trained one, for parity tests.

    A fresh YOLO head gives every anchor the same tiny score (activations fade to ~1e-8 through the untrained
    layers), which would make NMS comparisons meaningless. So: BatchNorm statistics are calibrated on random images
    (real normalisation, healthy activations), s_e is non-default, class logits are scaled to a trained-like range
    (a few scores above 0.1) and box logits favour short distances (boxes of tens of pixels, not the whole image).
    """
    torch.manual_seed(seed)
    model = build_model(name)
    head = model.model[-1]
    for branch in head.cv3:
        branch[-1].weight.data.mul_(0.1)
        branch[-1].bias.data.fill_(-3.0)
    for branch in head.cv2:
        branch[-1].weight.data.mul_(0.1)
        branch[-1].bias.data.copy_((-0.5 * torch.arange(float(head.reg_max))).repeat(4))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batch
        if isinstance(m, LiteFEN):
            m.set_strength(s_e)
    calibration = np.stack([gray_image(seed + 100 + i, (imgsz, imgsz)) for i in range(4)]) / np.float32(255)
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(calibration)[:, None].expand(-1, 3, -1, -1).contiguous())
    return model.eval()


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
