"""Accuracy of the FP32, FP16 and INT8 (entropy, percentile) ONNX graphs, side by side in one run.

All graphs come from the same weights and the same FP32 export, run in ONNX Runtime on this CPU through the runtime's
Detector, and are scored by ``grace_edge.evaluate.evaluate`` on the val split of the data YAML. INT8 is calibrated on
train-split images only. FP16 on a CPU: ONNX Runtime computes the FP16 nodes in FP32 after rounding their inputs,
weights and outputs to FP16, which is what changes accuracy; a GPU computes them natively in FP16.
Results: ``benchmarks/results/precision_accuracy.{json,md}``.

    nice -n 10 python benchmarks/precision_accuracy.py \
        --weights benchmarks/runs/reduced/grace-n/weights/best.pt --data benchmarks/runs/reduced/dataset/data.yaml
"""

from __future__ import annotations

from _results import fmt, publish  # benchmarks/_results.py

import argparse
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
METRICS = ("map50_95", "map50", "precision", "recall", "ap_small", "ap_medium", "ap_large")
VARIANTS = ("fp32", "fp16", "int8-entropy", "int8-percentile")
# Design checks: FP16 with the Lite-FEN sigmoid gates kept FP32; INT8 with the head's output convolutions quantized.
EXTRA_VARIANTS = ("fp16-gates32", "int8-entropy-headq", "int8-minmax")
# CPU targets (issue 14): the CPU INT8 layout (uint8 activations, quantized conv outputs and SiLUs) in ONNX Runtime,
# and OpenVINO on the FP32 graph (FP32 / BF16 hint) and on the CPU INT8 graph.
# int8cpu-*: the default CPU layout (quantize_cpu.DEFAULT_LAYOUT); int8cpusilu-*: the first CPU layout; -headf: the
# head's last convolutions kept float (the sensitivity check of the one region the default layout adds).
CPU_VARIANTS = ("int8cpu-entropy", "int8cpu-minmax", "int8cpu-percentile", "int8cpu-minmax-headf",
                "int8cpusilu-minmax", "int8cpusilu-entropy", "ov-fp32", "ov-bf16", "ov-int8cpu-minmax")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True, help="trained checkpoint (.pt)")
    p.add_argument("--data", required=True, help="data YAML (train: calibration, val: evaluation)")
    p.add_argument("--imgsz", type=int, help="network input size (default: the checkpoint's training imgsz, else 640)")
    p.add_argument("--calib-images", type=int, default=128, help="train images for INT8 calibration (default 128, as build)")
    p.add_argument("--max-images", type=int, help="evaluate on this many val images spread over the split (default all)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS + EXTRA_VARIANTS + CPU_VARIANTS,
                   help=f"graphs to compare (default: {' '.join(VARIANTS)}; also {' '.join(EXTRA_VARIANTS)})")
    p.add_argument("--tag", default="precision_accuracy", help="results file stem")
    return p.parse_args()


def training_imgsz(weights: str) -> int | None:
    from grace_edge.model.safe_load import torch_load

    ckpt = torch_load(weights)  # weights_only, with grace-edge's allow-list: no code from the file runs
    args = ckpt.get("train_args") or {} if isinstance(ckpt, dict) else {}
    size = args.get("imgsz") if isinstance(args, dict) else None
    return int(size) if isinstance(size, int) else None


def make_variant(variant: str, fp32: Path, work: Path, images: list[Path]) -> tuple[Path, dict[str, Any]]:
    from grace_edge.engine.precision import convert_fp16
    from grace_edge.engine.quantize import quantize_int8

    if variant.startswith("ov-"):  # the same graphs, run by OpenVINO (see runtime_of)
        inner = variant.split("-", 1)[1]
        return make_variant("fp32" if inner in ("fp32", "bf16") else inner, fp32, work, images)
    if variant.startswith("int8cpu"):
        from grace_edge.engine.quantize_cpu import DEFAULT_LAYOUT, quantize_int8_cpu

        layout = variant.split("-")[0][len("int8cpu"):] or DEFAULT_LAYOUT
        result = quantize_int8_cpu(fp32, work / f"{variant}.onnx", images, method=variant.split("-")[1], cache_dir=work,
                                   layout=layout, exclude_head_outputs=True if variant.endswith("-headf") else None)
        return result.path, {"calibration_images": result.images, "excluded_nodes": result.excluded_nodes}
    if variant == "fp32":
        return fp32, {}
    if variant.startswith("fp16"):
        return convert_fp16(fp32, work / f"{variant}.onnx", keep_gates_fp32=variant == "fp16-gates32"), {}
    method = variant.split("-")[1]
    result = quantize_int8(fp32, work / f"{variant}.onnx", images, method=method, cache_dir=work,
                           exclude_head_outputs=not variant.endswith("-headq"))
    return result.path, {"calibration_images": result.images, "excluded_nodes": result.excluded_nodes}


