"""GRACE model definition: YOLO11 plus Lite-FEN on the P3 map between neck and head; :mod:`.weights` is the one
checkpoint loader of the package."""

from __future__ import annotations

from grace_edge._lazy import lazy_getattr

_EXPORTS = {
    "build_model": "grace_edge.model.build",
    "MODEL_NAMES": "grace_edge.model.build",
    "LiteFEN": "grace_edge.model.lite_fen",
    "load_model": "grace_edge.model.weights",
    "load_weights": "grace_edge.model.weights",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
