"""Reject and uninspected frames are saved with their boxes drawn, in a ring of at most ``max_files``; ok parts and
frames without pixels are not saved."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from grace_edge.line.config import FramesConfig
from grace_edge.line.metrics import LineMetrics
from grace_edge.line.sinks.base import Item
from grace_edge.line.sinks.frames import FramesSink
from grace_edge.runtime.types import Detection


def test_the_ring_keeps_the_newest_rejects_and_uninspected(tmp_path: Path) -> None:
    sink = FramesSink(FramesConfig(str(tmp_path / "frames"), max_files=3), LineMetrics())
    sink.start()
    image = np.full((50, 50), 128, np.uint8)
    box = (Detection(5, 5, 30, 30, 0.9, 0, "crazing"),)
    for i, verdict in enumerate(["reject", "ok", "uninspected", "reject", "reject", "reject"]):
        sink.put(Item({"part_id": f"run-{i:08d}", "verdict": verdict}, 0.0, image, box if verdict == "reject" else ()))
    sink.put(Item({"part_id": "run-00000009", "verdict": "uninspected"}, 0.0, None))  # unreadable: no pixels
    assert sink.close(5.0)
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert names == ["run-00000003-reject.png", "run-00000004-reject.png", "run-00000005-reject.png"]
    drawn = cv2.imread(str(tmp_path / "frames" / names[0]))
    assert drawn.shape[:2] == (600, 600) and (drawn != 128).any()  # enlarged for the labels, box drawn
