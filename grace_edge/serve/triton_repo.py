"""Write a standard NVIDIA Triton model repository from grace-edge artifacts (``grace-edge triton-repo``).

Layout (one model, one version per artifact, numbered 1.. in the order given)::

    OUT/README.md                 how to serve it, and which Triton release the plans need
    OUT/<name>/config.pbtxt       every field from the artifacts' metadata
    OUT/<name>/1/model.plan       a TensorRT engine, our header stripped (Triton's tensorrt backend)
    OUT/<name>/1/model.onnx       an ONNX artifact (Triton's onnxruntime backend), or with backend "python":
    OUT/<name>/1/model.py         grace-edge's runtime inside Triton's python backend, running
    OUT/<name>/1/artifact.onnx    ... this artifact (or artifact.engine), unchanged

The model keeps the graph's contract: input ``images`` (uint8 HxWxC camera frames, or float32 CxHxW letterboxed),
outputs ``detections`` [max_det, 6] and ``num_detections``. Triton allows no empty dims, so ``num_detections`` is
declared ``dims: [1]`` with ``reshape: { shape: [] }``: the graph gives [B], clients receive [B, 1]. The artifacts'
metadata travels in ``parameters["grace_edge"]`` (JSON, per version), which is how :class:`RemoteDetector` knows the
class names, input format and score floor of what it talks to.

The whole repository is built in a temporary folder beside ``OUT`` and renamed into place: a Triton server watching
``OUT`` never sees half a repository.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from grace_edge.artifact import (INPUT_NAME, OUTPUT_COUNT, OUTPUT_DETECTIONS, ArtifactMeta, read_onnx,
                                 unpack_engine)
from grace_edge.errors import ArtifactError, InputError

BACKENDS = ("auto", "tensorrt", "onnxruntime", "python")
META_PARAMETER = "grace_edge"  # config.pbtxt parameter holding {"<version>": ArtifactMeta JSON}
PYTHON_MODEL_SOURCE = Path(__file__).with_name("triton_python_model.py")
# the metadata fields that fix a model's tensors: every version of one model must agree on them
_IO_FIELDS = ("names", "input_format", "input_shape", "imgsz", "max_det")


@dataclass(frozen=True)
class Version:
    """One artifact as one model version."""

    number: int
    source: Path
    kind: str  # "engine" or "onnx"
    meta: ArtifactMeta


def _read_artifact(path: Path, number: int) -> Version:
    from grace_edge.runtime.backends import artifact_kind  # one rule for "is this an engine", shared with Detector

    kind = artifact_kind(path)
    if kind == "engine":
        meta, _ = unpack_engine(path)  # header, size and hash checked here, before anything is written
    else:
        from grace_edge.artifact import read_onnx_meta

        meta = read_onnx_meta(path)
    return Version(number, path, kind, meta)


def _pick_backend(versions: list[Version], backend: str) -> str:
    kinds = {v.kind for v in versions}
    if len(kinds) > 1:
        raise InputError("artifacts mix TensorRT engines and ONNX models; one Triton model serves one kind "
                         "(write two repositories, or two --name models)")
    kind = kinds.pop()
    if backend == "auto":
        return "tensorrt" if kind == "engine" else "onnxruntime"
    if backend == "tensorrt" and kind != "engine":
        raise InputError("--backend tensorrt serves .engine files from 'grace-edge build'; these are ONNX models")
    if backend == "onnxruntime" and kind != "onnx":
        raise InputError("--backend onnxruntime serves .onnx models; these are TensorRT engines")
    return backend


def _check_versions(versions: list[Version], backend: str) -> None:
    first = versions[0]
    for v in versions[1:]:
        for name in _IO_FIELDS:
            if getattr(v.meta, name) != getattr(first.meta, name):
                raise InputError(
                    f"{v.source}: {name} {getattr(v.meta, name)!r} differs from {first.source}'s "
                    f"{getattr(first.meta, name)!r}; versions of one model must share their inputs and outputs"
                )
    for v in versions:
        if backend != "python" and v.meta.batch[0] != 1:
            raise InputError(
                f"{v.source}: batch range {v.meta.batch} starts above 1, but Triton's {backend} backend sends any "
                "batch from 1 up; export with --dynamic-batch (or use --backend python, which pads)"
            )


def _quote(text: str) -> str:
    """A protobuf text-format string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dims(values: Sequence[int]) -> str:
    return "[ " + ", ".join(str(int(v)) for v in values) + " ]"


