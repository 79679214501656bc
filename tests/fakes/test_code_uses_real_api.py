"""Every ``trt.X``, ``cuda.X`` (pycuda.driver) and ``cudart.X`` our package writes exists in every real version.

A static companion to test_fakes_match_real_api.py: the fakes stand in for objects our code gets back from calls, and
this checks the module-level names and enum members the code spells out directly, against the recorded surfaces of
TensorRT 10.3 and 11.4, pycuda 2026.1 and cuda-python 12.9 and 13.4. Names read through ``getattr(..., default)``
(e.g. ``BuilderFlag.TF32``) are version-dependent on purpose and not checked here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.fakes import surface

PACKAGE = Path(__file__).resolve().parents[2] / "grace_edge"
# The names our code binds the modules to -> (module in the surface files, the versions it must work with).
ALIASES = {
    "trt": ("tensorrt", ("tensorrt-10.3", "tensorrt-11.4")),
    "cuda": ("pycuda.driver", ("pycuda-2026.1",)),
    "driver": ("pycuda.driver", ("pycuda-2026.1",)),
    "cudart": ("cuda.bindings.runtime", ("cuda-python-12.9", "cuda-python-13.4")),
}


def _chains(tree: ast.AST) -> list[tuple[str, list[str], int]]:
    """(alias, [attr, attr...], line) for each outermost ``alias.a.b``, ``self.alias.a`` or ``x.y.alias.a``."""
    found = []
    inner = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue
        attrs, value = [], node
        while isinstance(value, ast.Attribute):
            attrs.insert(0, value.attr)
            inner.add(id(value.value))
            value = value.value
        if not isinstance(value, ast.Name):
            continue
        names = [value.id, *attrs]  # self.backend.cudart.cudaGraphLaunch -> alias cudart, [cudaGraphLaunch]
        at = next((i for i, name in enumerate(names[:-1]) if name in ALIASES), None)
        if at is not None:
            found.append((names[at], names[at + 1:], node.lineno))
    return [f for f in found if f[1]]


def _uses() -> list[tuple[str, str, list[str]]]:
    uses = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for alias, attrs, line in _chains(ast.parse(path.read_text())):
            uses.append((f"{path.relative_to(PACKAGE.parent)}:{line}", alias, attrs))
    return uses


def _missing(attrs: list[str], real: dict) -> str | None:
    """The first name of ``attrs`` that the real surface lacks (attributes of objects past it are not recorded)."""
    entry = real.get(attrs[0])
    if entry is None:
        return attrs[0]
    if len(attrs) > 1 and entry["kind"] in ("class", "enum") and attrs[1] not in entry.get("members", {}):
        if not attrs[1].startswith("__"):
            return f"{attrs[0]}.{attrs[1]}"
    return None


def test_the_package_uses_these_modules_at_all() -> None:
    aliases = {alias for _, alias, _ in _uses()}
    assert {"trt", "cuda", "cudart"} <= aliases  # otherwise the check below would pass vacuously


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_every_name_the_code_spells_exists_in_every_version(alias: str) -> None:
    module, labels = ALIASES[alias]
    problems = []
    for where, used, attrs in _uses():
        if used != alias:
            continue
        for label in labels:
            missing = _missing(attrs, surface.real_module(label, module))
            if missing:
                problems.append(f"{where}: {alias}.{missing} does not exist in {label}")
    assert problems == []


def test_the_check_catches_a_name_that_only_one_version_has() -> None:
    code = "def f(trt):\n    return trt.BuilderFlag.FP16, trt.IInt8EntropyCalibrator2\n"
    chains = _chains(ast.parse(code))
    real11 = surface.real_module("tensorrt-11.4", "tensorrt")
    assert [_missing(attrs, real11) for _, attrs, _ in chains] == ["BuilderFlag.FP16", "IInt8EntropyCalibrator2"]
    real10 = surface.real_module("tensorrt-10.3", "tensorrt")
    assert [_missing(attrs, real10) for _, attrs, _ in chains] == [None, None]
