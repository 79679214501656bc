"""The benchmark behind ``grace-edge bench``: latency percentiles, throughput and per-stage times of an artifact,
optionally side by side with Ultralytics' own predictor on the same weights and images.

:func:`bench` takes a :class:`BenchOptions`, which :mod:`grace_edge.bench.cli` fills from the command line and a
Python user can fill too."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from grace_edge.data.images import IMAGE_SUFFIXES, read_image
from grace_edge.data.yolo_yaml import images_in, pick_evenly, split_images
from grace_edge.errors import InputError
from grace_edge.io import check_writable, fresh_path

DEFAULT_ARTIFACT_DIR = Path("engines")  # where 'grace-edge build' writes

DEFAULT_BATCHES = "1,2,4,8"
COMPARE_BLOCK = 5  # calls per runner in a row: one runtime's spinning idle threads then hit 1 call in 5, not all


@dataclass
class BenchOptions:
    """Everything ``grace-edge bench`` can be told; see the command's --help for each field."""

    artifact: str | Path | None = None  # None: the newest artifact in engines/
    images: str | None = None
    data: str | None = None
    synthetic: bool = False
    num_images: int = 100
    batch: str | None = None  # None: those of DEFAULT_BATCHES the artifact accepts (no "skipped" noise)
    warmup: int = 20
    iters: int = 200
    duration: float | None = None
    stage_iters: int | None = None
    workers: int = 1
    conf: float = 0.25
    device: str = "auto"
    backend: str = "auto"
    inference_precision: str = "fp32"
    shared_cpu: bool = False
    sync: str = "blocking"  # TensorRT: how a waiting thread waits (blocking-sync event, or spin)
    compare: str | None = None
    weights: str | None = None
    json: str | None = None
    plot: str | None = None


def default_image_dirs() -> list[Path]:
    """Where NEU-DET images are looked for when neither --images nor --data is given: $GRACE_NEU_DET only (an
    installed package has no business guessing at a developer's folders)."""
    return [Path(os.environ["GRACE_NEU_DET"]) / "IMAGES"] if os.environ.get("GRACE_NEU_DET") else []


def synthetic_images(count: int, hw: Sequence[int], channels: int, seed: int = 0) -> list[Any]:
    """Seeded random uint8 images (only with an explicit --synthetic)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    shape = tuple(hw) if channels == 1 else (*hw, channels)
    return [rng.integers(0, 256, size=shape, dtype=np.uint8) for _ in range(max(count, 1))]


def load_bench_images(meta: Any, *, images_dir: str | None = None, data_yaml: str | None = None,
                      synthetic: bool = False, count: int = 100) -> tuple[list[Any], dict[str, Any]]:
    """Images to time ``meta``'s artifact with, and where they came from (for the report)."""
    hw = meta.frame_size
    if synthetic:
        return synthetic_images(count, hw, meta.channels), {"source": "synthetic (seeded random pixels)",
                                                             "count": max(count, 1), "size_hw": list(hw)}
    if images_dir:
        folder = Path(images_dir)
        if not folder.is_dir():
            raise InputError(f"--images {folder}: folder not found")
        paths, source = images_in(folder), str(folder)
    elif data_yaml:
        paths, source = split_images(data_yaml, "val"), f"{data_yaml} (val)"
    else:
        found = next((d for d in default_image_dirs() if d.is_dir()), None)
        if found is None:
            raise InputError(
                "no benchmark images: NEU-DET not found at $GRACE_NEU_DET; pass --images DIR or --data YAML "
                "(or --synthetic to time random pixels)"
            )
        paths, source = images_in(found), str(found)
    if not paths:
        raise InputError(f"{source}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) found")
    picked = pick_evenly(paths, count or None)
    images = [read_image(p, meta.channels) for p in picked]
    return images, {"source": source, "count": len(images), "available": len(paths),
                    "first": picked[0].name, "last": picked[-1].name}


def parse_batches(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"--batch {text!r}: expected comma-separated integers such as 1,2,4,8") from None
    if not values or min(values) < 1:
        raise InputError(f"--batch {text!r}: batch sizes must be integers >= 1")
    return values