def config_pbtxt(name: str, versions: list[Version], backend: str, instances: int = 1,
                 queue_delay_us: int = 500, serve_all: bool = False) -> str:
    """The ``config.pbtxt`` text for ``versions`` served by ``backend``; every value from their metadata."""
    meta = versions[0].meta
    max_batch = min(v.meta.batch[2] for v in versions)
    preferred = sorted({min(v.meta.batch[1], max_batch) for v in versions} | {max_batch})
    kind = "KIND_GPU" if any(v.kind == "engine" for v in versions) else "KIND_CPU"
    policy = "all { }" if serve_all else "latest { num_versions: 1 }"
    metadata = json.dumps({str(v.number): json.loads(v.meta.to_json()) for v in versions}, sort_keys=True)
    lines = [
        "# Written by 'grace-edge triton-repo' from the artifacts' metadata; regenerate rather than edit.",
        f"name: {_quote(name)}",
        f"backend: {_quote(backend)}",
        f"max_batch_size: {max_batch}",
        f"version_policy: {{ {policy} }}",
        "input [",
        f"  {{ name: {_quote(INPUT_NAME)} data_type: {meta.input.triton_config_type} dims: {_dims(meta.input_shape)} }}",
        "]",
        "output [",
        f"  {{ name: {_quote(OUTPUT_DETECTIONS)} data_type: TYPE_FP32 dims: {_dims((meta.max_det, 6))} }},",
        "  # the graph gives one count per image ([B]); Triton needs a non-empty dims, so clients get [B, 1]",
        f"  {{ name: {_quote(OUTPUT_COUNT)} data_type: TYPE_INT32 dims: [ 1 ] reshape: {{ shape: [ ] }} }}",
        "]",
        "dynamic_batching {",
        f"  preferred_batch_size: {_dims(preferred)}",
        f"  max_queue_delay_microseconds: {int(queue_delay_us)}",
        "}",
        f"instance_group [ {{ kind: {kind} count: {int(instances)} }} ]",
        f"parameters {{ key: {_quote(META_PARAMETER)} value: {{ string_value: {_quote(metadata)} }} }}",
    ]
    return "\n".join(lines) + "\n"


def _readme(name: str, versions: list[Version], backend: str) -> str:
    trt = sorted({v.meta.backend.get("tensorrt", "unknown") for v in versions if v.kind == "engine"})
    lines = [
        f"# Triton model repository: {name}",
        "",
        "Written by `grace-edge triton-repo`; regenerate it rather than editing `config.pbtxt` by hand.",
        "",
        "| version | artifact | precision | batch (min, opt, max) | input |",
        "| --- | --- | --- | --- | --- |",
    ]
    for v in versions:
        lines.append(f"| {v.number} | {v.source.name} | {v.meta.precision} | {tuple(v.meta.batch)} | "
                     f"{v.meta.input_format} {tuple(v.meta.input_shape)} |")
    lines += ["", f"Backend: `{backend}`."]
    if backend == "tensorrt":
        lines += [
            "",
            "**TensorRT plans are tied to one TensorRT version and one GPU.** A plan runs only on a Triton release",
            "built with the same TensorRT version that built it (see NVIDIA's Triton release notes / support matrix",
            f"for the release's TensorRT), on the same GPU model. These plans were built with TensorRT {', '.join(trt)}:",
            "serve them with the matching `nvcr.io/nvidia/tritonserver:<yy.mm>-py3` release, or rebuild the engines",
            "with 'grace-edge build' inside that release's container (its TensorRT) and write this repository again.",
        ]
    if backend == "python":
        lines += ["", "The python backend runs grace-edge's own runtime: the server's Python needs "
                      "`pip install grace-edge` (and numpy < 2 for the python backend stub of Triton <= 2.5x)."]
    lines += [
        "",
        "Serve (GPU):",
        "",
        "    docker run --rm --gpus all -p 8000:8000 -p 8001:8001 -p 8002:8002 \\",
        "      -v $PWD:/models nvcr.io/nvidia/tritonserver:<yy.mm>-py3 tritonserver --model-repository=/models",
        "",
        "Connect a line controller:",
        "",
        "    from grace_edge.runtime import Detector",
        f"    det = Detector.open(\"grpc://SERVER:8001/{name}\")   # or http://SERVER:8000/{name}",
        "",
    ]
    return "\n".join(lines)


