"""Where the CPU time goes: ONNX Runtime's profiler on our FP32 graph and its CPU-layout INT8 copies, kernel time
grouped by region (preprocess, backbone, neck, Lite-FEN, head, decode, top-K + NMS, Q/DQ boundaries) and by op type
(:mod:`grace_edge.bench.ort_profile` says how nodes map to regions), side by side.

The graphs are built from ``--weights`` at ``--imgsz`` (the FP32 export, the shipped CPU INT8 layout, and with
``--layouts`` the other layouts of :mod:`grace_edge.engine.quantize_cpu`), or given as ``--graph LABEL=PATH``.
All sessions live in one process and are run in turn, one call each per round, so that they share the machine's
load; every call is profiled, the warm-up calls are dropped. Kernel times sum the time each node took (2 intra-op
threads), so a region's figure is the wall time it held the run; the wall clock per call is given beside it.

    nice -n 10 python benchmarks/cpu_profile.py --weights W.pt --data neu-det/data.yaml --imgsz 640
"""

from __future__ import annotations

from _results import publish  # benchmarks/_results.py

import argparse
import datetime as dt
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / "runs" / "cpu_profile"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, help="GRACE checkpoint (.pt); speed does not depend on how well trained")
    p.add_argument("--data", type=Path, help="data YAML: its train split calibrates INT8, its val images are fed")
    p.add_argument("--imgsz", type=int, default=640, help="network input size (default %(default)s)")
    p.add_argument("--calib-images", type=int, default=32, help="INT8 calibration images (default %(default)s)")
    p.add_argument("--layouts", nargs="*", default=None,
                   help="CPU INT8 layouts to profile (default: the shipped one; see quantize_cpu.LAYOUTS)")
    p.add_argument("--graph", action="append", default=[], metavar="LABEL=PATH", help="profile this ONNX as well")
    p.add_argument("--warmup", type=int, default=3, help="unprofiled calls per graph (default %(default)s)")
    p.add_argument("--rounds", type=int, default=20, help="profiled calls per graph, interleaved (default %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="ORT intra-op threads (default: every core)")
    p.add_argument("--tag", default="cpu_profile", help="results file stem (default %(default)s)")
    return p.parse_args()


def log(msg: str) -> None:
    print(f"[cpu_profile {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def build_graphs(args: argparse.Namespace, work: Path) -> dict[str, Path]:
    from grace_edge.data.calibration import calibration_images
    from grace_edge.engine.quantize_cpu import DEFAULT_LAYOUT, quantize_int8_cpu
    from grace_edge.export.onnx_export import export_onnx

    fp32 = export_onnx(args.weights, work / "fp32.onnx", imgsz=args.imgsz)
    graphs = {"FP32": fp32}
    images = calibration_images(args.data, args.calib_images)
    for layout in args.layouts or [DEFAULT_LAYOUT]:
        log(f"quantizing: CPU INT8 layout {layout!r}")
        graphs[f"INT8 {layout}"] = quantize_int8_cpu(fp32, work / f"int8-{layout}.onnx", images, layout=layout,
                                                     cache_dir=WORK).path
    return graphs


def feeds(path: Path, data: Path | None, n: int = 16) -> list[dict[str, np.ndarray]]:
    """Val images prepared as the runtime prepares them (uint8 camera pixels for our raw-input graphs)."""
    from grace_edge.artifact import read_onnx_meta
    from grace_edge.data.yolo_yaml import split_images
    from grace_edge.data.calibration import CalibrationReader, pick_images

    meta = read_onnx_meta(path)
    if data is None:
        rng = np.random.default_rng(0)
        dtype = np.uint8 if meta.input_format == "uint8_nhwc" else np.float32
        return [{"images": (rng.random((1, *meta.input_shape)) * (255 if dtype == np.uint8 else 1)).astype(dtype)}
                for _ in range(n)]
    reader = CalibrationReader(pick_images(split_images(data, "val"), n), meta, "images")
    return [{"images": reader.load([p])} for p in reader.images]


def profile_all(graphs: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    from grace_edge.bench.ort_profile import ProfiledSession
    from grace_edge.runtime.onnxruntime_backend import session_options

    sessions, inputs, walls = {}, {}, {k: [] for k in graphs}
    for label, path in graphs.items():
        inputs[label] = feeds(path, args.data)
        cursor = iter(range(10**9))
        batch = inputs[label]
        sessions[label] = ProfiledSession(path, session_options(args.threads),
                                          lambda b=batch, c=cursor: b[next(c) % len(b)])
    for _ in range(args.warmup):
        for s in sessions.values():
            s.run()
    for r in range(args.rounds):
        order = list(sessions.items())
        order = order[r % len(order):] + order[: r % len(order)]
        for label, s in order:
            t0 = time.perf_counter()
            s.run()
            walls[label].append((time.perf_counter() - t0) * 1e3)
    out = {}
    for label, s in sessions.items():
        out[label] = {**s.profile(skip_runs=args.warmup).to_dict(), "wall_median_ms": float(np.median(walls[label])),
                      "path": str(graphs[label])}
    return out


def markdown(result: dict[str, Any]) -> list[str]:
    from grace_edge.bench.ort_profile import REGIONS

    profiles, labels = result["profiles"], list(result["profiles"])
    cpu = result["system"]["cpu"]
    lines = ["# CPU profile: ONNX Runtime kernel time by region and op type", "", "```", result["command"], "```", "",
             f"- created (UTC) {result['created_utc']}; weights {result['weights']}; imgsz {result['imgsz']}, "
             f"batch 1, raw 200x200 uint8 input; {result['rounds']} profiled calls per graph, interleaved, after "
             f"{result['warmup']} warm-up calls",
             f"- CPU: {cpu.get('model')}, {cpu.get('usable_cores')} usable cores; flags "
             f"{', '.join(cpu.get('features') or [])}; onnxruntime {result['onnxruntime']}",
             f"- load average (1/5/15 min) before {result['load_average_before']}, after "
             f"{result['load_average_after']} (2 shared cores: compare columns, not runs)",
             "", "## By region (ms per call)", "",
             "| region | " + " | ".join(labels) + " |", "|---|" + "--:|" * len(labels)]
    regions = [r for r in REGIONS if any(r in p["by_region"] for p in profiles.values())]
    for region in regions:
        lines.append(f"| {region} | " + " | ".join(f"{profiles[k]['by_region'].get(region, 0):.2f}" for k in labels)
                     + " |")
    lines.append("| **sum of kernels** | " + " | ".join(f"**{profiles[k]['total_ms']:.2f}**" for k in labels) + " |")
    lines.append("| wall clock (median) | " + " | ".join(f"{profiles[k]['wall_median_ms']:.2f}" for k in labels)
                 + " |")
    lines += ["", "## By op type (ms per call; calls per run)", "",
              "| op | " + " | ".join(labels) + " |", "|---|" + "--:|" * len(labels)]
    ops = sorted({o for p in profiles.values() for o in p["by_op"]},
                 key=lambda o: -max(p["by_op"].get(o, 0) for p in profiles.values()))
    for op in ops:
        if max(p["by_op"].get(op, 0) for p in profiles.values()) < 0.05:
            continue
        cells = [f"{profiles[k]['by_op'][op]:.2f} ({profiles[k]['op_calls'][op]})" if op in profiles[k]["by_op"]
                 else "-" for k in labels]
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    lines += ["", "## Top ops per region", ""]
    for k in labels:
        cells = []
        for region in regions:
            ops = sorted(profiles[k]["by_region_op"].get(region, {}).items(), key=lambda kv: -kv[1])[:4]
            cells.append(f"{region}: " + ", ".join(f"{o} {v:.2f}" for o, v in ops))
        lines.append(f"- **{k}**: " + "; ".join(cells))
    lines += ["", "## Notes", "", *(f"- {n}" for n in result["notes"])]
    return lines


def main() -> int:
    args = parse_args()
    import onnxruntime

    from grace_edge import sysinfo
    from grace_edge.ultralytics_setup import configure

    configure()
    if not args.weights and not args.graph:
        sys.exit("cpu_profile: give --weights (and --data) or --graph LABEL=PATH")
    command = shlex.join(["python", "benchmarks/cpu_profile.py", *sys.argv[1:]])
    load_before = sysinfo.load_average()
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cpu-profile-", dir=WORK) as tmp:
        graphs = build_graphs(args, Path(tmp)) if args.weights else {}
        graphs.update({g.split("=", 1)[0]: Path(g.split("=", 1)[1]) for g in args.graph})
        log(f"profiling {', '.join(graphs)}")
        profiles = profile_all(graphs, args)
    result = {
        "schema": "grace-edge.cpu_profile/1", "command": command,
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "weights": str(args.weights), "imgsz": args.imgsz, "rounds": args.rounds, "warmup": args.warmup,
        "onnxruntime": onnxruntime.__version__, "system": sysinfo.collect(),
        "load_average_before": load_before, "load_average_after": sysinfo.load_average(),
        "profiles": profiles,
        "notes": ["Kernel times are ORT's per-node 'kernel_time' events; the wall clock adds session overhead "
                  "(input copy, output allocation, thread wake-ups).",
                  "Nodes ORT adds itself (NHWC layout Transposes, NCHWc reorders) are charged to the region of the "
                  "node that ran before them; 'unmatched_events' in the JSON counts them per call.",
                  "Q/DQ boundaries: QuantizeLinear/DequantizeLinear that ORT did not fold into an integer kernel, "
                  "i.e. where the graph goes between float and uint8."],
    }
    publish(args.tag, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
