"""The ablation table (paper Table 2) formatting, from :mod:`grace_edge.train.ablation` directly; the workflow with
fake training and evaluation runs through ``grace-edge ablate`` in test_cli.py."""

from __future__ import annotations

from grace_edge.train.ablation import TABLE_METRICS, ablation_table


def _row(variant: str, **metrics) -> dict:
    return {"variant": variant, "ds_cbsm": True, "lite_fen": False, "params": 2_590_000,
            **{k: metrics.get(k) for k in TABLE_METRICS}}


def test_table_without_ultralytics_rows_has_the_coco_table_only():
    table = ablation_table([_row("ds-cbsm", map50_95=0.5, map50=0.75, precision=0.1, recall=None, f1=1.0)]).splitlines()
    assert table == ["COCO protocol (grace-edge val):", "",
                     "| variant | DS-CBSM++ | Lite-FEN | params | mAP50-95 | mAP50 | P | R | F1 |",
                     "|---|---|---|---:|---:|---:|---:|---:|---:|",
                     "| +DS-CBSM++ | yes | no | 2.590 M | 50.00 | 75.00 | 10.00 | n/a | 100.00 |"]


def test_ultralytics_metrics_replace_ours_in_the_second_table():
    row = {**_row("grace", map50_95=0.5), "ultralytics": {"map50_95": 0.25}}
    table = ablation_table([row]).splitlines()
    assert table[6] == "Ultralytics protocol (model.val(), most likely the paper's):"
    assert table[-1].startswith("| GRACE | yes | no | 2.590 M | 25.00 | n/a |")
