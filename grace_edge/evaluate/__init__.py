"""Evaluation with COCO metrics: ``evaluate`` a .pt / .onnx / .engine on a dataset split, or
``evaluate_predictions`` for prediction arrays made any other way (e.g. to compare two NMS implementations); the
build's accuracy gate (:mod:`.gate`) is two evaluations and their comparison report.

Heavy packages (torch, Ultralytics, faster-coco-eval) load only when a function runs.
"""

from __future__ import annotations

from grace_edge._lazy import lazy_getattr

# Imported now, not lazily: the submodule is also named ``evaluate``, and importing it later would bind the package
# attribute ``evaluate`` to the module instead of the function. It is cheap (its heavy imports are inside functions).
from grace_edge.evaluate.evaluate import evaluate, evaluate_predictions

__all__ = ["evaluate", "evaluate_predictions", "EvalResult"]
__getattr__ = lazy_getattr(__name__, {"EvalResult": "grace_edge.evaluate.coco"})
