"""GRACE training: Lite-FEN strength schedule, DS-CBSM++ sampler, and the Ultralytics trainer that uses them.

Light to import (the CLI imports this package for ``--help``); the trainer loads Ultralytics on first use.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "GraceTrainer": "grace_edge.train.trainer",
    "GraceOptions": "grace_edge.train.trainer",
    "VARIANTS": "grace_edge.train.trainer",
    "load_model": "grace_edge.train.checkpoint",
    "DSCBSMConfig": "grace_edge.train.ds_cbsm",
    "ClassBalanceState": "grace_edge.train.ds_cbsm",
    "train": "grace_edge.train.trainer",
    "PAPER_PROTOCOL": "grace_edge.train.trainer",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'grace_edge.train' has no attribute {name!r}")
