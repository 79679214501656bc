"""The two TensorRT INT8 layouts side by side: ONNX Runtime's quantizer (grace-edge's layout before issue 25) and
NVIDIA ModelOpt's ONNX PTQ (the TensorRT INT8 path now), from the same weights, FP32 export and calibration images.

Per layout: Q/DQ node count, the compute ops left unquantized (no input through a DequantizeLinear), the precision
of the float tensors outside Q/DQ (FP32 vs FP16), and mAP on the val split in ONNX Runtime on this CPU (FP32 as the
reference). What a CPU cannot say: which engine TensorRT builds faster; that is ``grace-edge bench`` on a GPU.
ModelOpt runs in its own venv (``.ci/modelopt_env.sh``; ``GRACE_MODELOPT_ENV``).
Results: ``benchmarks/results/int8_layouts.{json,md}``.

    GRACE_MODELOPT_ENV=.venv-modelopt nice -n 10 python benchmarks/int8_layouts.py \
        --weights benchmarks/runs/grace-n-int8b/weights/best.pt --data benchmarks/runs/reduced/dataset/data.yaml
"""

from __future__ import annotations

from _results import fmt, publish  # benchmarks/_results.py

import argparse
import os
import platform
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

LAYOUTS = ("fp32", "int8-ort", "int8-modelopt")
COMPUTE_OPS = ("Conv", "Add", "Mul", "Sigmoid", "Concat", "MaxPool", "Resize", "Split", "MatMul", "Softmax",
               "GlobalAveragePool")  # the network's own ops; shape and index plumbing is not "left unquantized"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True, help="checkpoint (.pt)")
    p.add_argument("--data", required=True, help="data YAML (train: calibration, val: evaluation)")
    p.add_argument("--imgsz", type=int, default=128, help="network input size (default 128)")
    p.add_argument("--calib-images", type=int, default=128, help="train images for INT8 calibration (default 128)")
    p.add_argument("--calib-method", default="entropy", choices=("entropy", "minmax"), help="both layouts' method")
    p.add_argument("--max-images", type=int, help="val images, spread over the split (default all)")
    p.add_argument("--tag", default="int8_layouts", help="results file stem")
    return p.parse_args()


def layout_stats(path: Path) -> dict[str, Any]:
    """Q/DQ count, unquantized compute ops by type, and float tensor types, read from the graph."""
    import onnx

    from grace_edge.engine.precision import tensor_types

    model = onnx.load(str(path))
    nodes = list(model.graph.node)
    dq_out = {o for n in nodes if n.op_type == "DequantizeLinear" for o in n.output}
    compute = [n for n in nodes if n.op_type in COMPUTE_OPS]
    left = Counter(n.op_type for n in compute if not any(i in dq_out for i in n.input))
    types = tensor_types(model)
    floats = Counter(onnx.TensorProto.DataType.Name(types[o]) for n in compute for o in n.output
                     if types.get(o) in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16))
    return {"q_nodes": sum(n.op_type == "QuantizeLinear" for n in nodes),
            "dq_nodes": sum(n.op_type == "DequantizeLinear" for n in nodes),
            "compute_ops": len(compute), "unquantized_ops": sum(left.values()), "unquantized_by_op": dict(left),
            "compute_outputs_fp32": floats.get("FLOAT", 0), "compute_outputs_fp16": floats.get("FLOAT16", 0),
            "onnx_bytes": path.stat().st_size}


def make(layout: str, fp32: Path, work: Path, images: list[Path], method: str) -> tuple[Path, dict[str, Any]]:
    if layout == "fp32":
        return fp32, {}
    if layout == "int8-ort":
        from grace_edge.engine.quantize import quantize_int8

        return quantize_int8(fp32, work / "int8-ort.onnx", images, method=method, cache_dir=work).path, {}
    from grace_edge.artifact import read_onnx_meta
    from grace_edge.engine.quantize_modelopt import quantize_int8_modelopt

    path = quantize_int8_modelopt(fp32, work / "int8-modelopt.onnx", images, method=method).path
    return path, {"modelopt": read_onnx_meta(path).source.get("modelopt")}