def command_line(args: BenchOptions) -> str:
    """The full command that reproduces this run, every setting spelled out."""
    parts = ["grace-edge", "bench", str(args.artifact)]
    for flag, value in (("--images", args.images), ("--data", args.data), ("--batch", args.batch),
                        ("--warmup", args.warmup), ("--iters", args.iters), ("--duration", args.duration),
                        ("--stage-iters", args.stage_iters), ("--workers", args.workers), ("--conf", args.conf),
                        ("--device", args.device), ("--backend", args.backend),
                        ("--inference-precision", args.inference_precision), ("--num-images", args.num_images),
                        ("--sync", args.sync),
                        ("--compare", args.compare),
                        ("--weights", args.weights), ("--json", args.json), ("--plot", args.plot)):
        if value is not None:
            parts += [flag, str(value)]
    if args.synthetic:
        parts.append("--synthetic")
    if args.shared_cpu:
        parts.append("--shared-cpu")
    return shlex.join(parts)


def artifact_info(path: Path, detector: Any) -> dict[str, Any]:
    from grace_edge.artifact import sha256_file

    meta = detector.meta
    return {"path": str(path), "sha256": sha256_file(path), "backend": detector.backend, "model": meta.model,
            "precision": meta.precision, "imgsz": list(meta.imgsz), "input_format": meta.input_format,
            "input_shape": list(meta.input_shape), "batch": list(meta.batch), "max_det": meta.max_det,
            "graph_conf_floor": meta.conf_thres, "iou": meta.iou_thres,
            "inference_precision": getattr(detector._backend, "precision", meta.precision),
            "shared_cpu": bool(getattr(detector._backend, "shared_cpu", False)),
            "sync": getattr(detector._backend, "sync", None)}


def run_compare(detector: Any, peer: Any, images: Sequence[Any], *, warmup: int, iters: int,
                duration: float | None, block: int = COMPARE_BLOCK) -> dict[str, Any]:
    """Time our detector and ``peer`` interleaved at batch 1 on the same images; stats and ratios."""
    from grace_edge.bench.compare import detector_runner
    from grace_edge.bench.latency import cycle_batches, ratio, summarize, time_interleaved

    runners = [detector_runner(detector), peer]
    streams = {r.name: cycle_batches(images, 1) for r in runners}
    calls = {r.name: (lambda r=r: r.call(next(streams[r.name]))) for r in runners}
    times = time_interleaved(calls, warmup=warmup, iters=iters, duration=duration, block=block)
    stats = {name: summarize(t, 1).to_dict() for name, t in times.items()}
    ours = runners[0].name
    return {
        "mode": f"interleaved in blocks of {block}", "batch": 1, "reference": peer.name,
        "runners": {r.name: {"end_to_end": stats[r.name], "info": r.info} for r in runners},
        "ratios": {ours: ratio(stats[ours], stats[peer.name])},
    }


def check_args(args: BenchOptions) -> list[int]:
    """Reject bad option values before anything is loaded; returns the requested batch sizes."""
    batches = parse_batches(args.batch or DEFAULT_BATCHES)
    for flag, value, low in (("--workers", args.workers, 1), ("--num-images", args.num_images, 0),
                             ("--stage-iters", args.stage_iters, 0), ("--warmup", args.warmup, 0),
                             ("--iters", args.iters, 1)):
        if value is not None and value < low:
            raise InputError(f"{flag} {value}: must be >= {low}")
    if args.duration is not None and args.duration <= 0:
        raise InputError(f"--duration {args.duration}: must be positive seconds")
    if args.compare and not args.weights:
        raise InputError(f"--compare {args.compare} needs --weights W.pt (the checkpoint the artifact came from)")
    return batches


