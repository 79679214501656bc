"""A real Triton server: the tritonserver 2.51 bundled in nvidia-pytriton, with its python backend, on this CPU.

It runs from its own small environment (``.venv-triton``, made by ``.ci/triton_env.sh``: the lean runtime install +
``[triton]`` + nvidia-pytriton, numpy < 2 for the backend stub), found at ``$GRACE_TRITON_ENV`` or
``<repo>/.venv-triton``. Outside CI the tests skip without it; in CI (``CI=true``) they fail.

The client side runs in that environment too (triton_checks.py); this side makes the artifact (torch), the expected
results (the embedded Detector, here), starts the server and compares, so parity is checked across both environments.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from grace_edge.runtime import Detector
from grace_edge.serve.local_triton import start_local_triton
from grace_edge.serve.triton_repo import write_triton_repo
from tests.helpers.fake_engine import make_engine
from tests.helpers.fake_graph import make_fake_onnx
from tests.helpers.models import gray_image, randomized_model

REPO = Path(__file__).resolve().parents[2]
CHECKS = Path(__file__).with_name("triton_checks.py")
IMGSZ, RAW = 128, (200, 200, 1)
N_IMAGES = 12


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def triton_env() -> Path:
    env = Path(os.environ.get("GRACE_TRITON_ENV", REPO / ".venv-triton"))
    if not (env / "bin" / "python").exists():
        message = f"Triton environment not found at {env} (make it with: bash .ci/triton_env.sh)"
        if _in_ci():
            pytest.fail(message + ": CI must have it")
        pytest.skip(message)
    return env


def in_env(env: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environ["PYTHONPATH"] = str(REPO)  # this checkout's grace_edge, over whatever the env has installed
    run = subprocess.run([str(env / "bin" / "python"), *args], capture_output=True, text=True, timeout=timeout,
                         env=environ)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def grace_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained GRACE-n (statistics randomized to give detections), raw uint8 input, dynamic batch."""
    from grace_edge.export.onnx_export import export_onnx

    out = tmp_path_factory.mktemp("grace") / "grace-n.onnx"
    return export_onnx(randomized_model("grace-n", seed=0), out, imgsz=IMGSZ, raw_input=RAW, dynamic_batch=True,
                       conf_thres=0.15, iou_thres=0.6, max_det=50)


def test_generated_configs_parse_as_triton_model_config(triton_env: Path, grace_onnx: Path, tmp_path: Path) -> None:
    trt = write_triton_repo([make_engine(tmp_path / "a.engine")], tmp_path / "trt")
    ort = write_triton_repo([grace_onnx], tmp_path / "ort", serve_all=True)
    py = write_triton_repo([grace_onnx], tmp_path / "py", backend="python")
    paths = [str(r / "grace" / "config.pbtxt") for r in (trt, ort, py)]
    in_env(triton_env, str(CHECKS), "configs", str(tmp_path / "parsed.json"), *paths)
    parsed = json.loads((tmp_path / "parsed.json").read_text())
    t, o, p = (parsed[x] for x in paths)
    assert t["backend"] == "tensorrt" and t["instance_group"][0]["kind"] == "KIND_GPU"
    assert o["backend"] == "onnxruntime" and o["instance_group"][0]["kind"] == "KIND_CPU"
    assert p["backend"] == "python"
    assert int(o["max_batch_size"]) == 32 and "all" in o["version_policy"] and "latest" in t["version_policy"]
    assert o["input"][0] == {"name": "images", "data_type": "TYPE_UINT8", "dims": ["200", "200", "1"]}
    count = next(x for x in o["output"] if x["name"] == "num_detections")
    assert count["dims"] == ["1"] and count["data_type"] == "TYPE_INT32" and "reshape" in count
    assert o["output"][0]["dims"] == ["50", "6"] and "dynamic_batching" in o
    assert json.loads(o["parameters"]["grace_edge"]["string_value"])["1"]["input_format"] == "uint8_nhwc"


