"""``Detector``: the one class a line controller embeds, the same for ONNX Runtime (CPU) and TensorRT (GPU).

The backends only run the graph; everything else happens here, on the host, identically for both:
validate and convert the images, fill the slot's input buffer (raw pixels, or a letterbox), run, then for each image
take the first ``num_detections`` rows, keep those with ``score >= conf`` and map boxes back to the image's pixels.

Concurrency: the detector owns ``workers`` slots (each with its own buffers and, on TensorRT, its own execution
context and stream). ``detect`` may be called from any number of threads (each call borrows a free slot, in
arrival order: see :class:`SlotPool`); ``submit`` queues work on a pool of ``workers`` threads, so up to ``workers``
batches are in flight. On ONNX Runtime the cores are split between the workers' runs. The same class serves a model
on a Triton server when ``open`` gets a ``grpc://`` or ``http://`` URL (grace_edge.runtime.triton_backend). Which
backend runs an artifact is the registry's choice (grace_edge.runtime.backends).
"""

from __future__ import annotations

import threading
from collections import deque
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from grace_edge.artifact import ArtifactMeta, OnnxModel
from grace_edge.errors import ArtifactError, GraceEdgeError, InputError
from grace_edge.runtime.backends import is_server_url, open_backend
from grace_edge.host_input import ImagesLike, Letterbox, check_images, fill_input
from grace_edge.runtime.options import RuntimeOptions
from grace_edge.runtime.types import STAGES, Detection


class Slot(Protocol):
    def input_buffer(self, n: int) -> np.ndarray: ...
    def run(self, n: int) -> tuple[np.ndarray, np.ndarray, dict[str, float]]: ...
    def close(self) -> None: ...


class Backend(Protocol):
    name: str
    meta: ArtifactMeta
    min_batch: int
    max_batch: int

    def create_slot(self) -> Slot: ...
    def close(self) -> None: ...


class SlotPool:
    """The free slots of a Detector, handed to waiting threads first come, first served.

    A plain queue.Queue is unfair: a thread that has just put its slot back holds the GIL and usually takes the slot
    straight back for its next frame before the waiter it woke gets to run, so with more caller threads than slots a
    few threads starve (8 threads on 2 slots: p99 above 10 s while p50 was 0.5 s). Here a returned slot goes directly
    to the longest-waiting thread."""

    class _Waiter:
        __slots__ = ("event", "slot")

        def __init__(self) -> None:
            self.event = threading.Event()
            self.slot: Slot | None = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: list[Slot] = []
        self._waiters: deque[SlotPool._Waiter] = deque()

    def put(self, slot: Slot) -> None:
        with self._lock:
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter.slot = slot
                waiter.event.set()
            else:
                self._free.append(slot)

    def get(self, check: Callable[[], None], poll: float = 0.05) -> Slot:
        """A slot, in turn; ``check()`` runs every ``poll`` seconds while waiting and raises to stop waiting."""
        with self._lock:
            if self._free:  # free slots and waiting threads never coexist: put() serves waiters first
                return self._free.pop()
            waiter = SlotPool._Waiter()
            self._waiters.append(waiter)
        try:
            while not waiter.event.wait(poll):
                check()
            return waiter.slot  # type: ignore[return-value]
        except BaseException:
            with self._lock:
                handed = waiter.slot
                if handed is None:
                    self._waiters.remove(waiter)
            if handed is not None:  # a slot arrived as we gave up: pass it on
                self.put(handed)
            raise


def _check_conf(conf: float, meta: ArtifactMeta) -> float:
    if isinstance(conf, bool):  # float(True) is 1.0: a flag passed where a threshold belongs
        raise InputError(f"conf {conf!r} must be a number between 0 and 1, not a bool")
    try:
        conf = float(conf)
    except (TypeError, ValueError):
        raise InputError(f"conf {conf!r} must be a number between 0 and 1") from None
    if not 0.0 <= conf <= 1.0:
        raise InputError(f"conf {conf} must be between 0 and 1")
    if conf < meta.conf_thres:
        warnings.warn(
            f"conf {conf} is below the artifact's in-graph score floor {meta.conf_thres}: "
            f"detections under {meta.conf_thres} were already dropped by the graph",
            stacklevel=3,
        )
    return conf


