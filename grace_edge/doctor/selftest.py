"""The GPU self-test of ``grace-edge doctor``, also used by the ``gpu``-marked tests (one copy of the GPU checks).

It exports a tiny untrained GRACE model with every feature our deployed graphs have -- uint8 NHWC input, Cast,
letterbox Resize, convolutions, top-K, Cluster-NMS -- quantizes it to INT8 Q/DQ on synthetic images, builds a
strongly typed TensorRT engine from it, runs the engine next to ONNX Runtime on the same Q/DQ graph, times it, and
opens/closes detectors from two threads at once. Nothing here runs without a GPU.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from grace_edge.artifact import pack_engine, read_onnx_meta
from grace_edge.io import write_bytes

SELFTEST_INPUT = (48, 64, 1)  # raw uint8 frame H, W, C: letterboxed in the graph to the network size
SELFTEST_IMGSZ = 64
SELFTEST_BATCH = (1, 2, 2)
# Engine vs ONNX Runtime on the very same graph, per image: detection counts within max(2, 10 %), and the top-20
# scores (sorted) within SCORE_ATOL; INT8 kernels and ORT's reference kernels round differently, FP32 less so.
SCORE_ATOL = {"fp32": 5e-3, "fp16": 5e-3, "int8": 0.02}
TOP_K_COMPARED = 20


@dataclass(frozen=True)
class SelfTestResult:
    name: str
    ok: bool
    detail: str
    hint: str = ""
    info: bool = False  # a finding about an experimental feature: reported, never a doctor failure


def compare_detections(got: Sequence[np.ndarray], want: Sequence[np.ndarray], precision: str) -> list[str]:
    """Problems (one line each) between per-image detections of an engine (``got``) and ONNX Runtime (``want``)."""
    atol = SCORE_ATOL[precision]
    problems = []
    for i, (a, b) in enumerate(zip(got, want)):
        if abs(len(a) - len(b)) > max(2, len(b) // 10):
            problems.append(f"image {i}: {len(a)} detections, ONNX Runtime {len(b)}")
            continue
        k = min(len(a), len(b), TOP_K_COMPARED)
        top_a, top_b = np.sort(a[:, 4])[::-1][:k], np.sort(b[:, 4])[::-1][:k]
        worst = float(np.max(np.abs(top_a - top_b))) if k else 0.0
        if worst > atol:
            problems.append(f"image {i}: top-{k} scores differ by up to {worst:.4f} (tolerance {atol})")
    if len(got) != len(want):
        problems.append(f"{len(got)} results for {len(want)} images")
    return problems


def build_packed_engine(onnx_path: Path, out: Path, precision: str | None = None,
                        timing_cache: Path | None = None) -> Path:
    """Build a TensorRT engine of ``onnx_path`` for this GPU and write it with grace-edge's header."""
    from grace_edge.engine.tensorrt_build import build_engine, gpu_info

    meta = read_onnx_meta(onnx_path)
    built = build_engine(onnx_path, precision=precision or meta.precision, batch=tuple(meta.batch),
                         timing_cache=timing_cache)
    gpu = gpu_info()
    meta.backend = {"tensorrt": built.tensorrt_version}
    if gpu is not None:
        meta.backend.update(gpu=gpu.name, compute_capability=gpu.compute_capability)
    return write_bytes(out, pack_engine(meta, built.engine))


