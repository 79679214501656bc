"""Sink isolation: a sink that hangs or raises never blocks the pipeline or the other sinks; what it loses is
counted and logged."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.helpers.line import build, part_events

from grace_edge.line.service import LineService
from grace_edge.line.sinks.base import Item, Sink
from grace_edge.runtime.sources import Frame


class Stuck(Sink):
    name = "stuck"

    def __init__(self, metrics, release: threading.Event) -> None:
        super().__init__(metrics, queue_size=2)
        self.release = release

    def handle(self, item: Item) -> None:
        self.release.wait()  # a sink wedged on a dead network share


class Raising(Sink):
    name = "raising"

    def handle(self, item: Item) -> None:
        raise OSError("disk full")


def test_a_stuck_and_a_failing_sink_do_not_hold_up_the_line(tmp_path: Path, model: Path, neu_frames) -> None:
    frames = [Frame(f"f{i}", neu_frames[i % len(neu_frames)]) for i in range(30)]
    release = threading.Event()
    service = LineService(build(tmp_path, model, drain_s=1), source_factory=lambda _: iter(frames))
    stuck, raising = Stuck(service.metrics, release), Raising(service.metrics, 100)
    service._extra_sinks = (stuck, raising)
    service.start()
    summary = service.wait()  # returns although "stuck" never finishes (its close times out and says so)
    release.set()
    assert summary.captured == 30 and len(part_events(tmp_path / "events.jsonl")) == 30
    m = service.metrics
    assert m.value("grace_edge_line_sink_errors_total", sink="raising") == 30 + 3  # 30 parts; started, source_ended, stopped
    assert m.value("grace_edge_line_sink_overflow_total", sink="stuck") >= 30 - 3
