"""The paper's four-variant ablation (Table 2) with several seeds per variant, at a reduced protocol a shared CPU
can finish: mean +- std per variant, under both evaluation protocols (COCO, ours; Ultralytics' ``model.val()``).

Each (variant, seed) trains as its own process (one torch thread) through the same code as ``grace-edge
ablate`` (``grace_edge.train.train``, then ``grace_edge.evaluate``), ``--parallel`` at a time, seed-major (all
variants of seed 0, then seed 1, ...) so that a run cut short by ``--minutes`` stays balanced; a run not started
before the deadline is reported as missing, a started one finishes. Every run uses the same stratified
``--fraction`` of the train split (``grace_edge.train.subset``), the full val split, and the final EMA weights
(``last.pt``). Ramps (s_e, gamma) are shortened to 30/200 of the run, as in ``reduced_protocol.py``.
``--evaluate-only`` re-evaluates finished runs (e.g. after adding a metric). Results:
``benchmarks/results/ablation_seeds.{json,md}``.

    nice -n 15 python benchmarks/ablation_seeds.py --imgsz 64 --epochs 6 --fraction 0.5 --seeds 0 1 2 --parallel 2
"""

from __future__ import annotations

from _results import publish  # benchmarks/_results.py

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("baseline", "ds-cbsm", "lite-fen", "grace")
METRICS = ("map50_95", "map50", "precision", "recall", "f1")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--neu-det", default=str(REPO.parent / "shared" / "data" / "NEU-DET"), help="raw NEU-DET root")
    p.add_argument("--runs", default=str(REPO / "benchmarks" / "runs" / "ablation_seeds"), help="run dir")
    p.add_argument("--model", default="grace-n")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--imgsz", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--optimizer", default="SGD", choices=("SGD", "AdamW"), help="SGD as in the paper; AdamW converges in fewer epochs")
    p.add_argument("--lr0", type=float, default=0.01, help="0.001 (paper) barely moves a from-scratch model in a few epochs")
    p.add_argument("--fraction", type=float, default=0.5, help="stratified fraction of the train split")
    p.add_argument("--parallel", type=int, default=2, help="runs training at once (one thread each)")
    p.add_argument("--minutes", type=float, default=90.0, help="start no new run after this many minutes")
    p.add_argument("--evaluate-only", action="store_true", help="skip training; evaluate the runs that finished")
    p.add_argument("--worker", nargs=2, default=None, help=argparse.SUPPRESS)  # internal: VARIANT SEED
    return p.parse_args(argv)


def ramp(epochs: int) -> int:
    return max(1, round(epochs * 30 / 200))


def dataset(neu_det: str, runs: Path) -> Path:
    """The seed-0 NEU-DET split in the run dir (evaluation: full val), and ``train_data.yaml`` for training, whose
    val is 12 images: Ultralytics validates the last epoch even with ``val=False``, and we evaluate separately."""
    import yaml

    from grace_edge.data.neu_det import convert
    from grace_edge.train.subset import subset_files

    yaml_path = runs / "dataset" / "data.yaml"
    if not yaml_path.is_file():
        convert(neu_det, runs / "dataset", seed=0, force=True)
    val = sorted(str(p) for p in (runs / "dataset" / "images" / "val").glob("*.jpg"))
    listing = runs / "train_val_subset.txt"
    listing.write_text("".join(f"{f}\n" for f in subset_files(val, 12 / len(val))))
    cfg = yaml.safe_load(yaml_path.read_text())
    (runs / "train_data.yaml").write_text(yaml.safe_dump({**cfg, "val": str(listing)}))
    return yaml_path


def warm_label_caches(a: argparse.Namespace) -> None:
    """Build the training datasets once, so that concurrent workers read Ultralytics' label cache instead of
    racing to rewrite it (``labels/train.cache`` is shared by every run on this dataset)."""
    from grace_edge.train.trainer import GraceOptions, GraceTrainer

    trainer = GraceTrainer(overrides={"data": str(Path(a.runs) / "train_data.yaml"), "fraction": a.fraction, "imgsz": a.imgsz,
                                      "device": "cpu", "workers": 0, "project": a.runs, "name": "cache-warmup", "exist_ok": True},
                           options=GraceOptions(model=a.model, variant="baseline"))
    trainer.build_dataset(trainer.data["train"], "train", a.batch)
    trainer.build_dataset(trainer.data["val"], "val", a.batch)


