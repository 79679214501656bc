"""Issue 11 item 3: ONNX artifacts carry a digest of graph + weights, checked at open; metadata types are checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from grace_edge.artifact import (
    ENGINE_MAGIC,
    ONNX_DIGEST_KEY,
    ONNX_METADATA_KEY,
    ArtifactMeta,
    read_onnx_meta,
    unpack_engine,
)
from grace_edge.cli import main
from grace_edge.errors import ArtifactError
from grace_edge.runtime import Detector
from tests.helpers.fake_graph import make_fake_onnx


@pytest.fixture()
def onnx_path(tmp_path: Path) -> Path:
    return make_fake_onnx(tmp_path / "fake.onnx")


def _props(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def _rewrite(path: Path, change) -> Path:
    model = onnx.load(str(path))
    change(model)
    onnx.save(model, str(path))
    return path


def test_exported_artifact_is_sealed_and_opens(onnx_path: Path) -> None:
    assert len(_props(onnx.load(str(onnx_path)))[ONNX_DIGEST_KEY]) == 64
    with Detector.open(onnx_path) as det:
        assert det.names


def _zero_first_weight(model: onnx.ModelProto) -> None:
    init = model.graph.initializer[0]
    init.CopyFrom(numpy_helper.from_array(np.zeros_like(numpy_helper.to_array(init)), init.name))


def _set_prop(key: str, value: str):
    def change(model: onnx.ModelProto) -> None:
        for p in model.metadata_props:
            if p.key == key:
                p.value = value
    return change


def _drop_digest(model: onnx.ModelProto) -> None:
    kept = [(p.key, p.value) for p in model.metadata_props if p.key != ONNX_DIGEST_KEY]
    del model.metadata_props[:]
    for k, v in kept:
        model.metadata_props.add(key=k, value=v)


@pytest.mark.parametrize("change, message", [
    (_zero_first_weight, "do not match the digest"),
    (lambda m: setattr(m.graph.node[0], "name", "renamed"), "do not match the digest"),
    (lambda m: setattr(m, "producer_name", "someone"), "do not match the digest"),
    (_drop_digest, "no grace-edge digest"),
])
def test_modified_artifact_is_refused_at_open(onnx_path: Path, change, message: str) -> None:
    _rewrite(onnx_path, change)
    for open_it in (lambda: read_onnx_meta(onnx_path), lambda: Detector.open(onnx_path)):
        with pytest.raises(ArtifactError, match=message):
            open_it()


def test_flipped_bytes_are_refused(onnx_path: Path) -> None:
    data = bytearray(onnx_path.read_bytes())
    weights = data.rfind(b"\x00" * 64)  # inside a tensor's raw bytes, past the graph structure
    for i in range(weights, weights + 64):
        data[i] ^= 0x5A
    onnx_path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=str(onnx_path)):
        Detector.open(onnx_path)


def test_commands_refuse_a_modified_artifact(onnx_path: Path, tmp_path: Path, capsys) -> None:
    import cv2

    _rewrite(onnx_path, _zero_first_weight)
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.zeros((48, 64), np.uint8))
    for argv in (["predict", str(onnx_path), str(images), "--out", str(tmp_path / "p")],
                 ["bench", str(onnx_path), "--synthetic", "--iters", "1", "--json", str(tmp_path / "b.json")],
                 ["build", "--fp16", "--onnx", str(onnx_path), "--no-gate", "--out", str(tmp_path / "x.onnx")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "do not match the digest" in err and len(err.splitlines()) == 1, (argv[0], err)


@pytest.mark.parametrize("field, value, message", [
    ("names", "crazing", "names is \"crazing\", not a list of class-name strings"),
    ("names", ["a", 3], "not a list of class-name strings"),
    ("imgsz", 640, "imgsz is 640, not a list of integers"),
    ("max_det", "100", "max_det"),
    ("conf_thres", None, "conf_thres"),
    ("source", ["x"], "source"),
])
def test_metadata_types_are_checked(field: str, value, message: str) -> None:
    meta = json.loads(ArtifactMeta(names=["a"], imgsz=(64, 64), input_format="uint8_nhwc",
                                   input_shape=(64, 64, 1)).to_json())
    meta[field] = value
    with pytest.raises(ArtifactError, match=message):
        ArtifactMeta.from_json(json.dumps(meta), origin="x.onnx")


@pytest.mark.parametrize("header", [b"[1, 2]", b"42", b'"text"', b"null"])
def test_engine_header_that_is_not_an_object_is_one_line(tmp_path: Path, header: bytes) -> None:
    import struct

    path = tmp_path / "x.engine"
    path.write_bytes(ENGINE_MAGIC + struct.pack("<I", len(header)) + header + b"engine")
    with pytest.raises(ArtifactError, match="corrupt engine header"):
        unpack_engine(path)


@pytest.mark.parametrize("value", ["[1, 2]", "42", '"x"'])
def test_onnx_metadata_json_that_is_not_an_object_is_one_line(onnx_path: Path, value: str) -> None:
    from grace_edge.artifact import set_onnx_meta

    def change(model):
        meta = read_onnx_meta(onnx_path)
        set_onnx_meta(model, meta)
        _set_prop(ONNX_METADATA_KEY, value)(model)
        _drop_digest(model)
        from grace_edge.artifact import onnx_digest
        model.metadata_props.add(key=ONNX_DIGEST_KEY, value=onnx_digest(model))  # a validly sealed bad header

    _rewrite(onnx_path, change)
    with pytest.raises(ArtifactError, match="not an object"):
        read_onnx_meta(onnx_path)


def _seal_with_external_data(path: Path) -> Path:
    """Move every initializer of the sealed model at ``path`` into ``<name>.data``, then seal it again (the
    digest then covers the graph and the external-data references, not the side file's bytes)."""
    from grace_edge.artifact import set_onnx_meta

    meta = read_onnx_meta(path)
    onnx.save_model(onnx.load(str(path)), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=path.name + ".data", size_threshold=0)
    model = onnx.load(str(path), load_external_data=False)
    set_onnx_meta(model, meta)
    path.write_bytes(model.SerializeToString())
    return path.with_name(path.name + ".data")


def test_external_data_is_refused_at_open(onnx_path: Path, tmp_path: Path, capsys) -> None:
    # issue 22 item 1: the side file was outside the digest; a replaced .data ran with other weights, silently
    side = _seal_with_external_data(onnx_path)
    side.write_bytes(np.random.default_rng(0).bytes(side.stat().st_size))
    for open_it in (lambda: read_onnx_meta(onnx_path), lambda: Detector.open(onnx_path)):
        with pytest.raises(ArtifactError, match=rf"{onnx_path}: .*external data file 'fake.onnx.data'"):
            open_it()
    assert main(["bench", str(onnx_path), "--synthetic", "--iters", "1", "--json", str(tmp_path / "b.json")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_the_runtime_loads_the_bytes_that_were_checked(onnx_path: Path, tmp_path: Path, monkeypatch,
                                                      backend: str) -> None:
    # issue 22 item 1: the runtime re-read the file after the digest check; a file swapped in between ran
    if backend == "openvino":
        pytest.importorskip("openvino")
    import grace_edge.artifact as artifact

    image = np.full((48, 64), 200, np.uint8)
    with Detector.open(onnx_path, conf=0.01, backend=backend) as det:
        want = det.detect_arrays(image)[0]
    other = make_fake_onnx(tmp_path / "other.onnx", shift=False)  # validly sealed, other outputs
    checked = artifact.onnx_meta

    def check_then_swap(model, origin):
        meta = checked(model, origin)
        onnx_path.write_bytes(other.read_bytes())  # after the check, before the runtime loads
        return meta

    monkeypatch.setattr(artifact, "onnx_meta", check_then_swap)
    with Detector.open(onnx_path, conf=0.01, backend=backend) as det:
        np.testing.assert_array_equal(det.detect_arrays(image)[0], want)


def test_a_steps_model_is_unsealed_in_memory_and_sealed_when_written(onnx_path: Path, tmp_path: Path,
                                                                     monkeypatch) -> None:
    """A model a build step makes (FP16, INT8) is handed on unhashed; it gets its digest once, when it becomes a file
    (or is asked for it), and the file it writes opens like any sealed artifact."""
    import grace_edge.artifact as artifact

    hashes = []
    real = artifact.onnx_digest
    monkeypatch.setattr(artifact, "onnx_digest", lambda m: hashes.append(1) or real(m))
    fp32 = artifact.OnnxModel.read(onnx_path)
    hashes.clear()
    proto = onnx.ModelProto()
    proto.CopyFrom(fp32.proto)
    meta = ArtifactMeta.from_json(fp32.meta.to_json())
    made = artifact.OnnxModel.made(proto, meta, "a step's model")
    assert not made.sealed and ONNX_DIGEST_KEY not in _props(made.proto) and ONNX_METADATA_KEY in _props(made.proto)
    assert hashes == []
    with pytest.raises(ArtifactError, match="no grace-edge digest"):  # an unsealed model is never taken from a file
        artifact.onnx_meta(made.proto, "unsealed")
    out = made.write(tmp_path / "step.onnx")
    assert made.sealed and len(hashes) == 1
    assert made.digest == _props(onnx.load(str(out)))[ONNX_DIGEST_KEY] and len(hashes) == 1  # not hashed again
    assert read_onnx_meta(out).to_json() == meta.to_json()
