"""Artifacts side by side on the same images (``val A B [C ...]``, and the build's accuracy gate: FP32 vs the
reduced-precision candidate): per class, mAP50-95, mAP50 and recall at the operating point, as deltas against the
first artifact (the reference), and the PR curves overlaid.

"Recall at the operating point" is taken at the *reference's* recall-target thresholds (its thresholds.yaml) for
every artifact: the question a line asks when it swaps FP32 for INT8 under the same line config is what that
config now misses. The false-reject rate at those thresholds is shown beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from grace_edge.errors import InputError
from grace_edge.evaluate import report_html as H
from grace_edge.evaluate.coco import EvalResult
from grace_edge.evaluate.operating_points import GOOD_PART, OperatingPoint, point_at
from grace_edge.evaluate.report import ReportOptions, RunReport, write_run_report


def _same_images(results: Sequence[EvalResult], labels: Sequence[str]) -> None:
    names = [[im.name for im in r.split.images] if r.split is not None else None for r in results]
    for label, n in zip(labels[1:], names[1:]):
        if n != names[0]:
            raise InputError(f"compare: {label} was evaluated on other images than {labels[0]}; "
                             "use the same --data, --split and --max-images")
    if any(r.names != results[0].names for r in results):
        raise InputError(f"compare: the artifacts' datasets name different classes: {[r.names for r in results]}")


def _pts(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def _delta(v: float | None, ref: float | None) -> str:
    return "-" if v is None or ref is None else f"{100 * (v - ref):+.2f}"


def reference_points(runs: Sequence[RunReport]) -> list[list[OperatingPoint]]:
    """Per run, per class, the point at the reference's (first run's) recall-target threshold."""
    per_label = runs[0].thresholds.per_label(runs[0].result.names)
    return [[point_at(m, float(per_label[k])) for k, m in enumerate(run.matches)] for run in runs]


def delta_rows(runs: Sequence[RunReport]) -> list[tuple[object, ...]]:
    ref = runs[0].result
    at_ref = reference_points(runs)
    rows: list[tuple[object, ...]] = []
    for run in runs:
        r = run.result
        rows.append(("all", run.label, _pts(r.map50_95), _delta(r.map50_95, ref.map50_95), _pts(r.map50),
                     _delta(r.map50, ref.map50), "", "", ""))
    for k, name in enumerate(ref.names):
        for i, run in enumerate(runs):
            r, p, p0 = run.result, at_ref[i][k], at_ref[0][k]
            fr = p.false_rejects_per_100
            rows.append((name, run.label, _pts(r.per_class[name]), _delta(r.per_class[name], ref.per_class[name]),
                         _pts(r.per_class_ap50[name]), _delta(r.per_class_ap50[name], ref.per_class_ap50[name]),
                         _pts(p.recall) if p.tp + p.fn else "-", _delta(p.recall, p0.recall) if p.tp + p.fn else "-",
                         "-" if fr is None else f"{fr:.1f}"))
    return rows


def header(reference: str) -> tuple[str, ...]:
    return ("class", "artifact", "AP50-95", "delta", "AP50", "delta", f"recall at {reference}'s thresholds", "delta",
            "false rejects per 100 good parts")


def _subfolder(i: int, label: str) -> str:
    """``2-int8`` for label ``B int8.onnx``: numbered in order, safe in a path and a link."""
    from grace_edge.evaluate.figures import safe_name

    return f"{i + 1}-{safe_name(Path(label.split(' ', 1)[-1]).stem)}"


def write_compare_report(folder: Path, results: Sequence[EvalResult], options: ReportOptions,
                         labels: Sequence[str]) -> Path:
    """Each artifact's own report in ``folder/<n>-<name>/``, and ``folder/report.html`` comparing them."""
    from grace_edge.evaluate.curves import plot_pr_compare
    from grace_edge.io import write_text

    if len(results) < 2:
        raise InputError("compare: needs at least two artifacts")
    _same_images(results, labels)
    folder = Path(folder)
    runs = [write_run_report(folder / _subfolder(i, label), r, options, label)
            for i, (r, label) in enumerate(zip(results, labels))]
    figure = plot_pr_compare([(run.label, run.matches, run.result.per_class_ap50) for run in runs],
                             folder / "pr_compare.png")
    links = " · ".join(H.link(f"{run.folder.name}/report.html", f"{run.label}: its report") for run in runs)
    body = [
        H.section("Artifacts", H.table(("", "artifact", "backend", "precision"), [
            (run.label.split(" ", 1)[0], run.result.settings.get("weights", run.label),
             run.result.settings.get("backend", "-"), run.result.settings.get("precision", "-")) for run in runs]),
            H.paragraph(f"{results[0].images} images of split '{results[0].split.split}' of "
                        f"{results[0].settings.get('data', '-')}, the same for every artifact. Command: "
                        f"{options.command or '-'}"), links, anchor="artifacts"),
        H.section("Per class, against the first artifact (points, 0-100)", H.table(header(runs[0].label), delta_rows(runs)),
                  H.paragraph(f"Recall and false rejects at {runs[0].label}'s recall-target thresholds "
                              f"(recall {options.recall:g}; its thresholds.yaml) for every artifact. {GOOD_PART}."),
                  anchor="deltas"),
        H.section("Precision-recall overlaid", H.image(figure, "precision-recall per class, artifacts overlaid"),
                  anchor="pr"),
    ]
    return write_text(folder / "report.html", H.page("Comparison: " + " vs ".join(run.label for run in runs), body))


def write_gate_report(folder: str | Path, reference: EvalResult, candidate: EvalResult, label: str) -> Path | None:
    """The build gate's ``folder/report.html``, FP32 against the candidate; None when the evaluations kept no
    predictions."""
    if getattr(reference, "detections", None) is None or getattr(candidate, "detections", None) is None:
        return None
    return write_compare_report(Path(folder), [reference, candidate], ReportOptions(command="grace-edge build (gate)"),
                                ["A fp32", f"B {label}"])
