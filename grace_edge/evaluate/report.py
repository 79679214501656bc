"""The validation report of ``grace-edge val`` (and of the build's accuracy gate): from an :class:`EvalResult`, write
into a run folder the confusion matrix, PR and F1 curves, operating points with ``thresholds.yaml``, the failure
gallery and one ``report.html`` that links and embeds them; for several artifacts on the same images, a comparison.
"""

from __future__ import annotations

import datetime as dt
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grace_edge.errors import InputError
from grace_edge.evaluate import report_html as H
from grace_edge.evaluate.coco import MATCH_IOU, EvalResult
from grace_edge.evaluate.matching import ClassMatches, match_split
from grace_edge.evaluate.operating_points import (
    DEFAULT_RECALL, GOOD_PART, ClassPoints, OperatingPoint, operating_points, to_thresholds,
)
from grace_edge.thresholds import Thresholds, save_thresholds

PROTOCOL = ("COCO detection metrics (faster-coco-eval: 101-point interpolated AP, IoU 0.50:0.95, at most 100 "
            "detections per image, areas in original pixels); confusion matrix, curves, operating points and gallery "
            f"with greedy same-class matching at IoU >= {MATCH_IOU:g}, best score first")


@dataclass(frozen=True)
class ReportOptions:
    recall: float = DEFAULT_RECALL  # recall target of the written thresholds
    conf: float | None = None  # confidence of the confusion matrix; None: the evaluation's --f1-conf
    command: str = ""  # the command line that made the report, shown in it


@dataclass
class RunReport:
    """One artifact's analysis and the files written for it."""

    label: str
    result: EvalResult
    matches: list[ClassMatches]
    points: list[ClassPoints]
    thresholds: Thresholds
    folder: Path
    files: dict[str, Path] = field(default_factory=dict)


def analyse(result: EvalResult, options: ReportOptions, label: str, folder: Path) -> RunReport:
    if result.split is None or result.detections is None:
        raise InputError("report: the evaluation kept no predictions (evaluate with grace_edge.evaluate)")
    matches = match_split(result.split, result.detections)
    points = operating_points(matches, options.recall)
    source = {"made_by": "grace-edge val", "artifact": str(result.settings.get("weights", label)),
              "data": str(result.settings.get("data", "")), "split": result.split.split, "images": result.images}
    thresholds = to_thresholds(points, options.recall, result.f1_conf, source)
    return RunReport(label, result, matches, points, thresholds, folder)


def write_run_report(folder: Path, result: EvalResult, options: ReportOptions = ReportOptions(),
                     label: str | None = None) -> RunReport:
    """Everything for one artifact in ``folder``; ``report.html`` is ``report.files["html"]``."""
    from grace_edge.evaluate.confusion import confusion_matrix
    from grace_edge.io import write_json

    label = label or Path(str(result.settings.get("weights", "model"))).name
    run = analyse(result, options, label, Path(folder))
    matrix = confusion_matrix(result.split, result.detections, _conf(run, options))
    run.files["thresholds"] = save_thresholds(run.folder / "thresholds.yaml", run.thresholds)
    run.files.update(_figures(run, options, matrix))
    run.files["json"] = write_json(run.folder / "report.json", _report_json(run, options, matrix))
    run.files["html"] = _write_html(run, options)
    return run


def _conf(run_or_result: RunReport | EvalResult, options: ReportOptions) -> float:
    result = run_or_result.result if isinstance(run_or_result, RunReport) else run_or_result
    return result.f1_conf if options.conf is None else options.conf


