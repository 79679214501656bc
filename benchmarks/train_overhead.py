"""What GRACE adds to a training step, measured side by side in one process: Lite-FEN, the DS-CBSM++ hooks, the
sampler and the weight refresh, against the 5% overhead target.

- **Step** (forward + loss + backward + SGD step, one torch thread, fixed synthetic batch of NEU-DET-like boxes):
  YOLO11n, YOLO11n + the DS-CBSM++ loss hook (per-class loss/confidence capture, refresh every 20 steps),
  GRACE-n (Lite-FEN), GRACE-n + hook. The four run interleaved, ``--rounds`` x ``--steps`` each; reported: the
  median step in process CPU seconds (the work; other jobs on the machine add wall time, not CPU time) and
  the ratio to YOLO11n.
- **Per epoch, outside the step**: drawing one epoch of indices from the DS-CBSM++ sampler vs a uniform shuffle,
  and recomputing the 1,439 image weights (done at each refresh and each epoch start), as a share of an epoch's
  steps.
- **Data**: boxes per image in sampled batches (uniform vs DS-CBSM++ base weights) on the NEU-DET train split:
  the loss's target assignment costs more per box, so a sampler that prefers many-box images makes steps dearer
  without any code overhead.

Results: ``benchmarks/results/train_overhead.{json,md}``.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/train_overhead.py
"""

from __future__ import annotations

from _results import publish  # benchmarks/_results.py

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ARMS = (("yolo11n", False), ("yolo11n", True), ("grace-n", False), ("grace-n", True))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--neu-det", default=str(REPO.parent / "shared" / "data" / "NEU-DET"), help="raw NEU-DET root")
    p.add_argument("--labels", default=None, help="labels/train folder of an already converted NEU-DET (skips converting)")
    p.add_argument("--imgsz", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=10, help="timed steps per arm and round")
    p.add_argument("--rounds", type=int, default=5)
    return p.parse_args()


def synthetic_batch(batch: int, imgsz: int, boxes_per_image: int = 3, seed: int = 0) -> dict:
    import torch

    g = torch.Generator().manual_seed(seed)
    n = batch * boxes_per_image
    wh = 0.1 + 0.5 * torch.rand(n, 2, generator=g)
    xy = wh / 2 + (1 - wh) * torch.rand(n, 2, generator=g)
    return {"img": torch.rand(batch, 3, imgsz, imgsz, generator=g),
            "batch_idx": torch.arange(batch).repeat_interleave(boxes_per_image).float(),
            "cls": torch.randint(0, 6, (n, 1), generator=g).float(), "bboxes": torch.cat([xy, wh], 1)}


def make_arm(name: str, hook: bool, image_classes):
    import torch

    from grace_edge.model.build import build_model
    from grace_edge.train.ds_cbsm import DSCBSMConfig
    from grace_edge.train.sampler import DSCBSM

    torch.manual_seed(0)
    model = build_model(name)
    model.train()
    from ultralytics.cfg import get_cfg

    model.args = get_cfg()
    model.criterion = model.init_criterion()
    controller = None
    if hook:
        controller = DSCBSM(image_classes, 6, DSCBSMConfig())
        controller.wrap_criterion(model.criterion)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    return model, opt, controller


def step(model, opt, batch) -> None:
    loss, _ = model.loss(batch)
    opt.zero_grad(set_to_none=True)
    loss.sum().backward()
    opt.step()


