"""Early-epoch eval collapse: does GRACE cause it? YOLO11n and GRACE-n with the same short recipe, side by side.

A GRACE-n at 128 px once fell apart in eval mode in its first epochs (val class loss 4.4 -> 5,305 while the
train loss fell) and re-estimating BatchNorm statistics fixed it. Here both models (and, with ``--variants``,
the single-module variants) train with one recipe, concurrently, one thread each; at the end of every epoch,
on the same fixed val images, the class loss is measured in eval mode for:

- ``ema``: the EMA model, which Ultralytics validates and saves;
- ``model``: the raw training model in eval mode (running BN statistics);
- ``ema_bn_reest``: a copy of the EMA with every BN's running mean/var re-estimated on ``--bn-batches``
  un-augmented train batches (cumulative average);
- ``model_batch_bn``: the raw model with BN in train mode (statistics of the val batch itself): are the weights
  fine and only the running statistics off?

It also records Ultralytics' own per-epoch val losses and mAP50-95, Lite-FEN's ``s_e`` on model and EMA, the
class mix of the training batches (the sampler's effect), and how far the running BN variances are from the
val-batch variances (median and max ratio over all BN layers). Results: ``benchmarks/results/eval_collapse.{json,md}``.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/eval_collapse.py --imgsz 128 --epochs 4 --fraction 0.25
"""

from __future__ import annotations

from _results import publish  # benchmarks/_results.py

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--neu-det", default=str(REPO.parent / "shared" / "data" / "NEU-DET"), help="raw NEU-DET root")
    p.add_argument("--runs", default=str(REPO / "benchmarks" / "runs" / "eval_collapse"))
    p.add_argument("--runs-spec", nargs="+", default=["yolo11n:baseline", "grace-n:grace"], help="MODEL:VARIANT to train")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--imgsz", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr0", type=float, default=0.01)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--fraction", type=float, default=0.25, help="stratified fraction of the train split")
    p.add_argument("--val-images", type=int, default=120, help="stratified val subset used by Ultralytics' val and ours")
    p.add_argument("--bn-batches", type=int, default=8, help="train batches for BN re-estimation")
    p.add_argument("--val-batches", type=int, default=4, help="val batches for our eval-mode losses")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="each MODEL:VARIANT trains once per seed")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def dataset(a: argparse.Namespace) -> Path:
    """The seed-0 NEU-DET split, with val cut to a stratified ``--val-images`` subset (listed in a text file)."""
    import yaml

    from grace_edge.data.neu_det import convert
    from grace_edge.train.subset import subset_files

    root = Path(a.runs) / "dataset"
    if not (root / "data.yaml").is_file():
        convert(a.neu_det, root, seed=0, force=True)
    val = sorted(str(p) for p in (root / "images" / "val").glob("*.jpg"))
    listing = Path(a.runs) / "val_subset.txt"
    listing.write_text("".join(f"{f}\n" for f in subset_files(val, min(1.0, a.val_images / len(val)))))
    cfg = yaml.safe_load((root / "data.yaml").read_text())
    cfg.update(val=str(listing), path=str(root))
    out = Path(a.runs) / "data.yaml"
    out.write_text(yaml.safe_dump(cfg))
    return out


def _batches(trainer, path: str, n: int) -> list[dict]:
    from ultralytics.data.build import build_dataloader

    ds = trainer.build_dataset(path, mode="val", batch=trainer.args.batch)
    out = []
    for b in build_dataloader(ds, trainer.args.batch, 0, shuffle=False, rank=-1):
        b["img"] = b["img"].float() / 255
        out.append(b)
        if len(out) == n:
            break
    return out


def _cls_loss(model, batches, bn_train: bool = False) -> float:
    import torch

    model.eval()
    if bn_train:
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.train()
                m.momentum = 0.0  # use batch statistics, leave the running ones alone
    total = 0.0
    with torch.no_grad():
        for b in batches:
            _, items = model.loss(b, model(b["img"]))
            total += float(items["cls_loss"] if isinstance(items, dict) else items[1])
    return total / len(batches)