def test_eight_remote_clients_equal_the_embedded_detector(triton_env: Path, grace_onnx: Path, tmp_path: Path) -> None:
    images = [gray_image(50 + i, RAW[:2]) for i in range(N_IMAGES)]
    fake = make_fake_onnx(tmp_path / "fake.onnx")  # max batch 8: 19 frames are split 8 + 8 + 3
    fake_images = [np.random.default_rng(i).integers(0, 256, (48, 64), np.uint8) for i in range(19)]
    with Detector.open(grace_onnx, conf=0.25) as det:
        expected = det.detect_arrays(images)
    with Detector.open(fake, conf=0.25) as det:
        fake_expected = det.detect_arrays(fake_images)
    assert sum(len(r) for r in expected) > N_IMAGES, "the randomized model should detect something"

    repo = write_triton_repo([grace_onnx, grace_onnx], tmp_path / "repo", backend="python")
    extra = write_triton_repo([fake], tmp_path / "extra", name="fake", backend="python")
    shutil.move(str(extra / "fake"), str(repo / "fake"))  # two models in one repository
    np.savez(tmp_path / "images.npz", count=len(images), fake_count=len(fake_images),
             **{f"image_{i}": im for i, im in enumerate(images)},
             **{f"fake_{i}": im for i, im in enumerate(fake_images)})

    t0 = time.monotonic()
    server = start_local_triton(repo, triton_env, tmp_path / "tritonserver.log")
    try:
        args = {"grpc": server.grpc_url, "http": server.http_url, "model": "grace", "fake_model": "fake",
                "metrics": f"http://127.0.0.1:{server.metrics_port}/metrics", "images": str(tmp_path / "images.npz"),
                "pid": server.process.pid}
        (tmp_path / "args.json").write_text(json.dumps(args))
        in_env(triton_env, str(CHECKS), "clients", str(tmp_path / "remote.npz"), str(tmp_path / "args.json"))
    finally:
        code = server.stop()
        log = server.log_tail()
    print(f"server + clients: {time.monotonic() - t0:.1f} s", file=sys.stderr)
    assert code == 0, log  # SIGTERM: a clean shutdown
    report = json.loads((tmp_path / "remote.json").read_text())
    remote = np.load(tmp_path / "remote.npz")

    assert report["errors"] == [] and report["types"] == ["RemoteDetector"] and report["version"] == "2"
    for k in range(8):  # row for row, bit for bit: the same ONNX Runtime on the same graph
        for i, rows in enumerate(expected):
            np.testing.assert_array_equal(remote[f"client{k}_{i}"], rows, err_msg=f"client {k} image {i}")
        assert remote[f"client{k}_submit_classes"].tolist() == expected[0][:, 5].astype(int).tolist()
    for scheme in ("grpc", "http"):
        assert report[f"fake_max_batch_{scheme}"] == 8
        for i, rows in enumerate(fake_expected):
            np.testing.assert_array_equal(remote[f"fake_{scheme}_{i}"], rows)

    # dynamic batching really batched: fewer model executions than images inferred
    assert report["inference_count"] >= 8 * (N_IMAGES + 3)
    assert report["exec_count"] < report["inference_count"], report

    # bad input: the embedded Detector's own messages, and nothing sent
    assert report["requests_sent_by_bad_input"] == 0
    assert "size 10x10" in report["bad_input"]["size"] and "dtype is float32" in report["bad_input"]["dtype"]
    assert "empty batch" in report["bad_input"]["empty"]

    gone = report["gone"]
    assert gone and gone.startswith("ServerUnavailable: ") and "\n" not in gone and "no Triton server answers" in gone


def test_open_remote_detectors_reconnect_after_a_server_restart(triton_env: Path, tmp_path: Path) -> None:
    repo = write_triton_repo([make_fake_onnx(tmp_path / "fake.onnx")], tmp_path / "repo", name="fake",
                             backend="python")
    in_env(triton_env, str(CHECKS), "restart", str(tmp_path / "restart.json"), str(repo))
    assert json.loads((tmp_path / "restart.json").read_text()) == {"grpc": True, "http": True}


def test_a_server_killed_mid_stream_gives_whole_results_or_one_error_and_the_callers_recover(
    triton_env: Path, tmp_path: Path
) -> None:
    # issue 22 item 6: SIGKILL while 4 callers (gRPC and HTTP, detect and submit) stream 1-, 5- and 19-image batches
    # (19 = three requests of max batch 8), then a restart on the same ports, under the same open detectors
    fake = make_fake_onnx(tmp_path / "fake.onnx")
    repo = write_triton_repo([fake], tmp_path / "repo", name="fake", backend="python")
    in_env(triton_env, str(CHECKS), "faults", str(tmp_path / "faults.json"), str(repo), str(fake))
    report = json.loads((tmp_path / "faults.json").read_text())
    assert report["forbidden"] == [], report  # never a half result, never an error that is not a GraceEdgeError
    assert report["in_flight_at_kill"] >= 1, report  # the kill did cut requests in flight
    assert min(report["whole_before_kill"].values()) >= 3, report
    assert min(report["whole_after_restart"].values()) >= 3, report  # every caller recovered, none reopened
    assert report["errors"], report  # the outage was seen...
    for line in report["errors"]:  # ...as one clear line each
        assert "\n" not in line and line.startswith(("ServerUnavailable: ", "GraceEdgeError: ")), line
