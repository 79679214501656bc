"""Dataset preparation: NEU-DET (Pascal VOC) -> Ultralytics YOLO dataset, with checks and statistics; and the
data the later stages draw from it: label files, images, the INT8 calibration set (:mod:`.calibration`).

``from grace_edge.data import convert`` is cheap: numpy, PIL and PyYAML load only when a conversion runs.
"""

from __future__ import annotations

from grace_edge._lazy import lazy_getattr

_EXPORTS = {name: "grace_edge.data.neu_det" for name in ("ConversionReport", "DatasetProblemsError", "Problem", "convert")}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
