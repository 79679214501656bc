"""The optional GPU extras pin TensorRT and cuda-python to one CUDA major each, and the README names only real ones.

The bare ``tensorrt`` metapackage resolves to TensorRT 11 + CUDA 13 today (and ``cuda-python`` to 13.x), which JetPack 6.1+
(TensorRT 10.3, CUDA 12) and drivers before 580 cannot run; an extra must say which CUDA it is for.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


def _extras() -> dict[str, list[Requirement]]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    section = cfg["options.extras_require"]
    return {name: [Requirement(line) for line in section[name].strip().splitlines() if line.strip()] for name in section}


def _spec(extra: list[Requirement], name: str) -> str:
    found = [r for r in extra if r.name == name]
    assert len(found) == 1, f"{name} missing"
    return str(found[0].specifier)


def test_each_gpu_extra_is_for_one_cuda_major() -> None:
    extras = _extras()
    cu12, cu13 = extras["tensorrt-cu12"], extras["tensorrt-cu13"]
    assert _spec(cu12, "tensorrt-cu12") == "<11,>=10.3" and _spec(cu12, "cuda-python") == "<13,>=12.6"
    assert _spec(cu13, "tensorrt-cu13") == "<12,>=11" and _spec(cu13, "cuda-python") == "<14,>=13"
    assert {"pycuda", "cuda-python"} <= {r.name for r in extras["jetson"]}
    assert not any(r.name.startswith("tensorrt") for r in extras["jetson"])  # JetPack's own TensorRT
    for name, requirements in extras.items():
        for r in requirements:
            assert r.name != "tensorrt", f"[{name}] uses the 'tensorrt' metapackage (TensorRT 11 + CUDA 13)"
            if r.name == "cuda-python":
                assert "<" in str(r.specifier), f"[{name}] leaves cuda-python's CUDA major open"


def test_the_readme_installs_only_extras_that_exist() -> None:
    readme = (REPO / "README.md").read_text()
    used = set()
    for group in re.findall(r"""\.\[([\w,-]+)\]""", readme):
        used |= set(group.split(","))
    assert used and used <= set(_extras()), sorted(used - set(_extras()))
