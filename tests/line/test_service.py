"""The service on a real ONNX graph (ONNX Runtime): drop-oldest accounting, unreadable frames, a backend that fails
and is reopened, a stalled source, and /metrics + /healthz scraped over HTTP."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import Future
from pathlib import Path

import numpy as np
from tests.helpers.line import GatedSource, build, part_events, wait_for

from grace_edge.line.service import LineService
from grace_edge.runtime.detector import Detector
from grace_edge.runtime.sources import Frame


class SlowDetector:
    """The real detector, each result held back ``delay`` s (a line PC busier than the camera); ``fail_at``: the
    submit numbers whose future fails as a crashed backend's would."""

    def __init__(self, model: Path, delay: float = 0.0, fail_at: tuple[int, ...] = ()) -> None:
        self.real = Detector.open(model, conf=0.5)
        self.delay, self.fail_at, self.calls = delay, fail_at, 0
        self.names, self.meta, self.backend = self.real.names, self.real.meta, self.real.backend

    conf = property(lambda self: self.real.conf, lambda self, v: setattr(self.real, "conf", v))

    def submit(self, image: np.ndarray) -> Future:
        self.calls += 1
        if self.calls in self.fail_at:
            failed: Future = Future()
            threading.Timer(self.delay, failed.set_exception, (RuntimeError("CUDA error: device lost"),)).start()
            return failed
        inner = self.real.submit(image)
        if not self.delay:
            return inner
        outer: Future = Future()
        inner.add_done_callback(lambda f: threading.Timer(self.delay, outer.set_result, (f.result(),)).start())
        return outer

    def close(self) -> None:
        self.real.close()


def test_drop_oldest_accounting_adds_up(tmp_path: Path, model: Path, neu_frames) -> None:
    frames = [Frame(f"f{i}", neu_frames[i % len(neu_frames)]) for i in range(60)]
    frames[7] = Frame("f7", None, "not a decodable image")
    config = build(tmp_path, model, queue={"size": 2, "policy": "drop-oldest", "in_flight": 1})
    service = LineService(config, detector_factory=lambda: SlowDetector(model, delay=0.01),
                          source_factory=lambda _: iter(frames))
    service.start()
    summary = service.wait()
    events = part_events(tmp_path / "events.jsonl")
    verdicts = summary.verdicts
    assert summary.captured == 60 == len(events) == len({e["part_id"] for e in events})
    assert summary.captured == verdicts.get("ok", 0) + verdicts.get("reject", 0) + verdicts.get("uninspected", 0)
    dropped = [e for e in events if e["reason"] == "dropped"]
    assert len(dropped) == summary.dropped == service.metrics.value("grace_edge_line_dropped_total") > 0
    unreadable = [e["frame"] for e in events if e["reason"] == "unreadable frame"]
    assert unreadable in (["f7"], [])  # f7 may itself have been dropped before it was looked at
    assert all(e["verdict"] == "reject" for e in events if not e["reason"])  # crazing 0.9 >= 0.5 on every frame
    m = service.metrics
    assert m.value("grace_edge_line_frames_total") == 60
    assert sum(m.value("grace_edge_line_verdicts_total", verdict=v) for v in ("ok", "reject", "uninspected")) == 60


def test_block_policy_drops_nothing(tmp_path: Path, model: Path, neu_frames) -> None:
    frames = [Frame(f"f{i}", neu_frames[i % len(neu_frames)]) for i in range(20)]
    config = build(tmp_path, model, queue={"size": 1, "policy": "block", "in_flight": 1})
    service = LineService(config, detector_factory=lambda: SlowDetector(model, delay=0.005),
                          source_factory=lambda _: iter(frames))
    service.start()
    summary = service.wait()
    assert summary.verdicts == {"reject": 20} and summary.dropped == 0