def synthetic_frames(n: int, shape: tuple[int, int] = SELFTEST_INPUT[:2], seed: int = 0) -> list[np.ndarray]:
    """Steel-like grey frames: smooth texture plus a few dark scratches, deterministic."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        base = rng.normal(128, 20, size=shape).astype(np.float32)
        for _ in range(3):
            r = rng.integers(0, shape[0])
            base[r: r + 2, :] -= 60
        frames.append(np.clip(base, 0, 255).astype(np.uint8))
    return frames


def feature_graph(work: Path, log: Callable[[str], None] = print) -> Path:
    """The INT8 Q/DQ graph of a tiny untrained GRACE model with our every graph feature, written under ``work``."""
    import cv2
    import torch

    from grace_edge.engine.quantize import quantize_int8
    from grace_edge.export.onnx_export import export_onnx
    from grace_edge.model.build import build_model

    torch.manual_seed(0)
    log(f"exporting a tiny grace-n ({SELFTEST_IMGSZ} px, uint8 {SELFTEST_INPUT} input, dynamic batch)")
    fp32 = export_onnx(build_model("grace-n"), work / "selftest_fp32.onnx", imgsz=SELFTEST_IMGSZ,
                       raw_input=SELFTEST_INPUT, dynamic_batch=True)
    images = []
    for i, frame in enumerate(synthetic_frames(8, seed=1)):
        images.append(work / f"calib{i}.png")
        cv2.imwrite(str(images[-1]), frame)
    log("quantizing it to INT8 Q/DQ on 8 synthetic frames")
    return quantize_int8(fp32, work / "selftest_int8.onnx", images, cache_dir=work).path


FEATURE_OPS = ("Cast", "Resize", "Conv", "TopK", "QuantizeLinear", "DequantizeLinear")  # and a uint8 input


def conformance_check(graph: Path) -> SelfTestResult:
    """The TensorRT ONNX parser's rules for the installed TensorRT's line (grace_edge.engine.conformance)."""
    from grace_edge.engine.conformance import check_file, line_for
    from grace_edge.engine.tensorrt_build import tensorrt_version

    lines = line_for(tensorrt_version())
    violations = check_file(graph, lines)
    detail = (f"{len(violations)} violation(s) of TensorRT {', '.join(lines)}'s parser rules, first: {violations[0]}"
              if violations else f"the graph follows TensorRT {', '.join(lines)}'s ONNX parser rules")
    return SelfTestResult("conformance", not violations, detail,
                          "grace-edge's export made a graph TensorRT rejects: report it with this output")


def run_selftest(work: Path, log: Callable[[str], None] = print, device: str = "auto") -> list[SelfTestResult]:
    """Build, compare, time, and open/close from two threads; one result per step (stops after a failed build)."""
    from grace_edge.errors import GraceEdgeError
    from grace_edge.runtime import Detector

    results = []
    try:
        graph = feature_graph(work, log)
        conformance = conformance_check(graph)
        results.append(conformance)
        if not conformance.ok:
            return results
        log("building the TensorRT engine (strongly typed, INT8 Q/DQ)")
        t0 = time.perf_counter()
        engine = build_packed_engine(graph, work / "selftest.engine", precision="int8")
        results.append(SelfTestResult("engine build", True, f"{time.perf_counter() - t0:.1f} s, {engine.stat().st_size:,} bytes"))
    except Exception as e:  # GraceEdgeError carries its own sentence; anything else is named by its type
        text = str(e) if isinstance(e, GraceEdgeError) else f"{type(e).__name__}: {e}"
        return results + [SelfTestResult("engine build", False, text,
                                         "'grace-edge build --verbose' shows TensorRT's own log")]
    dla = dla_build_check(graph, work)
    results += [dla] if dla is not None else []
    frames = synthetic_frames(6, seed=2)
    try:
        with Detector.open(engine, conf=0.001, device=device) as trt_det, Detector.open(graph, conf=0.001) as ort_det:
            problems = compare_detections(trt_det.detect_arrays(frames), ort_det.detect_arrays(frames), "int8")
            results.append(SelfTestResult(
                "vs ONNX Runtime", not problems,
                "; ".join(problems) or f"{len(frames)} frames agree (counts within max(2, 10%), "
                                       f"top-{TOP_K_COMPARED} scores within {SCORE_ATOL['int8']})",
                "the engine computes something else than its ONNX: report it with this output"))
            results.append(time_detector(trt_det, frames[0]))
    except Exception as e:  # a driver/runtime error here is the finding, reported as one line
        results.append(SelfTestResult("run engine", False, f"{type(e).__name__}: {e}",
                                      "the engine built but does not run: check the driver and 'nvidia-smi'"))
    results.append(open_close_from_threads(engine, frames[:2], device))
    return results


def on_orin() -> bool:
    """An Orin module (AGX Orin and Orin NX have DLA cores; TensorRT says how many)."""
    from grace_edge import sysinfo

    return "orin" in str(sysinfo.jetson_info().get("model", "")).lower()


def dla_build_check(graph: Path, work: Path) -> SelfTestResult | None:
    """On an Orin, try ``--dla 0`` on the self-test's INT8 graph and say what happened; None elsewhere.

    ``--dla`` builds a strongly typed network with GPU fallback, and nothing off a Jetson shows that TensorRT 10.3's
    DLA compiler accepts that: this is where it is first seen. Either outcome is reported, as information.
    """
    if not on_orin():
        return None
    from grace_edge.engine.tensorrt_build import build_engine
    from grace_edge.errors import GraceEdgeError

    t0 = time.perf_counter()
    try:
        built = build_engine(graph, precision="int8", batch=tuple(read_onnx_meta(graph).batch), dla_core=0)
    except Exception as e:  # the finding itself: TensorRT's refusal, or a crash of its DLA compiler
        text = str(e) if isinstance(e, GraceEdgeError) else f"{type(e).__name__}: {e}"
        return SelfTestResult("DLA build", False, f"--dla 0 failed ({text}); --dla stays experimental", info=True,
                              hint="report it with 'grace-edge build --dla 0 --verbose' output")
    write_bytes(work / "selftest_dla.engine", built.engine)
    return SelfTestResult("DLA build", True, f"--dla 0 built an INT8 engine in {time.perf_counter() - t0:.1f} s, "
                          f"{len(built.engine):,} bytes (layers DLA cannot run fall back to the GPU); run is untested",
                          info=True)


def time_detector(detector, frame: np.ndarray, runs: int = 50) -> SelfTestResult:
    """Median end-to-end latency of one frame after a warm-up, and the engine's own compute time."""
    for _ in range(5):
        detector.detect_arrays(frame)
    latencies, compute = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        _, stages = detector.profile(frame)
        latencies.append(time.perf_counter() - t0)
        compute.append(stages.get("compute", 0.0))
    return SelfTestResult("timing", True, f"batch 1: {np.median(latencies) * 1e3:.2f} ms end to end, "
                                          f"{np.median(compute) * 1e3:.2f} ms GPU compute (median of {runs})")


def open_close_from_threads(engine: Path, frames: list[np.ndarray], device: str = "auto") -> SelfTestResult:
    """Two threads each open a Detector on ``engine``, run it, close it, at the same time; results must agree."""
    from grace_edge.runtime import Detector

    outcome: dict[int, object] = {}
    start = threading.Barrier(2)

    def worker(i: int) -> None:
        try:
            start.wait(timeout=60)
            with Detector.open(engine, conf=0.001, device=device) as det:
                outcome[i] = det.detect_arrays(frames)
        except Exception as e:  # any failure in a thread is the finding
            outcome[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    errors = [f"{type(v).__name__}: {v}" for v in outcome.values() if isinstance(v, Exception)]
    if errors or len(outcome) != 2:
        return SelfTestResult("two threads", False, "; ".join(errors) or "a thread did not finish",
                              "CUDA context handling is broken on this install: report it with this output")
    a, b = outcome[0], outcome[1]
    same = all(np.array_equal(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    return SelfTestResult("two threads", same, "two detectors opened, ran and closed concurrently"
                          + ("" if same else ", but their results differ"),
                          "" if same else "the same engine gave different results in two contexts: report it")
