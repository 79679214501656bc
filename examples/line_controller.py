"""A line-controller loop: camera frames -> Detector.submit -> callback that raises a reject signal.

Runs anywhere: with a .onnx artifact on ONNX Runtime (CPU), with a .engine on TensorRT. A folder of images stands in
for the camera (e.g. NEU-DET's IMAGES/), replayed in a loop::

    python examples/line_controller.py export/grace-s-640-raw200x200x1.onnx ../shared/data/NEU-DET/IMAGES --count 200

In a real line, replace ``FolderCamera`` with your camera SDK's grab loop and ``RejectGate.fire`` with the PLC output.
"""

from __future__ import annotations

import argparse
import itertools
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from grace_edge.runtime import Detection, Detector


class FolderCamera:
    """Replays the images of a folder as gray camera frames, optionally paced at ``fps``."""

    def __init__(self, folder: Path, fps: float = 0.0) -> None:
        self.paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))
        if not self.paths:
            raise SystemExit(f"{folder}: no images to use as camera frames")
        self.period = 1.0 / fps if fps > 0 else 0.0

    def frames(self, count: int) -> Iterator[tuple[int, str, np.ndarray]]:
        next_time = time.perf_counter()
        for part_id, path in zip(range(count), itertools.cycle(self.paths)):
            if self.period:
                next_time += self.period
                time.sleep(max(0.0, next_time - time.perf_counter()))
            frame = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if frame is None:
                print(f"camera: cannot read {path.name}; part {part_id} goes to manual inspection")
                continue
            yield part_id, path.name, frame


@dataclass
class RejectGate:
    """Collects results from the detector's callbacks (they run on the detector's worker threads)."""

    rejected: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fire(self, part_id: int, name: str, defects: list[Detection]) -> None:
        worst = max(defects, key=lambda d: d.score)
        print(f"REJECT part {part_id} ({name}): {worst.class_name} {worst.score:.2f} at "
              f"({worst.x1:.0f},{worst.y1:.0f})-({worst.x2:.0f},{worst.y2:.0f}), {len(defects)} defect(s)")

    def on_result(self, part_id: int, name: str, captured: float, future: Future) -> None:
        latency = time.perf_counter() - captured
        error = future.exception()
        with self.lock:
            self.latencies.append(latency)
            if error is not None:  # never let a failed inspection pass as "good"
                self.failed.append(part_id)
        if error is not None:
            print(f"ERROR part {part_id} ({name}): {error}; sent to manual inspection")
            return
        defects = future.result()[0]  # the detector already applied conf = reject_conf
        if defects:
            with self.lock:
                self.rejected.append(part_id)
            self.fire(part_id, name, defects)


def run(artifact: Path, folder: Path, count: int, reject_conf: float, workers: int, fps: float) -> dict[str, float]:
    gate = RejectGate()
    in_flight = threading.BoundedSemaphore(2 * workers)  # back-pressure: wait rather than queue without bound
    futures = []
    with Detector.open(artifact, conf=reject_conf, workers=workers) as det:
        print(f"detector: {det.backend}, classes {det.names}, reject at score >= {reject_conf}")
        start = time.perf_counter()
        for part_id, name, frame in FolderCamera(folder, fps).frames(count):
            in_flight.acquire()
            captured = time.perf_counter()
            future = det.submit(frame)
            future.add_done_callback(lambda f: in_flight.release())
            future.add_done_callback(lambda f, p=part_id, n=name, t=captured: gate.on_result(p, n, t, f))
            futures.append(future)
        for future in futures:
            future.exception()  # wait for all; errors were reported by the callback
        elapsed = time.perf_counter() - start
    lat = np.array(gate.latencies) * 1000
    stats = {
        "parts": len(futures),
        "rejected": len(gate.rejected),
        "failed": len(gate.failed),
        "parts_per_s": len(futures) / elapsed if elapsed else 0.0,
        "latency_ms_p50": float(np.percentile(lat, 50)) if lat.size else 0.0,
        "latency_ms_p99": float(np.percentile(lat, 99)) if lat.size else 0.0,
    }
    print(f"{stats['parts']} parts, {stats['rejected']} rejected, {stats['failed']} failed, "
          f"{stats['parts_per_s']:.1f} parts/s, latency p50 {stats['latency_ms_p50']:.1f} ms, "
          f"p99 {stats['latency_ms_p99']:.1f} ms")
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact", type=Path, help=".onnx (CPU) or .engine (GPU) from grace-edge export / build")
    parser.add_argument("images", type=Path, help="folder of images standing in for the camera")
    parser.add_argument("--count", type=int, default=100, help="number of parts (frames) to inspect (default 100)")
    parser.add_argument("--reject-conf", type=float, default=0.5,
                        help="reject a part when a defect scores at least this (default 0.5)")
    parser.add_argument("--workers", type=int, default=2, help="batches in flight in the detector (default 2)")
    parser.add_argument("--fps", type=float, default=0.0, help="camera frame rate; 0 = as fast as possible")
    args = parser.parse_args()
    run(args.artifact, args.images, args.count, args.reject_conf, args.workers, args.fps)


if __name__ == "__main__":
    main()
