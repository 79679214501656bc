"""Fuse a GRACE model for inference: Lite-FEN re-parameterised, Conv+BatchNorm folded.

Lite-FEN computes ``y = x + s_e * x * (0.5 * CA(x) + 0.5 * sigmoid(PW(DW(x))))``. For inference:
- ``s_e`` is a frozen buffer, so ``0.5 * s_e`` becomes one constant;
- the SA branch's depthwise 3x3 conv (C->C) followed by the 1x1 conv (C->1) is linear, so it is one dense 3x3
  conv C->1: ``W[0, c] = w_pw[c] * w_dw[c]`` and ``b = b_pw + sum_c w_pw[c] * b_dw[c]``.
Conv+BN folding is Ultralytics' own ``DetectionModel.fuse()``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from grace_edge.model.lite_fen import LiteFEN

# Attributes Ultralytics' layer loop reads from every layer in ``model.model`` (from-index, index, type, params).
_LAYER_ATTRS = ("f", "i", "type", "np")


class FusedLiteFEN(nn.Module):
    """Inference form of :class:`LiteFEN`: ``y = x + x * (k * (CA(x) + sigmoid(SA(x))))`` with ``k = 0.5 * s_e``."""

    def __init__(self, ca: nn.Sequential, sa: nn.Conv2d, strength: float) -> None:
        super().__init__()
        self.ca = ca
        self.sa = sa
        self.strength = float(strength)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + x * (self.strength * (self.ca(x) + torch.sigmoid(self.sa(x))))


def merge_dw_pw(dw: nn.Conv2d, pw: nn.Conv2d) -> nn.Conv2d:
    """One dense conv equal to ``pw(dw(x))`` for a depthwise ``dw`` (C->C, groups=C) and a 1x1 ``pw`` (C->N)."""
    c = dw.in_channels
    if dw.groups != c or dw.out_channels != c or pw.kernel_size != (1, 1) or pw.in_channels != c:
        raise ValueError("merge_dw_pw needs a depthwise conv followed by a 1x1 conv over the same channels")
    w_dw = dw.weight.detach()[:, 0]  # [C, kh, kw]
    w_pw = pw.weight.detach()[:, :, 0, 0]  # [N, C]
    merged = nn.Conv2d(c, pw.out_channels, dw.kernel_size, dw.stride, dw.padding, dw.dilation, bias=True)
    merged = merged.to(device=dw.weight.device, dtype=dw.weight.dtype)
    b_dw = dw.bias.detach() if dw.bias is not None else torch.zeros(c, dtype=w_dw.dtype, device=w_dw.device)
    b_pw = pw.bias.detach() if pw.bias is not None else torch.zeros(pw.out_channels, dtype=w_dw.dtype, device=w_dw.device)
    with torch.no_grad():
        merged.weight.copy_(w_pw[:, :, None, None] * w_dw[None])
        merged.bias.copy_(b_pw + w_pw @ b_dw)
    return merged


def fuse_lite_fen(module: LiteFEN) -> FusedLiteFEN:
    """The inference form of one Lite-FEN (a new module; ``module`` is left as it is)."""
    fused = FusedLiteFEN(copy.deepcopy(module.ca), merge_dw_pw(module.sa_dw, module.sa_pw), 0.5 * float(module.s_e))
    for name in _LAYER_ATTRS:
        if hasattr(module, name):
            setattr(fused, name, getattr(module, name))
    return fused.eval()


def fuse_for_inference(model: nn.Module) -> nn.Module:
    """A fused eval-mode copy of a DetectionModel: every Lite-FEN re-parameterised, Conv+BN folded.

    ``model`` itself is not changed.
    """
    model = copy.deepcopy(model).float().eval()
    _replace_lite_fen(model)
    if hasattr(model, "fuse"):
        model.fuse(verbose=False)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _replace_lite_fen(parent: nn.Module) -> None:
    for name, child in parent.named_children():
        if isinstance(child, LiteFEN):
            setattr(parent, name, fuse_lite_fen(child))
        else:
            _replace_lite_fen(child)
