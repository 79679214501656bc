"""``grace-edge val A [B ...]`` through the real CLI, with the artifacts' predictions stubbed by the hand case
(tests/helpers/hand_case.py): run folder, metrics, thresholds, reports. The runtime itself is tested elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grace_edge import cli
from tests.helpers import hand_case


@pytest.fixture
def val_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import grace_edge.evaluate.predict as predict

    def fake_predict(weights, split, **kwargs):  # b.onnx loses 1.png's 0.375 detection of class a
        preds = hand_case.predictions()
        if weights.name == "b.onnx":
            preds["1.png"] = preds["1.png"][1:]
        return preds, {"backend": "stub", "imgsz": [100, 100]}

    monkeypatch.setattr(predict, "predict_artifact", fake_predict)
    monkeypatch.setattr(cli, "STAGE_CLI_MODULES", ("grace_edge.evaluate.cli",))
    for name in ("a.onnx", "b.onnx"):
        (tmp_path / name).write_bytes(b"")
    return cli.main


def test_one_artifact(val_cli, tmp_path: Path, capsys) -> None:
    data = hand_case.write_dataset(tmp_path / "d")
    code = val_cli(["val", str(tmp_path / "a.onnx"), "--data", str(data), "--protocol", "coco", "--f1-conf", "0.3",
                    "--out", str(tmp_path / "run"), "--recall", "0.5"])
    printed = capsys.readouterr().out
    assert code == 0 and f"report: {tmp_path / 'run' / 'report.html'}" in printed
    assert "  a: 0.3750, 0.800, 1.000 | 0.8750, 0.500, 1.000, 0.0 (0/2)" in printed  # recall 0.5: 0.875 suffices
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["images"] == 4 and saved["settings"]["backend"] == "stub"
    assert "a: 0.875" in (tmp_path / "run" / "thresholds.yaml").read_text()


def test_two_artifacts_compare(val_cli, tmp_path: Path, capsys) -> None:
    data = hand_case.write_dataset(tmp_path / "d")
    code = val_cli(["val", str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx"), "--data", str(data),
                    "--protocol", "coco", "--out", str(tmp_path / "run")])
    assert code == 0
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert list(saved["artifacts"]) == ["A a.onnx", "B b.onnx"]
    assert (tmp_path / "run" / "report.html").is_file() and (tmp_path / "run" / "2-b" / "report.html").is_file()


def test_no_report(val_cli, tmp_path: Path) -> None:
    data = hand_case.write_dataset(tmp_path / "d")
    assert val_cli(["val", str(tmp_path / "a.onnx"), "--data", str(data), "--protocol", "coco", "--no-report",
                    "--out", str(tmp_path / "run")]) == 0
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["metrics.json"]


def test_bad_recall_is_one_line(val_cli, tmp_path: Path, capsys) -> None:
    data = hand_case.write_dataset(tmp_path / "d")
    code = val_cli(["val", str(tmp_path / "a.onnx"), "--data", str(data), "--protocol", "coco", "--recall", "2",
                    "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "--recall 2.0: the recall target must be in (0, 1]" in err and "Traceback" not in err