def measure(args: BenchOptions, batches: list[int], log: Callable[[str], None]) -> dict[str, Any]:
    """Open the artifact (and the peer), load the images, run the sweep and the side-by-side; the result parts."""
    from grace_edge.bench import latency
    from grace_edge.runtime import Detector
    from grace_edge.runtime.options import RuntimeOptions

    artifact = Path(args.artifact)
    with contextlib.ExitStack() as stack:
        options = RuntimeOptions(backend=args.backend, device=args.device, shared_cpu=args.shared_cpu, sync=args.sync,
                                 inference_precision=args.inference_precision)
        det = stack.enter_context(Detector.open(artifact, conf=args.conf, workers=args.workers, options=options))
        images, image_info = load_bench_images(det.meta, images_dir=args.images, data_yaml=args.data,
                                               synthetic=args.synthetic, count=args.num_images)
        keep, skipped = latency.plan_batches(batches, det.meta.batch)
        if args.batch is None:  # the default sweep is whatever the artifact accepts; only asked-for sizes are "skipped"
            keep, skipped = keep or [int(det.meta.batch[1])], []
        if not keep:
            raise InputError(f"--batch {args.batch}: none fits {artifact}'s batch range {tuple(det.meta.batch)}")
        peer = None
        if args.compare:  # opened first so a bad checkpoint fails before minutes of timing
            from grace_edge.bench.compare import open_peer
            from grace_edge.devices import cuda_index

            gpu = cuda_index(args.device) if det.backend == "tensorrt" else None
            peer = stack.enter_context(open_peer(args.compare, args.weights, imgsz=det.meta.imgsz, gpu=gpu,
                                                 conf=args.conf, iou=det.meta.iou_thres, max_det=det.meta.max_det))
        for s in skipped:
            log(f"batch {s['batch']} skipped: {s['reason']}")
        log(f"timing {artifact} ({det.backend}) on {image_info['count']} images from {image_info['source']}")
        rows = latency.sweep(det, images, keep, warmup=args.warmup, iters=args.iters, duration=args.duration,
                             stage_iters=args.stage_iters, workers=args.workers, submit=det.submit, log=log)
        compare = None
        if peer is not None:
            log(f"timing {det.backend} vs {peer.name} interleaved at batch 1")
            compare = run_compare(det, peer, images, warmup=args.warmup, iters=args.iters, duration=args.duration)
        return {"artifact": artifact_info(artifact, det), "images": image_info, "results": rows,
                "skipped": skipped, "compare": compare}


def newest_artifact(folder: Path = DEFAULT_ARTIFACT_DIR) -> Path:
    """The most recently built artifact in ``folder`` (what ``grace-edge build`` wrote last)."""
    found = [p for p in folder.glob("*") if p.suffix in (".engine", ".onnx") and p.is_file()] if folder.is_dir() else []
    if not found:
        raise InputError(f"no artifact given and none in {folder}/: run 'grace-edge build' first, or name one")
    return max(found, key=lambda p: p.stat().st_mtime)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def bench(options: BenchOptions, log: Callable[[str], None] = _log) -> tuple[dict[str, Any], dict[str, Path]]:
    """Time ``options.artifact``; writes the JSON, markdown and plot; returns the result and the written paths."""
    from dataclasses import replace

    from grace_edge import sysinfo
    from grace_edge.bench import report

    args = options
    if args.artifact is None:
        args = replace(options, artifact=str(newest_artifact()))
        log(f"bench: timing the newest artifact, {args.artifact}")
    batches = check_args(args)
    # A default path never overwrites an earlier run: runs/bench/<artifact>.json, then <artifact>-2.json, ...
    json_path = Path(args.json) if args.json else fresh_path(Path("runs") / "bench" / f"{Path(args.artifact).stem}.json")
    plot_path = Path(args.plot or json_path.with_suffix(".png"))
    for flag, path in (("--json", json_path), ("--plot", plot_path)):  # before minutes of timing, not after
        check_writable(path, flag)
    load_before = sysinfo.load_average()
    measured = measure(args, batches, log=log)
    load_after = sysinfo.load_average()
    notes = [n for n in [sysinfo.busy_note(load_before, load_after)] if n]
    if args.synthetic:
        notes.append("SYNTHETIC images (random pixels): NMS load differs from real defects; not a deployment figure")
    result = {
        "schema": report.SCHEMA,
        "command": command_line(args),
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "artifact": measured["artifact"],
        "settings": {"warmup": args.warmup, "iters": args.iters, "duration_s": args.duration,
                     "timed": f"{args.duration} s" if args.duration else f"{args.iters} calls",
                     "stage_iters": args.stage_iters, "workers": args.workers, "conf": args.conf,
                     "device": args.device, "batches_requested": batches},
        "images": measured["images"],
        "system": sysinfo.collect(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "results": measured["results"],
        "skipped": measured["skipped"],
        "compare": measured["compare"],
        "notes": notes,
    }
    plot: Path | None = plot_path
    if not args.plot and importlib.util.find_spec("matplotlib") is None:  # the lean runtime install has no plots
        log("bench: no PNG plot (matplotlib comes with pip install 'grace-edge[train]'); JSON and markdown written")
        plot = None
    paths = report.write_report(result, json_path, plot_path=plot)
    return result, paths
