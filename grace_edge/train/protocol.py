"""The paper's training protocol (Chen et al. 2026), defined once: the trainer applies it, the CLI shows it as its
defaults and ``grace-edge ablate`` runs its variants. Light to import (the CLI reads it for ``--help``)."""

from __future__ import annotations

from typing import Any

# Ultralytics train settings the paper fixes; Ultralytics defaults for everything else.
PAPER_PROTOCOL: dict[str, Any] = {"epochs": 200, "batch": 16, "imgsz": 640, "optimizer": "SGD", "lr0": 0.001, "seed": 0}

# variant -> (DS-CBSM++ sampler, Lite-FEN), in the order of the paper's Table 2
VARIANTS: dict[str, tuple[bool, bool]] = {
    "baseline": (False, False),
    "ds-cbsm": (True, False),
    "lite-fen": (False, True),
    "grace": (True, True),
}

RAMP_EPOCHS = 30  # epochs over which gamma (and, our choice, s_e) ramp up
GAMMA_MAX = 0.60  # final weight of the dynamic DS-CBSM++ class weights
