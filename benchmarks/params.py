"""Parameter counts behind the README's note on the paper's 9.44 M -> 9.56 M (YOLO11s -> GRACE, +0.12 M).

Counts YOLO11s and our GRACE-s with 6 classes (NEU-DET) and 80 (COCO, Ultralytics' published YOLO11s), as built
and fused (BatchNorm folded into the convolutions, the count Ultralytics prints after training), and what a
Lite-FEN adds at each YOLO11s neck output (P3 128, P4 256, P5 512 channels) for every channel-reduction ratio
from 1 to 16, alone and in every combination, to show which configurations come near +0.12 M.
Results: ``benchmarks/results/params.{json,md}``. Runs in seconds; no data needed.

    python benchmarks/params.py
"""

from __future__ import annotations

from _results import publish  # benchmarks/_results.py

import itertools

PAPER = {"yolo11s": 9.44e6, "grace-s": 9.56e6}
NECK = {"P3": 128, "P4": 256, "P5": 512}  # YOLO11s neck outputs (width 0.5 of 256/512/1024)
REDUCTIONS = (1, 2, 4, 8, 16)


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def main() -> None:
    from grace_edge.model.build import build_model
    from grace_edge.model.lite_fen import LiteFEN

    models = {}
    for nc in (6, 80):
        for name in ("yolo11s", "grace-s"):
            model = build_model(name, nc=nc, names=[str(i) for i in range(nc)])
            models[f"{name} ({nc} classes)"] = count(model)
            # what Ultralytics prints after training and in val ("summary (fused)"): BatchNorm folded into convs
            models[f"{name} ({nc} classes), fused"] = count(model.eval().fuse(verbose=False))
    fen = {f"{level} r={r}": count(LiteFEN(c, reduction=r)) for level, c in NECK.items() for r in REDUCTIONS}
    target = PAPER["grace-s"] - PAPER["yolo11s"]
    combos = []
    for r in REDUCTIONS:
        for k in range(1, 4):
            for levels in itertools.combinations(NECK, k):
                added = sum(fen[f"{lv} r={r}"] for lv in levels)
                combos.append({"levels": "+".join(levels), "reduction": r, "added": added})
    combos.sort(key=lambda c: abs(c["added"] - target))
    report = {"benchmark": "params", "command": "python benchmarks/params.py", "paper": PAPER, "models": models,
              "lite_fen": fen, "closest_to_paper_delta": combos[:5], "paper_delta": target}
    publish("params", report, markdown(report), echo_json=True)


def markdown(r: dict) -> str:
    m = r["models"]
    lines = ["# Parameters: YOLO11s vs GRACE-s, and the paper's 9.44 M -> 9.56 M", "", f"Command: `{r['command']}`", "",
             "| model | params |", "|---|---:|"]
    lines += [f"| {k} | {v:,} |" for k, v in m.items()]
    lines += ["", f"Paper: YOLO11s {r['paper']['yolo11s'] / 1e6:.2f} M, GRACE {r['paper']['grace-s'] / 1e6:.2f} M "
              f"(+{r['paper_delta'] / 1e6:.2f} M).", "",
              "Lite-FEN parameters at each YOLO11s neck output, by channel-reduction ratio r (ours: P3, r=4):", "",
              "| placement | params |", "|---|---:|"]
    lines += [f"| {k} | {v:,} |" for k, v in r["lite_fen"].items()]
    lines += ["", "Placements (any subset of P3/P4/P5, one r) closest to +0.12 M:", "", "| levels | r | params added |", "|---|---:|---:|"]
    lines += [f"| {c['levels']} | {c['reduction']} | {c['added']:,} |" for c in r["closest_to_paper_delta"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
