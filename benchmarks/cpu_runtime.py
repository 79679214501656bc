"""CPU runtime speed, side by side in one run: our ONNX Runtime FP32 and INT8 artifacts vs Ultralytics' predictors.

Same weights, same NEU-DET images, same process, timed interleaved (in blocks of ``--block`` calls per runner, so all
runners see the same machine load and one runtime's idle spinning threads do not land on every call of the next):
- grace-edge ORT FP32 / INT8: ``Detector.detect`` on the artifacts ``grace-edge build --fp32`` / ``--int8`` make on a
  machine without TensorRT (raw 200x200x1 uint8 input, letterbox + decode + NMS inside the graph);
- ultralytics PyTorch: ``YOLO(weights).predict`` (its own letterbox, torch forward, torchvision NMS);
- ultralytics ONNX: ``YOLO(its own ONNX export).predict`` (its own pre/post-processing around ONNX Runtime).
All at batch 1, the deployment image size (640) and the deployment threshold (conf 0.25); ours also at batch 8.
The machine's load average is recorded before and after, since other processes change CPU timings.
Results: ``benchmarks/results/cpu_runtime.{json,md}``; rerun with

    python benchmarks/cpu_runtime.py [--weights benchmarks/runs/reduced/grace-n/weights/best.pt]
"""

from __future__ import annotations

from _results import RESULTS, save_results  # benchmarks/_results.py

import argparse
import datetime as dt
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / "runs" / "cpu_runtime"
DEFAULT_WEIGHTS = REPO / "benchmarks" / "runs" / "reduced" / "grace-n" / "weights" / "best.pt"
DEFAULT_DATA = REPO / "benchmarks" / "runs" / "reduced" / "dataset" / "data.yaml"
REFERENCE = "ultralytics PyTorch"
UNTRAINED_NOTE = ("UNTRAINED GRACE-n: {weights} was not found, so an untrained GRACE-n checkpoint was timed. Speed is "
                  "that of the same architecture, but its detections (and so the NMS load) are not a trained "
                  "model's. Rerun once the trained weights exist.")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="GRACE checkpoint (.pt); default %(default)s "
                   "(an untrained GRACE-n is used, with a loud note, when it does not exist)")
    p.add_argument("--data", type=Path, default=None, help="data YAML whose train split calibrates INT8 (default: "
                   f"{DEFAULT_DATA.relative_to(REPO)} if present, else NEU-DET IMAGES)")
    p.add_argument("--imgsz", type=int, default=640,
                   help="network input size (default %(default)s, the deployment size)")
    p.add_argument("--images", type=int, default=64, help="NEU-DET images to cycle through (default %(default)s)")
    p.add_argument("--warmup", type=int, default=10, help="untimed calls per runner (default %(default)s)")
    p.add_argument("--iters", type=int, default=60, help="timed batch-1 calls per runner (default %(default)s)")
    p.add_argument("--iters-batch8", type=int, default=12,
                   help="timed batch-8 calls per artifact (default %(default)s)")
    p.add_argument("--block", type=int, default=5, help="consecutive calls per runner in the interleaving")
    p.add_argument("--calib-images", type=int, default=64, help="INT8 calibration images (default %(default)s)")
    p.add_argument("--tag", default="cpu_runtime", help="results file stem (default %(default)s)")
    return p.parse_args()


