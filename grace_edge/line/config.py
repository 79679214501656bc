"""The line service's configuration: one YAML file read with ``yaml.safe_load`` into frozen dataclasses.

Everything is checked before anything starts, and every problem is reported, one line each, naming the file and the
key (``line config x.yaml: sinks.mqtt.port: 'abc' is not an integer``), so a commissioning engineer fixes them all
in one pass. Relative paths are relative to the config file's folder. The keys and their defaults are in
examples/line_neu_det.yaml.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from grace_edge.errors import InputError
from grace_edge.thresholds import FORMAT as THRESHOLDS_FORMAT
from grace_edge.thresholds import Thresholds, load_thresholds, parse_thresholds

SOURCE_KINDS = ("folder", "video", "camera", "rtsp", "genicam")
POLICIES = ("block", "drop-oldest")
OPCUA_MODES = ("server", "client")
OPCUA_FIELDS = ("part_id", "verdict", "reason", "defects", "parts", "ok", "reject", "uninspected")
MQTT_ID_MAX = 60000  # paho numbers in-flight messages with 16-bit ids: the spool stays well below


class ConfigError(InputError):
    """Every problem of one config file; ``lines`` holds one message per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass(frozen=True)
class ModelConfig:
    path: str  # a .onnx/.engine file, or a grpc:// / http:// Triton URL
    backend: str = "auto"
    device: str = "auto"
    workers: int = 1
    shared_cpu: bool = False  # CPU backends: idle threads sleep instead of spinning (a CPU shared with other work)
    reopen_s: float = 1.0  # wait between tries to reopen a failed backend


@dataclass(frozen=True)
class SourceConfig:
    kind: str
    path: str = ""  # folder, video file, RTSP URL, camera index, or .cti file for genicam
    fps: float = 0.0  # replay/pacing rate; 0 = as fast as the source gives frames
    loop: bool = False  # folder/video: start again at the end
    count: int = 0  # stop after this many frames; 0 = until the source ends
    stall_s: float = 5.0  # no frame for this long = the source is reported stalled
    serial: str = ""  # genicam: which camera (default: the first one found)


@dataclass(frozen=True)
class VerdictConfig:
    thresholds: Thresholds = field(default_factory=Thresholds)
    min_area_px: float = 0.0
    roi_mask: str = ""  # an image: nonzero pixels are inspected


@dataclass(frozen=True)
class QueueConfig:
    size: int = 8
    policy: str = "block"
    in_flight: int = 2  # Detector.submit calls outstanding at once


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    topic_prefix: str = "grace-edge/line"
    client_id: str = ""
    keepalive: int = 30
    spool_dir: str = "spool"
    spool_max: int = 10000
    queue: int = 1000


@dataclass(frozen=True)
class OpcuaConfig:
    mode: str = "server"
    endpoint: str = "opc.tcp://127.0.0.1:4840/grace-edge/"
    namespace: str = "urn:grace-edge:line"
    nodes: Mapping[str, str] = field(default_factory=dict)  # client mode: field -> the PLC's node id
    queue: int = 1000


@dataclass(frozen=True)
class JsonlConfig:
    path: str = "events.jsonl"
    max_bytes: int = 10_000_000
    backups: int = 5
    queue: int = 10000


@dataclass(frozen=True)
class FramesConfig:
    dir: str = "frames"
    max_files: int = 500
    queue: int = 64


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 9108  # 0 = any free port


