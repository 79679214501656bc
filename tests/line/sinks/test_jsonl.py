"""The JSONL event log rotates by size and keeps ``backups`` old files; every line is one JSON event."""

from __future__ import annotations

import json
from pathlib import Path

from grace_edge.line.config import JsonlConfig
from grace_edge.line.metrics import LineMetrics
from grace_edge.line.sinks.base import Item
from grace_edge.line.sinks.jsonl import JsonlSink


def test_rotation_keeps_the_newest_events(tmp_path: Path) -> None:
    sink = JsonlSink(JsonlConfig(str(tmp_path / "events.jsonl"), max_bytes=1000, backups=2), LineMetrics())
    sink.start()
    for i in range(100):
        sink.put(Item({"part_id": f"p{i:03d}", "pad": "x" * 40}, captured_mono=0.0))
    assert sink.close(5.0)
    files = sorted(tmp_path.glob("events.jsonl*"))
    assert [f.name for f in files] == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
    assert all(f.stat().st_size <= 1000 for f in files)
    newest = [json.loads(line)["part_id"] for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert newest[-1] == "p099"
