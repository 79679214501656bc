"""Reject and uninspected frames saved as PNG with their defects drawn (grace_edge.runtime.draw), in a bounded ring
on disk: once ``max_files`` are there, the oldest goes. Files are ``<part id>-<verdict>.png``, written atomically."""

from __future__ import annotations

from collections import deque
from pathlib import Path

from grace_edge.io import write_bytes
from grace_edge.line.config import FramesConfig
from grace_edge.line.metrics import LineMetrics
from grace_edge.line.sinks.base import Item, Sink
from grace_edge.line.verdict import OK

DRAW_MIN_SIDE = 600  # as predict: 200x200 NEU-DET frames drawn 3x so the labels can be read


class FramesSink(Sink):
    name = "frames"

    def __init__(self, config: FramesConfig, metrics: LineMetrics) -> None:
        super().__init__(metrics, config.queue)
        self.config = config
        self.folder = Path(config.dir)

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ring = deque(sorted(self.folder.glob("*.png")))  # part ids sort by time: the ring continues a restart
        self._trim()

    def put(self, item: Item) -> None:
        if item.is_part and item.event["verdict"] != OK and item.image is not None:
            super().put(item)

    def handle(self, item: Item) -> None:
        import cv2

        from grace_edge.runtime.draw import draw_detections

        canvas = draw_detections(item.image, item.defects, min_side=DRAW_MIN_SIDE)
        ok, png = cv2.imencode(".png", canvas)
        if not ok:
            raise ValueError("OpenCV could not encode the frame as PNG")
        path = write_bytes(self.folder / f"{item.event['part_id']}-{item.event['verdict']}.png", png.tobytes())
        self.ring.append(path)
        self._trim()
        self.delivered(item)

    def _trim(self) -> None:
        while len(self.ring) > self.config.max_files:
            self.ring.popleft().unlink(missing_ok=True)