def runtime_of(variant: str) -> dict[str, Any] | None:
    """Detector options a variant runs with: OpenVINO with its precision hint for ``ov-*``, else ONNX Runtime."""
    if not variant.startswith("ov-"):
        return None
    return {"backend": "openvino", "inference_precision": "bf16" if variant == "ov-bf16" else "fp32"}


def main() -> None:
    a = parse_args()
    from grace_edge.evaluate import evaluate
    from grace_edge.data.calibration import calibration_images
    from grace_edge.export.onnx_export import export_onnx

    imgsz = a.imgsz or training_imgsz(a.weights) or 640
    images = calibration_images(a.data, a.calib_images)
    rows = []
    with tempfile.TemporaryDirectory(prefix="precision-accuracy-") as tmp:
        work = Path(tmp)
        fp32 = export_onnx(a.weights, work / "fp32.onnx", imgsz=imgsz)
        for variant in a.variants:
            t0 = time.perf_counter()
            graph, extra = make_variant(variant, fp32, work, images)
            made = time.perf_counter() - t0
            t0 = time.perf_counter()
            result = evaluate(graph, a.data, split="val", conf=0.001, max_images=a.max_images,
                              runtime=runtime_of(variant)).to_dict()
            rows.append({"variant": variant, **{k: result.get(k) for k in METRICS}, "images": result.get("images"),
                         "make_seconds": round(made, 1), "eval_seconds": round(time.perf_counter() - t0, 1),
                         "onnx_bytes": graph.stat().st_size, **extra, "per_class": result.get("per_class")})
            print(f"{variant}: mAP50-95 {fmt(rows[-1]['map50_95'])}", flush=True)
            write(report(a, imgsz, images, rows), a.tag, quiet=variant != a.variants[-1])  # partial results survive


def report(a: argparse.Namespace, imgsz: int, images: list[Path], rows: list[dict[str, Any]]) -> dict[str, Any]:
    base = next((r["map50_95"] for r in rows if r["variant"] == "fp32"), None)
    for r in rows:
        r["drop_vs_fp32_pts"] = None if base is None or r["map50_95"] is None else round((base - r["map50_95"]) * 100, 2)
    return {
        "benchmark": "precision_accuracy",
        "settings": {"weights": a.weights, "data": a.data, "imgsz": imgsz, "calib_images": len(images),
                     "calib_split": "train", "eval_split": "val", "max_images": a.max_images, "conf": 0.001,
                     "backend": "onnxruntime CPU (ov-*: OpenVINO CPU)", "int8": "int8-*: TensorRT layout (Q/DQ, "
                     "symmetric, per-channel weights, float bias); int8cpu-*: CPU layout (uint8 activations, conv "
                     "outputs and SiLUs quantized, int32 bias); both keep pre/postprocess and head output convs float"},
        "machine": {"cpu_count": __import__("os").cpu_count(), "platform": platform.platform()},
        "rows": rows,
    }


def write(report: dict[str, Any], tag: str, quiet: bool = False) -> None:

    s = report["settings"]
    lines = [
        f"# Precision vs accuracy: {Path(s['weights']).name}, imgsz {s['imgsz']}, ONNX Runtime CPU",
        "",
        f"Val split of `{s['data']}`; INT8 calibrated on {s['calib_images']} train images. Same run, same FP32 export.",
        "",
        "| variant | mAP50-95 | mAP50 | drop vs FP32 (pts) | P | R | make s | eval s | ONNX MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        drop = "-" if r["drop_vs_fp32_pts"] is None else f"{r['drop_vs_fp32_pts']:+.2f}"
        lines.append(
            f"| {r['variant']} | {fmt(r['map50_95'])} | {fmt(r['map50'])} | {drop} | {fmt(r['precision'])} | "
            f"{fmt(r['recall'])} | {r['make_seconds']} | {r['eval_seconds']} | {r['onnx_bytes'] / 1e6:.1f} |"
        )
    base = next((r for r in report["rows"] if r["variant"] == "fp32"), None)
    if base and base.get("per_class"):
        names = list(base["per_class"])
        lines += ["", "AP50-95 per class (FP32) and each variant's drop from it (points; + = lower than FP32):", "",
                  "| variant | " + " | ".join(names) + " | worst class drop |", "|---|" + "---:|" * (len(names) + 1)]
        for r in report["rows"]:
            pc = r.get("per_class") or {}
            if r is base:
                lines.append("| fp32 | " + " | ".join(fmt(pc.get(n)) for n in names) + " | - |")
                continue
            drops = [(base["per_class"][n] - pc[n]) * 100 for n in names
                     if pc.get(n) is not None and base["per_class"].get(n) is not None]
            r["worst_class_drop_pts"] = round(max(drops), 2) if drops else None
            lines.append(f"| {r['variant']} | " + " | ".join(
                "-" if pc.get(n) is None or base["per_class"].get(n) is None
                else f"{(base['per_class'][n] - pc[n]) * 100:+.2f}" for n in names)
                + f" | {r['worst_class_drop_pts']} |")
    publish(tag, report, lines, quiet)


if __name__ == "__main__":
    main()
