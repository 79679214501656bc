"""Dataset preparation: NEU-DET (Pascal VOC) -> Ultralytics YOLO dataset, with checks and statistics.

``from grace_edge.data import convert`` is cheap: numpy, PIL and PyYAML load only when a conversion runs.
"""

from __future__ import annotations

from grace_edge.data.neu_det import ConversionReport, DatasetProblemsError, Problem, convert

__all__ = ["ConversionReport", "DatasetProblemsError", "Problem", "convert"]
