"""Compare a fake module with the recorded surface of the real library it stands for (api_surface/*.json).

The surface files are made by tools/record_api_surface.py from the real binding wheels. ``mismatches()`` lists every
attribute a fake offers that the real version lacks, every enum value that differs, every method whose parameters
the real one would not accept, and every method that the real one has as a static (or the other way round).
A fake that passes this check can still behave differently from the real library: it only proves the names,
values and call shapes our code relies on exist. Only a GPU run proves the GPU path.
"""

from __future__ import annotations

import enum
import functools
import inspect
import json
import re
from pathlib import Path
from typing import Any

SURFACE_DIR = Path(__file__).resolve().parent / "api_surface"
KEPT_DUNDERS = {"__init__", "__call__", "__int__", "__len__", "__getitem__", "__enter__", "__exit__"}
BOOST_POSITIONAL = re.compile(r"^arg\d+$")  # Boost.Python names positional-only parameters arg1, arg2, ...


@functools.lru_cache(maxsize=None)
def load(label: str) -> dict:
    """The recorded surface file ``api_surface/<label>.json`` (e.g. ``tensorrt-10.3``)."""
    return json.loads((SURFACE_DIR / f"{label}.json").read_text())


def real_module(label: str, module: str) -> dict:
    return load(label)["modules"][module]["attributes"]


def _fake_params(func: Any) -> list[tuple[str, bool]] | None:
    """[(name, has_default)] of a Python function; None when it takes *args/**kwargs (accepts anything)."""
    params = []
    for p in inspect.signature(func).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            return None
        params.append((p.name, p.default is not p.empty))
    return params


def _accepts(fake: list[tuple[str, bool]], real: list[list]) -> bool:
    """True if calls the fake takes are calls the real overload takes, with the same parameter names."""
    if any(name.startswith("*") for name, _ in real):
        return True
    if len(fake) > len(real):
        return False  # the fake takes a parameter the real one does not have
    for i, (name, has_default) in enumerate(real):
        if i >= len(fake):
            if not has_default:
                return False  # the real one needs an argument the fake cannot take
            continue
        if name != fake[i][0] and not BOOST_POSITIONAL.match(name) and not (i == 0 and fake[i][0] == "self"):
            return False
    return True


def _check_callable(where: str, fake: Any, real: dict, is_static: bool) -> list[str]:
    problems = []
    kind = real["kind"]
    if kind not in ("method", "staticmethod", "function"):
        return [f"{where} is a callable in the fake but a {kind} in the real API"]
    if kind == "staticmethod" and not is_static and where.count(".") > 0:
        problems.append(f"{where} is static in the real API but an instance method in the fake")
    if kind == "method" and is_static:
        problems.append(f"{where} is an instance method in the real API but static in the fake")
    params = _fake_params(fake)
    overloads = real.get("signatures") or []
    if params is not None and overloads and not any(_accepts(params, o["params"]) for o in overloads):
        shown = ", ".join(n for n, _ in params)
        problems.append(f"{where}({shown}) matches no real signature: " + " | ".join(o["text"] for o in overloads))
    return problems


def _check_enum(where: str, fake: type, real: dict) -> list[str]:
    if real["kind"] != "enum":
        return [f"{where} is an enum in the fake but a {real['kind']} in the real API"]
    problems = []
    for name, member in fake.__members__.items():
        if name not in real["members"]:
            problems.append(f"{where}.{name} does not exist in the real API")
        elif int(member) != real["members"][name]:
            problems.append(f"{where}.{name} = {int(member)} in the fake, {real['members'][name]} in the real API")
    return problems


def _check_value(where: str, fake: Any, real: dict) -> list[str]:
    if real["kind"] == "enum_value":
        if isinstance(fake, int) and int(fake) != real["value"]:
            return [f"{where} = {int(fake)} in the fake, {real['value']} in the real API"]
        return []
    if real["kind"] in ("property", "value"):
        return []
    return [f"{where} is a value in the fake but a {real['kind']} in the real API"]


def check_attribute(where: str, fake: Any, real: dict | None, is_static: bool = False) -> list[str]:
    if real is None:
        return [f"{where} does not exist in the real API"]
    if isinstance(fake, enum.EnumMeta):
        return _check_enum(where, fake, real)
    if isinstance(fake, type):
        return check_class(where, fake, real)
    if real["kind"] == "no_constructor":
        return [f"{where}: the real class cannot be instantiated from Python"]
    if isinstance(fake, property):
        return [] if real["kind"] in ("property", "value", "enum_value") else [f"{where} is a property in the fake "
                                                                               f"but a {real['kind']} in the real API"]
    if callable(fake):
        return _check_callable(where, fake, real, is_static)
    return _check_value(where, fake, real)


def check_class(where: str, fake: type, real: dict) -> list[str]:
    if real["kind"] not in ("class", "enum"):
        return [f"{where} is a class in the fake but a {real['kind']} in the real API"]
    members = real.get("members", {})
    problems = []
    for name, raw in vars(fake).items():
        if name.startswith("__") and name not in KEPT_DUNDERS or name.startswith("_") and not name.startswith("__"):
            continue
        is_static = isinstance(raw, (staticmethod, classmethod))
        value = raw.__func__ if is_static else raw
        problems += check_attribute(f"{where}.{name}", value, members.get(name), is_static)
    return problems


def mismatches(fake_module: Any, label: str, module: str) -> list[str]:
    """Everything ``fake_module`` offers that the real ``module`` of version ``label`` does not, one line each.

    Checked: the fake module's public attributes, plus the classes it lists in ``__fake_classes__`` (objects our code
    gets back from calls, e.g. ``ICudaEngine``), each compared with the real class of the same name.
    """
    real = real_module(label, module)
    problems = []
    for name, value in vars(fake_module).items():
        if name.startswith("_") or inspect.ismodule(value):
            continue
        problems += check_attribute(f"{label}:{module}.{name}", value, real.get(name))
    for cls in getattr(fake_module, "__fake_classes__", ()):
        problems += check_attribute(f"{label}:{module}.{cls.__name__}", cls, real.get(cls.__name__))
    if "__version__" in vars(fake_module) and "__version__" not in real:
        problems.append(f"{label}:{module}.__version__ does not exist in the real API")
    return problems
