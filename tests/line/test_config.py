"""The line config: every problem one line naming the file and the key, all of them at once; good configs become
the frozen dataclasses, thresholds in the one format (grace_edge.thresholds) from a file or inline."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
import yaml
from tests.helpers.line import line_config

from grace_edge.line.config import ConfigError, load_config
from grace_edge.thresholds import Thresholds, save_thresholds


def load(tmp_path: Path, config: dict | str):
    path = tmp_path / "line.yaml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return load_config(path)


def problems(tmp_path: Path, config: dict | str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, config)
    label = f"line config {tmp_path / 'line.yaml'}: "
    assert all(line.startswith(label) and "\n" not in line for line in info.value.lines)
    return [line.removeprefix(label) for line in info.value.lines]


@pytest.mark.parametrize("change, expected", [
    ({"sinks": {"mqtt": {"port": "abc"}}}, "sinks.mqtt.port: 'abc' is not an integer"),
    ({"sinks": {"mqtt": {"port": 70000}}}, "sinks.mqtt.port: 70000 is outside 1..65535"),
    ({"queue": {"policy": "drop-newest"}}, "queue.policy: 'drop-newest' is not one of block, drop-oldest"),
    ({"source": {"kind": "webcam"}}, "source.kind: 'webcam' is not one of folder, video, camera, rtsp, genicam"),
    ({"source": {"kind": "folder", "path": "nowhere"}}, "source.path: "),
    ({"source": {"kind": "camera", "path": "front"}}, "source.path: 'front' is not a camera index (0, 1, ...)"),
    ({"source": {"stall_s": 0}}, "source.stall_s: 0.0 is below 0.01"),
    ({"source": {"loop": "yes"}}, "source.loop: 'yes' is not true or false"),
    ({"model": {"path": "missing.onnx"}}, "model.path: "),
    ({"model": {"backend": "cuda"}}, "model.backend: 'cuda' is not one of auto, onnxruntime, openvino, tensorrt"),
    ({"verdict": {"thresholds": {"default": 1.5}}}, "verdict.thresholds: default = 1.5 is not a score between 0 and 1"),
    ({"verdict": {"min_area": 10}}, "verdict.min_area: unknown key (allowed: thresholds, min_area_px, roi_mask)"),
    ({"sinks": {"opcua": {"mode": "client"}}}, "sinks.opcua.nodes: client mode writes the PLC's nodes"),
    ({"sinks": {"opcua": {"endpoint": "http://plc"}}}, "sinks.opcua.endpoint: 'http://plc' is not an opc.tcp:// URL"),
    ({"sinks": {"jsonl": None}}, "sinks: no sink for the verdicts"),
    ({"colour": "red"}, "colour: unknown key"),
])
def test_each_bad_key_is_one_line_naming_it(tmp_path: Path, model: Path, change: dict, expected: str) -> None:
    found = problems(tmp_path, line_config(tmp_path, model, **change))
    assert len(found) == 1 and found[0].startswith(expected), found


def test_all_problems_are_reported_together(tmp_path: Path, model: Path) -> None:
    config = line_config(tmp_path, model, queue={"size": 0, "policy": "x"}, http={"port": -1})
    found = problems(tmp_path, config)
    assert [line.split(":")[0] for line in found] == ["queue.size", "queue.policy", "http.port"]


def test_not_yaml_or_not_a_mapping_is_one_line(tmp_path: Path) -> None:
    assert problems(tmp_path, "model: [unclosed") [0].startswith("not valid YAML at line 1")
    assert problems(tmp_path, "- a list") == ["not a mapping of settings (see examples/line_neu_det.yaml)"]


def test_a_good_config_becomes_frozen_dataclasses_with_paths_from_the_config_folder(tmp_path: Path,
                                                                                    model: Path) -> None:
    save_thresholds(tmp_path / "thr.yaml", Thresholds({"crazing": 0.4}, default=0.6))
    config = load(tmp_path, line_config(tmp_path, model, verdict={"thresholds": "thr.yaml", "min_area_px": 25},
                                        sinks={"mqtt": {"spool_dir": "sp"}}))
    assert config.verdict.thresholds.for_class("crazing") == 0.4 and config.verdict.thresholds.default == 0.6
    assert config.verdict.min_area_px == 25.0
    assert config.mqtt.spool_dir == str(tmp_path / "sp") and config.mqtt.port == 1883
    assert config.queue.policy == "block" and config.opcua is None
    with pytest.raises(FrozenInstanceError):
        config.queue.size = 3  # type: ignore[misc]


def test_the_shipped_example_config_is_valid(neu_det: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "line_neu_det.yaml"
    text = example.read_text()
    assert "../shared/data/NEU-DET/IMAGES" in text
    try:
        load_config(example)
    except ConfigError as err:  # only the model, exported by the README's command, may be missing here
        assert all("model.path" in line for line in err.lines), err.lines
