"""JSONL event log: one JSON object per line (part and service events), rotated by size with the standard library's
RotatingFileHandler (``events.jsonl``, ``events.jsonl.1``, ... up to ``backups``). Each line is flushed as written, so
a killed service loses at most the line being written."""

from __future__ import annotations

import json
import logging
import logging.handlers
from pathlib import Path

from grace_edge.line.config import JsonlConfig
from grace_edge.line.metrics import LineMetrics
from grace_edge.line.sinks.base import Item, Sink


class JsonlSink(Sink):
    name = "jsonl"

    def __init__(self, config: JsonlConfig, metrics: LineMetrics) -> None:
        super().__init__(metrics, config.queue)
        self.config = config

    def open(self) -> None:
        path = Path(self.config.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handler = logging.handlers.RotatingFileHandler(path, maxBytes=self.config.max_bytes,
                                                             backupCount=self.config.backups, encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(message)s"))

    def handle(self, item: Item) -> None:
        line = json.dumps(item.event, separators=(",", ":"))
        self._handler.emit(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))
        self.delivered(item)

    def shutdown(self) -> None:
        self._handler.close()
