"""The contract between export, build and runtime: graph I/O names, metadata, and the engine file header.

Every artifact (ONNX model or TensorRT engine) carries an :class:`ArtifactMeta`:
- in an ONNX model, as JSON in ``metadata_props["grace_edge"]``, next to ``metadata_props["grace_edge_sha256"]``:
  the SHA-256 of the whole model (graph, weights, every other property) serialized deterministically without that
  one entry, so a flipped byte or an edited tensor is rejected at open instead of running with wrong weights.
  The artifact is that one file: a tensor stored as ONNX external data (a side file outside the digest) is
  refused, and the runtimes load the very bytes that were checked (:func:`read_onnx`), never the path again;
- in an engine file, as a header: ``MAGIC``, a little-endian uint32 header length, the JSON header, then the
  serialized engine. The header holds the engine's size and SHA-256, so a truncated or foreign file is
  rejected before TensorRT deserialises it.

Graph outputs are fixed-shape: ``detections`` ``[B, max_det, 6]`` float32 rows ``(x1, y1, x2, y2, score, class)``
and ``num_detections`` ``[B]`` int32, the count of valid rows (valid rows come first, by score).
Box coordinates are in the pixels of the graph input: with ``uint8_nhwc`` input that is the camera image itself;
with ``float32_nchw`` input it is the letterboxed network input, which the host maps back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from grace_edge.errors import ArtifactError, InputError

FORMAT_VERSION = 1
INPUT_NAME = "images"
OUTPUT_DETECTIONS = "detections"
OUTPUT_COUNT = "num_detections"
ONNX_METADATA_KEY = "grace_edge"
ONNX_DIGEST_KEY = "grace_edge_sha256"
ENGINE_MAGIC = b"GRACEENG"
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class InputFormat:
    """What the graph input is, in the words of every runtime that feeds it: the one record of it.

    ``uint8_nhwc``: raw camera pixels (N, H, W, C), converted inside the graph; ``float32_nchw``: a letterboxed
    network input (N, 3, H, W), /255, made on the host."""

    name: str
    numpy: str  # numpy dtype name of the host buffer
    layout: str  # "NHWC" or "NCHW"
    onnx: int  # onnx.TensorProto element type
    onnxruntime: str  # NodeArg.type as ONNX Runtime reports it
    openvino: str  # ov.Type name
    triton: str  # Triton wire datatype; its config.pbtxt type is "TYPE_" + this

    @property
    def dtype(self) -> Any:
        import numpy as np

        return np.dtype(self.numpy)

    @property
    def triton_config_type(self) -> str:
        return f"TYPE_{self.triton}"

    def shape(self, height: int, width: int, channels: int) -> tuple[int, int, int]:
        """The graph input without its batch dimension."""
        return (height, width, channels) if self.layout == "NHWC" else (channels, height, width)


INPUT_FORMATS = {f.name: f for f in (
    InputFormat("uint8_nhwc", "uint8", "NHWC", 2, "tensor(uint8)", "u8", "UINT8"),  # TensorProto.UINT8 = 2
    InputFormat("float32_nchw", "float32", "NCHW", 1, "tensor(float)", "f32", "FP32"),  # TensorProto.FLOAT = 1
)}


@dataclass
class ArtifactMeta:
    """What a runtime must know about an artifact; stored inside it."""

    names: list[str]
    imgsz: tuple[int, int]  # network input (height, width)
    input_format: str  # a key of INPUT_FORMATS
    input_shape: tuple[int, int, int]  # graph input without batch: (H, W, C) for uint8_nhwc, (C, H, W) for float
    max_det: int = 100
    conf_thres: float = 0.25
    iou_thres: float = 0.7
    precision: str = "fp32"
    batch: tuple[int, int, int] = (1, 1, 1)  # (min, opt, max)
    model: str = "grace-s"
    source: dict[str, str] = field(default_factory=dict)  # sha256 of weights / onnx / calibration
    backend: dict[str, str] = field(default_factory=dict)  # e.g. tensorrt version, gpu name, compute capability
    format_version: int = FORMAT_VERSION
    grace_edge_version: str = ""

    def __post_init__(self) -> None:
        _check_types(self)
        self.imgsz = tuple(int(v) for v in self.imgsz)  # type: ignore[assignment]
        self.input_shape = tuple(int(v) for v in self.input_shape)  # type: ignore[assignment]
        self.batch = tuple(int(v) for v in self.batch)  # type: ignore[assignment]
        if not self.grace_edge_version:
            from grace_edge import __version__

            self.grace_edge_version = __version__
        self.validate()

    def validate(self) -> None:
        problems = []
        if not self.names:
            problems.append("names is empty")
        if self.input_format not in INPUT_FORMATS:
            problems.append(f"input_format {self.input_format!r} not in {tuple(INPUT_FORMATS)}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision {self.precision!r} not in {PRECISIONS}")
        if len(self.imgsz) != 2 or min(self.imgsz) <= 0:
            problems.append(f"imgsz {self.imgsz} is not (height, width) > 0")
        if len(self.input_shape) != 3 or min(self.input_shape) <= 0:
            problems.append(f"input_shape {self.input_shape} is not 3 positive sizes")
        b0, b1, b2 = self.batch if len(self.batch) == 3 else (0, 0, 0)
        if not 1 <= b0 <= b1 <= b2:
            problems.append(f"batch {self.batch} is not 1 <= min <= opt <= max")
        if self.max_det <= 0:
            problems.append(f"max_det {self.max_det} must be positive")
        if self.format_version != FORMAT_VERSION:
            problems.append(f"format_version {self.format_version} is not {FORMAT_VERSION} (made by another grace-edge)")
        if problems:
            raise ArtifactError("invalid grace-edge metadata: " + "; ".join(problems))

    @property
    def input(self) -> InputFormat:
        """The :class:`InputFormat` record of ``input_format``."""
        return INPUT_FORMATS[self.input_format]

    @property
    def raw_input(self) -> bool:
        """True when the graph takes camera pixels as they are (and converts them itself)."""
        return self.input.layout == "NHWC"

    @property
    def channels(self) -> int:
        return self.input_shape[2] if self.raw_input else self.input_shape[0]

    @property
    def frame_size(self) -> tuple[int, int]:
        """(height, width) of the images the graph input holds: the camera's for raw input, else the network's."""
        return tuple(self.input_shape[:2]) if self.raw_input else tuple(self.imgsz)  # type: ignore[return-value]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, origin: str = "artifact") -> "ArtifactMeta":
        try:
            data: dict[str, Any] = json.loads(text)
            if not isinstance(data, dict):
                raise ArtifactError(f"grace-edge metadata is a JSON {type(data).__name__}, not an object")
            known = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in known})
        except ArtifactError as e:
            raise ArtifactError(f"{origin}: {e}") from None
        except (ValueError, TypeError) as e:
            raise ArtifactError(f"{origin}: grace-edge metadata is not valid JSON of the expected form ({e})") from None


def match_classes(model_names: list[str], dataset_names: list[str], where: Any) -> list[str]:
    """How a model's classes meet a dataset's (val, the build's gate): by index. A different count is an
    InputError naming ``where``; different names give a warning line."""
    if len(model_names) != len(dataset_names):
        raise InputError(f"{where}: the model has {len(model_names)} classes {model_names}, "
                         f"the dataset has {len(dataset_names)} {dataset_names}")
    if model_names != dataset_names:
        return [f"class names differ: model {model_names}, dataset {dataset_names}; compared by index"]
    return []


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_str_map(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())


# field -> (check, what it must be); metadata comes from a file, so every type is checked before it is used
_FIELD_TYPES = {
    "names": (lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v), "a list of class-name strings"),
    "imgsz": (lambda v: isinstance(v, (list, tuple)) and all(_is_int(x) for x in v), "a list of integers"),
    "input_shape": (lambda v: isinstance(v, (list, tuple)) and all(_is_int(x) for x in v), "a list of integers"),
    "batch": (lambda v: isinstance(v, (list, tuple)) and all(_is_int(x) for x in v), "a list of integers"),
    "input_format": (lambda v: isinstance(v, str), "a string"),
    "precision": (lambda v: isinstance(v, str), "a string"),
    "model": (lambda v: isinstance(v, str), "a string"),
    "grace_edge_version": (lambda v: isinstance(v, str), "a string"),
    "max_det": (_is_int, "an integer"),
    "format_version": (_is_int, "an integer"),
    "conf_thres": (_is_number, "a number"),
    "iou_thres": (_is_number, "a number"),
    "source": (_is_str_map, "an object of strings"),
    "backend": (_is_str_map, "an object of strings"),
}


def _check_types(meta: ArtifactMeta) -> None:
    wrong = [f"{name} is {json.dumps(getattr(meta, name))[:60]}, not {what}"
             for name, (ok, what) in _FIELD_TYPES.items() if not ok(getattr(meta, name))]
    if wrong:
        raise ArtifactError("invalid grace-edge metadata: " + "; ".join(wrong))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_artifact_bytes(path: Path) -> bytes:
    """The bytes of an artifact file; an unreadable file (permissions, a folder) is one ArtifactError line."""
    try:
        return path.read_bytes()
    except OSError as e:
        raise ArtifactError(f"{path}: cannot read the file ({e.strerror or type(e).__name__})") from None


def pack_engine(meta: ArtifactMeta, engine: bytes) -> bytes:
    """Prefix a serialized TensorRT engine with the grace-edge header."""
    header = json.loads(meta.to_json())
    header["engine_size"] = len(engine)
    header["engine_sha256"] = hashlib.sha256(engine).hexdigest()
    blob = json.dumps(header, sort_keys=True).encode("utf-8")
    return ENGINE_MAGIC + struct.pack("<I", len(blob)) + blob + engine


def unpack_engine(path: str | Path) -> tuple[ArtifactMeta, bytes]:
    """Read an engine file, check its header, size and hash; return (metadata, serialized engine)."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: engine file not found")
    data = read_artifact_bytes(path)
    if not data.startswith(ENGINE_MAGIC):
        raise ArtifactError(
            f"{path}: not a grace-edge engine (no {ENGINE_MAGIC.decode()} header); build it with 'grace-edge build'"
        )
    n0 = len(ENGINE_MAGIC)
    if len(data) < n0 + 4:
        raise ArtifactError(f"{path}: truncated engine file (header cut off)")
    (size,) = struct.unpack("<I", data[n0 : n0 + 4])
    start = n0 + 4 + size
    if len(data) < start:
        raise ArtifactError(f"{path}: truncated engine file (header cut off)")
    try:
        header = json.loads(data[n0 + 4 : start])
    except ValueError:
        raise ArtifactError(f"{path}: corrupt engine header") from None
    if not isinstance(header, dict):
        raise ArtifactError(f"{path}: corrupt engine header (a JSON {type(header).__name__}, not an object)")
    engine = data[start:]
    if len(engine) != header.get("engine_size"):
        raise ArtifactError(
            f"{path}: truncated or padded engine: {len(engine)} bytes, header says {header.get('engine_size')}"
        )
    if hashlib.sha256(engine).hexdigest() != header.get("engine_sha256"):
        raise ArtifactError(f"{path}: engine bytes do not match the header's SHA-256 (corrupt file)")
    header.pop("engine_size"), header.pop("engine_sha256")
    return ArtifactMeta.from_json(json.dumps(header), origin=str(path)), engine


