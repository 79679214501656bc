"""``pip install grace-edge`` is the lean runtime: a fresh venv with it alone runs ``grace-edge predict`` on a prebuilt
artifact, and torch (or any other [train] package) is neither installed nor imported.

The venv gets grace-edge's wheel with ``--no-deps`` plus exactly the runtime requirements from setup.cfg, at the
versions this environment has (so pip takes them from its cache when it can). The artifact is exported here, in
the full environment, and handed over as a file, as a workstation hands one to a line box.
"""

from __future__ import annotations

import configparser
import importlib.metadata
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from packaging.requirements import Requirement

from tests.helpers.models import gray_image, randomized_model

REPO = Path(__file__).resolve().parents[1]
TRAIN_ONLY = ("torch", "torchvision", "ultralytics", "onnxsim", "faster_coco_eval", "PIL", "matplotlib")

# Runs inside the lean venv: refuse (and record) any import of a [train] package, run the CLI, report sys.modules.
PROBE = """
import importlib.abc, json, sys
BANNED = set(sys.argv[1].split(","))
tried = []
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BANNED:
            tried.append(name)
            raise ImportError(f"{name} imported by the lean runtime")
sys.meta_path.insert(0, Refuse())
from grace_edge.cli import main
code = main(sys.argv[2:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BANNED)
print(json.dumps({"code": code, "tried": tried, "loaded": loaded}))
"""


def runtime_requirements() -> list[str]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    pinned = []
    for line in cfg["options"]["install_requires"].strip().splitlines():
        name = Requirement(line).name
        pinned.append(f"{name}=={importlib.metadata.version(name)}")
    return pinned


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, **kw)
    assert done.returncode == 0, f"{cmd[:4]}...: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done


def test_runtime_requirements_have_no_training_packages() -> None:
    names = {Requirement(r).name for r in runtime_requirements()}
    assert names == {"numpy", "onnxruntime", "onnx", "opencv-python", "pyyaml"}  # the OpenCV [train] brings too


def test_lean_venv_predicts_without_torch(tmp_path: Path) -> None:
    from grace_edge.export.onnx_export import export_onnx

    artifact = export_onnx(randomized_model("grace-n", seed=0, imgsz=96), tmp_path / "grace-n.onnx", imgsz=96,
                           raw_input=(200, 200, 1), conf_thres=0.15)
    images = tmp_path / "frames"
    images.mkdir()
    for i in range(2):
        cv2.imwrite(str(images / f"frame{i}.png"), gray_image(70 + i))

    t0 = time.monotonic()
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "wheel"), str(REPO)])
    venv = tmp_path / "lean"
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    run(pip + ["--no-deps", str(next((tmp_path / "wheel").glob("grace_edge-*.whl")))])
    run(pip + runtime_requirements())
    install_s = time.monotonic() - t0
    print(f"lean runtime install: {install_s:.0f} s", file=sys.stderr)

    freeze = run([str(venv / "bin" / "python"), "-m", "pip", "freeze"]).stdout.lower()
    assert not [p for p in ("torch", "ultralytics", "onnxsim", "pillow") if f"\n{p}==" in "\n" + freeze], freeze

    out = tmp_path / "pred"
    probe = run([str(venv / "bin" / "python"), "-c", PROBE, ",".join(TRAIN_ONLY), "predict", str(artifact),
                 str(images), "--out", str(out), "--save-json"], cwd=tmp_path)
    report = json.loads(probe.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "tried": [], "loaded": []}
    assert sorted(p.name for p in out.glob("*.json")) == ["frame0.json", "frame1.json"]

    # the console script too, and a [train] command names its extra in one line
    run([str(venv / "bin" / "grace-edge"), "predict", str(artifact), str(images / "frame0.png"),
         "--out", str(tmp_path / "pred2"), "--no-draw"], cwd=tmp_path)
    export = subprocess.run([str(venv / "bin" / "grace-edge"), "export", "--weights", "x.pt"], capture_output=True,
                            text=True, cwd=tmp_path)
    assert export.returncode == 2 and export.stderr.count("\n") == 1, export.stderr
    assert "pip install 'grace-edge[train]'" in export.stderr