def _write_version(model_dir: Path, v: Version, backend: str) -> None:
    vdir = model_dir / str(v.number)
    vdir.mkdir(parents=True)
    if backend == "tensorrt":
        _, plan = unpack_engine(v.source)
        (vdir / "model.plan").write_bytes(plan)  # the bare plan: Triton's tensorrt backend knows no header
    elif backend == "onnxruntime":
        _, model = read_onnx(v.source)
        (vdir / "model.onnx").write_bytes(model)  # the checked bytes: Triton's onnxruntime backend checks no digest
    else:
        shutil.copyfile(PYTHON_MODEL_SOURCE, vdir / "model.py")
        shutil.copyfile(v.source, vdir / ("artifact.engine" if v.kind == "engine" else "artifact.onnx"))


def _check_name(name: str) -> str:
    if not name or name in (".", "..") or any(c in name for c in "/\\ \t\n") or name.startswith("."):
        raise InputError(f"model name {name!r} must be one plain folder name (letters, digits, -, _)")
    return name


def write_triton_repo(artifacts: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *,
                      name: str = "grace", backend: str = "auto", instances: int = 1, queue_delay_us: int = 500,
                      serve_all: bool = False, force: bool = False) -> Path:
    """Write a Triton model repository at ``out`` serving ``artifacts`` as versions 1..N of model ``name``.

    ``backend``: ``auto`` (engines -> ``tensorrt``, ONNX -> ``onnxruntime``) or ``python`` (grace-edge's runtime
    inside Triton's python backend, for servers without those backends). ``serve_all`` loads every version (default:
    the latest only; older ones stay for rollback). An existing ``out`` is replaced only with ``force``."""
    if not artifacts:
        raise InputError("give at least one artifact (.onnx or .engine)")
    if backend not in BACKENDS:
        raise InputError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if isinstance(instances, bool) or not isinstance(instances, int) or instances < 1:
        raise InputError(f"instances {instances!r} must be an integer >= 1")
    if queue_delay_us < 0:
        raise InputError(f"queue delay {queue_delay_us} us must be >= 0")
    name = _check_name(name)
    out = Path(out)
    if out.exists() and not force:
        raise InputError(f"{out} already exists; pass --force to replace it")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    versions = [_read_artifact(Path(p), i) for i, p in enumerate(artifacts, start=1)]
    backend = _pick_backend(versions, backend)
    _check_versions(versions, backend)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        model_dir = staging / name
        model_dir.mkdir()
        (model_dir / "config.pbtxt").write_text(
            config_pbtxt(name, versions, backend, instances, queue_delay_us, serve_all), encoding="utf-8")
        for v in versions:
            _write_version(model_dir, v, backend)
        (staging / "README.md").write_text(_readme(name, versions, backend), encoding="utf-8")
        os.chmod(staging, 0o755)  # mkdtemp makes 0700; a server in a container reads it as another user
        _swap_into_place(staging, out)
    except OSError as e:
        raise ArtifactError(f"{out}: cannot write the repository ({e.strerror or e})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _swap_into_place(staging: Path, out: Path) -> None:
    """Rename ``staging`` to ``out``; an old ``out`` is moved aside first and removed only after the rename."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.replace(out, old / out.name)
    try:
        os.replace(staging, out)
    except OSError:
        if old is not None:
            os.replace(old / out.name, out)  # put the previous repository back
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
