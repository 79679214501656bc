"""``grace_schedule.png``: what the GRACE schedules and DS-CBSM++ did in a run, from its ``grace_schedule.csv``.

Three panels over epochs: ``s_e`` (with its clip range [0.05, 0.30]) and ``gamma_e``; the dynamic class weights
``w_dyn`` with the clip bounds (0.85 / 1.35 by default) drawn, so a class pinned at a bound shows as a flat line on
it (with the paper's constants, three NEU-DET classes sit on a bound in every epoch); and the final class weights
the sampler used (eq 9: the blend of base and dynamic weights).
"""

from __future__ import annotations

import csv
from pathlib import Path

from grace_edge.model.lite_fen import S_E_MAX, S_E_MIN


def plot_schedule(csv_path: str | Path, out: str | Path, w_min: float, w_max: float):
    """Draw the schedule CSV into ``out`` (PNG); returns the matplotlib Figure (closed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    epochs = [int(r["epoch"]) for r in rows]
    value = lambda r, k: float(r[k]) if r.get(k) not in (None, "", "None") else float("nan")  # noqa: E731
    classes = [k.split("/", 1)[1] for k in (rows[0] if rows else {}) if k.startswith("w_dyn/")]
    panels = 3 if classes else 1
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.6), squeeze=False)
    ax = axes[0][0]
    ax.plot(epochs, [value(r, "s_e") for r in rows], label="s_e (Lite-FEN)")
    if "gamma" in (rows[0] if rows else {}):
        ax.plot(epochs, [value(r, "gamma") for r in rows], label="gamma_e (DS-CBSM++)")
    ax.axhspan(S_E_MIN, S_E_MAX, color="grey", alpha=0.12, label=f"s_e clip [{S_E_MIN}, {S_E_MAX}]")
    ax.set_xlabel("epoch")
    ax.set_title("schedules")
    ax.legend(fontsize=7)
    for ax, key, title in ((axes[0][1], "w_dyn", "dynamic class weights w_dyn (eq 8)"),
                           (axes[0][2], "w", "class weights used (eq 9)")) if classes else ():
        for c in classes:
            ax.plot(epochs, [value(r, f"{key}/{c}") for r in rows], label=c)
        for bound in (w_min, w_max):
            ax.axhline(bound, color="black", linestyle="--", linewidth=1)
        ax.text(epochs[0] if epochs else 0, w_max, f" clip {w_max}", va="bottom", fontsize=7)
        ax.text(epochs[0] if epochs else 0, w_min, f" clip {w_min}", va="top", fontsize=7)
        ax.set_xlabel("epoch")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=6)
    fig.tight_layout()
    out = Path(out)
    part = out.with_name(f".{out.name}.part")
    fig.savefig(part, dpi=110, format="png")  # then renamed: never a half-written PNG under the real name
    part.replace(out)
    plt.close(fig)
    return fig
