"""The report of one artifact on the hand case (tests/helpers/hand_case.py): files, JSON, thresholds, one page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from grace_edge.errors import InputError
from grace_edge.evaluate import evaluate_predictions
from grace_edge.evaluate.report import ReportOptions, write_run_report
from grace_edge.thresholds import load_thresholds
from tests.helpers import hand_case


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    data = hand_case.write_dataset(tmp_path_factory.mktemp("hand"))
    result = evaluate_predictions(hand_case.predictions(), data, f1_conf=0.3,
                                  settings={"weights": "hand.onnx", "data": str(data), "backend": "numpy"})
    return write_run_report(tmp_path_factory.mktemp("run"), result, ReportOptions(recall=0.95, command="grace-edge val"))


def test_files(report) -> None:
    names = {p.name for p in report.folder.iterdir()}
    expected = {"report.html", "report.json", "thresholds.yaml", "confusion_matrix.png",
                "confusion_matrix_normalised.png", "pr_curves.png", "f1_curves.png",
                *(f"curves_{n}.png" for n in hand_case.NAMES), *(f"gallery_{n}.png" for n in hand_case.NAMES)}
    assert names == expected  # and no temp file left


def test_json_and_thresholds(report) -> None:
    saved = json.loads((report.folder / "report.json").read_text())
    assert saved["confusion_matrix"] == [[2, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0]]
    assert saved["confusion_labels"] == ["a", "b", "c", "background"] and saved["confusion_conf"] == 0.3
    a = saved["operating_points"]["a"]
    assert a["best_f1"]["conf"] == 0.375 and a["recall_target"]["false_rejects_per_100"] == 50.0
    assert dict(load_thresholds(report.folder / "thresholds.yaml").classes) == {"a": 0.375, "b": 0.625, "c": 0.75}


def test_page_is_self_contained(report) -> None:
    page = (report.folder / "report.html").read_text()
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == 2 + 2 + 2 * 3 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    for text in ("hand.onnx", "grace-edge val", "thresholds.yaml", "false rejects per 100 good parts", "numpy",
                 "faster-coco-eval", "(not reached)", "50.0 (1/2)"):
        assert text in page


def test_without_predictions_is_an_input_error(report, tmp_path: Path) -> None:
    from dataclasses import replace

    with pytest.raises(InputError, match="kept no predictions"):
        write_run_report(tmp_path, replace(report.result, detections=None))