def _figures(run: RunReport, options: ReportOptions, matrix: np.ndarray) -> dict[str, Path]:
    from grace_edge.evaluate.confusion import plot_confusion
    from grace_edge.evaluate.curves import plot_class, plot_f1, plot_pr
    from grace_edge.evaluate.figures import safe_name
    from grace_edge.evaluate.gallery import false_alarms, missed, plot_gallery

    r, split, preds, folder = run.result, run.result.split, run.result.detections, run.folder
    conf = _conf(run, options)
    files = {"confusion": plot_confusion(matrix, split.names, folder / "confusion_matrix.png", normalised=False, conf=conf),
             "confusion_normalised": plot_confusion(matrix, split.names, folder / "confusion_matrix_normalised.png",
                                                    normalised=True, conf=conf),
             "pr": plot_pr(run.matches, r.per_class_ap50, folder / "pr_curves.png",
                           f"Precision-recall per class, {run.label}"),
             "f1": plot_f1(run.matches, folder / "f1_curves.png", f"F1 vs confidence per class, {run.label}")}
    per_label = run.thresholds.per_label(split.names)
    for m, p in zip(run.matches, run.points):
        files[f"class:{m.name}"] = plot_class(m, p, r.per_class_ap50.get(m.name), options.recall,
                                              folder / f"curves_{safe_name(m.name)}.png")
        t = run.thresholds.for_class(m.name)
        rows = (missed(m, split, preds, t), false_alarms(m, split, preds, t))
        files[f"gallery:{m.name}"] = plot_gallery(m.name, rows, split, preds, per_label, t,
                                                  folder / f"gallery_{safe_name(m.name)}.png")
    return files


def _report_json(run: RunReport, options: ReportOptions, matrix: np.ndarray) -> dict[str, Any]:
    from grace_edge.evaluate.confusion import normalise

    def point(p: OperatingPoint | None) -> dict[str, Any] | None:
        return None if p is None else p.to_dict()

    return {
        "artifact": run.label, "settings": run.result.settings, "protocol": PROTOCOL, "good_part": GOOD_PART,
        "recall_target": options.recall, "confusion_conf": _conf(run, options),
        "confusion_labels": [*run.result.names, "background"], "confusion_matrix": matrix.tolist(),
        "confusion_matrix_normalised": normalise(matrix).round(4).tolist(),
        "operating_points": {p.name: {"best_f1": point(p.best_f1), "recall_target": point(p.at_recall)}
                             for p in run.points},
        "thresholds": run.thresholds.to_dict(),
    }


def _dist_version(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, Any]:
    """The libraries the numbers depend on (bench's list, plus what evaluates and draws)."""
    from grace_edge import sysinfo

    found = {"grace-edge": _dist_version("grace-edge"), "python": platform.python_version(),
             "faster-coco-eval": _dist_version("faster-coco-eval"), "matplotlib": _dist_version("matplotlib"),
             **sysinfo.library_versions()}
    return {k: v for k, v in found.items() if isinstance(v, str)}


def _summary(run: RunReport, options: ReportOptions) -> str:
    r, st = run.result, run.result.settings
    rows = [("artifact", st.get("weights", run.label)), ("data", st.get("data", "-")),
            ("split / images / boxes", f"{r.split.split} / {r.images} / {sum(r.instances.values())}"),
            ("command", options.command or "-"),
            ("made", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))]
    contents = " · ".join(H.link(f"#{a}", t) for a, t in (
        ("accuracy", "accuracy"), ("operating-points", "operating points"), ("confusion", "confusion matrix"),
        ("curves", "PR / F1 curves"), ("gallery", "failure gallery"), ("details", "artifact, protocol, versions")))
    warnings = [H.paragraph(f"warning: {w}", "bad") for w in st.get("warnings", [])]
    return H.section("Run", H.definitions(rows), *warnings, f"<p>Contents: {contents}</p>", anchor="run")


def _details(run: RunReport, options: ReportOptions) -> str:
    from grace_edge.artifact import sha256_file

    st = run.result.settings
    weights = Path(str(st.get("weights", "")))
    precision = st.get("precision", st.get("inference_precision", "-"))
    rows = [("artifact sha256", sha256_file(weights) if weights.is_file() else "-"),
            ("backend / precision", f"{st.get('backend', '-')} / {precision}"), ("input size", st.get("imgsz", "-")),
            ("NMS IoU / max detections", f"{st.get('iou', '-')} / {st.get('max_det', '-')}"),
            ("score floor (mAP) / confusion conf", f"{st.get('conf', '-')} / {_conf(run, options):g}"),
            ("protocol", PROTOCOL), ("versions", " · ".join(f"{k} {v}" for k, v in versions().items()))]
    return H.section("Artifact, protocol, versions", H.definitions(rows), anchor="details")