def onnx_digest(model: Any) -> str:
    """SHA-256 of ``model`` serialized deterministically with the digest entry removed (graph, weights, metadata)."""
    unsealed = type(model)()
    unsealed.CopyFrom(model)
    kept = [(p.key, p.value) for p in unsealed.metadata_props if p.key != ONNX_DIGEST_KEY]
    del unsealed.metadata_props[:]
    for key, value in kept:
        unsealed.metadata_props.add(key=key, value=value)
    return hashlib.sha256(unsealed.SerializeToString(deterministic=True)).hexdigest()


def _tensors(graph: Any) -> Iterator[Any]:
    """Every tensor a graph holds: initializers, sparse ones, node attributes, and those of its subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    for node in graph.node:
        for attr in node.attribute:
            yield from ([attr.t] if attr.HasField("t") else [])
            yield from attr.tensors
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _tensors(sub)


def _refuse_external_data(model: Any, origin: str) -> None:
    """The digest covers one file, so a tensor whose bytes live in a side file is refused. Exports never write
    external data: ONNX needs it only past protobuf's 2 GB, and the largest model here (grace-s, 9.44 M
    parameters, benchmarks/results/params.md) is about 38 MB in fp32, 50 times below."""
    from onnx import TensorProto

    for tensor in _tensors(model.graph):
        if tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data):
            where = {e.key: e.value for e in tensor.external_data}.get("location", "?")
            raise ArtifactError(f"{origin}: tensor {tensor.name!r} is in external data file {where!r}, outside the "
                                "model's digest; a grace-edge artifact is one file: export it again with "
                                "'grace-edge export'")


def onnx_meta(model: Any, origin: str) -> ArtifactMeta:
    """The :class:`ArtifactMeta` stored in an in-memory ``onnx.ModelProto``, after checking the model's digest
    (and that no tensor lives outside it, in external data)."""
    _refuse_external_data(model, origin)
    props = {p.key: p.value for p in model.metadata_props}
    if ONNX_METADATA_KEY not in props:
        raise ArtifactError(f"{origin}: ONNX model has no grace-edge metadata; export it with 'grace-edge export'")
    if ONNX_DIGEST_KEY not in props:
        raise ArtifactError(f"{origin}: ONNX model has no grace-edge digest (edited, or made by an older grace-edge); "
                            "export it again with 'grace-edge export'")
    if onnx_digest(model) != props[ONNX_DIGEST_KEY]:
        raise ArtifactError(f"{origin}: ONNX graph or weights do not match the digest in its metadata "
                            "(corrupt or modified file); export it again")
    return ArtifactMeta.from_json(props[ONNX_METADATA_KEY], origin=origin)


def set_onnx_meta(model: Any, meta: ArtifactMeta, *, seal: bool = True, **extra: str) -> None:
    """Store ``meta`` (and any ``extra`` string properties) in an in-memory ``onnx.ModelProto``, then seal it
    (``seal=False``: leave it unsealed, with no digest entry, for a model handed on in memory).

    Call it last: any later change to the model breaks the digest, and the artifact is then refused at open.
    """
    props = {p.key: p.value for p in model.metadata_props}
    props.update({ONNX_METADATA_KEY: meta.to_json(), **extra})
    props.pop(ONNX_DIGEST_KEY, None)
    del model.metadata_props[:]
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    if seal:
        model.metadata_props.add(key=ONNX_DIGEST_KEY, value=onnx_digest(model))


def read_onnx_meta(path: str | Path) -> ArtifactMeta:
    """Read the :class:`ArtifactMeta` stored in an ONNX model made by ``grace-edge export``."""
    return read_onnx(path)[0]


def read_onnx(path: str | Path) -> tuple[ArtifactMeta, bytes]:
    """Read an ONNX model made by ``grace-edge export``, check its digest; return (metadata, the checked bytes).

    A runtime loads those bytes, not the path: a file replaced after the check is never what runs.
    """
    model = OnnxModel.read(path)
    return model.meta, model.data


@dataclass
class OnnxModel:
    """A grace-edge ONNX model in memory, its digest checked once (read) or computed once (when a model a step made
    is first written or asked for its digest): what the build steps, the gate and the runtimes hand on to each other
    instead of writing a file and reading it back (Polygraphy's loaders). The digest guards a file against change;
    a model that never leaves memory needs none, so a step's model is not hashed on its way to the next step."""

    proto: Any  # onnx.ModelProto; when sealed, its digest entry matches it
    meta: ArtifactMeta
    origin: str  # names it in messages: a file path, or what made it
    _data: bytes | None = field(default=None, repr=False)

    @property
    def data(self) -> bytes:
        """The serialized model (what a runtime loads); made once."""
        if self._data is None:
            self._data = self.proto.SerializeToString()
        return self._data

    @property
    def digest(self) -> str:
        """The SHA-256 the model is sealed with (``metadata_props["grace_edge_sha256"]``); a step's model is sealed
        now, the first time it is asked."""
        self._seal()
        return next(p.value for p in self.proto.metadata_props if p.key == ONNX_DIGEST_KEY)

    @property
    def sealed(self) -> bool:
        """Whether the model carries its digest entry (read from a file, or sealed since it was made)."""
        return any(p.key == ONNX_DIGEST_KEY for p in self.proto.metadata_props)

    @property
    def name(self) -> str:
        return Path(self.origin).name

    def __str__(self) -> str:  # messages name the model by its origin, never by its bytes
        return self.origin

    @classmethod
    def read(cls, path: str | Path) -> "OnnxModel":
        """Read ``path`` once and check it: readable ONNX, one file (no external data), grace-edge metadata, digest."""
        import onnx

        path = Path(path)
        if not path.is_file():
            raise ArtifactError(f"{path}: ONNX file not found")
        data = read_artifact_bytes(path)
        try:
            model = onnx.load_from_string(data)
        except Exception as e:  # onnx raises DecodeError and others for a foreign or truncated file
            if data.startswith(b"PK\x03\x04") or path.suffix.lower() == ".pt":  # torch.save() writes a zip
                raise ArtifactError(f"{path}: a PyTorch checkpoint, not an ONNX model or engine; run "
                                    f"'grace-edge export --weights {path}' first") from None
            raise ArtifactError(f"{path}: not a readable ONNX model ({type(e).__name__})") from None
        return cls(model, onnx_meta(model, str(path)), str(path), data)

    @classmethod
    def made(cls, proto: Any, meta: ArtifactMeta, origin: str) -> "OnnxModel":
        """``proto`` with ``meta`` stored, not yet sealed: a step's model handed on in memory (the FP16 or INT8
        graph a build gates and then gives its backend, which seals the artifact). Sealed when written."""
        set_onnx_meta(proto, meta, seal=False)
        return cls(proto, meta, origin)

    def write(self, path: str | Path) -> Path:
        """Write the model to ``path`` atomically (never a half-written file), sealed."""
        from grace_edge.io import write_bytes

        self._seal()
        write_bytes(Path(path), self.data)
        return Path(path)

    def _seal(self) -> None:
        if not self.sealed:
            set_onnx_meta(self.proto, self.meta)
            self._data = None
