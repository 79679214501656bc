"""What the paper's training protocol costs on this CPU: seconds per 16-image step of GRACE-s at 640 px, peak memory,
and the time that 200 epochs would take. This is why the README calls paper-protocol training a GPU job.

Runs the real trainer (``grace-edge train``'s code path: GRACE-s, DS-CBSM++, Lite-FEN, SGD lr0 0.001, batch 16,
640 px) on the NEU-DET train split for ``--steps`` optimizer steps, then stops. The first step (graph warm-up,
first-batch caches) is left out; the median of the rest is reported in process CPU seconds (the work) and wall
seconds (what you wait; other jobs on a shared machine add to it). 200 epochs = 200 x ceil(train images / 16) steps;
the per-epoch validation is not included, so the estimate is a lower bound.

    nice -n 10 python benchmarks/paper_protocol_cpu.py --data datasets/neu-det/data.yaml --steps 4
"""

from __future__ import annotations

from _results import save_results  # benchmarks/_results.py

import argparse
import math
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path


class _Enough(Exception):
    """Raised from a callback to end the timed run after ``--steps`` steps."""


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="data YAML from 'grace-edge data neu-det'")
    p.add_argument("--model", default="grace-s")
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--epochs", type=int, default=200, help="epochs to extrapolate to (paper: 200)")
    p.add_argument("--steps", type=int, default=4, help="optimizer steps to run; the first is warm-up")
    return p.parse_args()


def time_steps(a: argparse.Namespace, project: Path) -> tuple[list[tuple[float, float]], int]:
    """(CPU s, wall s) of each step after the first, and the number of train images."""
    from grace_edge.train.trainer import GraceOptions, GraceTrainer, PAPER_PROTOCOL

    marks: list[tuple[float, float]] = []

    def on_batch_end(trainer) -> None:
        marks.append((time.process_time(), time.perf_counter()))
        if len(marks) > a.steps:
            raise _Enough

    args = {**PAPER_PROTOCOL, "data": a.data, "imgsz": a.imgsz, "batch": a.batch, "epochs": a.epochs, "device": "cpu",
            "workers": 0, "project": str(project), "name": "t", "plots": False, "val": False, "save": False}
    trainer = GraceTrainer(overrides=args, options=GraceOptions(model=a.model, variant="grace"))
    trainer.add_callback("on_train_batch_start", lambda t: marks or marks.append((time.process_time(), time.perf_counter())))
    trainer.add_callback("on_train_batch_end", on_batch_end)
    try:
        trainer.train()
    except _Enough:
        pass
    steps = [(c1 - c0, w1 - w0) for (c0, w0), (c1, w1) in zip(marks, marks[1:])]
    return steps[1:], len(trainer.train_loader.dataset)


def main() -> None:
    a = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        steps, n_images = time_steps(a, Path(tmp))
    cpu = statistics.median(s[0] for s in steps)
    wall = statistics.median(s[1] for s in steps)
    per_epoch = math.ceil(n_images / a.batch)
    total_s = wall * per_epoch * a.epochs
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    report = {
        "command": "python benchmarks/paper_protocol_cpu.py " + " ".join(f"--{k} {v}" for k, v in vars(a).items()),
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor(), "load_average": os.getloadavg()},
        "model": a.model, "imgsz": a.imgsz, "batch": a.batch, "train_images": n_images, "steps_per_epoch": per_epoch,
        "timed_steps": len(steps), "step_cpu_s": [round(s[0], 2) for s in steps], "step_wall_s": [round(s[1], 2) for s in steps],
        "median_step_cpu_s": cpu, "median_step_wall_s": wall, "peak_rss_gib": peak_gib,
        "epochs": a.epochs, "estimate_days": total_s / 86400,
    }
    md = (
        f"# Paper protocol on this CPU: {a.model}, {a.imgsz} px, batch {a.batch}\n"
        f"({os.cpu_count()} CPUs; load average at end {os.getloadavg()[0]:.1f}; {len(steps)} timed steps after one warm-up step)\n\n"
        "| seconds per step (wall, median) | CPU seconds per step | peak memory | steps per epoch | "
        f"{a.epochs} epochs (wall, without val) |\n|---:|---:|---:|---:|---:|\n"
        f"| {wall:.0f} | {cpu:.0f} | {peak_gib:.1f} GiB | {per_epoch} | {total_s / 86400:.0f} days "
        f"({total_s / 86400 / 7:.1f} weeks) |\n"
    )
    print(md)
    print("written:", *save_results("paper_protocol_cpu", report, md))


if __name__ == "__main__":
    main()
