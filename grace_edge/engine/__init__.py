"""Engine build: the deployable artifact for this machine from an FP32 ONNX (``grace-edge build``).

precision ONNX (FP16 :mod:`.precision` / INT8 Q/DQ :mod:`.quantize`, calibrated on the data room's class-stratified
:mod:`grace_edge.data.calibration` set) -> accuracy gate (:mod:`grace_edge.evaluate.gate`: val mAP, measured by the
evaluate room) -> a strongly typed TensorRT engine (:mod:`.tensorrt_build`) when TensorRT and a GPU are
present, else the CPU model; :mod:`.targets` holds what each target and precision is, and the registered backend
(:mod:`grace_edge.runtime.backends`) builds the file; :mod:`.pipeline` runs the steps in order, models in memory.
Imports are lazy.
"""

from __future__ import annotations

from grace_edge._lazy import lazy_getattr

_EXPORTS = {name: "grace_edge.engine.pipeline" for name in ("build", "BuildOptions", "BuildReport")}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