def table_order(variants: list[str]) -> list[str]:
    """The paper's Table 2 order, whatever order the runs were started in (``--variants`` also sets that)."""
    return [v for v in VARIANTS if v in variants]


def run_name(variant: str, seed: int) -> str:
    return f"{variant}-seed{seed}"


def train_one(a: argparse.Namespace) -> None:
    """Worker: train one (variant, seed) with one torch thread."""
    from grace_edge.train.trainer import GraceOptions, train
    from grace_edge.ultralytics_setup import configure

    configure(threads=1)
    variant, seed = a.worker[0], int(a.worker[1])
    t0 = time.perf_counter()
    train(
        Path(a.runs) / "train_data.yaml", GraceOptions(model=a.model, variant=variant, ramp_epochs=ramp(a.epochs)),
        epochs=a.epochs, imgsz=a.imgsz, batch=a.batch, optimizer=a.optimizer, lr0=a.lr0, warmup_epochs=1, device="cpu", workers=0,
        project=a.runs, name=run_name(variant, seed), exist_ok=True, plots=False, val=False, fraction=a.fraction, seed=seed,
    )
    (Path(a.runs) / run_name(variant, seed) / "done.json").write_text(json.dumps({"train_seconds": time.perf_counter() - t0}))


def train_all(a: argparse.Namespace) -> list[str]:
    """Run the workers, ``--parallel`` at a time, seed-major; returns the runs never started (deadline)."""
    deadline = time.time() + 60 * a.minutes
    todo = [(v, s) for s in a.seeds for v in a.variants if not (Path(a.runs) / run_name(v, s) / "done.json").is_file()]
    running: list[tuple[str, subprocess.Popen]] = []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    while todo or running:
        while todo and len(running) < a.parallel and time.time() < deadline:
            v, s = todo.pop(0)
            log = open(Path(a.runs) / f"{run_name(v, s)}.log", "w")
            running.append((run_name(v, s), subprocess.Popen(
                [sys.executable, __file__, *sys.argv[1:], "--worker", v, str(s)], stdout=log, stderr=subprocess.STDOUT, env=env)))
        if not running:
            break
        time.sleep(5)
        for name, proc in list(running):
            if proc.poll() is not None:
                running.remove((name, proc))
                print(f"{name}: exit {proc.returncode}", flush=True)
    return [run_name(v, s) for v, s in todo]


def evaluate_run(weights: Path, data: Path, a: argparse.Namespace) -> dict:
    from grace_edge.evaluate import evaluate

    coco = evaluate(weights, data, imgsz=a.imgsz, batch=32, device="cpu").to_dict()
    row = {"coco": {k: coco.get(k) for k in METRICS}}
    try:
        from grace_edge.evaluate.ultralytics_protocol import evaluate_ultralytics
    except ImportError:  # protocol module not on this branch yet
        return row
    ul = evaluate_ultralytics(weights, data, imgsz=a.imgsz, batch=32, device="cpu")
    row["ultralytics"] = {k: ul.to_dict().get(k) for k in METRICS}
    return row


def mean_std(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None, "n": len(values)}