def test_a_failed_backend_is_reopened_and_its_frames_reported_uninspected(tmp_path: Path, model: Path,
                                                                          neu_frames) -> None:
    opened: list[SlowDetector] = []

    def factory() -> SlowDetector:
        opened.append(SlowDetector(model, fail_at=(3,) if not opened else ()))
        return opened[-1]

    frames = [Frame(f"f{i}", neu_frames[i % len(neu_frames)]) for i in range(10)]
    config = build(tmp_path, model, queue={"in_flight": 1})
    service = LineService(config, detector_factory=factory, source_factory=lambda _: iter(frames))
    service.start()
    summary = service.wait()
    events = part_events(tmp_path / "events.jsonl")
    failed = [e for e in events if e["verdict"] == "uninspected"]
    assert [e["frame"] for e in failed] == ["f2"] and failed[0]["reason"] == "backend error"
    assert "device lost" in failed[0]["detail"]
    assert summary.verdicts == {"reject": 9, "uninspected": 1}
    assert len(opened) == 2 and service.metrics.value("grace_edge_line_backend_failures_total") == 1
    service_events = [json.loads(line)["event"] for line in (tmp_path / "events.jsonl").read_text().splitlines()
                      if "line-service/1" in line]
    assert "backend_failed" in service_events and "backend_reopened" in service_events


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_metrics_and_healthz_over_http_and_a_stalled_source(tmp_path: Path, model: Path, neu_frames) -> None:
    source = GatedSource(neu_frames)
    config = build(tmp_path, model, source={"stall_s": 0.3}, verdict={"thresholds": {"default": 0.5,
                                                                                       "classes": {"crazing": 0.95}}})
    service = LineService(config, source_factory=source)
    service.start()
    waiter = threading.Thread(target=service.wait)
    waiter.start()
    base = f"http://127.0.0.1:{service.http.server_port}"
    try:
        source.release(5)
        wait_for(lambda: service.tally["reject"] == 5, what="5 verdicts")
        status, body = _get(base + "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, metrics = _get(base + "/metrics")
        assert status == 200
        assert "grace_edge_line_frames_total 5.0" in metrics
        assert 'grace_edge_line_verdicts_total{verdict="reject"} 5.0' in metrics
        # crazing 0.9 is under its 0.95 threshold here: the defects are pitted_surface 0.6 only
        assert 'grace_edge_line_defects_total{class_name="pitted_surface"} 5.0' in metrics
        assert 'class_name="crazing"' not in metrics
        assert 'grace_edge_line_latency_seconds_count{sink="jsonl"} 5.0' in metrics
        assert "grace_edge_line_queue_depth 0.0" in metrics and "grace_edge_line_in_flight 0.0" in metrics
        wait_for(lambda: _get(base + "/healthz")[0] == 503, 5.0, "/healthz to report the stall")
        assert "stalled" in _get(base + "/healthz")[1]
        assert "grace_edge_line_source_stalls_total 1.0" in _get(base + "/metrics")[1]
        source.release(1)
        wait_for(lambda: _get(base + "/healthz")[0] == 200, 5.0, "/healthz to recover")
    finally:
        service.stop()  # the source is still blocked waiting for a frame: stop must not wait for it
        started = time.monotonic()
        waiter.join(20)
        source.end()
    assert not waiter.is_alive() and time.monotonic() - started < 15
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    kinds = [e.get("event") for e in events]
    assert kinds.index("source_stalled") < kinds.index("source_resumed") < kinds.index("stopped")
    assert len(part_events(tmp_path / "events.jsonl")) == 6


def test_an_roi_mask_decides_which_defects_count(tmp_path: Path, model: Path, neu_frames) -> None:
    import cv2

    mask = np.zeros((200, 200), np.uint8)
    mask[100:, :] = 255  # only the lower half is inspected; the graph's boxes are all in the upper half
    cv2.imwrite(str(tmp_path / "roi.png"), mask)
    frames = [Frame(f"f{i}", neu_frames[i]) for i in range(3)]
    config = build(tmp_path, model, verdict={"thresholds": {"default": 0.5}, "roi_mask": "roi.png"})
    service = LineService(config, source_factory=lambda _: iter(frames))
    service.start()
    assert service.wait().verdicts == {"ok": 3}


def test_a_busy_http_port_is_one_line_and_nothing_is_left_running(tmp_path: Path, model: Path, neu_frames) -> None:
    import socket

    import pytest

    from grace_edge.errors import InputError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = build(tmp_path, model, http={"port": port})
        service = LineService(config, source_factory=lambda _: iter([Frame("f0", neu_frames[0])]))
        with pytest.raises(InputError, match=f"http 127.0.0.1:{port}: cannot listen") as info:
            service.start()
    assert "\n" not in str(info.value)
    assert all(not sink._thread.is_alive() for sink in service.sinks)


def test_stop_drains_queued_and_in_flight_frames(tmp_path: Path, model: Path, neu_frames) -> None:
    source = GatedSource(neu_frames)
    config = build(tmp_path, model, queue={"size": 4, "in_flight": 2})
    service = LineService(config, detector_factory=lambda: SlowDetector(model, delay=0.3), source_factory=source)
    service.start()
    source.release(6)
    wait_for(lambda: service.metrics.value("grace_edge_line_in_flight") == 2 and len(service.queue) == 3,
             what="2 frames in flight, 1 waiting for a slot, 3 queued")
    service.stop()  # what SIGTERM does
    summary = service.wait()
    source.end()
    assert summary.verdicts == {"reject": 6}  # every one judged, none given up on


def test_what_the_drain_time_cannot_judge_is_uninspected_shutdown(tmp_path: Path, model: Path, neu_frames) -> None:
    source = GatedSource(neu_frames)
    config = build(tmp_path, model, queue={"size": 4, "in_flight": 1}, drain_s=0.2)
    service = LineService(config, detector_factory=lambda: SlowDetector(model, delay=2.0), source_factory=source)
    service.start()
    source.release(3)
    wait_for(lambda: service.metrics.value("grace_edge_line_in_flight") == 1, what="a frame in flight")
    service.stop()
    summary = service.wait()
    source.end()
    assert summary.verdicts == {"uninspected": 3} and summary.reasons == {"shutdown": 3}
    assert all(e["reason"] == "shutdown" for e in part_events(tmp_path / "events.jsonl"))
