"""GRACE = YOLO11 + one Lite-FEN between the neck's P3 output and Detect; nothing else changes."""

from __future__ import annotations

import pytest
import torch

from grace_edge.errors import InputError
from grace_edge.data.classes import NEU_DET_CLASSES
from grace_edge.model.build import build_model, lite_fen_modules
from grace_edge.model.lite_fen import LiteFEN


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_grace_n_adds_one_lite_fen_on_p3_only():
    grace, base = build_model("grace-n"), build_model("yolo11n")
    fens = lite_fen_modules(grace)
    assert len(fens) == 1 and lite_fen_modules(base) == []
    layers = grace.model
    assert isinstance(layers[23], LiteFEN) and layers[23].f == 16  # reads the neck's P3 output
    assert layers[24].f == [23, 19, 22]  # Detect reads Lite-FEN in place of layer 16
    assert layers[17].f == -1 and base.model[23].f == [16, 19, 22]  # the P3->P4 path still reads plain P3
    # Lite-FEN at C=64: CA 64*16+16 + 16*64+64 = 2128; SA 64*9+64 + 64+1 = 705; total 2833
    assert _params(grace) - _params(base) == 2833
    assert grace.names == dict(enumerate(NEU_DET_CLASSES))


def test_grace_s_lite_fen_width_matches_p3():
    grace, base = build_model("grace-s"), build_model("yolo11s")
    assert lite_fen_modules(grace)[0].sa_dw.in_channels == 128
    assert _params(grace) - _params(base) == 9761  # see test_model_lite_fen


def test_forward_shapes_match_baseline():
    grace, base = build_model("grace-n").eval(), build_model("yolo11n").eval()
    x = torch.zeros(1, 3, 64, 64)
    with torch.no_grad():
        assert grace(x)[0].shape == base(x)[0].shape == (1, 4 + 6, 8 * 8 + 4 * 4 + 2 * 2)


def test_unknown_model_name():
    with pytest.raises(InputError, match="unknown model"):
        build_model("yolo99")