@dataclass(frozen=True)
class LineConfig:
    name: str
    model: ModelConfig
    source: SourceConfig
    verdict: VerdictConfig = field(default_factory=VerdictConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    mqtt: MqttConfig | None = None
    opcua: OpcuaConfig | None = None
    jsonl: JsonlConfig | None = None
    frames: FramesConfig | None = None
    http: HttpConfig | None = field(default_factory=HttpConfig)
    drain_s: float = 10.0  # on SIGTERM: how long in-flight frames and sink flushes may take
    path: str = ""  # the file this came from


class _Reader:
    """Reads typed values out of nested mappings, collecting one message per bad key instead of stopping."""

    def __init__(self, label: str, base: Path) -> None:
        self.label = label
        self.base = base
        self.errors: list[str] = []

    def error(self, key: str, message: str) -> None:
        self.errors.append(f"{self.label}: {key}: {message}")

    def section(self, data: Mapping[str, Any], key: str, allowed: tuple[str, ...], required: bool = False
                ) -> dict[str, Any] | None:
        value = data.get(key.rsplit(".", 1)[-1])
        if value is None:
            if required:
                self.error(key, "is missing")
            return None
        if not isinstance(value, dict):
            self.error(key, f"{value!r} is not a mapping")
            return None
        self.unknown(value, key, allowed)
        return value

    def unknown(self, data: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        for name in data:
            if name not in allowed:
                self.error(f"{key}.{name}" if key else str(name), f"unknown key (allowed: {', '.join(allowed)})")

    def get(self, data: Mapping[str, Any], key: str, default: Any, convert: Callable[[Any], Any], what: str) -> Any:
        name = key.rsplit(".", 1)[-1]
        if name not in data or data[name] is None:
            return default
        try:
            return convert(data[name])
        except (TypeError, ValueError):
            self.error(key, f"{data[name]!r} is not {what}")
            return default

    def integer(self, data: Mapping[str, Any], key: str, default: int, low: int = 0, high: int | None = None) -> int:
        value = self.get(data, key, default, _to_int, "an integer")
        if not (low <= value and (high is None or value <= high)):
            self.error(key, f"{value} is outside {low}..{high if high is not None else 'inf'}")
        return value

    def number(self, data: Mapping[str, Any], key: str, default: float, low: float = 0.0) -> float:
        value = self.get(data, key, default, _to_float, "a number")
        if value < low:
            self.error(key, f"{value} is below {low}")
        return value

    def text(self, data: Mapping[str, Any], key: str, default: str, required: bool = False) -> str:
        name = key.rsplit(".", 1)[-1]
        if required and not data.get(name):
            self.error(key, "is missing")
        return self.get(data, key, default, _to_str, "a string")

    def choice(self, data: Mapping[str, Any], key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(data, key, default)
        if value not in choices:
            self.error(key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def flag(self, data: Mapping[str, Any], key: str, default: bool) -> bool:
        return self.get(data, key, default, _to_bool, "true or false")

    def file(self, data: Mapping[str, Any], key: str, required: bool = False) -> str:
        """A path that must exist, made absolute against the config's folder."""
        raw = self.text(data, key, "", required)
        if not raw:
            return ""
        path = self.resolve(raw)
        if not Path(path).exists():
            self.error(key, f"{path}: no such file or folder")
        return path

    def out_dir(self, data: Mapping[str, Any], key: str, default: str) -> str:
        """A path the service will write under (a folder, or a file's folder), made absolute; checked writable."""
        path = Path(self.resolve(self.text(data, key, default)))
        folder = path.parent if path.is_file() else path
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            self.error(key, f"{path}: {folder} is not a writable folder")
        return str(path)

    def resolve(self, raw: str) -> str:
        path = Path(os.path.expanduser(raw))
        return str(path if path.is_absolute() else self.base / path)


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError
    return int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError
    number = float(value)
    if not math.isfinite(number):
        raise ValueError
    return number


def _to_str(value: Any) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise TypeError
    return str(value)


def _to_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


TOP_KEYS = ("line", "model", "source", "verdict", "queue", "sinks", "http", "drain_s")


def load_config(path: str | os.PathLike[str]) -> LineConfig:
    """The LineConfig of the YAML file at ``path``; a ConfigError with one line per problem otherwise."""
    import yaml

    path = Path(path)
    label = f"line config {path}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError([f"{label}: cannot be read ({err.strerror or err})"]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError([f"{label}: not valid YAML{at} ({type(err).__name__})"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{label}: not a mapping of settings (see examples/line_neu_det.yaml)"])
    return parse_config(data, label, path.resolve().parent, str(path))


def parse_config(data: Mapping[str, Any], label: str, base: Path, origin: str = "") -> LineConfig:
    r = _Reader(label, base)
    r.unknown(data, "", TOP_KEYS)
    name = r.text(data, "line", "line")
    model = _model(r, r.section(data, "model", tuple(ModelConfig.__dataclass_fields__), True) or {})
    source = _source(r, r.section(data, "source", tuple(SourceConfig.__dataclass_fields__), True) or {})
    verdict = _verdict(r, r.section(data, "verdict", ("thresholds", "min_area_px", "roi_mask")) or {})
    queue = _queue(r, r.section(data, "queue", ("size", "policy", "in_flight")) or {})
    sinks = r.section(data, "sinks", ("mqtt", "opcua", "jsonl", "frames")) or {}
    mqtt = _mqtt(r, r.section(sinks, "sinks.mqtt", tuple(MqttConfig.__dataclass_fields__)))
    opcua = _opcua(r, r.section(sinks, "sinks.opcua", tuple(OpcuaConfig.__dataclass_fields__)))
    jsonl = _jsonl(r, r.section(sinks, "sinks.jsonl", tuple(JsonlConfig.__dataclass_fields__)))
    frames = _frames(r, r.section(sinks, "sinks.frames", tuple(FramesConfig.__dataclass_fields__)))
    http = _http(r, data)
    drain_s = r.number(data, "drain_s", 10.0)
    if not (mqtt or opcua or jsonl):
        r.error("sinks", "no sink for the verdicts: configure at least one of mqtt, opcua, jsonl")
    if r.errors:
        raise ConfigError(r.errors)
    return LineConfig(name, model, source, verdict, queue, mqtt, opcua, jsonl, frames, http, drain_s, origin)


def _model(r: _Reader, d: dict[str, Any]) -> ModelConfig:
    from grace_edge.runtime.backends import BACKEND_CHOICES, is_server_url

    raw = r.text(d, "model.path", "", required=True)
    path = raw if is_server_url(raw) else (r.file(d, "model.path") if raw else "")
    return ModelConfig(path, r.choice(d, "model.backend", "auto", BACKEND_CHOICES), r.text(d, "model.device", "auto"),
                       r.integer(d, "model.workers", 1, 1, 64), r.flag(d, "model.shared_cpu", False),
                       r.number(d, "model.reopen_s", 1.0))


def _source(r: _Reader, d: dict[str, Any]) -> SourceConfig:
    kind = r.choice(d, "source.kind", "folder", SOURCE_KINDS) if "kind" in d else ""
    if not kind:
        r.error("source.kind", f"is missing (one of {', '.join(SOURCE_KINDS)})")
    if kind in ("folder", "video"):
        path = r.file(d, "source.path", required=True)
    elif kind == "genicam":
        path = r.file(d, "source.path")  # the .cti; empty: the GENICAM_GENTL64_PATH producers
    else:
        path = r.text(d, "source.path", "", required=True)
    if kind == "camera" and path and not path.isdigit():
        r.error("source.path", f"{path!r} is not a camera index (0, 1, ...)")
    return SourceConfig(kind, path, r.number(d, "source.fps", 0.0), r.flag(d, "source.loop", False),
                        r.integer(d, "source.count", 0), r.number(d, "source.stall_s", 5.0, low=0.01),
                        r.text(d, "source.serial", ""))


def _verdict(r: _Reader, d: dict[str, Any]) -> VerdictConfig:
    thresholds = Thresholds()
    raw = d.get("thresholds")
    try:
        if isinstance(raw, dict):  # inline: the thresholds file's default/classes keys
            thresholds = parse_thresholds({"format": THRESHOLDS_FORMAT, **raw}, label="verdict.thresholds")
        elif isinstance(raw, (int, float)) and not isinstance(raw, bool):  # one number for every class
            thresholds = Thresholds(default=raw)
        elif raw is not None:
            thresholds = load_thresholds(r.file(d, "verdict.thresholds") or r.resolve(str(raw)))
    except InputError as err:
        r.error("verdict.thresholds", str(err).removeprefix("thresholds: ").removeprefix("verdict.thresholds: "))
    return VerdictConfig(thresholds, r.number(d, "verdict.min_area_px", 0.0), r.file(d, "verdict.roi_mask"))


def _queue(r: _Reader, d: dict[str, Any]) -> QueueConfig:
    return QueueConfig(r.integer(d, "queue.size", 8, 1, 100000), r.choice(d, "queue.policy", "block", POLICIES),
                       r.integer(d, "queue.in_flight", 2, 1, 1024))


def _mqtt(r: _Reader, d: dict[str, Any] | None) -> MqttConfig | None:
    if d is None:
        return None
    k = "sinks.mqtt."
    return MqttConfig(r.text(d, k + "host", "127.0.0.1"), r.integer(d, k + "port", 1883, 1, 65535),
                      r.text(d, k + "topic_prefix", "grace-edge/line").rstrip("/"), r.text(d, k + "client_id", ""),
                      r.integer(d, k + "keepalive", 30, 5, 3600), r.out_dir(d, k + "spool_dir", "spool"),
                      r.integer(d, k + "spool_max", 10000, 1, MQTT_ID_MAX), r.integer(d, k + "queue", 1000, 1))


def _opcua(r: _Reader, d: dict[str, Any] | None) -> OpcuaConfig | None:
    if d is None:
        return None
    k = "sinks.opcua."
    mode = r.choice(d, k + "mode", "server", OPCUA_MODES)
    endpoint = r.text(d, k + "endpoint", OpcuaConfig.endpoint)
    if not endpoint.startswith("opc.tcp://"):
        r.error(k + "endpoint", f"{endpoint!r} is not an opc.tcp:// URL")
    nodes = d.get("nodes") or {}
    if not isinstance(nodes, dict):
        r.error(k + "nodes", f"{nodes!r} is not a mapping of field to node id")
        nodes = {}
    for key, node in nodes.items():
        if key not in OPCUA_FIELDS:
            r.error(f"{k}nodes.{key}", f"unknown field (allowed: {', '.join(OPCUA_FIELDS)})")
        elif not isinstance(node, str) or "=" not in node:
            r.error(f"{k}nodes.{key}", f"{node!r} is not a node id such as 'ns=2;s=Line.Verdict'")
    if mode == "client" and not nodes:
        r.error(k + "nodes", "client mode writes the PLC's nodes: map at least one field to a node id")
    return OpcuaConfig(mode, endpoint, r.text(d, k + "namespace", OpcuaConfig.namespace), dict(nodes),
                       r.integer(d, k + "queue", 1000, 1))


def _jsonl(r: _Reader, d: dict[str, Any] | None) -> JsonlConfig | None:
    if d is None:
        return None
    k = "sinks.jsonl."
    return JsonlConfig(r.out_dir(d, k + "path", "events.jsonl"), r.integer(d, k + "max_bytes", 10_000_000, 1000),
                       r.integer(d, k + "backups", 5, 0, 1000), r.integer(d, k + "queue", 10000, 1))


def _frames(r: _Reader, d: dict[str, Any] | None) -> FramesConfig | None:
    if d is None:
        return None
    k = "sinks.frames."
    return FramesConfig(r.out_dir(d, k + "dir", "frames"), r.integer(d, k + "max_files", 500, 1),
                        r.integer(d, k + "queue", 64, 1))


def _http(r: _Reader, data: Mapping[str, Any]) -> HttpConfig | None:
    if data.get("http") is False:  # no metrics endpoint
        return None
    d = r.section(data, "http", ("host", "port")) or {}
    return HttpConfig(r.text(d, "http.host", "127.0.0.1"), r.integer(d, "http.port", 9108, 0, 65535))
