"""``grace-edge export`` on the command line: happy path, the untrained-model warning, one-line errors."""

from __future__ import annotations

import onnx
import pytest
from onnx import numpy_helper

import grace_edge.cli as cli
from grace_edge.artifact import read_onnx_meta
from grace_edge.model.build import build_model
from tests.helpers.models import trained_checkpoint


@pytest.fixture(autouse=True)
def export_only_cli(monkeypatch):
    """Only this stage's commands: the test does not depend on the other stages' CLI modules."""
    monkeypatch.setattr(cli, "STAGE_CLI_MODULES", ("grace_edge.export.cli",))


def one_line_error(capsys, argv: list[str], *fragments: str) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("grace-edge export: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err


def test_export_from_weights(tmp_path, capsys):
    weights = trained_checkpoint(tmp_path / "w.pt", imgsz=64)
    out = tmp_path / "m.onnx"
    # no --imgsz: the checkpoint's training size, 64
    argv = ["export", "--weights", str(weights), "--float-input", "--max-det", "50", "--score-floor", "0.01",
            "--iou", "0.5", "--out", str(out), "--no-simplify"]  # fmt: skip
    assert cli.main(argv) == 0
    assert str(out) in capsys.readouterr().out
    meta = read_onnx_meta(out)
    assert (meta.input_format, meta.imgsz, meta.max_det, meta.conf_thres, meta.iou_thres) == (
        "float32_nchw", (64, 64), 50, 0.01, 0.5)  # fmt: skip


def test_export_without_weights_warns_loudly(tmp_path, capsys, monkeypatch):
    import grace_edge.model.build as build

    monkeypatch.setattr(build, "build_model", lambda name: build_model("grace-n"))  # grace-s is slower to trace
    out = tmp_path / "u.onnx"
    assert cli.main(["export", "--imgsz", "64", "--raw-input", "100x120x3", "--out", str(out), "--no-simplify"]) == 0
    assert "UNTRAINED" in capsys.readouterr().err
    assert read_onnx_meta(out).input_shape == (100, 120, 3)


def topk_ks(path) -> list[int]:
    """The K of every TopK node of an ONNX file (K comes from an initializer or a Constant node)."""
    model = onnx.load(str(path))
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return sorted(int(values[n.input[1]].reshape(-1)[0]) for n in model.graph.node if n.op_type == "TopK")


def test_topk_reaches_the_graph(tmp_path, capsys):
    weights = trained_checkpoint(tmp_path / "w.pt", imgsz=64)  # 84 anchors at 64 px: K = 50 is below them
    out = tmp_path / "m.onnx"
    argv = ["export", "--weights", str(weights), "--float-input", "--max-det", "20", "--topk", "50", "--out", str(out),
            "--no-simplify"]
    assert cli.main(argv) == 0, capsys.readouterr().err
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props["nms"].startswith("cluster-nms topk=50 ")
    assert topk_ks(out) == [20, 50]  # the max_det rows of the kept boxes, and the NMS candidates


def test_topk_beyond_tensorrt_limit_is_one_line(tmp_path, capsys):
    weights = trained_checkpoint(tmp_path / "w.pt")
    one_line_error(capsys, ["export", "--weights", str(weights), "--topk", "5000", "--out", str(tmp_path / "m.onnx")],
                   "topk 5000", "3839")
    assert not (tmp_path / "m.onnx").exists()


def test_missing_weights(tmp_path, capsys):
    one_line_error(capsys, ["export", "--weights", str(tmp_path / "gone.pt")], "gone.pt", "not found")


def test_corrupt_weights(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    assert cli.main(["export", "--weights", str(bad), "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    # one line is the contract; the checkpoint loader currently passes on a multi-line Ultralytics message
    assert "Traceback" not in err and err.startswith("grace-edge export: error: ") and "bad.pt" in err.splitlines()[0]
    assert not (tmp_path / "x.onnx").exists()


def test_bad_raw_input(capsys):
    one_line_error(capsys, ["export", "--raw-input", "200by200"], "--raw-input", "200by200")


def test_batch_and_dynamic_batch_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        cli.main(["export", "--batch", "2", "--dynamic-batch"])
