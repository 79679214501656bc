"""Many lines: N single-frame clients through a Triton server vs N threads sharing one embedded Detector.

Same artifact, same frames, same run, interleaved in rounds (embedded round, server round, ...), so both see the
same machine load. Per call latency (one frame, ``detect``) from every client thread; throughput = frames / wall
time of a round. The server is the real tritonserver 2.51 bundled in nvidia-pytriton (python backend running
grace-edge's runtime, dynamic batching) on this machine's loopback; the embedded side is one ``Detector`` with
``--workers`` slots shared by the N threads. On a CPU-only box both compete for the same cores, so this measures
the serving paths, not a GPU server.

Run it in the Triton environment (``bash .ci/triton_env.sh`` makes ``.venv-triton``), on an ONNX artifact:

    python benchmarks/serve_vs_embedded.py --make-model             # once, in the main venv (needs torch)
    .venv-triton/bin/python benchmarks/serve_vs_embedded.py          # results/serve_vs_embedded.{json,md}

``--make-model`` exports an UNTRAINED GRACE-n (speed is the architecture's; detections are not a trained model's).

A third side, "embedded (before)", rebuilds the embedded Detector as it was before issue 12: slots in a
``queue.LifoQueue`` polled by waiting threads (a thread returning its slot could take it straight back) and every
worker's ONNX Runtime run using all cores. It shows, in the same run, why the embedded p99 used to reach seconds.
"""

from __future__ import annotations

from _results import RESULTS, publish  # benchmarks/_results.py

