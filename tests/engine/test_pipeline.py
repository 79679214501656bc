"""``grace-edge build`` on this CPU-only machine: the plain CPU fallback, clean errors, the gate, no stray files.

``grace_edge.cli.STAGE_CLI_MODULES`` is narrowed to the build stage so these tests exercise ``main`` (one-line
errors, exit 2) independently of the other stages' commands.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import grace_edge.cli
from grace_edge.artifact import read_onnx_meta
from grace_edge.engine.pipeline import CPU_FALLBACK


@pytest.fixture(autouse=True)
def build_stage_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grace_edge.cli, "STAGE_CLI_MODULES", ("grace_edge.engine.cli",))


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from grace_edge.export.onnx_export import export_onnx
    from grace_edge.model.build import build_model

    return export_onnx(build_model("grace-n"), tmp_path_factory.mktemp("cli") / "grace-n.onnx", imgsz=64)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = grace_edge.cli.main(["build", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def fake_evaluate(maps: dict[str, float]):
    """A FAKE evaluator with fixed mAP per file name: tests the build's gate handling, not evaluation."""
    class Result:
        def __init__(self, value: float) -> None:
            self.map50_95, self.images = value, 6

        def to_dict(self) -> dict:
            return {"map50_95": self.map50_95}

    def evaluate(weights, data, **kwargs):
        return Result(maps.get(Path(str(weights)).name, maps["*"]))  # str: an in-memory model names its origin

    return evaluate


def test_untrained_fp16_build_falls_back_to_cpu_plainly(tmp_path: Path, capsys) -> None:
    out = tmp_path / "engines" / "m.onnx"
    code, stdout, stderr = run(["--fp16", "--model", "grace-n", "--imgsz", "64", "--out", str(out)], capsys)
    assert code == 0, stderr
    assert CPU_FALLBACK in stdout and ("not installed" in stdout or "no CUDA GPU" in stdout)
    assert "UNTRAINED grace-n" in stderr and "latency" in stderr
    assert "accuracy gate did not run" in stdout
    meta = read_onnx_meta(out)
    assert meta.precision == "fp16" and meta.backend["runtime"] == "onnxruntime-cpu" and meta.imgsz == (64, 64)
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.onnx"]  # nothing else left behind

    from grace_edge.runtime import Detector

    with Detector.open(out, conf=0.001) as det:
        assert det.backend == "onnxruntime"
        (rows,) = det.detect_arrays(np.full((200, 200), 128, np.uint8))
        assert rows.ndim == 2 and rows.shape[1] == 6


def test_gate_failure_exits_2_and_writes_nothing(fp32_onnx, tmp_path, capsys, monkeypatch) -> None:
    import grace_edge.evaluate

    monkeypatch.setattr(grace_edge.evaluate, "evaluate", fake_evaluate({fp32_onnx.name: 0.50, "*": 0.47}))
    data = tmp_path / "data.yaml"
    data.write_text("val: images\n")
    out = tmp_path / "out" / "m.onnx"
    code, stdout, stderr = run(["--fp16", "--onnx", str(fp32_onnx), "--data", str(data), "--out", str(out)], capsys)
    assert code == 2
    assert stderr.count("\n") == 1 and "accuracy gate FAILED" in stderr and "3.00 pt" in stderr
    assert not out.exists() and (not out.parent.exists() or not any(out.parent.iterdir()))

    code, stdout, stderr = run(["--fp16", "--onnx", str(fp32_onnx), "--data", str(data), "--out", str(out),
                                "--max-map-drop", "3.5"], capsys)
    assert code == 0 and "accuracy gate passed" in stdout and out.is_file()


