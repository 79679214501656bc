"""The bench result's JSON schema, markdown and plot, and that every file is written atomically.

The result is made from a sweep over a FAKE detector (see tests/helpers/fake_bench.py): only our report code is tested.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.figure
import numpy as np
import pytest

from grace_edge.bench import latency, report
from tests.helpers.fake_bench import FakeClock, FakeDetector

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_result(with_compare: bool = True) -> dict:
    clock = FakeClock()
    rows = latency.sweep(FakeDetector(clock), [np.zeros((4, 4), np.uint8)] * 4, [1, 2], warmup=1, iters=4,
                         clock=clock)
    ours, theirs = rows[0]["end_to_end"], latency.summarize([0.03] * 4).to_dict()
    compare = {
        "mode": "interleaved", "batch": 1, "reference": "ultralytics",
        "runners": {"grace-edge": {"end_to_end": ours, "info": {}}, "ultralytics": {"end_to_end": theirs,
                                                                                    "info": {"device": "cpu"}}},
        "ratios": {"grace-edge": latency.ratio(ours, theirs)},
    }
    return {
        "schema": report.SCHEMA, "command": "grace-edge bench m.onnx --iters 4", "created_utc": "2026-01-01T00:00:00",
        "artifact": {"path": "export/m.onnx", "backend": "onnxruntime", "precision": "fp32", "imgsz": [64, 64],
                     "input_format": "uint8_nhwc", "batch": [1, 1, 2]},
        "settings": {"warmup": 1, "timed": "4 calls", "workers": 1, "conf": 0.25},
        "images": {"source": "fake", "count": 4},
        "system": {"cpu": {"model": "Test CPU", "usable_cores": 2, "logical_cores": 2}, "libraries": {"numpy": "2"}},
        "load_average_before": [0.1, 0.1, 0.1], "load_average_after": [0.2, 0.1, 0.1],
        "results": rows, "skipped": [{"batch": 8, "reason": "above the artifact's max batch 2"}],
        "compare": compare if with_compare else None, "notes": ["a note"],
    }


def test_write_report_json_markdown_plot(tmp_path: Path) -> None:
    result = make_result()
    paths = report.write_report(result, tmp_path / "out" / "b.json", plot_path=tmp_path / "out" / "b.png")
    data = json.loads(paths["json"].read_text())
    assert data["schema"] == report.SCHEMA and [r["batch"] for r in data["results"]] == [1, 2]
    assert set(report.STATS_KEYS) <= set(data["results"][0]["end_to_end"])
    assert set(data["results"][1]["stages"]) == set(latency.STAGES)
    md = paths["markdown"].read_text()
    assert paths["markdown"] == tmp_path / "out" / "b.md"
    assert "grace-edge bench m.onnx --iters 4" in md and "batch 8 skipped" in md and "a note" in md
    assert "| ultralytics |" in md and "3.00x" in md  # 30 ms vs 10 ms at p50
    assert paths["plot"].read_bytes().startswith(PNG_MAGIC)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b.json", "b.md", "b.png"]  # no temp files left


def test_schema_check_names_what_is_missing(tmp_path: Path) -> None:
    result = make_result(with_compare=False)
    del result["results"][0]["end_to_end"]["p99_ms"]
    with pytest.raises(ValueError, match="p99_ms"):
        report.write_report(result, tmp_path / "b.json")
    result = make_result()
    del result["system"]
    with pytest.raises(ValueError, match="system"):
        report.write_report(result, tmp_path / "b.json")
    assert not any(tmp_path.iterdir())


def test_failed_plot_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "b.png"
    target.write_bytes(b"old plot")

    def half_write(self, fname, **kwargs):
        Path(fname).write_bytes(PNG_MAGIC + b"half")
        raise OSError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", half_write)
    with pytest.raises(OSError):
        report.write_plot(make_result(), target)
    assert target.read_bytes() == b"old plot"
    assert [p.name for p in tmp_path.iterdir()] == ["b.png"]


def test_markdown_without_stages_or_compare() -> None:
    result = make_result(with_compare=False)
    for row in result["results"]:
        row.pop("stages")
    md = report.to_markdown(result)
    assert "Stages" not in md and "Side by side" not in md and "| 2 |" in md


def test_plot_shows_the_compare_peer_and_every_stage_by_name() -> None:
    import matplotlib.pyplot as plt

    fig = report.plot_figure(make_result())
    end_to_end, side_by_side, stages = fig.axes
    assert [t.get_text() for t in side_by_side.get_xticklabels()] == ["grace-edge", "ultralytics"]
    assert "3.00x as fast at p50" in side_by_side.get_title()
    assert [t.get_text() for t in stages.get_yticklabels()] == list(latency.STAGES)  # one row per stage, named
    assert len(stages.containers) == 2  # one bar group per batch size
    plt.close(fig)
    fig = report.plot_figure(make_result(with_compare=False))
    assert len(fig.axes) == 2
    plt.close(fig)
