"""GRACE training: Lite-FEN strength schedule, DS-CBSM++ sampler, and the Ultralytics trainer that uses them.

Light to import (the CLI imports this package for ``--help``); the trainer loads Ultralytics on first use.
"""

from __future__ import annotations

from grace_edge._lazy import lazy_getattr

_LAZY = {
    "GraceTrainer": "grace_edge.train.trainer",
    "GraceOptions": "grace_edge.train.trainer",
    "VARIANTS": "grace_edge.train.protocol",
    "load_model": "grace_edge.model.weights",
    "DSCBSMConfig": "grace_edge.train.ds_cbsm",
    "ClassBalanceState": "grace_edge.train.ds_cbsm",
    "train": "grace_edge.train.trainer",
    "PAPER_PROTOCOL": "grace_edge.train.protocol",
}
__all__ = sorted(_LAZY)
__getattr__ = lazy_getattr(__name__, _LAZY)