def main() -> None:
    a = parse_args()
    from grace_edge.data.calibration import calibration_images
    from grace_edge.engine.conformance import check_file
    from grace_edge.evaluate import evaluate
    from grace_edge.export.onnx_export import export_onnx

    images = calibration_images(a.data, a.calib_images)
    rows = []
    with tempfile.TemporaryDirectory(prefix="int8-layouts-") as tmp:
        work = Path(tmp)
        fp32 = export_onnx(a.weights, work / "fp32.onnx", imgsz=a.imgsz)
        for layout in LAYOUTS:
            t0 = time.perf_counter()
            graph, extra = make(layout, fp32, work, images, a.calib_method)
            made = time.perf_counter() - t0
            t0 = time.perf_counter()
            result = evaluate(graph, a.data, split="val", conf=0.001, max_images=a.max_images).to_dict()
            rows.append({"layout": layout, "map50_95": result.get("map50_95"), "map50": result.get("map50"),
                         "images": result.get("images"), "make_seconds": round(made, 1),
                         "eval_seconds": round(time.perf_counter() - t0, 1), "conformance_violations":
                         len(check_file(graph)), **layout_stats(graph), **extra})
            print(f"{layout}: mAP50-95 {fmt(rows[-1]['map50_95'])}", flush=True)
    publish(a.tag, report(a, images, rows), markdown(a, rows))


def report(a: argparse.Namespace, images: list[Path], rows: list[dict[str, Any]]) -> dict[str, Any]:
    base = rows[0]["map50_95"]
    for r in rows:
        r["drop_vs_fp32_pts"] = None if base is None or r["map50_95"] is None else round((base - r["map50_95"]) * 100, 2)
    return {"benchmark": "int8_layouts",
            "settings": {"weights": a.weights, "data": a.data, "imgsz": a.imgsz, "calib_images": len(images),
                         "calib_method": a.calib_method, "calib_split": "train", "eval_split": "val",
                         "max_images": a.max_images, "conf": 0.001, "runtime": "onnxruntime CPU",
                         "modelopt_env": os.environ.get("GRACE_MODELOPT_ENV")},
            "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                        "load_average": list(os.getloadavg())},
            "rows": rows}


def markdown(a: argparse.Namespace, rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"# TensorRT INT8 layouts: {Path(a.weights).name}, imgsz {a.imgsz}, ONNX Runtime CPU", "",
             f"Same weights, FP32 export and {a.calib_method} calibration on {a.calib_images} train images; mAP on the "
             "val split. `int8-ort`: ONNX Runtime's quantizer (the TensorRT layout before issue 25); `int8-modelopt`: "
             "NVIDIA ModelOpt ONNX PTQ (now). Unquantized = compute ops with no input through a DequantizeLinear "
             "(preprocessing, decode and NMS included in both). Speed on TensorRT is not measured here (no GPU).", "",
             "| layout | Q/DQ nodes | unquantized ops (of compute) | float outputs FP32 / FP16 | mAP50-95 | mAP50 | "
             "drop vs FP32 (pts) | conformance | make s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        drop = "-" if r["drop_vs_fp32_pts"] is None else f"{r['drop_vs_fp32_pts']:+.2f}"
        lines.append(f"| {r['layout']} | {r['q_nodes']} + {r['dq_nodes']} | {r['unquantized_ops']} "
                     f"({r['compute_ops']}) | {r['compute_outputs_fp32']} / {r['compute_outputs_fp16']} | "
                     f"{fmt(r['map50_95'])} | {fmt(r['map50'])} | {drop} | {r['conformance_violations']} violations | "
                     f"{r['make_seconds']} |")
    lines += ["", "Unquantized ops by type:", ""]
    lines += [f"- {r['layout']}: " + ", ".join(f"{k} {v}" for k, v in sorted(r["unquantized_by_op"].items()))
              for r in rows]
    return lines


if __name__ == "__main__":
    main()
