"""DS-CBSM++ eq 10 on multi-class images: how far the mean rule (ours) is from the max rule, on NEU-DET.

Counts the images that hold boxes of two or more classes and, for each, compares its weight under the mean rule
(``grace_edge.train.ds_cbsm.image_weights``) and the max rule, with the base class weights of eq 6 (box counts of
the train split) and, if ``--schedule-csv`` names a run's ``grace_schedule.csv``, with the class weights of its last
epoch. Also: how much of the drawing probability those images get under each rule.
Results: ``benchmarks/results/image_weights.{json,md}``.

    python benchmarks/image_weights.py
"""

from __future__ import annotations

from _results import publish  # benchmarks/_results.py

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--neu-det", default=str(REPO.parent / "shared" / "data" / "NEU-DET"), help="raw NEU-DET root")
    p.add_argument("--schedule-csv", default=None, help="a run's grace_schedule.csv: also use its last class weights")
    return p.parse_args()


def labels(root: Path, split: str) -> list[np.ndarray]:
    out = []
    for f in sorted((root / "labels" / split).glob("*.txt")):
        rows = [line.split() for line in f.read_text().splitlines() if line.strip()]
        out.append(np.array([int(r[0]) for r in rows], dtype=np.int64))
    return out


def compare(image_classes: list[np.ndarray], w: np.ndarray) -> dict:
    from grace_edge.train.ds_cbsm import image_weights

    mean = image_weights(image_classes, w)
    mx = np.array([w[c].max() if c.size else 1.0 for c in image_classes])
    multi = np.array([len(np.unique(c)) > 1 for c in image_classes])
    rel = (mx[multi] - mean[multi]) / mean[multi]
    return {"class_weights": [round(float(x), 4) for x in w], "multi_class_images": int(multi.sum()),
            "rel_diff_max_vs_mean": {"median": float(np.median(rel)), "max": float(rel.max()), "min": float(rel.min())} if rel.size else None,
            "draw_share_of_multi_class_images": {"mean_rule": float(mean[multi].sum() / mean.sum()), "max_rule": float(mx[multi].sum() / mx.sum())}}


def main() -> None:
    a = parse_args()
    from grace_edge.data.neu_det import convert
    from grace_edge.train.ds_cbsm import base_class_weights, class_counts

    with tempfile.TemporaryDirectory(prefix="grace_iw_") as tmp:
        report = convert(a.neu_det, Path(tmp) / "data", seed=0)
        root = Path(report.yaml_path).parent
        train, val = labels(root, "train"), labels(root, "val")
    from grace_edge.data.classes import NEU_DET_CLASSES

    names = list(NEU_DET_CLASSES)
    everything = train + val
    n_multi = sum(len(np.unique(c)) > 1 for c in everything)
    w_base = base_class_weights(class_counts(train, 6))
    out = {"benchmark": "image_weights", "command": "python benchmarks/image_weights.py" + (f" --schedule-csv {a.schedule_csv}" if a.schedule_csv else ""),
           "images": len(everything), "multi_class_images_all": int(n_multi), "names": names,
           "train_split": {"images": len(train), "base_weights": compare(train, w_base)}}
    if a.schedule_csv:
        with open(a.schedule_csv, newline="") as f:
            last = list(csv.DictReader(f))[-1]
        w = np.array([float(v) for k, v in last.items() if k.startswith("w/")])
        out["train_split"]["last_epoch_weights"] = compare(train, w)
    publish("image_weights", out, markdown(out), echo_json=True)


def markdown(r: dict) -> str:
    lines = ["# DS-CBSM++ image weights of multi-class images: mean rule (ours) vs max rule", "", f"Command: `{r['command']}`", "",
             f"{r['multi_class_images_all']} of the {r['images']} NEU-DET images hold boxes of two or more classes.", "",
             "| class weights | multi-class train images | (max - mean) / mean: median | max | their draw share, mean rule | max rule |",
             "|---|---:|---:|---:|---:|---:|"]
    for key, res in r["train_split"].items():
        if key == "images":
            continue
        d, s = res["rel_diff_max_vs_mean"], res["draw_share_of_multi_class_images"]
        weights = ", ".join(f"{n} {w}" for n, w in zip(r["names"], res["class_weights"]))
        lines.append(f"| {key}: {weights} | {res['multi_class_images']} | {d['median']:.1%} | {d['max']:.1%} | "
                     f"{s['mean_rule']:.2%} | {s['max_rule']:.2%} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