def main() -> None:
    a = parse_args()
    if a.worker:
        return train_one(a)
    runs = Path(a.runs)
    data = dataset(a.neu_det, runs)
    t0 = time.perf_counter()
    if not a.evaluate_only:
        warm_label_caches(a)
    never_started = [] if a.evaluate_only else train_all(a)
    wall = time.perf_counter() - t0
    from grace_edge.model.weights import load_model

    rows = []
    for s in a.seeds:
        for v in table_order(a.variants):
            d = runs / run_name(v, s)
            if not (d / "done.json").is_file():
                continue
            weights = d / "weights" / "last.pt"
            params = sum(p.numel() for p in load_model(weights).parameters())
            done = json.loads((d / "done.json").read_text())
            rows.append({"variant": v, "seed": s, "params": params, "weights": str(weights.relative_to(REPO) if weights.is_relative_to(REPO) else weights),
                         "train_seconds": round(done["train_seconds"], 1), **evaluate_run(weights, data, a)})
    summary = {}
    for v in table_order(a.variants):
        mine = [r for r in rows if r["variant"] == v]
        summary[v] = {proto: {k: mean_std([r[proto][k] for r in mine if r[proto][k] is not None]) for k in METRICS}
                      for proto in ("coco", "ultralytics") if mine and all(proto in r for r in mine)}
    report = {
        "benchmark": "ablation_seeds",
        "command": "python benchmarks/ablation_seeds.py " + " ".join(sys.argv[1:]),
        "protocol": {"model": a.model, "epochs": a.epochs, "imgsz": a.imgsz, "batch": a.batch, "optimizer": a.optimizer, "lr0": a.lr0,
                     "warmup_epochs": 1, "ramp_epochs": ramp(a.epochs), "fraction": a.fraction, "seeds": a.seeds,
                     "weights": "last.pt (final EMA)", "split": "NEU-DET val (seed-0 80/20 split), all images",
                     "paper_protocol": "grace-s, 200 epochs, 640 px, batch 16, SGD lr0 0.001, full train split"},
        "wall_seconds_training": round(wall, 1), "never_started": never_started,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "parallel_runs": a.parallel, "threads_per_run": 1},
        "rows": rows, "summary": summary,
    }
    publish("ablation_seeds", report, markdown(report))


def markdown(r: dict) -> str:
    p = r["protocol"]
    lines = [
        f"# Ablation with seeds: {p['model']}, {p['epochs']} epochs, {p['imgsz']} px, {p['fraction']:.0%} of train (stratified), "
        f"seeds {p['seeds']}",
        "",
        f"Reduced protocol, far from the paper's ({p['paper_protocol']}): batch {p['batch']}, {p['optimizer']} lr0 {p['lr0']}, warmup "
        f"{p['warmup_epochs']} epoch, ramps {p['ramp_epochs']} epoch(s), {p['weights']}, {p['split']}. "
        "Models this short are far from converged: the table says what these runs measured, not how the variants "
        "compare at the paper's protocol.",
        f"Command: `{r['command']}`",
        "",
    ]
    if r["never_started"]:
        lines += [f"Not run (deadline): {', '.join(r['never_started'])}", ""]
    fmt = lambda s: "n/a" if not s or s.get("n", 0) == 0 else (f"{s['mean']:.4f} +- {s['std']:.4f}" if s["std"] is not None else f"{s['mean']:.4f}")  # noqa: E731
    for proto, title in (("coco", "COCO protocol (grace-edge val)"), ("ultralytics", "Ultralytics protocol (model.val())")):
        if not any(proto in s for s in r["summary"].values()):
            continue
        lines += [f"## {title}: mean +- std (sample) over seeds", "", "| variant | runs | mAP50-95 | mAP50 | P | R | F1 |", "|---|---:|---:|---:|---:|---:|---:|"]
        for v, s in r["summary"].items():
            if proto in s:
                lines.append(f"| {v} | {s[proto]['map50_95']['n']} | " + " | ".join(fmt(s[proto][k]) for k in METRICS) + " |")
        lines.append("")
    lines += ["## Per run", "", "| variant | seed | params | train s | COCO mAP50-95 | COCO mAP50 | UL mAP50-95 | UL mAP50 |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    num = lambda x: "n/a" if x is None else f"{x:.4f}"  # noqa: E731
    for row in r["rows"]:
        ul = row.get("ultralytics", {})
        lines.append(f"| {row['variant']} | {row['seed']} | {row['params']:,} | {row['train_seconds']:.0f} | {num(row['coco']['map50_95'])} | "
                     f"{num(row['coco']['map50'])} | {num(ul.get('map50_95'))} | {num(ul.get('map50'))} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