def _metrics_table(run: RunReport) -> str:
    r = run.result

    def pts(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.2f}"

    rows = [("all", sum(r.instances.values()), pts(r.map50_95), pts(r.map50), pts(r.precision), pts(r.recall))]
    for n in r.names:
        tp, fp, fn = r.tp[n], r.fp[n], r.fn[n]
        rows.append((n, r.instances[n], pts(r.per_class[n]), pts(r.per_class_ap50[n]),
                     pts(tp / (tp + fp) if tp + fp else None), pts(tp / (tp + fn) if tp + fn else None)))
    head = ("class", "boxes", "AP50-95", "AP50", f"P @ {r.f1_conf:g}", f"R @ {r.f1_conf:g}")
    return H.section("Accuracy (points, 0-100)", H.table(head, rows), anchor="accuracy")


def _fr(p: OperatingPoint) -> str:
    v = p.false_rejects_per_100
    return "- (no good part)" if v is None else f"{v:.1f} ({p.false_rejects}/{p.good_parts})"


def points_rows(points: Sequence[ClassPoints]) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for p in points:
        f, r = p.best_f1, p.at_recall
        if f is None or r is None:
            rows.append((p.name, "-", "-", "-", "-", "-", "-", "-"))
            continue
        rows.append((p.name, f"{f.conf:.4f}", f"{f.f1:.3f}", f"{f.recall:.3f}", f"{r.conf:.4f}",
                     f"{r.recall:.3f}" + ("" if r.reached else " (not reached)"), f"{r.precision:.3f}", _fr(r)))
    return rows


def _points_section(run: RunReport, options: ReportOptions) -> str:
    head = ("class", "best-F1 conf", "F1", "recall", f"conf for recall {options.recall:g}", "recall", "precision",
            "false rejects per 100 good parts")
    yaml_text = run.files["thresholds"].read_text(encoding="utf-8")
    return H.section(
        "Operating points", H.table(head, points_rows(run.points)),
        H.paragraph(f"Good part: {GOOD_PART}. Thresholds keep score >= threshold, rounded down to 4 decimals."),
        H.paragraph("thresholds.yaml (the recall-target thresholds; read by 'grace-edge predict --thresholds', "
                    "Detector.open(thresholds=...) and the line config):"),
        H.preformatted(yaml_text), H.link(run.files["thresholds"].name, "thresholds.yaml"), " · ",
        H.link("report.json", "report.json"),
        anchor="operating-points")


def _figure_sections(run: RunReport) -> list[str]:
    f, names = run.files, run.result.names
    return [
        H.section("Confusion matrix", H.image(f["confusion"], "confusion matrix, counts"),
                  H.image(f["confusion_normalised"], "confusion matrix, normalised per true row"), anchor="confusion"),
        H.section("Precision-recall and F1 curves", H.image(f["pr"], "precision-recall, all classes"),
                  H.image(f["f1"], "F1 vs confidence, all classes"),
                  *(H.image(f[f"class:{n}"], f"{n}: PR and F1 with its operating points") for n in names), anchor="curves"),
        H.section("Failure gallery", *(H.image(f[f"gallery:{n}"], f"{n}: worst misses and false alarms") for n in names),
                  anchor="gallery"),
    ]


def _write_html(run: RunReport, options: ReportOptions) -> Path:
    from grace_edge.io import write_text

    body = [_summary(run, options), _metrics_table(run), _points_section(run, options), *_figure_sections(run),
            _details(run, options)]
    return write_text(run.folder / "report.html", H.page(f"Validation report: {run.label}", body))
