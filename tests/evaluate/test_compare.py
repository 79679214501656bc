"""Two artifacts side by side on the hand case: B lost 1.png's 0.375 detection of class a."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from grace_edge.errors import InputError
from grace_edge.evaluate import evaluate_predictions
from grace_edge.evaluate.compare import delta_rows, write_compare_report
from grace_edge.evaluate.report import ReportOptions
from tests.helpers import hand_case


def without_0375() -> dict[str, np.ndarray]:
    preds = hand_case.predictions()
    preds["1.png"] = preds["1.png"][1:]
    return preds


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory):
    data = hand_case.write_dataset(tmp_path_factory.mktemp("hand"))
    results = [evaluate_predictions(p, data, settings={"weights": w, "data": str(data)})
               for p, w in ((hand_case.predictions(), "a.onnx"), (without_0375(), "b.onnx"))]
    folder = tmp_path_factory.mktemp("cmp")
    return folder, results, write_compare_report(folder, results, ReportOptions(), ["A a.onnx", "B b.onnx"])


def test_recall_at_the_references_thresholds_by_hand(compared) -> None:
    folder, results, _ = compared
    from grace_edge.evaluate.report import analyse

    runs = [analyse(r, ReportOptions(), label, folder) for r, label in zip(results, ("A", "B"))]
    rows = {(r[0], r[1]): r for r in delta_rows(runs)}
    # A's threshold for a is 0.375. B keeps 0.875 (TP) and 0.5 (FP) there; its 0.25 duplicate is now a TP but below.
    assert rows[("a", "A")][6:] == ("100.00", "+0.00", "50.0")
    assert rows[("a", "B")][6:] == ("50.00", "-50.00", "50.0")
    # AP does not move (the 0.25 takes the lost detection's rank), recall at the line's threshold halves: why the
    # comparison shows both.
    assert results[0].per_class["a"] == results[1].per_class["a"] and rows[("a", "B")][3] == "+0.00"
    assert rows[("b", "B")][6:8] == ("0.00", "+0.00")  # b: nothing changed


def test_folders_and_page(compared) -> None:
    folder, _, page = compared
    assert {p.name for p in folder.iterdir()} == {"1-a", "2-b", "pr_compare.png", "report.html"}
    assert (folder / "1-a" / "thresholds.yaml").is_file() and (folder / "2-b" / "report.html").is_file()
    text = page.read_text()
    assert 'href="1-a/report.html"' in text and 'href="2-b/report.html"' in text
    assert "recall at A a.onnx&#x27;s thresholds" in text
    assert len(re.findall(r'<img src="data:image/png;base64,', text)) == 1


def test_other_images_are_refused(compared, tmp_path: Path) -> None:
    _, results, _ = compared
    data = hand_case.write_dataset(tmp_path / "other")
    (tmp_path / "other" / "images" / "val" / "3.png").unlink()
    preds = {k: v for k, v in hand_case.predictions().items() if k != "3.png"}
    other = evaluate_predictions(preds, data)
    with pytest.raises(InputError, match="B b.onnx was evaluated on other images than A a.onnx"):
        write_compare_report(tmp_path / "out", [results[0], other], ReportOptions(), ["A a.onnx", "B b.onnx"])
