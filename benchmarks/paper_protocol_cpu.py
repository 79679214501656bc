"""What the paper's training protocol costs on this CPU: seconds per 16-image step of GRACE-s at 640 px, peak memory,
and the time that 200 epochs would take. This is why the README calls paper-protocol training a GPU job.

Runs the real trainer (``grace-edge train``'s code path: GRACE-s, DS-CBSM++, Lite-FEN, SGD lr0 0.001, batch 16,
640 px) on the NEU-DET train split for ``--steps`` optimizer steps, then stops. The first step (graph warm-up,
first-batch caches) is left out; the median of the rest is reported in process CPU seconds (the work) and wall
seconds (what you wait; other jobs on a shared machine add to it). 200 epochs = 200 x ceil(train images / 16) steps;
the estimate for a quiet machine is the CPU seconds on one core, and that divided by the cores (perfect scaling,
the best case) on all of them. Per-epoch validation is not included, so both are lower bounds. Run it with
``OMP_NUM_THREADS=1`` on a shared machine: two threads that wait for each other's time slices burn CPU seconds.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/paper_protocol_cpu.py --data datasets/neu-det/data.yaml --steps 3
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
    p.add_argument("--data", help="data YAML from 'grace-edge data neu-det' (required unless --render)")
    p.add_argument("--model", default="grace-s")
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--epochs", type=int, default=200, help="epochs to extrapolate to (paper: 200)")
    p.add_argument("--steps", type=int, default=4, help="optimizer steps to run; the first is warm-up")
    p.add_argument("--render", metavar="JSON", help="only re-render the markdown of an earlier run's JSON")
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


def render(report: dict) -> str:
    """The markdown of a result, with the estimate for a quiet machine computed from its CPU seconds per step."""
    cpu, wall, cores = report["median_step_cpu_s"], report["median_step_wall_s"], report["machine"]["cpus"]
    steps = report["steps_per_epoch"] * report["epochs"]
    one_core, all_cores = cpu * steps / 86400, cpu * steps / cores / 86400
    threads = report["machine"].get("torch_threads", cores)
    return (
        f"# Paper protocol on this CPU: {report['model']}, {report['imgsz']} px, batch {report['batch']}\n"
        f"({cores} CPUs, {threads} torch thread(s); load average at end {report['machine']['load_average'][0]:.1f}; "
        f"{report['timed_steps']} timed steps after one warm-up step)\n\n"
        f"```\n{report['command']}\n```\n\n"
        f"| CPU seconds per step | wall seconds per step (this run) | peak memory | steps for {report['epochs']} epochs | "
        f"{report['epochs']} epochs on a quiet machine, one core .. all {cores} (without val) |\n"
        "|---:|---:|---:|---:|---:|\n"
        f"| {cpu:.0f} | {wall:.0f} | {report['peak_rss_gib']:.1f} GiB | {steps:,} | {one_core:.1f} .. {all_cores:.1f} days |\n\n"
        "Wall seconds include waiting for other jobs; CPU seconds are the work (on a loaded machine also inflated by "
        "threads waiting for each other), so the quiet-machine range is an estimate, not a measurement.\n"
    )


def main() -> None:
    a = parse_args()
    if not a.render and not a.data:
        raise SystemExit("paper_protocol_cpu.py: --data is required")
    if a.render:  # re-render the markdown of an earlier run's JSON (the figures are the JSON's)
        import json

        report = json.loads(Path(a.render).read_text())
        report.pop("estimate_days", None)  # an older format's loaded-wall extrapolation; render() derives the estimate
        md = render(report)
        print(md)
        print("written:", *save_results("paper_protocol_cpu", report, md))
        return
    with tempfile.TemporaryDirectory() as tmp:
        steps_s, n_images = time_steps(a, Path(tmp))
    import torch

    report = {
        "command": "python benchmarks/paper_protocol_cpu.py " + " ".join(
            f"--{k} {v}" for k, v in vars(a).items() if k != "render"),
        "machine": {"cpus": os.cpu_count() or 1, "processor": platform.processor(), "load_average": os.getloadavg(),
                    "torch_threads": torch.get_num_threads()},
        "model": a.model, "imgsz": a.imgsz, "batch": a.batch, "train_images": n_images,
        "steps_per_epoch": math.ceil(n_images / a.batch), "timed_steps": len(steps_s),
        "step_cpu_s": [round(x[0], 2) for x in steps_s], "step_wall_s": [round(x[1], 2) for x in steps_s],
        "median_step_cpu_s": statistics.median(x[0] for x in steps_s),
        "median_step_wall_s": statistics.median(x[1] for x in steps_s),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "epochs": a.epochs,
    }
    md = render(report)
    print(md)
    print("written:", *save_results("paper_protocol_cpu", report, md))


if __name__ == "__main__":
    main()
