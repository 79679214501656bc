"""Training throughput (images/s) of the four GRACE variants' trainers, same run, same subset, same settings.

Each variant trains ``--epochs`` epochs on the same small NEU-DET subset with one torch thread; the first epoch
is warm-up, and for the later ones the train loop (``on_train_epoch_start`` to ``on_train_epoch_end``, no
validation inside) is timed in process CPU seconds (the work done; the fastest epoch is reported, since contention from other
jobs only adds time) and in wall seconds (median epoch; other jobs move it). Variants run in rounds (``--rounds``), interleaved. Also reports parameter counts (6 classes) of YOLO11 n/s and GRACE n/s, and
what Lite-FEN would add at each neck output, to explain the paper's 9.44 M -> 9.56 M.
Results: ``benchmarks/results/train_throughput.{json,md}``.

    nice -n 10 python benchmarks/train_throughput.py
"""

from __future__ import annotations

from _results import publish  # benchmarks/_results.py

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("baseline", "ds-cbsm", "lite-fen", "grace")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--neu-det", default=str(REPO.parent / "shared" / "data" / "NEU-DET"), help="raw NEU-DET root")
    p.add_argument("--model", default="grace-n", help="size family for the four variants")
    p.add_argument("--per-class", type=int, default=10, help="images per class in the subset")
    p.add_argument("--imgsz", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--epochs", type=int, default=3, help="per variant and round; the first is warm-up")
    p.add_argument("--rounds", type=int, default=2)
    return p.parse_args()


def epoch_times(data: Path, variant: str, a: argparse.Namespace, project: Path) -> tuple[list[tuple[float, float]], int]:
    """(CPU s, wall s) of each timed epoch, and images per epoch."""
    from grace_edge.train.trainer import GraceOptions, train

    from grace_edge.ultralytics_setup import configure

    configure(threads=1)
    times: list[tuple[float, float]] = []
    start: list[tuple[float, float]] = []
    now = lambda: (time.process_time(), time.perf_counter())  # noqa: E731
    trainer = train(
        data, GraceOptions(model=a.model, variant=variant, ramp_epochs=a.epochs),
        callbacks={"on_train_epoch_start": [lambda t: start.append(now())],
                   "on_train_epoch_end": [lambda t: times.append(tuple(b - s for b, s in zip(now(), start[-1])))]},
        epochs=a.epochs, imgsz=a.imgsz, batch=a.batch, device="cpu", workers=0, project=str(project), name=variant,
        exist_ok=True, plots=False, val=False, save=False, seed=0, lr0=0.01,
    )
    return times[1:], len(trainer.train_loader.sampler)


def param_counts() -> dict:
    from grace_edge.model.build import _P3_CHANNELS, build_model
    from grace_edge.model.lite_fen import LiteFEN

    models = {n: sum(p.numel() for p in build_model(n).parameters()) for n in ("yolo11n", "grace-n", "yolo11s", "grace-s")}
    # YOLO11s neck outputs: P3 128, P4 256, P5 512 channels
    fen = {f"P{i + 3} ({c} ch)": sum(p.numel() for p in LiteFEN(c).parameters()) for i, c in enumerate((_P3_CHANNELS["s"], 256, 512))}
    return {"models": models, "lite_fen_at_yolo11s_outputs": fen, "paper": {"yolo11s": 9.44e6, "grace-s": 9.56e6}}


def main() -> None:
    a = parse_args()
    from grace_edge.data.neu_det import convert

    with tempfile.TemporaryDirectory(prefix="grace_tp_") as tmp:
        data = convert(a.neu_det, Path(tmp) / "data", seed=0, limit_per_class=a.per_class).yaml_path
        runs: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
        images = 0
        for _ in range(a.rounds):
            for v in VARIANTS:
                t, images = epoch_times(Path(data), v, a, Path(tmp) / "runs")
                runs[v] += t
    rows = []
    for v in VARIANTS:
        # the fastest epoch is the one least disturbed by other jobs (their load only ever adds time)
        cpu, wall = min(c for c, _ in runs[v]), statistics.median(w for _, w in runs[v])
        rows.append({"variant": v, "epoch_cpu_s": [round(c, 3) for c, _ in runs[v]], "epoch_wall_s": [round(w, 3) for _, w in runs[v]],
                     "images_per_cpu_s": round(images / cpu, 2), "images_per_wall_s": round(images / wall, 2)})
    for key in ("images_per_cpu_s", "images_per_wall_s"):
        for r in rows:
            r[key.replace("images_per", "ratio")] = round(r[key] / rows[0][key], 3)
    report = {"benchmark": "train_throughput", "command": "python benchmarks/train_throughput.py",
              "settings": {**{k: v for k, v in vars(a).items() if k != "neu_det"}, "images_per_epoch": images, "device": "cpu"},
              "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "load_avg_at_end": os.getloadavg()},
              "rows": rows, "params": param_counts()}
    write(report)


def markdown(r: dict) -> str:
    s = r["settings"]
    lines = [f"# Training throughput, {s['model']} variants, CPU ({r['machine']['cpu_count']} cores, shared)",
             f"{s['images_per_epoch']} images/epoch, imgsz {s['imgsz']}, batch {s['batch']}, {s['rounds']} rounds x "
             f"{s['epochs'] - 1} timed epochs, 1 torch thread (load average at end {r['machine']['load_avg_at_end'][0]:.1f}).",
             "Images per CPU-second (fastest epoch) is the work measure; wall-clock (median epoch) moves with the other jobs.", "",
             "| variant | images / CPU s | ratio to baseline | images / wall s | ratio to baseline |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {x['variant']} | {x['images_per_cpu_s']:.2f} | {x['ratio_cpu_s']:.3f} | {x['images_per_wall_s']:.2f} | {x['ratio_wall_s']:.3f} |" for x in r["rows"]]
    p = r["params"]
    lines += ["", "## Parameters (6 classes)", "", "| model | params |", "|---|---:|"]
    lines += [f"| {k} | {v:,} |" for k, v in p["models"].items()]
    lines += ["", "Lite-FEN parameters at each YOLO11s neck output:", "", "| placement | params |", "|---|---:|"]
    lines += [f"| {k} | {v:,} |" for k, v in p["lite_fen_at_yolo11s_outputs"].items()]
    return "\n".join(lines) + "\n"


def write(report: dict) -> None:
    publish("train_throughput", report, markdown(report), echo_json=True)


if __name__ == "__main__":
    main()
