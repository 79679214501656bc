"""What every sink shares: its own bounded queue and thread, so a slow or failing sink (a broker away, a full disk,
a PLC off the network) never blocks the pipeline or the other sinks. Each failure is counted
(``grace_edge_line_sink_errors``) and logged; a full queue loses the event for that sink only, counted in
``grace_edge_line_sink_overflow`` and logged, never silently (the other sinks still have it)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from grace_edge.line.metrics import LineMetrics
from grace_edge.runtime.types import Detection

log = logging.getLogger("grace_edge.line")


@dataclass(frozen=True)
class Item:
    """One event on its way to a sink; ``captured_mono`` (part events only) is what latency is measured from."""

    event: dict[str, Any]
    captured_mono: float | None = None
    image: np.ndarray | None = None
    defects: tuple[Detection, ...] = ()

    @property
    def is_part(self) -> bool:
        return self.captured_mono is not None


class Sink:
    """Subclasses set ``name`` and implement ``open`` (on the caller's thread: errors stop the start-up), ``handle``
    (one item, on the sink's thread), and optionally ``idle``, ``flush`` and ``shutdown``."""

    name = "sink"
    poll_s = 0.05  # how often idle() runs when no events come

    def __init__(self, metrics: LineMetrics | None, queue_size: int) -> None:
        self.metrics = metrics  # None: the LineService it is given to fills in its own
        self._queue: queue.Queue[Item] = queue.Queue(queue_size)
        self._stopping = threading.Event()
        self._deadline = 0.0
        self._thread = threading.Thread(target=self._run, name=f"grace-edge-line-{self.name}", daemon=True)
        self._last_warning = 0.0

    # --- what the service calls ---------------------------------------------------------------------------------

    def start(self, metrics: LineMetrics | None = None) -> None:
        self.metrics = self.metrics or metrics or LineMetrics()
        self.open()
        self._thread.start()

    def put(self, item: Item) -> None:
        """Queue ``item`` without ever blocking the caller."""
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.metrics.sink_overflow.labels(self.name).inc()
            self.warn(f"queue full ({self._queue.maxsize}): event {item.event.get('part_id', '')} lost for this sink")

    def close(self, timeout: float) -> bool:
        """Deliver what is queued and flush, for at most ``timeout`` seconds; False if the sink did not finish."""
        self._deadline = time.monotonic() + timeout
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout + 1.0)
        if self._thread.is_alive():
            log.error("sink %s: did not finish within %.1f s; %d event(s) still queued", self.name, timeout,
                      self._queue.qsize())
            return False
        return True

    # --- what subclasses implement ------------------------------------------------------------------------------

    def open(self) -> None:
        pass

    def handle(self, item: Item) -> None:
        raise NotImplementedError

    def idle(self) -> None:
        pass

    def flush(self, deadline: float) -> None:
        """Finish delivering (``deadline`` is a time.monotonic() value)."""

    def shutdown(self) -> None:
        pass

    # --- helpers ------------------------------------------------------------------------------------------------

    def delivered(self, item_or_mono: Item | float | None, at: float | None = None) -> None:
        """Record the capture -> delivered latency of a part event."""
        mono = item_or_mono.captured_mono if isinstance(item_or_mono, Item) else item_or_mono
        if mono is not None:
            self.metrics.latency.labels(self.name).observe((at or time.perf_counter()) - mono)

    def failed(self, what: str, error: BaseException) -> None:
        self.metrics.sink_errors.labels(self.name).inc()
        self.warn(f"{what}: {type(error).__name__}: {error}")

    def warn(self, message: str) -> None:
        """Log a problem, at most once a second per sink (a broker away for an hour must not flood the log)."""
        now = time.monotonic()
        if now - self._last_warning >= 1.0:
            self._last_warning = now
            log.warning("sink %s: %s", self.name, message)

    def _run(self) -> None:
        while not (self._stopping.is_set() and self._queue.empty()):
            try:
                item = self._queue.get(timeout=self.poll_s)
            except queue.Empty:
                self._guard("idle", self.idle)
                continue
            self._guard("event", self.handle, item)
        self._guard("flush", self.flush, self._deadline)
        self._guard("shutdown", self.shutdown)

    def _guard(self, what: str, call: Any, *args: Any) -> None:
        try:
            call(*args)
        except Exception as error:  # noqa: BLE001 (a sink's failure must not end its thread)
            self.failed(what, error)
