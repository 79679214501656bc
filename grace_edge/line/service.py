"""The line service: source -> bounded frame queue -> ``Detector.submit`` (bounded in flight) -> verdict -> sinks.

Threads: the source's (it may block in a camera SDK, so nothing waits on it), the dispatcher's (queue -> detector),
the detector's workers (judge each result in its done-callback and hand the event to every sink's own queue), each
sink's, and the caller's, which watches for a stalled source and, on :meth:`stop` (SIGTERM/SIGINT), drains.

Exactly one verdict per captured frame: a part is registered when captured and leaves the register when its event
is emitted, whichever path comes first (judged, dropped, unreadable, backend error); whatever is still registered
when the drain time is up is emitted as ``uninspected: shutdown``. Nothing is ever emitted as ``ok`` without a
detector result.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter as Tally
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from grace_edge.errors import InputError
from grace_edge.line.config import LineConfig
from grace_edge.line.events import part_event, service_event
from grace_edge.line.metrics import LineMetrics, serve_http
from grace_edge.line.sinks import Item, Sink, make_sinks
from grace_edge.line.sources import Capture, open_source, stamp
from grace_edge.line.verdict import (BACKEND_ERROR, DROPPED, REJECT, SHUTDOWN, UNINSPECTED, UNREADABLE, Verdict,
                                     VerdictRules, load_roi, uninspected)
from grace_edge.runtime.sources import Frame

log = logging.getLogger("grace_edge.line")


class FrameQueue:
    """Bounded FIFO between the source and the dispatcher: ``block`` makes the source wait for room,
    ``drop-oldest`` makes room by taking out the oldest frame (returned to the caller, who reports it)."""

    def __init__(self, size: int, policy: str) -> None:
        self.size, self.policy = size, policy
        self._items: deque[Capture] = deque()
        self._cond = threading.Condition()

    def put(self, capture: Capture, stopping: threading.Event) -> Capture | None:
        """Queue ``capture``; returns the frame that had to make room (drop-oldest), else None. Once ``stopping`` is
        set a blocked put goes in anyway (one over the bound): the drain judges it."""
        with self._cond:
            dropped = None
            if self.policy == "drop-oldest":
                if len(self._items) >= self.size:
                    dropped = self._items.popleft()
            else:
                while len(self._items) >= self.size and not stopping.is_set():
                    self._cond.wait(0.05)
            self._items.append(capture)
            self._cond.notify_all()
            return dropped

    def get(self, timeout: float) -> Capture | None:
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            if not self._items:
                return None
            capture = self._items.popleft()
            self._cond.notify_all()
            return capture

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class Summary:
    captured: int
    verdicts: dict[str, int]
    reasons: dict[str, int]
    dropped: int

    def line(self) -> str:
        v = self.verdicts
        why = ", ".join(f"{k} {n}" for k, n in sorted(self.reasons.items()))
        return (f"{self.captured} parts: {v.get('ok', 0)} ok, {v.get('reject', 0)} reject, "
                f"{v.get('uninspected', 0)} uninspected" + (f" ({why})" if why else ""))


class LineService:
    """Run a line from a :class:`LineConfig`: ``run()`` (blocking, SIGTERM/SIGINT drain), or ``start()`` /
    ``stop()`` / ``wait()``. ``detector_factory`` and ``source_factory`` replace ``Detector.open`` and the
    configured source (tests, or a camera SDK of your own: an iterator of grace_edge.runtime.sources.Frame);
    ``extra_sinks`` (grace_edge.line.sinks.Sink subclasses) get every event next to the configured ones."""

    def __init__(self, config: LineConfig, *, detector_factory: Callable[[], Any] | None = None,
                 source_factory: Callable[[int], Iterator[Frame]] | None = None,
                 extra_sinks: tuple[Sink, ...] = ()) -> None:
        self.config = config
        self.metrics = LineMetrics()
        self.run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        roi = load_roi(config.verdict.roi_mask) if config.verdict.roi_mask else None
        self.rules = VerdictRules(config.verdict.thresholds, config.verdict.min_area_px, roi)
        self._detector_factory = detector_factory or self._open_detector
        self._source_factory = source_factory or (lambda channels: open_source(config.source, channels))
        self._extra_sinks = tuple(extra_sinks)
        self.queue = FrameQueue(config.queue.size, config.queue.policy)
        self._slots = threading.BoundedSemaphore(config.queue.in_flight)
        self._stopping = threading.Event()
        self._source_done = threading.Event()
        self._dispatched = threading.Event()
        self._wake = threading.Event()  # set by stop() and by the dispatcher's end: wait() looks up at once
        self._lock = threading.Lock()
        self._open: dict[str, Capture] = {}  # captured and not yet emitted
        self._closed = False
        self._detector: Any = None
        self._last_frame = time.monotonic()
        self._stalled = False
        self._source_state = "starting"
        self.tally: Tally[str] = Tally()
        self.reasons: Tally[str] = Tally()
        self.captured = 0
        self.sinks: list[Sink] = []
        self.http: Any = None
        self.model_name = Path(config.model.path).name if "://" not in config.model.path else config.model.path

    # --- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the detector, the source and every sink, then start the threads; any failure undoes the rest."""
        try:
            self._detector = self._new_detector()
            frames = self._source_factory(self._detector.meta.channels)
            self.sinks = make_sinks(self.config, self.metrics) + list(self._extra_sinks)
            for sink in self.sinks:
                try:
                    sink.start(self.metrics)
                except OSError as err:  # a port in use, a folder it may not write: one line naming the sink
                    raise InputError(f"sink {sink.name}: {err.strerror or err}") from None
            if self.config.http:
                self.http = serve_http(self.metrics, self.health, self.config.http.host, self.config.http.port)
        except BaseException:
            self._close_all(0.5)
            raise
        self._source_state = "running"
        self._last_frame = time.monotonic()  # the stall clock starts now, not before the (slow) backend opened
        self.metrics.source_alive.set(1)
        self._service("started", f"model {self.model_name} on {self._detector.backend}, run {self.run_id}")
        self._source_thread = threading.Thread(target=self._read_source, args=(frames,), name="grace-edge-line-source",
                                               daemon=True)  # daemon: a camera stuck in its SDK must not hang exit
        self._dispatch_thread = threading.Thread(target=self._dispatch, name="grace-edge-line-dispatch", daemon=True)
        self._source_thread.start()
        self._dispatch_thread.start()

    def stop(self) -> None:
        """Stop taking frames and drain (safe from a signal handler: it only sets flags)."""
        self._stopping.set()
        self._wake.set()

    def wait(self) -> Summary:
        """Until the source ends or stop() is called; then drain in-flight frames and flush every sink."""
        period = min(0.5, self.config.source.stall_s / 4)
        while not self._stopping.is_set() and not self._dispatched.is_set():
            self._watch_source()
            self._wake.wait(period)
        self._stopping.set()
        deadline = time.monotonic() + self.config.drain_s
        self._dispatch_thread.join(max(0.0, deadline - time.monotonic()))
        self._wait_in_flight(deadline)
        with self._lock:
            left = list(self._open.values())
        for capture in left:  # not judged within the drain time: said so, never passed
            self._emit(capture, uninspected(SHUTDOWN, f"not judged within drain_s={self.config.drain_s}"))
        summary = Summary(self.captured, dict(self.tally), dict(self.reasons), int(self.metrics.value(
            "grace_edge_line_dropped_total")))
        self._service("stopped", summary.line())
        self._close_all(max(1.0, deadline - time.monotonic()))
        return summary

    def run(self) -> Summary:
        """start(), wait(); SIGTERM and SIGINT (when called on the main thread) stop and drain."""
        self.start()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: self.stop())
        try:
            return self.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def health(self) -> tuple[bool, str]:
        if self._detector is None:
            return False, "backend not open"
        if self._source_state != "running":
            return False, f"source {self._source_state}"
        if self._stalled:
            return False, f"source stalled: no frame for {time.monotonic() - self._last_frame:.1f} s"
        return True, ""

    # --- the source ---------------------------------------------------------------------------------------------

    def _read_source(self, frames: Iterator[Frame]) -> None:
        try:
            for capture in stamp(frames, self.run_id):
                if not self._capture(capture) or self._stopping.is_set():
                    break
            else:
                self._source_ended("ended", "the source has no more frames")
        except Exception as error:  # noqa: BLE001 (any camera failure is reported, and the service goes on to drain)
            self._source_ended("failed", f"{type(error).__name__}: {error}")
        finally:
            self._source_done.set()
            close = getattr(frames, "close", None)
            if close:
                close()

    def _capture(self, capture: Capture) -> bool:
        """Register and queue one captured frame; False once the service has closed."""
        with self._lock:
            if self._closed:
                return False
            self._open[capture.part_id] = capture
            self.captured += 1
        self.metrics.frames.inc()
        self._last_frame = time.monotonic()
        if self._stalled:
            self._stalled = False
            self.metrics.source_alive.set(1)
            self._service("source_resumed", f"frame {capture.part_id}")
        out = self.queue.put(capture, self._stopping)
        self.metrics.queue_depth.set(len(self.queue))
        if out is not None:
            self.metrics.dropped.inc()
            self._emit(out, uninspected(DROPPED, f"queue of {self.queue.size} full (drop-oldest)"))
        return True

    def _source_ended(self, state: str, detail: str) -> None:
        self._source_state = state
        self.metrics.source_alive.set(0)
        (log.info if state == "ended" else log.error)("source %s: %s", state, detail)
        self._service(f"source_{state}", detail)

    def _watch_source(self) -> None:
        quiet = time.monotonic() - self._last_frame
        if self._source_state == "running" and not self._stalled and quiet > self.config.source.stall_s:
            self._stalled = True
            self.metrics.source_stalls.inc()
            self.metrics.source_alive.set(0)
            log.error("source stalled: no frame for %.1f s (stall_s %.1f)", quiet, self.config.source.stall_s)
            self._service("source_stalled", f"no frame for {quiet:.1f} s")

    # --- the detector -------------------------------------------------------------------------------------------

    def _open_detector(self) -> Any:
        from grace_edge.runtime.detector import Detector

        from grace_edge.runtime.backends import is_server_url
        from grace_edge.runtime.options import RuntimeOptions

        m = self.config.model
        options = RuntimeOptions() if is_server_url(m.path) else RuntimeOptions(m.backend, m.device, shared_cpu=m.shared_cpu)
        return Detector.open(m.path, conf=1.0, workers=m.workers, options=options)

    def _new_detector(self) -> Any:
        detector = self._detector_factory()
        try:
            detector.conf = self.rules.floor(detector.names)  # raises if the thresholds name a class the model lacks
        except BaseException:
            detector.close()
            raise
        self.metrics.backend_alive.set(1)
        return detector

    def _backend_failed(self, detector: Any, error: BaseException) -> None:
        with self._lock:
            if self._detector is not detector:  # another of its frames already reported it
                return
            self._detector = None
        self.metrics.backend_failures.inc()
        self.metrics.backend_alive.set(0)
        log.error("backend failed (%s: %s); reopening it", type(error).__name__, error)
        self._service("backend_failed", f"{type(error).__name__}: {error}")
        detector.close()

    def _detector_or_reopen(self) -> Any:
        detector = self._detector
        if detector is not None:
            return detector
        try:
            detector = self._new_detector()
        except Exception as error:  # noqa: BLE001
            self._stopping.wait(self.config.model.reopen_s)
            raise RuntimeError(f"backend unavailable: reopening failed ({type(error).__name__}: {error})") from None
        with self._lock:
            self._detector = detector
        self._service("backend_reopened", f"{self.model_name} on {detector.backend}")
        return detector

    # --- dispatch and judge -------------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        try:
            while True:
                capture = self.queue.get(0.05)
                self.metrics.queue_depth.set(len(self.queue))
                if capture is None:
                    if self._stopping.is_set() and not self._source_done.is_set():
                        self._source_done.wait(0.2)  # a frame being queued right now is still judged
                    if (self._source_done.is_set() or self._stopping.is_set()) and not len(self.queue):
                        return  # (a source still stuck in its SDK after that: its late frame is swept up)
                    continue
                self._submit(capture)
        finally:
            self._dispatched.set()
            self._wake.set()

    def _submit(self, capture: Capture) -> None:
        if capture.image is None:
            self._emit(capture, uninspected(UNREADABLE, capture.error))
            return
        self._slots.acquire()  # bounded in flight: released by the done-callback
        try:
            detector = self._detector_or_reopen()
        except RuntimeError as error:
            self._slots.release()
            self._emit(capture, uninspected(BACKEND_ERROR, str(error)))
            return
        try:
            future = detector.submit(capture.image)
        except InputError as error:  # the frame itself (size, channels) cannot be run
            self._slots.release()
            self._emit(capture, uninspected(UNREADABLE, str(error)))
            return
        except Exception as error:  # noqa: BLE001 (a closed or broken backend)
            self._slots.release()
            self._emit(capture, uninspected(BACKEND_ERROR, f"{type(error).__name__}: {error}"))
            self._backend_failed(detector, error)
            return
        self.metrics.in_flight.inc()
        future.add_done_callback(lambda f, c=capture, d=detector: self._judged(c, d, f))

    def _judged(self, capture: Capture, detector: Any, future: Any) -> None:
        try:
            error = future.exception()
            if error is None:
                verdict = self.rules.judge(future.result()[0], capture.image.shape)
            else:
                verdict = uninspected(BACKEND_ERROR, f"{type(error).__name__}: {error}")
                self._backend_failed(detector, error)
            self._emit(capture, verdict)
        finally:
            self.metrics.in_flight.dec()
            self._slots.release()

    def _wait_in_flight(self, deadline: float) -> None:
        taken = 0
        try:
            for _ in range(self.config.queue.in_flight):
                if not self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
                    return
                taken += 1
        finally:
            for _ in range(taken):
                self._slots.release()

    def _emit(self, capture: Capture, verdict: Verdict) -> None:
        with self._lock:
            if self._open.pop(capture.part_id, None) is None:  # already has its verdict
                return
            self.tally[verdict.verdict] += 1
            if verdict.reason:
                self.reasons[verdict.reason] += 1
        self.metrics.verdicts.labels(verdict.verdict).inc()
        if verdict.verdict == UNINSPECTED:
            self.metrics.uninspected.labels(verdict.reason).inc()
        elif verdict.verdict == REJECT:
            for d in verdict.defects:
                self.metrics.defects.labels(d.class_name).inc()
        detector = self._detector
        event = part_event(capture, verdict, self.config.name, self.model_name,
                           detector.backend if detector is not None else "")
        self._to_sinks(Item(event, capture.captured_mono, capture.image, verdict.defects))

    def _service(self, what: str, detail: str) -> None:
        self._to_sinks(Item(service_event(self.config.name, what, detail)))

    def _to_sinks(self, item: Item) -> None:
        for sink in self.sinks:
            sink.put(item)

    def _close_all(self, timeout: float) -> None:
        with self._lock:
            self._closed = True
        per_sink = timeout  # sinks flush in parallel: each has its own thread
        closers = [threading.Thread(target=sink.close, args=(per_sink,)) for sink in self.sinks if
                   sink._thread.is_alive()]
        for thread in closers:
            thread.start()
        for thread in closers:
            thread.join()
        if self.http is not None:
            self.http.shutdown()
            self.http.server_close()
        detector, self._detector = self._detector, None
        if detector is not None:
            detector.close()
        self.metrics.backend_alive.set(0)
