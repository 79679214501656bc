"""The predict loop called from Python (``grace_edge.runtime.predict``), without the CLI: options in, report out,
every line through the log callable. The command line's own tests are in test_cli.py."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.helpers.fake_graph import make_fake_onnx

from grace_edge.runtime.predict import PredictOptions, predict


def test_report_counts_and_log_lines_say_which_are_problems(tmp_path: Path) -> None:
    model = make_fake_onnx(tmp_path / "fake200.onnx", hw=(200, 200))
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), np.full((200, 200), 90, np.uint8))
    (src / "b.jpg").write_bytes(b"not a jpeg")
    lines: list[tuple[str, bool]] = []
    report = predict(PredictOptions(artifact=str(model), source=str(src), out=tmp_path / "out", draw=False,
                                    save_json=True), log=lambda text, problem: lines.append((text, problem)))
    assert (report.frames, len(report.failed), report.exit_code, report.out) == (1, 1, 1, tmp_path / "out")
    assert report.failed[0][0] == "b.jpg"
    assert [problem for text, problem in lines if "b.jpg" in text] == [True]
    assert lines[-1][0].startswith("predict: 1 image(s)") and lines[-1][1] is False
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.json"]


def test_bad_options_are_refused_before_the_model_opens(tmp_path: Path) -> None:
    from grace_edge.errors import InputError

    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(InputError, match="--max-frames 0 must be at least 1"):
        predict(PredictOptions(artifact=str(tmp_path / "missing.onnx"), source=str(tmp_path / "a.png"), max_frames=0))
