"""The paper's four-variant ablation (Table 2): train each variant with one protocol, evaluate its best.pt on the val
split under both protocols, and format the table. ``grace-edge ablate`` (train/cli.py) only fills the options."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grace_edge.train.protocol import RAMP_EPOCHS

TABLE_METRICS = ("map50_95", "map50", "precision", "recall", "f1")


@dataclass(frozen=True)
class AblationOptions:
    """One ablation run. ``overrides`` are the Ultralytics training arguments shared by every variant (absolute
    project = ``out``); each variant trains in ``out/VARIANT``."""

    data: str
    model: str
    variants: tuple[str, ...]
    out: Path
    overrides: dict[str, Any]
    imgsz: int
    batch: int
    device: str | None = None
    ramp_epochs: int = RAMP_EPOCHS
    weights: str | None = None


def run_ablation(options: AblationOptions) -> list[dict[str, Any]]:
    """Train and evaluate every variant; ablation.json and .md are rewritten after each, so a long run leaves
    partial results. Returns the table's rows."""
    from grace_edge.io import write_json, write_text

    rows: list[dict[str, Any]] = []
    for variant in options.variants:
        rows.append(_variant_row(options, variant))
        report = {"model": options.model, "protocol": options.overrides, "ramp_epochs": options.ramp_epochs, "rows": rows}
        write_json(options.out / "ablation.json", report)
        write_text(options.out / "ablation.md", ablation_table(rows))
    return rows


def _variant_row(options: AblationOptions, variant: str) -> dict[str, Any]:
    # Imported here, not at the top: the heavy stack loads only when an ablation runs (and tests replace these).
    from grace_edge.evaluate import evaluate
    from grace_edge.evaluate.ultralytics_protocol import evaluate_ultralytics
    from grace_edge.train.trainer import GraceOptions, train

    grace = GraceOptions(model=options.model, variant=variant, ramp_epochs=options.ramp_epochs, weights=options.weights)
    trainer = train(options.data, grace, **{**options.overrides, "name": variant, "exist_ok": True})
    device = options.device.split(",")[0] if options.device else "cpu"  # evaluation runs on one device
    kw = {"imgsz": options.imgsz, "batch": options.batch, "device": device}
    metrics = evaluate(trainer.best, options.data, **kw).to_dict()
    ul = evaluate_ultralytics(trainer.best, options.data, **kw).to_dict()
    return {
        "variant": variant, "ds_cbsm": grace.sampler, "lite_fen": grace.lite_fen, "architecture": grace.architecture,
        "params": sum(p.numel() for p in trainer.model.parameters()), "weights": str(trainer.best),
        **{k: metrics.get(k) for k in TABLE_METRICS}, "per_class": metrics.get("per_class"),
        "ultralytics": {k: ul.get(k) for k in (*TABLE_METRICS, "per_class")},
    }


def ablation_table(rows: list[dict[str, Any]]) -> str:
    """The paper's Table 2 layout, from measured rows: COCO (ours), then the Ultralytics protocol (model.val())."""
    tables = ["COCO protocol (grace-edge val):", "", _table(rows).rstrip("\n")]
    if rows and all("ultralytics" in r for r in rows):
        tables += ["", "Ultralytics protocol (model.val(), most likely the paper's):", "",
                   _table([{**r, **r["ultralytics"]} for r in rows]).rstrip("\n")]
    return "\n".join(tables) + "\n"


def _table(rows: list[dict[str, Any]]) -> str:
    labels = {"baseline": "Baseline", "ds-cbsm": "+DS-CBSM++", "lite-fen": "+Lite-FEN", "grace": "GRACE"}
    yes = lambda b: "yes" if b else "no"  # noqa: E731
    num = lambda v: "n/a" if v is None else f"{100 * v:.2f}"  # noqa: E731  points, as the paper's Table 2
    lines = ["| variant | DS-CBSM++ | Lite-FEN | params | mAP50-95 | mAP50 | P | R | F1 |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {labels.get(r['variant'], r['variant'])} | {yes(r['ds_cbsm'])} | {yes(r['lite_fen'])} | {r['params'] / 1e6:.3f} M | "
            + " | ".join(num(r[k]) for k in TABLE_METRICS) + " |"
        )
    return "\n".join(lines) + "\n"
