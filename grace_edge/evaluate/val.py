"""``grace-edge val`` behind its parser: evaluate one or several artifacts on the same images, print the tables,
write the metrics JSON and the report (one artifact: its report; several: one report each and a comparison)."""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from grace_edge.evaluate.operating_points import DEFAULT_RECALL, check_recall


@dataclass(frozen=True)
class ValOptions:
    artifacts: tuple[str, ...]
    data: str
    split: str = "val"
    imgsz: int | None = None
    batch: int = 16
    device: str = "cpu"
    conf: float = 0.001
    f1_conf: float = 0.25
    max_images: int | None = None
    protocol: str = "both"
    json: str | None = None
    out: str | None = None  # run folder; None: runs/val/<first artifact>[-2, ...]
    report: bool = True
    recall: float = DEFAULT_RECALL
    runtime: Any = None  # grace_edge.runtime.options.RuntimeOptions; None: the defaults
    command: str = ""


def labels(artifacts: tuple[str, ...]) -> list[str]:
    """``A grace-n.onnx``, ``B grace-n-int8.onnx``, ...: short, and unique even when two files share a name."""
    if len(artifacts) == 1:
        return [Path(artifacts[0]).name]
    return [f"{string.ascii_uppercase[i % 26]} {Path(a).name}" for i, a in enumerate(artifacts)]


def run_folder(o: ValOptions) -> Path:
    from grace_edge.io import fresh_path

    if o.out:
        return Path(o.out)
    stem = Path(o.artifacts[0]).stem + ("-vs-" + Path(o.artifacts[1]).stem if len(o.artifacts) > 1 else "")
    return fresh_path(Path("runs") / "val" / stem)


def _evaluate_one(artifact: str, o: ValOptions, log: Callable[[str], None]) -> tuple[dict[str, Any], Any]:
    """The metrics dict of ``artifact`` and its COCO EvalResult (None with --protocol ultralytics)."""
    from grace_edge.evaluate import evaluate
    from grace_edge.evaluate.evaluate import default_imgsz
    from grace_edge.evaluate.ultralytics_protocol import evaluate_ultralytics

    imgsz = o.imgsz if o.imgsz is not None else default_imgsz(artifact)
    common = {"imgsz": imgsz, "batch": o.batch, "device": o.device, "split": o.split, "conf": o.conf,
              "max_images": o.max_images}
    out: dict[str, Any] = {}
    result = None
    if o.protocol in ("both", "coco"):
        result = evaluate(artifact, o.data, f1_conf=o.f1_conf, runtime=o.runtime, **common)
        log("COCO protocol (ours):")
        log(result.table())
        for warning in result.settings.get("warnings", []):
            log(f"warning: {warning}")
        out.update(result.to_dict())
    if o.protocol in ("both", "ultralytics"):
        ul = evaluate_ultralytics(artifact, o.data, runtime=o.runtime, **common)
        log(ul.table())
        out["ultralytics"] = ul.to_dict()
    return out, result


def run_val(o: ValOptions, log: Callable[[str], None] = print) -> int:
    from grace_edge.io import check_writable, write_json

    if o.report:
        check_recall(o.recall)
    folder = run_folder(o)
    check_writable(folder / "metrics.json", "--out")  # before minutes of evaluation, not after
    outs, results = zip(*(_evaluate_one(a, o, log) for a in o.artifacts))
    metrics: Any = outs[0] if len(outs) == 1 else {"artifacts": dict(zip(labels(o.artifacts), outs))}
    log(f"metrics written to {write_json(folder / 'metrics.json', metrics)}")
    if o.json:
        log(f"metrics written to {write_json(o.json, metrics)}")
    if o.report and results[0] is not None:
        log(f"report: {write_reports(folder, list(results), o, log)}")
    elif o.report:
        log("report: not written (--protocol ultralytics keeps no COCO predictions to draw from)")
    return 0


def write_reports(folder: Path, results: list[Any], o: ValOptions, log: Callable[[str], None] = print) -> Path:
    """One artifact: its report in ``folder``; several: each in a subfolder and the comparison in ``folder``."""
    from grace_edge.evaluate.compare import write_compare_report
    from grace_edge.evaluate.report import ReportOptions, write_run_report

    options = ReportOptions(recall=o.recall, command=o.command)
    if len(results) == 1:
        run = write_run_report(folder, results[0], options)
        _print_points(run, log)
        return run.files["html"]
    return write_compare_report(folder, results, options, labels(o.artifacts))


def _print_points(run: Any, log: Callable[[str], None]) -> None:
    from grace_edge.evaluate.report import points_rows

    log(f"operating points (thresholds in {run.files['thresholds']}):")
    log("  class: best-F1 conf, F1, recall | recall-target conf, recall, precision, false rejects per 100 good parts")
    for row in points_rows(run.points):
        log(f"  {row[0]}: {row[1]}, {row[2]}, {row[3]} | {row[4]}, {row[5]}, {row[6]}, {row[7]}")