def log(msg: str) -> None:
    print(f"[cpu_runtime {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def weights_or_untrained(weights: Path, notes: list[str]) -> Path:
    """``weights`` if it exists, else an untrained GRACE-n saved as an Ultralytics checkpoint (with a loud note)."""
    if weights.is_file():
        return weights
    import torch

    from grace_edge.io import atomic_path
    from grace_edge.model.build import build_model

    note = UNTRAINED_NOTE.format(weights=weights)
    notes.append(note)
    log("WARNING: " + note)
    path = WORK / "untrained-grace-n.pt"
    with atomic_path(path) as tmp:
        torch.save({"model": build_model("grace-n"), "train_args": {"imgsz": 640}}, tmp)
    return path


def calibration_yaml(data: Path | None, work: Path, notes: list[str]) -> Path:
    """A data YAML for INT8 calibration: the given one, the training run's, else one over NEU-DET IMAGES."""
    if data is not None:
        return data
    if DEFAULT_DATA.is_file():
        return DEFAULT_DATA
    import yaml

    from grace_edge.bench.run import default_image_dirs
    from grace_edge.errors import InputError
    from grace_edge.data.classes import NEU_DET_CLASSES

    images = next((d.resolve() for d in default_image_dirs() if d.is_dir()), None)
    if images is None:
        raise InputError("NEU-DET not found ($GRACE_NEU_DET or ../shared/data/NEU-DET): pass --data YAML")
    notes.append(f"INT8 calibrated on NEU-DET images from {images} (no train split found); this affects accuracy "
                 "scales only, not speed")
    path = work / "calibration.yaml"
    path.write_text(yaml.safe_dump({"path": str(images), "train": ".", "val": ".",
                                    "names": dict(enumerate(NEU_DET_CLASSES))}), encoding="utf-8")
    return path


def build_artifacts(weights: Path, data: Path, imgsz: int, calib_images: int, work: Path) -> dict[str, Path]:
    """Our FP32 and INT8 CPU artifacts, made exactly as ``grace-edge build --fp32/--int8 --batch 1:1:8`` does."""
    from grace_edge.engine.pipeline import BuildOptions, build

    fp32 = build(BuildOptions(precision="fp32", weights=weights, imgsz=imgsz, batch=(1, 1, 8),
                              out=work / "grace-fp32.onnx"), log=log).path
    int8 = build(BuildOptions(precision="int8", onnx=fp32, data=data, calib_images=calib_images, gate=False,
                              batch=(1, 1, 8), out=work / "grace-int8.onnx"), log=log).path
    return {"fp32": fp32, "int8": int8}


def side_by_side(runners: list[Any], images: list[Any], batch: int, *, warmup: int, iters: int,
                 block: int, reference: str | None) -> dict[str, Any]:
    from grace_edge.bench.latency import cycle_batches, ratio, summarize, time_interleaved

    streams = {r.name: cycle_batches(images, batch) for r in runners}
    calls = {r.name: (lambda r=r: r.call(next(streams[r.name]))) for r in runners}
    log(f"batch {batch}: timing {', '.join(calls)} ({warmup} warm-up + {iters} timed calls each, blocks of {block})")
    times = time_interleaved(calls, warmup=warmup, iters=iters, block=block)
    stats = {name: summarize(t, batch).to_dict() for name, t in times.items()}
    out: dict[str, Any] = {"mode": f"interleaved in blocks of {block}", "batch": batch, "reference": reference,
                           "runners": {r.name: {"end_to_end": stats[r.name], "info": r.info} for r in runners}}
    if reference:
        out["ratios"] = {n: ratio(s, stats[reference]) for n, s in stats.items() if n != reference}
    return out


def ort_intra_op_threads(detector: Any) -> int | None:
    """Our ONNX Runtime session's intra-op thread count, for the record (None if the runtime hides it)."""
    try:
        return int(detector._backend.session.get_session_options().intra_op_num_threads)
    except Exception:  # a private detail of grace_edge.runtime; informational only
        return None


def markdown(result: dict[str, Any]) -> str:
    from grace_edge.bench.report import compare_markdown

    system = result["system"]
    lines = [
        "# CPU runtime: grace-edge (ONNX Runtime) vs Ultralytics, same weights, images and run",
        "",
        "```",
        result["command"],
        "```",
        "",
        *(f"> **{n}**\n" for n in result["notes"] if n.startswith(("UNTRAINED", "BUSY"))),
        "",
        f"- created (UTC): {result['created_utc']}; weights: {result['weights']} "
        f"(sha256 {result['weights_sha256'][:12]})",
        f"- imgsz {result['settings']['imgsz']}, conf {result['settings']['conf']}, {result['images']['count']} "
        f"NEU-DET images from {result['images']['source']}, raw 200x200 grayscale frames",
        f"- CPU: {system['cpu'].get('model')}, {system['cpu'].get('usable_cores')} usable cores, features "
        f"{', '.join(system['cpu'].get('features') or []) or 'unknown'}; torch threads "
        f"{result['threads']['torch']}, our ONNX Runtime intra-op threads {result['threads']['grace_edge_ort']}",
        f"- load average (1/5/15 min) before {result['load_average_before']}, after {result['load_average_after']}"
        " (other processes may share this CPU: compare ratios, not absolute numbers, across machines)",
        "- " + ", ".join(f"{k} {v}" for k, v in system["libraries"].items() if v and not isinstance(v, list)),
        "",
        *compare_markdown(result["batch1"]),
        "",
        *compare_markdown(result["batch8"]),
        "",
        "## Notes",
        "",
        *(f"- {n}" for n in result["notes"]),
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    args = parse_args()
    # the package looks only at $GRACE_NEU_DET; this developer script also knows the checkout's sibling folder
    os.environ.setdefault("GRACE_NEU_DET", str(REPO.parent / "shared" / "data" / "NEU-DET"))
    from grace_edge.ultralytics_setup import configure

    configure()
    from grace_edge.artifact import sha256_file
    from grace_edge.bench import sysinfo
    from grace_edge.bench.run import load_bench_images
    from grace_edge.bench.compare import detector_runner, ultralytics_runner
    from grace_edge.runtime import Detector

    command = shlex.join(["python", "benchmarks/cpu_runtime.py", *sys.argv[1:]])
    load_before = sysinfo.load_average()
    notes: list[str] = []
    WORK.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    weights = weights_or_untrained(args.weights, notes)
    with tempfile.TemporaryDirectory(prefix="cpu-runtime-", dir=WORK) as tmp:
        work = Path(tmp)
        artifacts = build_artifacts(weights, calibration_yaml(args.data, work, notes), args.imgsz,
                                    args.calib_images, work)
        log(f"artifacts ready after {time.perf_counter() - t0:.0f} s")
        conf = 0.25
        with Detector.open(artifacts["fp32"], conf=conf) as fp32, Detector.open(artifacts["int8"], conf=conf) as int8, \
                ultralytics_runner(weights, imgsz=(args.imgsz, args.imgsz), conf=conf, iou=fp32.meta.iou_thres,
                                   max_det=fp32.meta.max_det) as ul_pt, \
                ultralytics_runner(weights, imgsz=(args.imgsz, args.imgsz), onnx=True, conf=conf,
                                   iou=fp32.meta.iou_thres, max_det=fp32.meta.max_det) as ul_onnx:
            images, image_info = load_bench_images(fp32.meta, count=args.images)
            ours = [detector_runner(fp32, "grace-edge ORT FP32"), detector_runner(int8, "grace-edge ORT INT8")]
            ul_pt.name, ul_onnx.name = REFERENCE, "ultralytics ONNX"
            timing = dict(warmup=args.warmup, block=args.block)
            batch1 = side_by_side([*ours, ul_pt, ul_onnx], images, 1, iters=args.iters, reference=REFERENCE, **timing)
            batch8 = side_by_side(ours, images, 8, iters=args.iters_batch8, reference=None, **timing)
            meta = {"fp32": fp32.meta, "int8": int8.meta}
            ort_threads = ort_intra_op_threads(fp32)
    import torch

    load_after = sysinfo.load_average()
    if busy := sysinfo.busy_note(load_before, load_after):
        notes.insert(0, busy)
    trained = batch1["runners"][REFERENCE]["info"].get("trained_imgsz")
    if trained not in (None, args.imgsz):
        notes.append(f"The weights were trained at imgsz {trained} (reduced protocol) and are timed at {args.imgsz}, "
                     "the deployment size: speed depends on the architecture and input size, not on training.")
    floor = meta["fp32"].conf_thres
    notes.append(f"Our graphs keep every candidate scoring >= {floor} (the export default, so mAP can be measured) "
                 f"through in-graph NMS, then apply conf {conf} on the host; Ultralytics filters at {conf} before "
                 "its NMS. A deployment export with a higher floor would give our NMS less work.")
    notes.append("Ultralytics is given the same grayscale HxW frames; its loader converts them to 3-channel BGR "
                 "(part of its preprocess), our graph takes the 1-channel frame as is.")
    notes.append("INT8 was built with --no-gate (speed only); its accuracy is measured by "
                 "benchmarks/precision_accuracy.py")
    result = {
        "schema": "grace-edge.cpu_runtime/1",
        "command": command,
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "weights": str(weights),
        "weights_sha256": sha256_file(weights),
        "settings": {"imgsz": args.imgsz, "conf": conf, "warmup": args.warmup, "iters": args.iters,
                     "iters_batch8": args.iters_batch8, "block": args.block, "calib_images": args.calib_images},
        "artifacts": {k: {"path": str(artifacts[k].name), "batch": list(m.batch), "precision": m.precision,
                          "input_format": m.input_format, "input_shape": list(m.input_shape)} for k, m in meta.items()},
        "threads": {"torch": torch.get_num_threads(), "grace_edge_ort": ort_threads},
        "images": image_info,
        "system": sysinfo.collect(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "total_seconds": round(time.perf_counter() - t0, 1),
        "batch1": batch1,
        "batch8": batch8,
        "notes": notes,
    }
    text = markdown(result)
    save_results(args.tag, result, text)
    print(text)
    log(f"wrote {RESULTS / args.tag}.json and .md in {result['total_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
