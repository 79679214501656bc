"""``grace-edge bench`` end to end on a real (untrained, imgsz 64) GRACE-n ONNX on ONNX Runtime CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grace_edge.cli import main

ARGS = ["--warmup", "1", "--iters", "3", "--num-images", "4"]


@pytest.fixture(scope="module")
def tiny_artifacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An untrained GRACE-n saved the way Ultralytics saves checkpoints, and its imgsz-64 dynamic-batch ONNX."""
    import torch

    from grace_edge.export.onnx_export import export_onnx
    from grace_edge.model.build import build_model

    out = tmp_path_factory.mktemp("bench_artifacts")
    weights = out / "grace-n.pt"
    torch.save({"model": build_model("grace-n"), "train_args": {"imgsz": 64}}, weights)
    onnx = export_onnx(weights, out / "grace-n-64.onnx", imgsz=64, dynamic_batch=True, simplify=False)
    return weights, onnx


def _one_line_error(capsys: pytest.CaptureFixture[str], code: int, *needles: str) -> str:
    """The CLI's clear error (exit 2): its message names each of ``needles``, and no traceback is printed."""
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    message = err[err.index("grace-edge bench: error:"):]
    for needle in needles:
        assert needle in message, message
    return message


@pytest.mark.data
def test_bench_sweeps_real_images_and_writes_reports(tiny_artifacts, neu_det: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _, onnx = tiny_artifacts
    monkeypatch.setenv("GRACE_NEU_DET", str(neu_det))
    out = tmp_path / "res" / "bench.json"
    code = main(["bench", str(onnx), "--batch", "1,2,64", "--workers", "2", *ARGS, "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    data = json.loads(out.read_text())
    assert [r["batch"] for r in data["results"]] == [1, 2]
    assert data["skipped"][0]["batch"] == 64 and "max batch 32" in data["skipped"][0]["reason"]
    assert data["images"]["count"] == 4 and data["images"]["source"].endswith("IMAGES")
    assert data["artifact"]["backend"] == "onnxruntime" and data["artifact"]["imgsz"] == [64, 64]
    for row in data["results"]:
        assert row["end_to_end"]["n"] == 3 and row["end_to_end"]["p50_ms"] > 0
        assert row["stages"]["compute"]["p50_ms"] > 0 and row["concurrent"]["in_flight"] == 2
    assert data["system"]["libraries"]["onnxruntime"] and len(data["load_average_before"]) == 3
    assert data["command"].startswith(f"grace-edge bench {onnx}") and "--batch 1,2,64" in data["command"]
    assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    assert "## End to end" in out.with_suffix(".md").read_text()
    assert "| 2 | 3 |" in capsys.readouterr().out  # markdown printed too


@pytest.mark.data
def test_bench_on_the_val_split_of_a_data_yaml(tiny_artifacts, tiny_dataset: Path, tmp_path: Path) -> None:
    _, onnx = tiny_artifacts
    out = tmp_path / "b.json"
    assert main(["bench", str(onnx), "--data", str(tiny_dataset), "--batch", "1", "--stage-iters", "0", *ARGS,
                 "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["images"]["source"] == f"{tiny_dataset} (val)" and "stages" not in data["results"][0]


def test_synthetic_images_only_when_asked(tiny_artifacts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _, onnx = tiny_artifacts
    monkeypatch.setenv("GRACE_NEU_DET", str(tmp_path / "absent"))
    monkeypatch.setattr("grace_edge.bench.run.default_image_dirs", lambda: [tmp_path / "absent" / "IMAGES"])
    code = main(["bench", str(onnx), "--batch", "1", *ARGS, "--json", str(tmp_path / "x.json")])
    _one_line_error(capsys, code, "--images", "--synthetic")
    assert not (tmp_path / "x.json").exists()
    out = tmp_path / "s.json"
    assert main(["bench", str(onnx), "--batch", "1", "--synthetic", *ARGS, "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["images"]["source"].startswith("synthetic") and any("SYNTHETIC" in n for n in data["notes"])


def test_bad_inputs_are_one_line_errors(tiny_artifacts, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights, onnx = tiny_artifacts
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(capsys, main(["bench", str(onnx), "--images", str(empty)]), str(empty), "no image files")
    (empty / "broken.jpg").write_bytes(b"not a jpeg")
    _one_line_error(capsys, main(["bench", str(onnx), "--images", str(empty)]), "broken.jpg", "not a decodable image")
    _one_line_error(capsys, main(["bench", str(onnx), "--synthetic", "--batch", "1,x"]), "--batch")
    _one_line_error(capsys, main(["bench", str(onnx), "--synthetic", "--batch", "64"]), "batch range")
    _one_line_error(capsys, main(["bench", str(onnx), "--synthetic", "--compare", "ultralytics"]), "--weights")
    bad = ["--compare", "ultralytics", "--weights"]
    _one_line_error(capsys, main(["bench", str(onnx), "--synthetic", *bad, str(onnx)]), "must be an Ultralytics .pt")
    (tmp_path / "bad.pt").write_bytes(b"junk")
    _one_line_error(capsys, main(["bench", str(onnx), "--synthetic", *bad, str(tmp_path / "bad.pt")]), "bad.pt")
    _one_line_error(capsys, main(["bench", str(tmp_path / "none.onnx"), "--synthetic"]), "none.onnx")
    _one_line_error(capsys, main(["bench", str(onnx), "--synthetic", "--workers", "0"]), "--workers")


@pytest.mark.slow
@pytest.mark.parametrize("peer", ["ultralytics", "ultralytics-onnx"])
def test_compare_with_ultralytics(peer: str, tiny_artifacts, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    weights, onnx = tiny_artifacts
    out = tmp_path / "c.json"
    code = main(["bench", str(onnx), "--synthetic", "--batch", "1", "--stage-iters", "0", *ARGS,
                 "--compare", peer, "--weights", str(weights), "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    compare = json.loads(out.read_text())["compare"]
    ours = "grace-edge onnxruntime fp32"
    assert compare["reference"] == peer and set(compare["runners"]) == {ours, peer}
    assert compare["runners"][peer]["end_to_end"]["n"] == 3 and compare["runners"][peer]["info"]["imgsz"] == [64, 64]
    assert compare["runners"][peer]["info"].get("trained_imgsz") == (64 if peer == "ultralytics" else None)
    r, e = compare["ratios"][ours], compare["runners"]
    assert r["speedup_p50"] == pytest.approx(e[peer]["end_to_end"]["p50_ms"] / e[ours]["end_to_end"]["p50_ms"])
    assert f"{ours} vs {peer}:" in capsys.readouterr().out


@pytest.mark.gpu
def test_bench_tensorrt_engine_with_stages_and_peer(tiny_artifacts, tmp_path: Path) -> None:
    """On a GPU: an FP16 engine of the same graph, timed per stage (CUDA events), next to Ultralytics FP16."""
    from grace_edge.engine.pipeline import BuildOptions, build

    weights, onnx = tiny_artifacts
    engine = build(BuildOptions(precision="fp16", onnx=onnx, batch=(1, 1, 4), require_tensorrt=True,
                                out=tmp_path / "m.engine"), log=lambda msg: None).path
    out = tmp_path / "g.json"
    assert main(["bench", str(engine), "--synthetic", "--batch", "1,4,8", *ARGS, "--compare", "ultralytics",
                 "--weights", str(weights), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["artifact"]["backend"] == "tensorrt" and [r["batch"] for r in data["results"]] == [1, 4]
    assert data["skipped"] == [{"batch": 8, "reason": "above the artifact's max batch 4 (rebuild with a larger max)"}]
    stages = data["results"][1]["stages"]
    assert stages["compute"]["p50_ms"] > 0 and stages["h2d"]["p50_ms"] > 0 and stages["d2h"]["p50_ms"] > 0
    assert data["system"]["gpu"]["tensorrt"]
    info = data["compare"]["runners"]["ultralytics"]["info"]
    assert (info["device"], info["precision"], info["runtime"]) == ("0", "fp16", "pytorch")


def test_no_artifact_times_the_newest_in_engines(tiny_artifacts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import os
    import shutil

    _, onnx = tiny_artifacts
    monkeypatch.chdir(tmp_path)
    _one_line_error(capsys, main(["bench", "--synthetic"]), "engines/", "grace-edge build")
    (tmp_path / "engines").mkdir()
    older, newer = tmp_path / "engines" / "old.onnx", tmp_path / "engines" / "new.onnx"
    shutil.copyfile(onnx, older)
    shutil.copyfile(onnx, newer)
    os.utime(older, (1, 1))
    assert main(["bench", "--synthetic", "--batch", "1", *ARGS, "--json", str(tmp_path / "b.json")]) == 0
    assert "new.onnx" in capsys.readouterr().err
    assert json.loads((tmp_path / "b.json").read_text())["artifact"]["path"].endswith("new.onnx")


def test_default_sweep_is_what_the_artifact_accepts_and_runs_are_kept(tiny_artifacts, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from grace_edge.export.onnx_export import export_onnx

    weights, _ = tiny_artifacts
    fixed = export_onnx(weights, tmp_path / "b1.onnx", imgsz=64, simplify=False)  # batch 1 only
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert main(["bench", str(fixed), "--synthetic", "--stage-iters", "0", *ARGS]) == 0
    captured = capsys.readouterr()
    assert "skipped" not in captured.err and "skipped" not in captured.out  # no noise about sizes nobody asked for
    first, second = tmp_path / "runs" / "bench" / "b1.json", tmp_path / "runs" / "bench" / "b1-2.json"
    assert [r["batch"] for r in json.loads(first.read_text())["results"]] == [1]
    assert second.is_file() and second.with_suffix(".png").is_file() and first.with_suffix(".md").is_file()
    assert f"wrote {Path('runs/bench/b1-2.json')}" in captured.out
