"""The runtime a line controller embeds: ``Detector`` runs a GRACE artifact (.onnx on CPU, .engine on TensorRT).

    from grace_edge.runtime import Detector
    with Detector.open("grace-s.engine", conf=0.25) as det:
        for d in det.detect(frame)[0]:
            print(d.class_name, d.score, d.box)
"""

from grace_edge.runtime.detector import Detector
from grace_edge.runtime.types import Detection

__all__ = ["Detector", "Detection"]