def main() -> None:
    a = parse_args()
    import torch

    from grace_edge.data.neu_det import convert
    from grace_edge.train.ds_cbsm import base_class_weights, class_counts, image_weights
    from grace_edge.train.sampler import DynamicWeightedSampler
    from grace_edge.ultralytics_setup import configure

    configure(threads=1)
    import tempfile

    def read(folder: Path) -> list:
        return [np.array([int(line.split()[0]) for line in f.read_text().splitlines() if line.strip()], dtype=np.int64)
                for f in sorted(folder.glob("*.txt"))]

    if a.labels:
        image_classes = read(Path(a.labels))
    else:
        with tempfile.TemporaryDirectory(prefix="grace_oh_") as tmp:
            image_classes = read(Path(convert(a.neu_det, Path(tmp) / "data", seed=0).yaml_path).parent / "labels" / "train")
    batch = synthetic_batch(a.batch, a.imgsz)
    arms = {f"{n}{' + hook' if h else ''}": make_arm(n, h, image_classes) for n, h in ARMS}
    times: dict[str, list[float]] = {k: [] for k in arms}
    for k, (model, opt, _) in arms.items():  # warm-up
        for _ in range(2):
            step(model, opt, batch)
    for _ in range(a.rounds):
        for k, (model, opt, _) in arms.items():
            for _ in range(a.steps):
                t = time.process_time()
                step(model, opt, batch)
                times[k].append(time.process_time() - t)
    base = statistics.median(times["yolo11n"])
    steps = [{"arm": k, "median_step_cpu_s": statistics.median(v), "ratio_to_yolo11n": statistics.median(v) / base,
              "refreshes": arms[k][2].state.refreshes if arms[k][2] else None, "n": len(v)} for k, v in times.items()]

    # per-epoch work outside the step
    n = len(image_classes)
    w = base_class_weights(class_counts(image_classes, 6))
    reps = 20
    t = time.process_time()
    for _ in range(reps):
        iw = image_weights(image_classes, w)
    refresh_s = (time.process_time() - t) / reps
    sampler = DynamicWeightedSampler(iw, block=a.batch)
    t = time.process_time()
    for _ in range(reps):
        list(iter(sampler))
    draw_s = (time.process_time() - t) / reps
    t = time.process_time()
    for _ in range(reps):
        torch.randperm(n).tolist()
    uniform_s = (time.process_time() - t) / reps
    steps_per_epoch = -(-n // a.batch)
    epoch_step_s = steps_per_epoch * base
    refreshes_per_epoch = steps_per_epoch / 20 + 1
    per_epoch = {"images": n, "steps_per_epoch": steps_per_epoch, "image_weights_s": refresh_s, "sampler_epoch_s": draw_s,
                 "uniform_shuffle_s": uniform_s,
                 "share_of_epoch_steps": (refresh_s * refreshes_per_epoch + draw_s - uniform_s) / epoch_step_s}

    # boxes per image in sampled batches
    rng = np.random.default_rng(0)
    boxes = np.array([len(c) for c in image_classes])
    p = iw / iw.sum()
    uni = rng.integers(0, n, size=(400, a.batch))
    wtd = rng.choice(n, size=(400, a.batch), p=p)
    data = {name: {"mean_boxes_per_image": float(boxes[idx].mean()), "mean_max_boxes_per_batch": float(boxes[idx].max(1).mean())}
            for name, idx in (("uniform", uni), ("ds_cbsm_base_weights", wtd))}
    report = {"benchmark": "train_overhead", "command": "python benchmarks/train_overhead.py",
              "settings": {**{k: v for k, v in vars(a).items() if k != "neu_det"}, "threads": 1, "device": "cpu"},
              "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "load_avg_at_end": os.getloadavg()},
              "steps": steps, "per_epoch": per_epoch, "data": data}
    publish("train_overhead", report, markdown(report), echo_json=True)


def markdown(r: dict) -> str:
    s, e = r["settings"], r["per_epoch"]
    lines = [f"# GRACE training overhead (target <= 5%), CPU, {s['imgsz']} px, batch {s['batch']}, 1 thread",
             "", f"Command: `{r['command']}` (load average at end {r['machine']['load_avg_at_end'][0]:.1f} on "
             f"{r['machine']['cpu_count']} cores; CPU time, medians of {s['rounds']} interleaved rounds x {s['steps']} steps)", "",
             "| arm | median step, CPU s | ratio to YOLO11n |", "|---|---:|---:|"]
    lines += [f"| {x['arm']} | {x['median_step_cpu_s']:.4f} | {x['ratio_to_yolo11n']:.3f} |" for x in r["steps"]]
    lines += ["", f"Per epoch ({e['images']} images, {e['steps_per_epoch']} steps): image weights {e['image_weights_s'] * 1e3:.1f} ms "
              f"per refresh, sampler {e['sampler_epoch_s'] * 1e3:.1f} ms per epoch (uniform shuffle {e['uniform_shuffle_s'] * 1e3:.1f} ms): "
              f"{e['share_of_epoch_steps']:.2%} of the epoch's YOLO11n step time.", "",
              "| batches drawn | boxes per image | max boxes per image in a batch |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['mean_boxes_per_image']:.2f} | {v['mean_max_boxes_per_batch']:.2f} |" for k, v in r["data"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
