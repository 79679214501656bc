"""``write_triton_repo``: layout, config fields from metadata, bare plans, versions, atomic writes, bad input.

The configs are also parsed as Triton ``ModelConfig`` protos, served and queried by a real tritonserver in
test_triton_server.py (that needs the Triton environment); here only what the main environment can check.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from grace_edge.cli import main
from grace_edge.errors import ArtifactError, InputError
from grace_edge.serve.triton_repo import write_triton_repo
from tests.helpers.fake_engine import PLAN, make_engine
from tests.helpers.fake_graph import make_fake_onnx


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fake_onnx(tmp_path_factory.mktemp("art") / "fake.onnx")


def config(repo: Path, name: str = "grace") -> str:
    return (repo / name / "config.pbtxt").read_text()


def meta_parameter(text: str) -> dict:
    line = next(ln for ln in text.splitlines() if ln.startswith("parameters"))
    literal = line.split("string_value: ", 1)[1].rsplit(" } }", 1)[0]
    return json.loads(json.loads(literal))  # a text-format string of our JSON reads back as a JSON string


def test_engine_versions_become_bare_plans_on_gpu(tmp_path: Path) -> None:
    e1 = make_engine(tmp_path / "a.engine", batch=(1, 4, 8))
    e2 = make_engine(tmp_path / "b.engine", batch=(1, 2, 16), conf_thres=0.3)
    repo = write_triton_repo([e1, e2], tmp_path / "repo")
    assert (repo / "grace" / "1" / "model.plan").read_bytes() == PLAN  # header stripped: the bare plan
    assert (repo / "grace" / "2" / "model.plan").read_bytes() == PLAN
    text = config(repo)
    assert 'backend: "tensorrt"' in text and "kind: KIND_GPU" in text
    assert "max_batch_size: 8" in text  # the smallest max batch of all versions
    assert "preferred_batch_size: [ 2, 4, 8 ]" in text
    assert 'name: "images" data_type: TYPE_UINT8 dims: [ 48, 64, 1 ]' in text
    assert 'name: "detections" data_type: TYPE_FP32 dims: [ 8, 6 ]' in text
    assert 'name: "num_detections" data_type: TYPE_INT32 dims: [ 1 ] reshape: { shape: [ ] }' in text
    assert "version_policy: { latest { num_versions: 1 } }" in text
    metas = meta_parameter(text)
    assert set(metas) == {"1", "2"} and metas["2"]["conf_thres"] == 0.3 and metas["1"]["names"] == ["a", "b"]
    readme = (repo / "README.md").read_text()
    assert "TensorRT 10.3.0" in readme and "same TensorRT version" in readme


def test_onnx_goes_to_onnxruntime_on_cpu_and_python_backend_runs_ours(onnx_model: Path, tmp_path: Path) -> None:
    repo = write_triton_repo([onnx_model], tmp_path / "ort", name="line7", serve_all=True)
    text = config(repo, "line7")
    assert 'backend: "onnxruntime"' in text and "kind: KIND_CPU" in text and "version_policy: { all { } }" in text
    assert (repo / "line7" / "1" / "model.onnx").read_bytes() == onnx_model.read_bytes()
    py = write_triton_repo([onnx_model], tmp_path / "py", backend="python")
    assert 'backend: "python"' in config(py)
    assert sorted(p.name for p in (py / "grace" / "1").iterdir()) == ["artifact.onnx", "model.py"]


def test_float_input_dims_are_chw(tmp_path: Path) -> None:
    path = make_fake_onnx(tmp_path / "f.onnx", input_format="float32_nchw", channels=3)
    text = config(write_triton_repo([path], tmp_path / "repo"))
    assert 'name: "images" data_type: TYPE_FP32 dims: [ 3, 48, 64 ]' in text


def test_existing_out_is_replaced_only_with_force_and_whole(onnx_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "repo"
    write_triton_repo([onnx_model], out)
    (out / "stale.txt").write_text("old")
    with pytest.raises(InputError, match="already exists"):
        write_triton_repo([onnx_model], out)
    write_triton_repo([onnx_model, onnx_model], out, force=True)
    assert not (out / "stale.txt").exists() and (out / "grace" / "2").is_dir()
    assert [p.name for p in tmp_path.iterdir()] == ["repo"]  # no staging or backup folder left beside it


def test_failed_write_leaves_nothing(onnx_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import grace_edge.serve.triton_repo as tr

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tr.shutil, "copyfile", full_disk)
    monkeypatch.setattr(tr.Path, "write_bytes", full_disk)  # the model's checked bytes are written, not copied
    with pytest.raises(ArtifactError, match="No space left"):
        write_triton_repo([onnx_model], tmp_path / "repo")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case, match", [
    ("mixed", "mix TensorRT engines and ONNX"),
    ("io", "names .* differs"),
    ("static", "starts above 1"),
    ("name", "plain folder name"),
    ("none", "at least one artifact"),
    ("backend", "serves .engine files"),
])  # fmt: skip
def test_bad_input_is_one_line(onnx_model: Path, tmp_path: Path, case: str, match: str) -> None:
    engine = make_engine(tmp_path / "a.engine")
    args = {
        "mixed": ([engine, onnx_model], {}),
        "io": ([onnx_model, make_fake_onnx(tmp_path / "n.onnx", names=["x", "y", "z", "u", "v", "w"])], {}),
        "static": ([make_fake_onnx(tmp_path / "s.onnx", static_batch=4)], {}),
        "name": ([onnx_model], {"name": "../up"}),
        "none": ([], {}),
        "backend": ([onnx_model], {"backend": "tensorrt"}),
    }[case]
    with pytest.raises(InputError, match=match) as e:
        write_triton_repo(args[0], tmp_path / "out", **args[1])
    assert "\n" not in str(e.value) and not (tmp_path / "out").exists()


def test_static_batch_is_fine_for_the_python_backend(tmp_path: Path) -> None:
    path = make_fake_onnx(tmp_path / "s.onnx", static_batch=4)
    assert "max_batch_size: 4" in config(write_triton_repo([path], tmp_path / "repo", backend="python"))


def test_cli_writes_a_repository(onnx_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "models"
    assert main(["triton-repo", str(onnx_model), str(onnx_model), "--out", str(out), "--name", "grace"]) == 0
    assert (out / "grace" / "2" / "model.onnx").is_file() and str(out) in capsys.readouterr().out
    assert main(["triton-repo", str(tmp_path / "missing.onnx"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing.onnx" in err and "not found" in err
    assert not os.path.exists(tmp_path / "x")
