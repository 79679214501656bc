"""grace-edge: the GRACE steel-surface-defect detector from training to a TensorRT engine on the line.

Pipeline (one subpackage per stage): data -> model -> train -> evaluate -> export -> build -> runtime -> bench.
Importing this package is cheap: torch, Ultralytics and ONNX Runtime load only when a stage needs them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from grace_edge._lazy import lazy_getattr

__all__ = ["__version__", "Detector", "Detection"]
# lazy: a line controller that only runs engines never imports torch
__getattr__ = lazy_getattr(__name__, {"Detector": "grace_edge.runtime.detector", "Detection": "grace_edge.runtime.types"})