DEFAULT_CONF = 0.25  # the score threshold when neither conf nor thresholds is given


def class_floors(thresholds: Any, meta: ArtifactMeta) -> tuple[np.ndarray, float]:
    """Per label index of the artifact, the minimum score of a :class:`~grace_edge.thresholds.Thresholds` (or of a
    thresholds.yaml path), and the lowest of them as written; a class the model lacks is an InputError, a floor
    under the graph's is a warning."""
    from grace_edge.thresholds import Thresholds, load_thresholds

    if not isinstance(thresholds, Thresholds):
        thresholds = load_thresholds(thresholds)
    floors = thresholds.per_label(list(meta.names))
    lowest = min(thresholds.for_class(n) for n in meta.names)
    if lowest < meta.conf_thres:
        warnings.warn(f"thresholds: {lowest:g} is below the artifact's in-graph score floor {meta.conf_thres}: "
                      f"detections under {meta.conf_thres} were already dropped by the graph", stacklevel=3)
    return floors, lowest


def resolve_conf(conf: float | None, thresholds: Any) -> float:
    """``conf``, or the default; both a conf and thresholds is an error (which one would the line run at?)."""
    if conf is not None and thresholds is not None:
        raise InputError("conf and thresholds both given: the thresholds file sets every class's minimum score "
                         "(its 'default' for classes it does not list); pass one of them")
    return DEFAULT_CONF if conf is None else conf


