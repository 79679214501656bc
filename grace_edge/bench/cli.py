"""``grace-edge bench``: argparse only; the benchmark is :func:`grace_edge.bench.run.bench`."""

from __future__ import annotations

import argparse
from typing import Any

from grace_edge.bench.run import BenchOptions as D  # the defaults live on the options the CLI fills
from grace_edge.cli_options import add_command, add_device, add_runtime_flags


def add_commands(subparsers: Any) -> None:
    p = add_command(
        subparsers, "bench",
        help="time an .onnx/.engine: latency percentiles, throughput, per-stage times, batch sweep",
        description=(
            "Time a grace-edge artifact (.onnx on ONNX Runtime CPU, .engine on TensorRT) on real images: warm-up, "
            "then per batch size the latency of one detect call (p50/p90/p95/p99/mean/std), images per second, "
            "and the time per stage (preprocess, host-to-device copy, compute, device-to-host copy, postprocess). "
            "Records the machine (CPU, GPU, TensorRT/CUDA/JetPack, power mode, library versions, load) and writes "
            "JSON, markdown and a PNG plot. With --compare, Ultralytics' own predictor on the same weights runs "
            "interleaved with ours on the same images, and the speed ratio is printed."
        ),
        func=run_bench, wrap=True,
    )
    p.add_argument("artifact", nargs="?", default=None, metavar="ARTIFACT",
                   help="the model to time: an .engine or an .onnx from 'grace-edge export'/'build' "
                        "(default: the newest file in engines/)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--images", metavar="DIR", help="folder of images to time with (default: NEU-DET IMAGES from "
                     "$GRACE_NEU_DET)")
    src.add_argument("--data", metavar="YAML", help="use the val images of this Ultralytics data YAML")
    src.add_argument("--synthetic", action="store_true",
                     help="time random pixels instead of real images (marked as such in the report)")
    p.add_argument("--num-images", type=int, default=D.num_images, metavar="N",
                   help="how many images to load, spread evenly over the folder (0 = all; default %(default)s)")
    p.add_argument("--batch", default=D.batch, metavar="LIST",
                   help="comma-separated batch sizes to sweep; sizes outside the artifact's batch range are "
                        "skipped and reported (default: those of 1,2,4,8 the artifact accepts)")
    p.add_argument("--warmup", type=int, default=D.warmup, metavar="N",
                   help="untimed calls before timing each batch size (default %(default)s)")
    p.add_argument("--iters", type=int, default=D.iters, metavar="N",
                   help="timed calls per batch size (default %(default)s)")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="time each batch size for S seconds instead of a fixed --iters count")
    p.add_argument("--stage-iters", type=int, default=None, metavar="N",
                   help="profiled calls for the per-stage times (default: as many as timed calls; 0 = skip)")
    p.add_argument("--workers", type=int, default=D.workers, metavar="N",
                   help="detector worker threads; above 1, also measures throughput with N requests in flight "
                        "(default %(default)s)")
    p.add_argument("--conf", type=float, default=D.conf,
                   help="deployment score threshold applied to detections (default %(default)s)")
    add_device(p, D.device, "'auto' (engine -> GPU, .onnx -> CPU), 'cpu', or a GPU index such as 0 or cuda:0 "
                          "(default %(default)s)")
    add_runtime_flags(p)
    p.add_argument("--sync", choices=("blocking", "spin"), default=D.sync,
                   help="TensorRT engines: how a worker waits for the GPU: blocking (default; it sleeps on a "
                        "BLOCKING_SYNC event) or spin (busy-waits a CPU core; compare the CPU ms per call reported)")
    p.add_argument("--compare", choices=("ultralytics", "ultralytics-onnx"), default=None,
                   help="also time Ultralytics' predictor (PyTorch, or its own ONNX export) on the same images, "
                        "interleaved with ours at batch 1")
    p.add_argument("--weights", metavar="W.pt", help="the .pt checkpoint the artifact was exported from (--compare)")
    p.add_argument("--json", metavar="PATH", help="where to write the JSON (default runs/bench/<artifact>.json, "
                   "or <artifact>-2.json, -3, ... so that earlier runs are kept; "
                   "a .md report is written next to it)")
    p.add_argument("--plot", metavar="PATH", help="where to write the PNG plot (default: the JSON path with .png)")


def run_bench(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from grace_edge.bench import report
    from grace_edge.bench.run import BenchOptions, bench

    options = BenchOptions(**{f.name: getattr(args, f.name) for f in fields(BenchOptions)})
    result, paths = bench(options)
    print(report.to_markdown(result))
    for name, r in (result["compare"] or {}).get("ratios", {}).items():
        print(f"{name} vs {result['compare']['reference']}: {report.times(r['speedup_p50'])} as fast at p50, "
              f"{report.times(r['throughput_ratio'])} the throughput")
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
