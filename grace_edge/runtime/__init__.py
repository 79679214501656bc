"""The runtime a line controller embeds: ``Detector`` runs a GRACE artifact (.onnx on CPU, .engine on TensorRT).

    from grace_edge.runtime import Detector
    with Detector.open("grace-s.engine", conf=0.25) as det:
        for d in det.detect(frame)[0]:
            print(d.class_name, d.score, d.box)
"""

from __future__ import annotations

from grace_edge._lazy import lazy_getattr

_EXPORTS = {"Detector": "grace_edge.runtime.detector", "Detection": "grace_edge.runtime.types"}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