class Detector:
    """A GRACE detector artifact (.onnx or .engine) ready to run; open it with :meth:`Detector.open`.

    Images are uint8 HxW, HxWx1 or HxWx3 (BGR) arrays, one or a list (see grace_edge.host_input for the exact rules).
    A raw-input (uint8_nhwc) artifact needs every image at its native size (``meta.input_shape``): another size is
    an InputError, never a silent resize. A float32_nchw artifact takes any size (letterboxed on the host).
    Batches above ``max_batch`` are split. ONNX Runtime uses every core per run, so on CPU ``workers > 1`` mainly
    overlaps host work; on TensorRT each worker has its own stream and execution context.
    """

    def __init__(self, backend: Backend, meta: ArtifactMeta, path: Path, conf: float, workers: int,
                 thresholds: Any = None) -> None:
        self.meta = meta
        self.path = path
        self.names: list[str] = list(meta.names)
        self._backend = backend
        self._floors: np.ndarray | None = None  # the minimum score per label; None: conf for every class
        if thresholds is None:
            self._conf = _check_conf(conf, meta)
        else:
            self._floors, self._conf = class_floors(thresholds, meta)
        self._workers = workers
        self._lock = threading.Lock()
        self._closed = False  # no new work accepted
        self._draining = False  # slots are being freed: detect() calls still waiting for one fail
        self._freed = threading.Event()  # set once every slot and the backend are closed
        self._worker = threading.local()  # .is_worker is True in this detector's pool threads
        self._slots = SlotPool()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grace-edge-detector")

    @classmethod
    def open(cls, path: "str | Path | OnnxModel", *, conf: float | None = None, device: str = "auto", workers: int = 1,
             cuda_graph: bool = False, backend: str = "auto", shared_cpu: bool = False,
             inference_precision: str = "fp32", thresholds: Any = None, sync: str = "blocking",
             options: RuntimeOptions | None = None) -> "Detector":
        """Open ``path``: ``.engine`` -> TensorRT on ``device`` (``auto``/``cuda``/``cuda:N``), ``.onnx`` -> a CPU backend
        (ONNX Runtime; OpenVINO with ``backend="openvino"`` and ``inference_precision`` ``fp32`` or ``bf16``),
        ``grpc://host:8001/MODEL`` or ``http://host:8000/MODEL`` -> a Triton server (:class:`RemoteDetector`).
        ``shared_cpu=True``: the CPU is shared with other busy processes (CPU backends: idle threads sleep instead of
        spinning, no thread pinning). ``conf`` is the deployment score threshold applied on the host (default 0.25);
        ``thresholds`` instead gives one per class: a :class:`grace_edge.thresholds.Thresholds` or the path of a
        ``thresholds.yaml`` (as ``grace-edge val`` writes it), applied on the host like ``conf``. ``workers`` =
        batches in flight. ``sync`` (TensorRT): ``"blocking"`` (default) waiting threads sleep on a BLOCKING_SYNC
        event; ``"spin"`` they busy-wait, a little lower latency for a CPU core per waiting worker.
        ``options``: all of the runtime choices at once, as one :class:`RuntimeOptions` (then leave the keywords)."""
        conf = resolve_conf(conf, thresholds)
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InputError(f"workers {workers!r} must be an integer >= 1")
        keywords = RuntimeOptions(backend=backend, device=str(device), inference_precision=inference_precision,
                                  shared_cpu=shared_cpu, cuda_graph=cuda_graph, sync=sync)
        if options is not None and keywords.changed():
            raise InputError(f"options and {', '.join(keywords.changed())} both given: pass one of them")
        source = path if is_server_url(path) or isinstance(path, OnnxModel) else Path(path)
        opened = open_backend(source, options or keywords, workers)
        detector_class = getattr(opened, "detector_class", cls)  # a server's model opens as a RemoteDetector
        origin = str(opened.address) if is_server_url(path) else Path(getattr(path, "origin", path))  # type: ignore
        return detector_class._from_backend(opened, origin, conf, workers, thresholds)

    @classmethod
    def _from_backend(cls, backend: Backend, path: Any, conf: float, workers: int,
                      thresholds: Any = None) -> "Detector":
        """A detector with ``workers`` slots on an opened ``backend`` (closed again if anything fails)."""
        slots: list[Slot] = []
        try:
            detector = cls(backend, backend.meta, path, conf, workers, thresholds)
            for _ in range(workers):
                slots.append(backend.create_slot())
        except BaseException:
            for slot in slots:
                slot.close()
            backend.close()
            raise
        for slot in slots:
            detector._slots.put(slot)
        return detector

    @property
    def backend(self) -> str:
        """``"onnxruntime"``, ``"openvino"`` or ``"tensorrt"``."""
        return self._backend.name

    @property
    def max_batch(self) -> int:
        """Largest batch one graph run takes; larger inputs are split into chunks of this size."""
        return self._backend.max_batch

    @property
    def conf(self) -> float:
        """The score threshold of every class; with per-class thresholds, the lowest of them."""
        return self._conf

    @conf.setter
    def conf(self, value: float) -> None:
        """One threshold for every class again (per-class thresholds are dropped)."""
        self._conf = _check_conf(value, self.meta)
        self._floors = None

    @property
    def class_thresholds(self) -> np.ndarray | None:
        """The minimum score per label index when opened with ``thresholds``, else None (``conf`` applies)."""
        return None if self._floors is None else self._floors.copy()

    # --- public calls ---------------------------------------------------------------------------------------------

    def detect_arrays(self, images: ImagesLike) -> list[np.ndarray]:
        """Per image a float32 ``[n, 6]`` array ``x1, y1, x2, y2, score, class`` in original pixels, best first."""
        self._ensure_open()
        return self._run(check_images(images, self.meta), None)

    def detect(self, images: ImagesLike) -> list[list[Detection]]:
        """Per image a list of :class:`Detection` (score >= conf), best first."""
        return [self._to_detections(rows) for rows in self.detect_arrays(images)]

    def submit(self, images: ImagesLike) -> Future:
        """Queue ``images`` and return a Future whose ``result()`` is ``detect(images)``.

        Bad input raises InputError here, at once. The images are copied, so the caller may reuse its buffers."""
        self._ensure_open()
        checked = [np.array(im, copy=True) for im in check_images(images, self.meta)]
        with self._lock:
            self._ensure_open()
            return self._executor.submit(self._detect_checked, checked)

    def profile(self, images: ImagesLike) -> tuple[list[np.ndarray], dict[str, float]]:
        """Like :meth:`detect_arrays`, plus seconds spent per stage (preprocess, h2d, compute, d2h, postprocess)."""
        self._ensure_open()
        times = dict.fromkeys(STAGES, 0.0)
        t0 = time.perf_counter()
        checked = check_images(images, self.meta)
        times["preprocess"] += time.perf_counter() - t0
        return self._run(checked, times), times

    def close(self) -> None:
        """Stop accepting work, finish everything already submitted, then free every slot and the backend.

        Safe to call twice, and from a submitted future's done-callback: that runs on one of our pool threads, which
        cannot wait for itself, so there the freeing finishes on a helper thread right after the callback returns
        (:meth:`wait_closed` waits for it)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if getattr(self._worker, "is_worker", False):
            threading.Thread(target=self._free, name="grace-edge-detector-close").start()
        else:
            self._free()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until a :meth:`close` has freed the slots and the backend; False on timeout."""
        return self._freed.wait(timeout)

    def __enter__(self) -> "Detector":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"conf={self._conf}, workers={self._workers}"
        return f"Detector({str(self.path)!r}, backend={self.backend!r}, {state})"

    # --- internals ------------------------------------------------------------------------------------------------

    def _free(self) -> None:
        self._executor.shutdown(wait=True)  # queued work runs to the end (cancel_futures=False)
        self._draining = True
        for _ in range(self._workers):
            self._slots.get(lambda: None).close()  # waits for detect() calls still holding a slot
        self._backend.close()
        self._freed.set()

    def _ensure_open(self) -> None:
        if self._closed:
            raise GraceEdgeError(f"Detector for {self.path} is closed; open it again with Detector.open")

    def _detect_checked(self, images: list[np.ndarray]) -> list[list[Detection]]:
        self._worker.is_worker = True  # this pool thread (and the done-callbacks it runs) belongs to us
        return [self._to_detections(rows) for rows in self._run(images, None)]

    def _acquire(self) -> Slot:
        return self._slots.get(self._stop_if_draining)

    def _stop_if_draining(self) -> None:
        """Stop a thread waiting for a slot once close() frees them (queued work still gets slots until then)."""
        if self._draining:
            raise GraceEdgeError(f"Detector for {self.path} is closed; open it again with Detector.open")

    def _run(self, images: list[np.ndarray], times: dict[str, float] | None) -> list[np.ndarray]:
        results: list[np.ndarray] = []
        step = self._backend.max_batch
        for start in range(0, len(images), step):
            slot = self._acquire()
            try:
                results.extend(self._run_chunk(slot, images[start : start + step], times))
            finally:
                self._slots.put(slot)
        return results

    def _run_chunk(self, slot: Slot, images: list[np.ndarray], times: dict[str, float] | None) -> list[np.ndarray]:
        t0 = time.perf_counter()
        run_n = max(len(images), self._backend.min_batch)  # a static-batch graph gets zero rows as padding
        transforms = fill_input(images, self.meta, slot.input_buffer(run_n))
        t1 = time.perf_counter()
        detections, counts, stages = slot.run(run_n)
        t2 = time.perf_counter()
        out = [self._postprocess(detections[i], counts[i], transforms[i], i) for i in range(len(images))]
        if times is not None:
            times["preprocess"] += t1 - t0
            times["postprocess"] += time.perf_counter() - t2
            for key, value in stages.items():
                times[key] += value
        return out

    def _postprocess(self, rows: np.ndarray, count: Any, transform: Letterbox | None, index: int) -> np.ndarray:
        k = int(count)
        if not 0 <= k <= len(rows):
            raise ArtifactError(f"{self.path}: graph returned num_detections={k} for image {index}, "
                                f"outside 0..{len(rows)}")
        valid = rows[:k]
        kept = valid[valid[:, 4] >= self._min_scores(valid[:, 5])].copy()  # copy: the slot's buffer is reused
        classes = kept[:, 5]
        if len(kept) and (classes.min() < 0 or classes.max() >= len(self.names) or (classes % 1).any()):
            raise ArtifactError(f"{self.path}: graph returned class ids {np.unique(classes).tolist()} but the "
                                f"artifact names {len(self.names)} classes")
        if transform is not None:
            transform.unmap(kept)
        return kept

    def _min_scores(self, classes: np.ndarray) -> Any:
        """The score each row must reach: ``conf``, or its class's threshold (an out-of-range class id is looked up
        clipped here and reported by the class check after filtering, as with ``conf``)."""
        if self._floors is None:
            return self._conf
        index = np.clip(np.nan_to_num(classes, nan=0.0), 0, len(self._floors) - 1).astype(np.int64)
        return self._floors[index]

    def _to_detections(self, rows: np.ndarray) -> list[Detection]:
        return [
            Detection(float(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), int(r[5]), self.names[int(r[5])])
            for r in rows
        ]
