"""Untrained models made to behave like trained ones, synthetic images, and one-to-one row matching, for parity
tests of export and runtime."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from grace_edge.model.build import build_model
from grace_edge.model.lite_fen import LiteFEN

IMAGES = ["crazing_1", "inclusion_20", "patches_5", "pitted_surface_7", "rolled-in_scale_9", "scratches_10"]
SCORE_TOL, BOX_TOL = 1e-4, 0.05  # why these bounds: tests/runtime/test_reference.py's docstring


def gray_image(seed: int, shape: tuple[int, int] = (200, 200)) -> np.ndarray:
    """A smooth synthetic gray image with a few bright and dark blobs (uint8 HxW)."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, shape, dtype=np.uint8), (0, 0), 6).astype(np.float32)
    for _ in range(6):
        y, x = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        cv2.circle(img, (int(x), int(y)), int(rng.integers(5, 30)), float(rng.choice([20, 235])), -1)
    return img.clip(0, 255).astype(np.uint8)


def untrained_onnx(folder: Path, imgsz: int = 64) -> Path:
    """An untrained GRACE-n exported to ``folder/grace-n.onnx``: the FP32 input of the INT8 and cache tests."""
    from grace_edge.export.onnx_export import export_onnx

    return export_onnx(build_model("grace-n"), folder / "grace-n.onnx", imgsz=imgsz)


def trained_checkpoint(path: Path, imgsz: int = 64) -> Path:
    """An untrained GRACE-n saved as ``grace-edge train`` saves a checkpoint that was trained at ``imgsz``."""
    torch.save({"model": build_model("grace-n"), "train_args": {"imgsz": imgsz}}, path)
    return path


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


def seeded_model():
    import torch

    from grace_edge.model.build import build_model
    from grace_edge.ultralytics_setup import configure

    configure()
    from ultralytics.nn.modules import Detect

    torch.manual_seed(0)
    model = build_model("grace-n").eval()
    head = next(m for m in model.modules() if isinstance(m, Detect))
    fixed = {id(m) for m in head.dfl.modules()}  # DFL's conv holds the fixed bin values 0..reg_max-1
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d) and id(m) not in fixed:
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        for seq in head.cv2:
            seq[-1].weight.mul_(0.01)
            seq[-1].bias.zero_()
        for seq in head.cv3:
            seq[-1].weight.mul_(200.0)
            seq[-1].bias.fill_(-4.0)
    return model


def unmatched(reference: np.ndarray, ours: np.ndarray, score_tol: float = SCORE_TOL, box_tol: float = BOX_TOL
              ) -> list[np.ndarray]:
    """Reference rows with no partner in ``ours`` (same class, score and box within tolerance), one to one."""
    free = list(range(len(ours)))
    missing = []
    for row in reference:
        hit = next(
            (j for j in free if ours[j, 5] == row[5] and abs(ours[j, 4] - row[4]) < score_tol
             and np.abs(ours[j, :4] - row[:4]).max() < box_tol),
            None,
        )
        if hit is None:
            missing.append(row)
        else:
            free.remove(hit)
    return missing
