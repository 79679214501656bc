"""grace-edge: the GRACE steel-surface-defect detector from training to a TensorRT engine on the line.

Pipeline (one subpackage per stage): data -> model -> train -> evaluate -> export -> build -> runtime -> bench.
Importing this package is cheap: torch, Ultralytics and ONNX Runtime load only when a stage needs them.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "Detector", "Detection"]


def __getattr__(name: str):  # lazy: a line controller that only runs engines never imports torch
    if name in ("Detector", "Detection"):
        from grace_edge.runtime import detector

        return getattr(detector, name)
    raise AttributeError(f"module 'grace_edge' has no attribute {name!r}")
