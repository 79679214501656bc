"""RemoteDetector pieces that need no server: URLs, routing from Detector.open, the server's config -> metadata.

The full client runs against a real tritonserver in test_triton_server.py.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from grace_edge.artifact import ArtifactMeta
from grace_edge.errors import ArtifactError, BackendUnavailable, InputError
from grace_edge.runtime import Detector
from grace_edge.runtime.triton_backend import ServerAddress, _check_config, _is_connection_error, _meta_from_config

META = ArtifactMeta(names=["a", "b"], imgsz=(48, 64), input_format="uint8_nhwc", input_shape=(48, 64, 1), max_det=8,
                    batch=(1, 4, 8))


def config(**change) -> dict:
    c = {
        "max_batch_size": 8,
        "input": [{"name": "images", "data_type": "TYPE_UINT8", "dims": ["48", "64", "1"]}],
        "output": [{"name": "detections"}, {"name": "num_detections"}],
        "parameters": {"grace_edge": {"string_value": json.dumps({"3": json.loads(META.to_json())})}},
    }
    c.update(change)
    return c


@pytest.mark.parametrize("url, want", [
    ("grpc://triton:8001/grace", ("grpc", "triton:8001", "grace", "")),
    ("http://10.0.0.5/line7/2", ("http", "10.0.0.5:8000", "line7", "2")),
    ("GRPC://h/grace/", ("grpc", "h:8001", "grace", "")),
])  # fmt: skip
def test_urls(url: str, want: tuple) -> None:
    a = ServerAddress.parse(url)
    assert (a.scheme, a.host, a.model, a.version) == want


@pytest.mark.parametrize("url", ["grpc://host", "grpc://host:8001/", "http://h/m/v2", "grpc:///grace"])
def test_bad_urls_are_one_line(url: str) -> None:
    with pytest.raises(InputError, match="expected") as e:
        ServerAddress.parse(url)
    assert "\n" not in str(e.value)


def test_detector_open_routes_urls_and_refuses_local_options() -> None:
    for local_option in ({"device": "cuda:0"}, {"backend": "openvino"}, {"shared_cpu": True}):
        with pytest.raises(InputError, match=r"apply to local artifacts; the server chooses its own"):
            Detector.open("grpc://h:8001/grace", **local_option)
    with pytest.raises(InputError, match="workers"):
        Detector.open("grpc://h:8001/grace", workers=0)


@pytest.mark.skipif(importlib.util.find_spec("tritonclient") is not None, reason="tritonclient is installed here")
def test_without_tritonclient_the_error_names_the_extra() -> None:
    with pytest.raises(BackendUnavailable, match=r"pip install 'grace-edge\[triton\]'"):
        Detector.open("grpc://127.0.0.1:9/grace")


def test_metadata_comes_from_the_served_version() -> None:
    meta = _meta_from_config(config(), "3", "grpc://h/grace")
    assert meta.names == ["a", "b"] and _check_config(config(), meta, "x") == 8
    with pytest.raises(ArtifactError, match="no entry for version 4"):
        _meta_from_config(config(), "4", "grpc://h/grace")
    with pytest.raises(ArtifactError, match="no grace-edge metadata; write its repository"):
        _meta_from_config(config(parameters={}), "3", "grpc://h/grace")


@pytest.mark.parametrize("change, match", [
    ({"max_batch_size": 0}, "max_batch_size 0"),
    ({"input": [{"name": "images", "data_type": "TYPE_FP32", "dims": ["48", "64", "1"]}]}, "not the grace-edge graph"),
    ({"input": [{"name": "images", "data_type": "TYPE_UINT8", "dims": ["64", "48", "1"]}]}, "not the grace-edge graph"),
    ({"output": [{"name": "detections"}]}, "not the grace-edge graph"),
])  # fmt: skip
def test_a_served_model_that_is_not_ours_is_refused(change: dict, match: str) -> None:
    with pytest.raises(ArtifactError, match=match):
        _check_config(config(**change), META, "grpc://h/grace")


class FakeServerError(Exception):
    def __init__(self, msg: str, status: str | None) -> None:
        self._msg, self._status = msg, status

    def message(self) -> str:
        return self._msg

    def status(self) -> str | None:
        return self._status


@pytest.mark.parametrize("msg, status, lost", [
    ("failed to connect to all addresses", "StatusCode.UNAVAILABLE", True),
    ("Server is stopping", "503", True),
    ("unexpected shape for input 'images'", "StatusCode.INVALID_ARGUMENT", False),
    ("Request for unknown model", "400", False),
])  # fmt: skip
def test_only_lost_connections_are_retried(msg: str, status: str, lost: bool) -> None:
    assert _is_connection_error(FakeServerError(msg, status)) is lost