def test_no_gate_warns(fp32_onnx, tmp_path, capsys) -> None:
    out = tmp_path / "m.onnx"
    code, stdout, _ = run(["--fp16", "--onnx", str(fp32_onnx), "--no-gate", "--out", str(out)], capsys)
    assert code == 0 and "--no-gate" in stdout and "NOT checked" in stdout and out.is_file()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--fp16", "--require-tensorrt"], "--require-tensorrt"),
        (["--int8"], "--int8 needs --data"),
        (["--fp16", "--out", "x.engine"], "must end in .onnx"),
        (["--fp16", "--weights", "missing.pt"], "missing.pt: file not found"),
        (["--fp16", "--workspace", "0"], "--workspace"),
        (["--fp16", "--onnx", "m.onnx", "--topk", "300"], "--topk with --onnx: m.onnx is already exported"),
        (["--fp16", "--onnx", "m.onnx", "--imgsz", "64", "--float-input"], "--imgsz, --raw-input/--float-input with"),
    ],
)
def test_bad_requests_fail_in_one_line_before_any_work(argv, message, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = run(argv, capsys)
    assert code == 2 and message in stderr and stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_weights_build_at_their_training_size_with_the_asked_topk(tmp_path, capsys) -> None:
    from tests.helpers.models import trained_checkpoint

    weights = trained_checkpoint(tmp_path / "w.pt", imgsz=64)  # no --imgsz: 64, not 640
    out = tmp_path / "m.onnx"
    code, stdout, stderr = run(["--fp32", "--weights", str(weights), "--topk", "200", "--out", str(out)], capsys)
    assert code == 0, stderr
    assert "imgsz 64" in stdout and "NMS top-200" in stdout
    assert read_onnx_meta(out).imgsz == (64, 64)
    import onnx

    assert {p.key: p.value for p in onnx.load(str(out)).metadata_props}["nms"].startswith("cluster-nms topk=200 ")


def test_topk_beyond_tensorrt_limit_is_one_line(tmp_path, capsys) -> None:
    from tests.helpers.models import trained_checkpoint

    weights = trained_checkpoint(tmp_path / "w.pt")
    code, _, stderr = run(["--fp32", "--weights", str(weights), "--topk", "5000", "--out", str(tmp_path / "m.onnx")],
                          capsys)
    assert code == 2 and stderr.count("\n") == 1 and "topk 5000" in stderr and "3839" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pt"]


def test_batch_range_needs_a_dynamic_onnx(fp32_onnx, tmp_path, capsys) -> None:
    code, _, stderr = run(["--fp32", "--onnx", str(fp32_onnx), "--batch", "1:4:8", "--out", str(tmp_path / "m.onnx")], capsys)
    assert code == 2 and "fixed batch of 1" in stderr
    with pytest.raises(SystemExit) as info:
        grace_edge.cli.main(["build", "--fp32", "--batch", "4:2:8"])
    assert info.value.code == 2 and "MIN <= OPT <= MAX" in capsys.readouterr().err


def test_int8_layout_follows_the_target_and_says_which(fp32_onnx, tiny_dataset, tmp_path, capsys, monkeypatch) -> None:
    """On a CPU target --int8 makes the CPU layout (uint8 activations), and the log names the layout."""
    import onnx
    from onnx import numpy_helper

    import grace_edge.evaluate

    monkeypatch.setattr(grace_edge.evaluate, "evaluate", fake_evaluate({"*": 0.5}))
    out = tmp_path / "m.onnx"
    code, stdout, stderr = run(["--int8", "--onnx", str(fp32_onnx), "--data", str(tiny_dataset), "--calib-images", "2",
                                "--out", str(out)], capsys)
    assert code == 0, stderr
    assert "INT8 for onnxruntime: CPU layout" in stdout
    assert read_onnx_meta(out).source["int8_layout"] == "cpu"
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(out)).graph.initializer}
    zero_points = [inits[n.input[2]] for n in onnx.load(str(out)).graph.node
                   if n.op_type == "QuantizeLinear" and n.input[0] not in inits]
    assert zero_points and all(z.dtype == np.uint8 for z in zero_points)


def test_openvino_backend_gates_the_hinted_precision(fp32_onnx, tmp_path, capsys, monkeypatch) -> None:
    """--backend openvino --inference-precision bf16: the gate runs even for FP32, with the candidate on OpenVINO."""
    import grace_edge.evaluate

    seen = []

    def evaluate(weights, data, **kwargs):
        seen.append(kwargs.get("runtime"))
        return fake_evaluate({"*": 0.5})(weights, data)

    monkeypatch.setattr(grace_edge.evaluate, "evaluate", evaluate)
    monkeypatch.setattr("grace_edge.runtime.openvino_backend.cpu_supports", lambda precision: True)
    data = tmp_path / "data.yaml"
    data.write_text("val: images\n")
    out = tmp_path / "m.onnx"
    code, stdout, stderr = run(["--fp32", "--onnx", str(fp32_onnx), "--data", str(data), "--out", str(out),
                                "--backend", "openvino", "--inference-precision", "bf16"], capsys)
    assert code == 0, stderr
    assert "accuracy gate passed: fp32 on OpenVINO (bf16 hint)" in stdout and "--backend openvino" in stdout
    from grace_edge.runtime.options import RuntimeOptions

    assert seen == [None, RuntimeOptions(backend="openvino", inference_precision="bf16")]


def test_gate_report_is_written_pass_or_fail(fp32_onnx, tmp_path, capsys, monkeypatch) -> None:
    """Real evaluations of stubbed predictions (tests/helpers/hand_case.py; the FP16 graph 'loses' 0.png's best
    detection): the comparison report lands in --gate-report, also when the gate fails and no artifact is written."""
    import grace_edge.evaluate
    from grace_edge.evaluate import evaluate_predictions
    from tests.helpers import hand_case

    data = hand_case.write_dataset(tmp_path / "hand")

    def evaluate(weights, data_yaml, **kwargs):
        preds = hand_case.predictions()
        if Path(str(weights)).name != fp32_onnx.name:  # str: an in-memory model names its origin
            preds["0.png"] = preds["0.png"][1:]
        return evaluate_predictions(preds, data_yaml, settings={"weights": str(weights)})

    monkeypatch.setattr(grace_edge.evaluate, "evaluate", evaluate)
    out, report = tmp_path / "out" / "m.onnx", tmp_path / "gate"
    code, _, stderr = run(["--fp16", "--onnx", str(fp32_onnx), "--data", str(data), "--out", str(out),
                           "--gate-report", str(report)], capsys)
    assert code == 2 and f"report {report / 'report.html'}" in stderr and not out.exists()
    assert (report / "report.html").is_file() and (report / "2-fp16" / "thresholds.yaml").is_file()
    code, stdout, _ = run(["--fp16", "--onnx", str(fp32_onnx), "--data", str(data), "--out", str(out),
                           "--gate-report", str(tmp_path / "gate2"), "--max-map-drop", "100"], capsys)
    assert code == 0 and out.is_file() and (tmp_path / "gate2" / "report.html").is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.onnx"]  # the build's own outputs are unchanged
