"""Per-class precision-recall and F1-vs-confidence curves at IoU 0.5, from :mod:`grace_edge.evaluate.matching`.

The precision-recall curve is drawn as COCO integrates it (precision made monotone: at each recall, the best
precision at that recall or more); the legend's AP50 is COCO's own number, not an integral of the drawn curve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from grace_edge.evaluate.matching import ClassMatches
from grace_edge.evaluate.operating_points import ClassPoints

CONF_GRID = np.linspace(0.0, 1.0, 501)  # F1 is drawn every 0.002 of confidence


def pr_curve(m: ClassMatches) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) after each detection, best first, with precision made monotone (COCO's envelope)."""
    if not m.num_gt or not len(m.scores):
        return np.zeros(0), np.zeros(0)
    tp = np.cumsum(m.tp)
    precision = tp / np.arange(1, len(tp) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return tp / m.num_gt, envelope


def f1_curve(m: ClassMatches, grid: np.ndarray = CONF_GRID) -> np.ndarray:
    """F1 at each confidence of ``grid`` (detections with score >= it)."""
    if not m.num_gt:
        return np.zeros(len(grid))
    tp_scores, fp_scores = np.sort(m.scores[m.tp]), np.sort(m.scores[~m.tp])
    tp = len(tp_scores) - np.searchsorted(tp_scores, grid, side="left")
    fp = len(fp_scores) - np.searchsorted(fp_scores, grid, side="left")
    return 2 * tp / np.maximum(2 * tp + fp + (m.num_gt - tp), 1)


PR_LABELS = ("recall (fraction of ground-truth boxes found, IoU >= 0.5)", "precision (fraction of detections correct)")
F1_LABELS = ("confidence threshold (score >= threshold kept)", "F1 (IoU >= 0.5)")


def _axes(ax: Any, labels: tuple[str, str], title: str) -> None:
    """Both axes 0-1 (a fraction), labelled with what the fraction is of."""
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title)


def plot_pr(matches: Sequence[ClassMatches], ap50: Mapping[str, float | None], path: Path, title: str) -> Path:
    """All classes on one figure."""
    from grace_edge.evaluate.figures import color, outside_legend, pyplot, save, style

    fig, ax = pyplot().subplots(figsize=(8.4, 5.2))
    for i, m in enumerate(matches):
        r, p = pr_curve(m)
        ax.plot(r, p, color=color(i), linestyle=style(i), linewidth=1.8, label=f"{m.name} (AP50 {_pts(ap50.get(m.name))})")
    _axes(ax, PR_LABELS, title)
    outside_legend(ax, title="class")
    return save(fig, path)


def plot_f1(matches: Sequence[ClassMatches], path: Path, title: str) -> Path:
    from grace_edge.evaluate.figures import color, outside_legend, pyplot, save, style

    fig, ax = pyplot().subplots(figsize=(8.4, 5.2))
    for i, m in enumerate(matches):
        f1 = f1_curve(m)
        best = int(np.argmax(f1))
        ax.plot(CONF_GRID, f1, color=color(i), linestyle=style(i), linewidth=1.8,
                label=f"{m.name} (max {f1[best]:.2f} at {CONF_GRID[best]:.2f})")
    _axes(ax, F1_LABELS, title)
    outside_legend(ax, title="class")
    return save(fig, path)


def plot_class(m: ClassMatches, points: ClassPoints, ap50: float | None, recall: float, path: Path) -> Path:
    """One class alone: its PR curve and its F1 curve side by side, both operating points marked."""
    from grace_edge.evaluate.figures import color, pyplot, save

    fig, (pr, f1) = pyplot().subplots(1, 2, figsize=(11.5, 4.4))
    r, p = pr_curve(m)
    pr.plot(r, p, color=color(0), linewidth=1.8, label=f"precision-recall (AP50 {_pts(ap50)})")
    f1.plot(CONF_GRID, f1_curve(m), color=color(5), linestyle="--", linewidth=1.8, label="F1 vs confidence")
    # The best-F1 ring is larger and hollow: when both points coincide, both stay visible.
    marks = ((points.best_f1, "o", color(1), 13, "best F1"), (points.at_recall, "s", color(2), 7,
                                                              f"recall target {recall:g}"))
    for point, marker, c, size, what in marks:
        if point is None:
            continue
        label = f"{what}: conf {point.conf:.4f}" + ("" if point.reached else " (not reached)")
        style = {"color": c, "markersize": size, "markeredgewidth": 2, "linestyle": "none",
                 "markerfacecolor": "none" if marker == "o" else c}
        pr.plot([point.recall], [point.precision], marker, label=label, **style)
        f1.plot([point.conf], [point.f1], marker, **style)
    _axes(pr, PR_LABELS, f"{m.name}: precision-recall ({m.num_gt} boxes)")
    _axes(f1, F1_LABELS, f"{m.name}: F1 vs confidence")
    handles = pr.get_legend_handles_labels()[0] + f1.get_legend_handles_labels()[0][:1]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False)
    return save(fig, path)


def plot_pr_compare(runs: Sequence[tuple[str, Sequence[ClassMatches], Mapping[str, float | None]]],
                    path: Path) -> Path:
    """One panel per class, each artifact's PR curve overlaid (``runs``: label, matches, per-class AP50); one legend
    below the panels and the AP50s in each panel's title, so nothing covers a curve."""
    from grace_edge.evaluate.figures import color, pyplot, save, style

    names = [m.name for m in runs[0][1]]
    cols = 3
    rows = -(-len(names) // cols)
    fig, axes = pyplot().subplots(rows, cols, figsize=(4.6 * cols, 4.2 * rows), squeeze=False)
    for k, name in enumerate(names):
        ax = axes[k // cols][k % cols]
        for i, (label, matches, _) in enumerate(runs):
            r, p = pr_curve(matches[k])
            ax.plot(r, p, color=color(i), linestyle=style(i), linewidth=1.6, label=label)
        aps = ", ".join(f"{label.split(' ', 1)[0]} {_pts(ap50.get(name))}" for label, _, ap50 in runs)
        _axes(ax, ("recall", "precision"), f"{name}\nAP50: {aps}")
    for k in range(len(names), rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    fig.suptitle("Precision-recall per class at IoU >= 0.5 (recall: fraction of boxes found; precision: fraction "
                 "of detections correct)")
    fig.tight_layout()
    fig.legend(handles=axes[0][0].get_legend_handles_labels()[0], loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(len(runs), 3), frameon=False, title="artifact")
    return save(fig, path)


def _pts(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"