import argparse
import datetime as dt
import os
import queue
import shlex
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / "runs" / "serve"
DEFAULT_MODEL = WORK / "grace-n-untrained.onnx"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="ONNX artifact (default %(default)s)")
    p.add_argument("--make-model", action="store_true", help="export the default untrained GRACE-n and exit")
    p.add_argument("--imgsz", type=int, default=320, help="network size for --make-model (default %(default)s)")
    p.add_argument("--clients", type=int, default=8, help="concurrent single-frame clients (default %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="embedded Detector slots (default %(default)s)")
    p.add_argument("--frames", type=int, default=12, help="frames per client per round (default %(default)s)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per side (default %(default)s)")
    p.add_argument("--env", type=Path, default=Path(os.environ.get("GRACE_TRITON_ENV", REPO / ".venv-triton")),
                   help="Python environment with nvidia-pytriton (default %(default)s)")
    p.add_argument("--tag", default="serve_vs_embedded", help="results file stem (default %(default)s)")
    return p.parse_args()


def log(msg: str) -> None:
    print(f"[serve_vs_embedded {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_model(path: Path, imgsz: int) -> None:
    sys.path.insert(0, str(REPO))
    from tests.helpers.models import randomized_model  # the tests' untrained GRACE-n, trained-like statistics

    from grace_edge.export.onnx_export import export_onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(randomized_model("grace-n", seed=0, imgsz=imgsz), path, imgsz=imgsz, raw_input=(200, 200, 1),
                dynamic_batch=True)
    log(f"wrote {path}")


def frames_for(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(80, 160, (200, 200), np.uint8)
    return [np.clip(base.astype(np.int16) + rng.integers(-40, 40, (200, 200)), 0, 255).astype(np.uint8)
            for _ in range(n)]


class UnfairPool:
    """The Detector's slot pool before issue 12: a LifoQueue polled every 50 ms; no order among waiting threads."""

    def __init__(self) -> None:
        self.queue: queue.LifoQueue = queue.LifoQueue()

    def put(self, slot: Any) -> None:
        self.queue.put(slot)

    def get(self, check: Callable[[], None], poll: float = 0.05) -> Any:
        while True:
            check()
            try:
                return self.queue.get(timeout=poll)
            except queue.Empty:
                continue


def embedded_before(model: Path, workers: int) -> Any:
    """A Detector with the pre-issue-12 slot pool and all cores for every worker's ONNX Runtime session."""
    from grace_edge.artifact import read_onnx
    from grace_edge.runtime.detector import Detector
    from grace_edge.runtime.onnxruntime_backend import OnnxRuntimeBackend

    det = Detector._from_backend(OnnxRuntimeBackend(model, *read_onnx(model), threads=os.cpu_count()),
                                 model, 0.25, workers)
    pool = UnfairPool()
    for _ in range(workers):
        pool.put(det._slots.get(lambda: None))
    det._slots = pool
    return det


def run_clients(calls: list[Callable[[np.ndarray], Any]], frames: list[np.ndarray]) -> tuple[list[float], float]:
    """Each callable in its own thread, every frame once; per-call latencies and the round's wall time."""
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(len(calls) + 1)

    def client(call: Callable[[np.ndarray], Any]) -> None:
        mine = []
        start.wait()
        for frame in frames:
            t0 = time.perf_counter()
            call(frame)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - t0


def summary(latencies: list[float], walls: list[float], frames: int) -> dict[str, float]:
    ms = np.array(latencies) * 1e3
    return {"frames": frames, "throughput_fps": frames / sum(walls), "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max())}


def main() -> int:
    args = parse_args()
    if args.make_model:
        make_model(args.model, args.imgsz)
        return 0
    if not args.model.exists():
        sys.exit(f"serve_vs_embedded: {args.model} not found; make it with --make-model (main venv) or pass --model")
    from grace_edge.runtime import Detector
    from grace_edge.serve.local_triton import start_local_triton
    from grace_edge.serve.triton_repo import write_triton_repo

    frames = frames_for(args.frames)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        repo = write_triton_repo([args.model], Path(tmp) / "repo", backend="python")
        server = start_local_triton(repo, args.env, Path(tmp) / "tritonserver.log")
        try:
            embedded = Detector.open(args.model, workers=args.workers)
            before = embedded_before(args.model, args.workers)
            remotes = [Detector.open(f"{server.grpc_url}/grace") for _ in range(args.clients)]
            sides: dict[str, list[Callable[[np.ndarray], Any]]] = {
                "embedded": [embedded.detect] * args.clients,
                "embedded (before)": [before.detect] * args.clients,
                "server": [r.detect for r in remotes],
            }
            for calls in sides.values():  # warm up both paths (sessions, connections, first batches)
                run_clients(calls, frames[:2])
            lat: dict[str, list[float]] = {k: [] for k in sides}
            walls: dict[str, list[float]] = {k: [] for k in sides}
            for r in range(args.rounds):
                for name, calls in sides.items():
                    got, wall = run_clients(calls, frames)
                    lat[name] += got
                    walls[name].append(wall)
                    log(f"round {r + 1} {name}: {len(got) / wall:.1f} frames/s, p99 {np.percentile(got, 99) * 1e3:.0f} ms")
            embedded.close()
            before.close()
            for r in remotes:
                r.close()
        finally:
            server.stop()
    results = {k: summary(lat[k], walls[k], len(lat[k])) for k in lat}
    report = {
        "command": "python benchmarks/serve_vs_embedded.py " + shlex.join(sys.argv[1:]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "model": str(args.model), "clients": args.clients, "embedded_workers": args.workers,
        "frames_per_client_per_round": args.frames, "rounds": args.rounds, "cpus": os.cpu_count(),
        "load_before": load_before, "load_after": os.getloadavg(), "results": results,
    }
    rows = "\n".join(f"| {k} | {v['throughput_fps']:.1f} | {v['p50_ms']:.0f} | {v['p99_ms']:.0f} | {v['max_ms']:.0f} |"
                     for k, v in results.items())
    markdown = (
        f"# Serve vs embedded ({report['date']})\n\n`{report['command']}`\n\n"
        f"{args.clients} single-frame clients, {args.frames} frames each per round, {args.rounds} interleaved rounds; "
        f"embedded: one Detector, {args.workers} workers (before: the pre-issue-12 slot pool and threads); server: local tritonserver 2.51 (python backend, dynamic "
        f"batching) over gRPC loopback. {os.cpu_count()} CPUs, load {load_before[0]:.1f} -> "
        f"{report['load_after'][0]:.1f}. Model: {args.model.name} (untrained GRACE-n unless named otherwise).\n\n"
        "| path | frames/s | p50 ms | p99 ms | max ms |\n| --- | --- | --- | --- | --- |\n" + rows + "\n"
    )
    publish(args.tag, report, markdown)
    log(f"wrote {RESULTS / args.tag}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
