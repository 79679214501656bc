"""Reduced-protocol accuracy: GRACE-n vs YOLO11n trained side by side, one run, same data, same settings.

The paper trains 200 epochs at 640 px. This CPU-sized protocol keeps the split (NEU-DET, seeded 80/20 by
``grace_edge.data.neu_det.convert``) and the trainer, and shrinks image size and epochs; the Lite-FEN and DS-CBSM++
ramps are shortened in proportion (30/200 of the run), warmup to 1 epoch, and lr0 is 0.01 (0.001 barely moves
a from-scratch model in a few epochs). The two models train at the same time, one process and one thread each,
so that a CPU shared with other jobs slows both alike; a wall-clock deadline stops both after the batch that passes it if
needed (the batches each completed are reported). Weights: ``<runs>/<model>/weights/best.pt``; metrics from
``grace_edge.evaluate.evaluate`` on the val split. Results: ``benchmarks/results/<tag>.{json,md}``.

    nice -n 10 python benchmarks/reduced_protocol.py --epochs 4 --imgsz 96 --minutes 45
"""

from __future__ import annotations

from _results import publish  # benchmarks/_results.py

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
METRICS = ("map50_95", "map50", "precision", "recall", "f1", "ap_small", "ap_medium", "ap_large")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--neu-det", default=str(REPO.parent / "shared" / "data" / "NEU-DET"), help="raw NEU-DET root")
    p.add_argument("--runs", default=str(REPO / "benchmarks" / "runs" / "reduced"), help="run dir (weights, dataset)")
    p.add_argument("--models", nargs="+", default=["grace-n", "yolo11n"], help="models to compare")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--imgsz", type=int, default=96)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr0", type=float, default=0.01)
    p.add_argument("--minutes", type=float, default=45.0, help="training deadline: stop at the first batch after it")
    p.add_argument("--fraction", type=float, default=1.0, help="fraction of the train split (quick checks)")
    p.add_argument("--tag", default="reduced_protocol", help="results file stem")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # internal: train this one model
    p.add_argument("--deadline", type=float, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def dataset(neu_det: str, runs: Path) -> Path:
    from grace_edge.data.neu_det import convert

    yaml_path = runs / "dataset" / "data.yaml"
    if not yaml_path.is_file():
        convert(neu_det, runs / "dataset", seed=0, force=True)
    return yaml_path


def ramp(epochs: int) -> int:
    return max(1, round(epochs * 30 / 200))


def train_one(a: argparse.Namespace) -> None:
    """Worker: train ``a.worker`` with one torch thread; stop after the first batch past ``a.deadline``."""
    from grace_edge.io import write_json
    from grace_edge.train.trainer import GraceOptions, train
    from grace_edge.ultralytics_setup import configure

    configure(threads=1)

    progress = {"batches": 0, "images": 0, "stopped_at_deadline": False}

    def count_and_stop_at_deadline(trainer) -> None:
        progress["batches"] += 1
        progress["images"] += int(trainer.batch_size)
        if time.time() > a.deadline and not trainer.stop:
            trainer.stop = progress["stopped_at_deadline"] = True  # Ultralytics ends the epoch here, validates, saves

    def save_progress(trainer) -> None:
        write_json(Path(a.runs) / a.worker / "progress.json", {**progress, "epochs_started": trainer.epoch + 1})

    name = a.worker
    options = GraceOptions(model=name, variant="grace" if name.startswith("grace") else "baseline", ramp_epochs=ramp(a.epochs))
    train(
        Path(a.runs) / "dataset" / "data.yaml", options, callbacks={"on_train_batch_end": [count_and_stop_at_deadline], "on_train_end": [save_progress]},
        epochs=a.epochs, imgsz=a.imgsz, batch=a.batch, lr0=a.lr0, warmup_epochs=1, device="cpu", workers=0,
        project=a.runs, name=name, exist_ok=True, plots=False, val=False, fraction=a.fraction, seed=0,
    )


def main() -> None:
    a = parse_args()
    if a.worker:
        return train_one(a)
    from grace_edge.evaluate import evaluate

    runs = Path(a.runs)
    data = dataset(a.neu_det, runs)
    deadline = time.time() + 60 * a.minutes
    t0 = time.perf_counter()
    procs = {
        m: subprocess.Popen([sys.executable, __file__, *sys.argv[1:], "--worker", m, "--deadline", str(deadline)])
        for m in a.models
    }
    codes = {m: p.wait() for m, p in procs.items()}
    seconds = time.perf_counter() - t0
    if any(codes.values()):
        raise SystemExit(f"training failed: exit codes {codes}")
    rows = []
    for name in a.models:
        best = runs / name / "weights" / "best.pt"
        from grace_edge.model.weights import load_model

        model = load_model(best)
        progress = json.loads((runs / name / "progress.json").read_text())
        result = evaluate(best, data, imgsz=a.imgsz, batch=a.batch, device="cpu").to_dict()
        rows.append({"model": name, "architecture": model.yaml.get("yaml_file", name), "params": sum(p.numel() for p in model.parameters()),
                     **progress, "weights": str(best.relative_to(REPO) if best.is_relative_to(REPO) else best),
                     **{k: result.get(k) for k in METRICS}, "per_class": result.get("per_class")})
    report = {
        "benchmark": "reduced_protocol",
        "command": "python benchmarks/reduced_protocol.py " + " ".join(sys.argv[1:]),
        "protocol": {"epochs": a.epochs, "imgsz": a.imgsz, "batch": a.batch, "optimizer": "SGD", "lr0": a.lr0, "seed": 0,
                     "warmup_epochs": 1, "ramp_epochs": ramp(a.epochs), "fraction": a.fraction, "deadline_minutes": a.minutes,
                     "split": "NEU-DET val (seed 0, 20%)", "paper_protocol": "200 epochs, 640 px, SGD lr0 0.001"},
        "wall_seconds_both_models": round(seconds, 1),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "threads_per_model": 1},
        "rows": rows,
    }
    write(report, a.tag)


def markdown(report: dict) -> str:
    p = report["protocol"]
    lines = [
        f"# Reduced protocol: {p['epochs']} epochs, {p['imgsz']} px, batch {p['batch']}, SGD lr0 {p['lr0']}, seed 0",
        f"(paper: {p['paper_protocol']}; ramps {p['ramp_epochs']} epochs; fraction {p['fraction']}; {p['split']})",
        "",
        f"Both models trained concurrently in {report['wall_seconds_both_models'] / 60:.1f} min wall time.",
        "",
        "| model | params | epochs started | images trained | mAP50-95 | mAP50 | P | R | F1 | AP_s | AP_m | AP_l |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    for r in report["rows"]:
        lines.append(f"| {r['model']} | {r['params']:,} | {r['epochs_started']} | {r['images']:,}{' (deadline)' if r['stopped_at_deadline'] else ''} | " + " | ".join(fmt(r[k]) for k in METRICS) + " |")
    names = list(report["rows"][0]["per_class"] or {}) if report["rows"] else []
    if names:
        lines += ["", "Per-class AP50-95:", "", "| model | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for r in report["rows"]:
            lines.append(f"| {r['model']} | " + " | ".join(fmt(r["per_class"].get(n)) for n in names) + " |")
    return "\n".join(lines) + "\n"


def write(report: dict, tag: str) -> None:
    publish(tag, report, markdown(report), echo_json=True)


if __name__ == "__main__":
    main()