def _reestimate_bn(model, batches):
    import torch

    m = copy.deepcopy(model)
    bns = [x for x in m.modules() if isinstance(x, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches
    m.train()
    with torch.no_grad():
        for b in batches:
            m(b["img"])
    return m


def _bn_var_ratio(model, batch) -> dict:
    """Running variance / this batch's variance at every BN input: median and max over layers (eval forward)."""
    import torch

    ratios, hooks = [], []

    def hook(bn, inp, _out):
        x = inp[0]
        var = x.transpose(0, 1).reshape(x.shape[1], -1).var(1)
        ratios.append(float((var / (bn.running_var + bn.eps)).max()))

    for bn in (x for x in model.modules() if isinstance(x, torch.nn.BatchNorm2d)):
        hooks.append(bn.register_forward_hook(hook))
    model.eval()
    with torch.no_grad():
        model(batch["img"])
    for h in hooks:
        h.remove()
    ratios.sort()
    return {"median": ratios[len(ratios) // 2], "max": ratios[-1]}


def train_one(a: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from grace_edge.model.build import lite_fen_modules
    from grace_edge.train.trainer import GraceOptions, train
    from grace_edge.ultralytics_setup import configure
    from ultralytics.utils.torch_utils import unwrap_model

    configure(threads=1)
    model_name, variant, seed = a.worker.split(":")
    name = run_name(a.worker)
    rows: list[dict] = []
    state: dict = {"cls": None}

    def count_batch_classes(trainer) -> None:
        """Wrap preprocess_batch (the only place a training batch passes through) to count its boxes' classes."""
        original, nc = trainer.preprocess_batch, trainer.data["nc"]

        def counting(batch):
            counts = np.bincount(batch["cls"].reshape(-1).long().cpu().numpy(), minlength=nc)
            state["cls"] = counts if state["cls"] is None else state["cls"] + counts
            return original(batch)

        trainer.preprocess_batch = counting

    def diagnose(trainer) -> None:
        if trainer.epoch >= trainer.epochs:  # Ultralytics' final validation after the last epoch: no new weights
            return
        try:
            measure(trainer)
        except Exception as e:  # a diagnostic must not end the training it observes
            rows.append({"epoch": trainer.epoch + 1, "error": f"{type(e).__name__}: {e}"})
            print(f"diagnose failed: {e!r}", flush=True)

    def measure(trainer) -> None:
        if "val" not in state:
            state["val"] = _batches(trainer, trainer.data["val"], a.val_batches)
            state["train"] = _batches(trainer, trainer.data["train"], a.bn_batches)
        ema, model = trainer.ema.ema, copy.deepcopy(unwrap_model(trainer.model))
        val = state["val"]
        fen = {k: [float(f.s_e) for f in lite_fen_modules(m)] for k, m in (("model", model), ("ema", ema))}
        ema_copy = copy.deepcopy(ema)
        row = {
            "epoch": trainer.epoch + 1,
            "train_loss": {k: round(float(v), 4) for k, v in (trainer.tloss or {}).items()},
            "ultralytics_val": {k: float(v) for k, v in trainer.metrics.items()},
            "cls_loss": {
                "ema": _cls_loss(ema_copy, val),
                "model": _cls_loss(copy.deepcopy(model), val),
                "ema_bn_reest": _cls_loss(_reestimate_bn(ema, state["train"]), val),
                "model_batch_bn": _cls_loss(copy.deepcopy(model), val, bn_train=True),
            },
            "bn_var_ratio_ema": _bn_var_ratio(copy.deepcopy(ema), val[0]),
            "s_e": fen,
            "train_box_class_share": [round(float(c) / float(state["cls"].sum()), 4) for c in state["cls"]],
        }
        state["cls"] = None
        rows.append(row)
        print(json.dumps(row), flush=True)

    t0 = time.perf_counter()
    options = GraceOptions(model=model_name, variant=variant, ramp_epochs=max(1, round(a.epochs * 30 / 200)))
    train(
        Path(a.runs) / "data.yaml", options,
        callbacks={"on_train_start": [count_batch_classes], "on_fit_epoch_end": [diagnose]},
        epochs=a.epochs, imgsz=a.imgsz, batch=a.batch, lr0=a.lr0, warmup_epochs=a.warmup_epochs, device="cpu",
        workers=0, project=a.runs, name=name, exist_ok=True, plots=False, val=True, fraction=a.fraction, seed=int(seed),
    )
    out = {"run": a.worker, "seconds": time.perf_counter() - t0, "rows": rows}
    (Path(a.runs) / f"{name}.json").write_text(json.dumps(out, indent=1))
    _ = torch  # keep the import local to the worker


def run_name(spec: str) -> str:
    """``yolo11n:baseline:0`` -> ``yolo11n-baseline-seed0``."""
    model_name, variant, seed = spec.split(":")
    return f"{model_name}-{variant}-seed{seed}"


def main() -> None:
    a = parse_args()
    if a.worker:
        return train_one(a)
    Path(a.runs).mkdir(parents=True, exist_ok=True)
    data = dataset(a)
    from grace_edge.train.trainer import GraceOptions, GraceTrainer

    # build both datasets once: concurrent workers then read Ultralytics' label caches instead of racing to write them
    warm = GraceTrainer(overrides={"data": str(data), "fraction": a.fraction, "imgsz": a.imgsz, "device": "cpu", "workers": 0,
                                   "project": a.runs, "name": "cache-warmup", "exist_ok": True},
                        options=GraceOptions(model="grace-n", variant="baseline"))
    warm.build_dataset(warm.data["train"], "train", a.batch)
    warm.build_dataset(warm.data["val"], "val", a.batch)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = {}
    for spec in (f"{s}:{seed}" for seed in a.seeds for s in a.runs_spec):
        log = open(Path(a.runs) / f"{run_name(spec)}.log", "w")
        procs[spec] = subprocess.Popen([sys.executable, __file__, *sys.argv[1:], "--worker", spec], stdout=log, stderr=subprocess.STDOUT, env=env)
    codes = {s: p.wait() for s, p in procs.items()}
    if any(codes.values()):
        raise SystemExit(f"training failed: {codes} (logs in {a.runs})")
    runs = [json.loads((Path(a.runs) / f"{run_name(s)}.json").read_text()) for s in procs]
    report = {
        "benchmark": "eval_collapse",
        "command": "python benchmarks/eval_collapse.py " + " ".join(sys.argv[1:]),
        "recipe": {k: getattr(a, k) for k in ("epochs", "imgsz", "batch", "lr0", "warmup_epochs", "fraction", "val_images", "bn_batches", "seeds")},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "threads_per_run": 1},
        "runs": runs,
    }
    publish("eval_collapse", report, markdown(report))


def markdown(r: dict) -> str:
    rc = r["recipe"]
    lines = [f"# Early-epoch eval collapse: {rc['imgsz']} px, {rc['epochs']} epochs, batch {rc['batch']}, lr0 {rc['lr0']}, "
             f"warmup {rc['warmup_epochs']}, {rc['fraction']:.0%} of train (stratified), {rc['val_images']} val images",
             "", f"Command: `{r['command']}`", "",
             "Val class loss in eval mode on the same val batches (lower is better); Ultralytics' own val/cls_loss and "
             "mAP50-95 (EMA); BN var ratio = max over BN layers of (val-batch variance / running variance) in the EMA.", "",
             "| run | epoch | train cls | UL val cls | UL mAP50-95 | EMA | model | EMA, BN re-estimated | model, batch BN | BN var ratio (median / max) | s_e model / EMA | train box class share |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for run in r["runs"]:
        for row in run["rows"]:
            if "error" in row:
                lines.append(f"| {run['run']} | {row['epoch']} | diagnostics failed: {row['error']} |")
                continue
            c, ul = row["cls_loss"], row["ultralytics_val"]
            s_e = row["s_e"]
            se = f"{s_e['model'][0]:.3f} / {s_e['ema'][0]:.3f}" if s_e["model"] else "-"
            lines.append(
                f"| {run['run']} | {row['epoch']} | {row['train_loss'].get('cls_loss', float('nan')):.3f} | "
                f"{ul.get('val/cls_loss', float('nan')):.3f} | {ul.get('metrics/mAP50-95(B)', float('nan')):.4f} | "
                f"{c['ema']:.3f} | {c['model']:.3f} | {c['ema_bn_reest']:.3f} | {c['model_batch_bn']:.3f} | "
                f"{row['bn_var_ratio_ema']['median']:.2f} / {row['bn_var_ratio_ema']['max']:.1f} | {se} | "
                + " ".join(f"{x:.2f}" for x in row["train_box_class_share"]) + " |")
    return "\n".join(lines + [""] + peaks(r)) + "\n"


def peaks(r: dict) -> list[str]:
    """One line per run: the epoch whose eval-mode val class loss (EMA, running BN) is worst, against the same weights
    with batch BN there. A large ratio there with batch BN normal means the running BN statistics, not the weights."""
    lines = ["## Worst epoch per run (eval mode, running BN statistics vs the same weights with batch BN)", "",
             "| run | epoch | UL val cls | EMA cls | model, batch BN cls | ratio |", "|---|---:|---:|---:|---:|---:|"]
    for run in r["runs"]:
        rows = [x for x in run["rows"] if "error" not in x]
        if not rows:
            continue
        w = max(rows, key=lambda x: x["ultralytics_val"].get("val/cls_loss", 0.0))
        ul, c = w["ultralytics_val"].get("val/cls_loss", float("nan")), w["cls_loss"]
        lines.append(f"| {run['run']} | {w['epoch']} | {ul:.2f} | {c['ema']:.2f} | {c['model_batch_bn']:.2f} | "
                     f"{c['ema'] / c['model_batch_bn']:.1f}x |")
    return lines


if __name__ == "__main__":
    main()
