"""Record the real Python API surface of TensorRT, pycuda and cuda-python into JSON files the tests check fakes against.

Our CPU tests drive the TensorRT backend with FAKE ``tensorrt``/``pycuda``/``cuda.bindings`` modules (tests/fakes/).
A fake that offers a method the real library does not have would let a test pass while the GPU path breaks. So we
record what the real libraries offer -- class names, methods with their signatures (from pybind11 / Boost.Python /
Cython docstrings), properties, enum members and values -- and tests/fakes/test_fakes_match_real_api.py checks every
fake against the surface of the version it stands for. CI only reads the committed JSON; this script is for a
developer who wants to (re)record it or add a version:

    python tools/record_api_surface.py all                 # every target below, into tests/fakes/api_surface/
    python tools/record_api_surface.py all --only tensorrt-11.4
    /some/venv/bin/python tools/record_api_surface.py record MODULE --label NAME --out FILE   # one module, here

``all`` makes a throw-away venv per target under --work (default /tmp/grace-edge-api-surface), installs the binding
packages there and reruns this script with that venv's Python:

- TensorRT: only the ``tensorrt-cuXX-bindings`` wheels install (the native ``tensorrt_libs`` wheels come from NVIDIA's
  own index); tools/stub_libs.py compiles link-only stubs of libnvinfer/libnvonnxparser/libnvinfer_plugin so that
  ``import tensorrt`` works. Needs gcc, readelf, nm.
- pycuda has no wheels: it builds from its sdist with cuRAND disabled (``configure.py --no-cuda-enable-curand``),
  against a CUDA toolkit's headers (--cuda-root) and a stub ``libcuda.so.1``; a second stub, with every ``cu*`` symbol
  the built module imports, is preloaded to import it. Takes several minutes (Boost.Python).
- cuda-python installs normally; it imports without a driver (calls return cudaErrorInsufficientDriver).

Nothing here is run at test time; the JSON files carry the library versions they were recorded from.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SURFACE_DIR = REPO / "tests" / "fakes" / "api_surface"
sys.path.insert(0, str(Path(__file__).resolve().parent))

# label -> (pip requirements, modules to record (import name, name the code uses), how to install)
TARGETS: dict[str, dict] = {
    "tensorrt-10.3": {"pip": ["tensorrt-cu12-bindings==10.3.*"], "modules": [("tensorrt_bindings", "tensorrt")],
                      "install": "wheel-no-deps"},
    "tensorrt-11.4": {"pip": ["tensorrt-cu13-bindings==11.4.*"], "modules": [("tensorrt_bindings", "tensorrt")],
                      "install": "wheel-no-deps"},
    "pycuda-2026.1": {"pip": ["pycuda==2026.1"], "modules": [("pycuda.driver", "pycuda.driver")], "install": "pycuda"},
    "cuda-python-12.9": {"pip": ["cuda-python==12.9.*"],
                         "modules": [("cuda.bindings.runtime", "cuda.bindings.runtime"), ("cuda.cudart", "cuda.cudart")],
                         "install": "pip"},
    "cuda-python-13.4": {"pip": ["cuda-python==13.4.*"],
                         "modules": [("cuda.bindings.runtime", "cuda.bindings.runtime")], "install": "pip"},
}

KEPT_DUNDERS = {"__init__", "__call__", "__int__", "__len__", "__getitem__", "__enter__", "__exit__"}
OBJECT_NAMES = set(dir(object))


# ----------------------------------------------------------------------------------------------------- signatures
def _split_top(text: str) -> list[str]:
    """Split ``text`` at commas that are not inside brackets or quotes."""
    parts, depth, quote, current = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _params_pybind(inside: str) -> list[list]:
    """``self: X, name: str, memory: int = 0`` -> [[name, has_default], ...] (``*``/``/`` markers dropped)."""
    params = []
    for part in _split_top(inside):
        if part in ("*", "/"):
            continue
        name = part.split(":", 1)[0].split("=", 1)[0].strip().split()[-1]  # Cython: "int device"
        params.append([name, "=" in part])
    return params


def _params_boost(inside: str) -> list[list]:
    """Boost.Python: ``(Context)arg1, (object)size [, (int)flags=0]`` -> [[name, has_default], ...]."""
    optional_from = inside.find("[")
    params = []
    for match in re.finditer(r"\(([^()]*)\)\s*([A-Za-z_]\w*)", inside):
        params.append([match.group(2), optional_from != -1 and match.start() > optional_from])
    return params


def signatures_from_doc(name: str, doc: str | None) -> list[dict]:
    """Every ``name(...) -> ret`` line of a pybind11 / Boost.Python / Cython docstring."""
    found = []
    for line in (doc or "").splitlines():
        line = re.sub(r"^\s*\d+\.\s*", "", line).strip()  # pybind11 overloads: "1. name(...)"
        if not line.startswith(name + "("):
            continue
        depth, end = 0, None
        for i, ch in enumerate(line[len(name):], len(name)):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0:
                end = i
                break
        if end is None:
            continue
        inside = line[len(name) + 1:end]
        boost = bool(re.match(r"\s*\[?\s*\(", inside))
        text = _normalise(line[: end + 1] + line[end + 1:].split(":", 1)[0].rstrip())
        found.append({"text": text, "params": _params_boost(inside) if boost else _params_pybind(inside)})
    overloads = [f for f in found if f["params"] != [["*args", False], ["**kwargs", False]]]
    return overloads or found  # pybind11 heads an overloaded docstring with a "name(*args, **kwargs)" line


def _normalise(text: str) -> str:
    return text.replace("tensorrt_bindings.tensorrt.", "tensorrt.").replace("tensorrt_bindings.", "tensorrt.")


def signatures_of(name: str, obj: object) -> list[dict]:
    found = signatures_from_doc(name, getattr(obj, "__doc__", None))
    if found:
        return found
    try:
        sig = inspect.signature(obj)  # Python functions; Cython functions with embedded signatures
    except (TypeError, ValueError):
        return []
    params = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            params.append([("*" if p.kind == p.VAR_POSITIONAL else "**") + p.name, True])
        else:
            params.append([p.name, p.default is not p.empty])
    return [{"text": _normalise(f"{name}{sig}"), "params": params}]


# ------------------------------------------------------------------------------------------------------- objects
def _enum_members(cls: type) -> dict[str, int] | None:
    """Members of a pybind11 / Boost.Python / Python enum class, name -> int value; None if not an enum."""
    members = getattr(cls, "__members__", None)  # pybind11 enums and enum.Enum
    if not isinstance(members, dict) and isinstance(getattr(cls, "names", None), dict) and issubclass(cls, int):
        members = cls.names  # Boost.Python enums
    if not isinstance(members, dict) or not members:
        return None
    try:
        return {str(k): int(v) for k, v in members.items()}
    except (TypeError, ValueError):
        return None


def describe(name: str, obj: object, depth: int = 0) -> dict:
    if isinstance(obj, type):
        return describe_class(obj, depth)
    if isinstance(obj, (staticmethod, classmethod)):
        return {"kind": "staticmethod", "signatures": signatures_of(name, obj.__func__)}
    if isinstance(obj, property) or type(obj).__name__ in ("property", "getset_descriptor", "member_descriptor"):
        writable = getattr(obj, "fset", None) is not None or type(obj).__name__ == "getset_descriptor"
        return {"kind": "property", "writable": writable}
    if callable(obj):
        return {"kind": "function", "signatures": signatures_of(name, obj)}
    if isinstance(obj, (bool, int, float, str, bytes)) or obj is None:
        value = obj if isinstance(obj, (bool, int, float, str)) or obj is None else repr(obj)
        return {"kind": "value", "type": type(obj).__name__, "value": value}
    enum_type = type(obj)
    if _enum_members(enum_type) is not None:
        try:
            return {"kind": "enum_value", "type": enum_type.__name__, "value": int(obj)}
        except (TypeError, ValueError):
            pass
    return {"kind": "value", "type": type(obj).__name__}


def describe_class(cls: type, depth: int) -> dict:
    enum = _enum_members(cls)
    out: dict = {"kind": "enum" if enum is not None else "class", "name": cls.__name__,
                 "bases": [b.__name__ for b in cls.__mro__[1:] if b is not object]}
    if enum is not None:
        out["members"] = enum
        return out
    if depth > 1:
        return out
    members = {}
    for attr in sorted(dir(cls)):
        if attr.startswith("__") and attr not in KEPT_DUNDERS:
            continue
        if attr in OBJECT_NAMES and attr not in KEPT_DUNDERS:
            continue
        raw = inspect.getattr_static(cls, attr, None)
        if raw is None:
            continue
        if attr == "__init__" and type(raw).__name__ == "builtin_function_or_method":
            members[attr] = {"kind": "no_constructor"}  # Boost.Python no_init: "cannot be instantiated from Python"
        elif isinstance(raw, (staticmethod, classmethod)):
            members[attr] = describe(attr, raw, depth + 1)
        elif isinstance(raw, type):
            members[attr] = describe_class(raw, depth + 1)
        elif isinstance(raw, property) or type(raw).__name__ in ("getset_descriptor", "member_descriptor"):
            members[attr] = describe(attr, raw, depth + 1)
        elif callable(raw) or type(raw).__name__ in ("instancemethod", "method_descriptor", "wrapper_descriptor"):
            kind = "method" if not type(raw).__name__ == "builtin_function_or_method" else "staticmethod"
            members[attr] = {"kind": kind, "signatures": signatures_of(attr, getattr(cls, attr))}
        else:
            members[attr] = describe(attr, raw, depth + 1)
    out["members"] = members
    return out


def record_module(import_name: str, public_name: str) -> dict:
    module = importlib.import_module(import_name)
    attributes = {}
    for attr in sorted(dir(module)):
        if attr.startswith("_") and attr != "__version__":
            continue
        obj = getattr(module, attr)
        if inspect.ismodule(obj):
            continue
        attributes[attr] = describe(attr, obj)
    return {"module": public_name, "import_name": import_name, "version": str(getattr(module, "__version__", "")),
            "attributes": attributes}


def _prepare_import(import_name: str) -> None:
    """Preload stub native libraries for the modules that need them (TensorRT, pycuda)."""
    import importlib.util

    import stub_libs

    top = import_name.split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        return
    folder = Path(next(iter(spec.submodule_search_locations)))
    for so in sorted(folder.glob("*.so")):
        needed = stub_libs.needed_libs(so)
        wanted = [n for n in needed if n.startswith(("libnvinfer", "libnvonnxparser", "libcuda.so"))]
        if not wanted and any(s.startswith("cu") for s in stub_libs.missing_symbols(so)):
            wanted = ["libcuda.so.1"]  # pycuda links libcuda --as-needed against an empty stub: no NEEDED entry
        if wanted:
            stubs = stub_libs.make_stubs(so, Path(tempfile.mkdtemp(prefix="stubs-")), only=wanted)
            stub_libs.preload(stubs)


def record(modules: list[tuple[str, str]], label: str, out: Path) -> Path:
    surfaces = []
    for import_name, public_name in modules:
        _prepare_import(import_name)
        surfaces.append(record_module(import_name, public_name))
    from importlib import metadata

    dists = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] or ""
        if re.match(r"(tensorrt|pycuda|cuda-python|cuda-bindings|cuda_bindings)", name, re.I):
            dists[name] = dist.version
    data = {"label": label, "recorded_by": "tools/record_api_surface.py", "python": sys.version.split()[0],
            "distributions": dict(sorted(dists.items())), "modules": {s["module"]: s for s in surfaces}}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return out


# ------------------------------------------------------------------------------------------------ venv plumbing
def _run(cmd: list[str], **kw) -> None:
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run(cmd, check=True, **kw)


def _install(label: str, target: dict, venv: Path, work: Path, cuda_root: str) -> None:
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    if target["install"] == "wheel-no-deps":
        _run(pip + ["--no-deps", *target["pip"]])
    elif target["install"] == "pip":
        _run(pip + target["pip"])
    elif target["install"] == "pycuda":
        _run(pip + ["numpy"])
        src = work / "pycuda-src"
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "pycuda", *target["pip"], "-d",
              str(src)])
        tarball = next(src.glob("pycuda-*.tar.gz"))
        _run(["tar", "xzf", str(tarball), "-C", str(src)])
        tree = next(p for p in src.iterdir() if p.is_dir())
        link_stub = work / "libcuda-link-stub"
        link_stub.mkdir(exist_ok=True)
        (link_stub / "empty.c").write_text("int grace_edge_stub_marker = 1;\n")
        _run(["gcc", "-shared", "-fPIC", "-o", str(link_stub / "libcuda.so.1"), "-Wl,-soname,libcuda.so.1",
              str(link_stub / "empty.c")])
        if not (link_stub / "libcuda.so").exists():
            (link_stub / "libcuda.so").symlink_to("libcuda.so.1")
        _run([str(venv / "bin" / "python"), "configure.py", f"--cuda-root={cuda_root}", "--no-cuda-enable-curand",
              f"--cudadrv-lib-dir={link_stub}"], cwd=tree)
        _run(pip + ["--no-deps", "."], cwd=tree)


def record_all(only: list[str], work: Path, cuda_root: str) -> None:
    work.mkdir(parents=True, exist_ok=True)
    for label, target in TARGETS.items():
        if only and label not in only:
            continue
        venv = work / label
        if not (venv / "bin" / "python").exists():
            _run([sys.executable, "-m", "venv", str(venv)])
            _install(label, target, venv, work, cuda_root)
        modules = ",".join(f"{a}={b}" for a, b in target["modules"])
        _run([str(venv / "bin" / "python"), __file__, "record", modules, "--label", label,
              "--out", str(SURFACE_DIR / f"{label}.json")], env={**os.environ, "PYTHONWARNINGS": "ignore"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record real binding API surfaces for the fakes-vs-real test.")
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("record", help="record modules importable by THIS Python")
    one.add_argument("modules", help="IMPORT=PUBLIC[,IMPORT=PUBLIC...], e.g. tensorrt_bindings=tensorrt")
    one.add_argument("--label", required=True)
    one.add_argument("--out", type=Path, required=True)
    every = sub.add_parser("all", help="make a venv per target, install, record")
    every.add_argument("--only", nargs="*", default=[], choices=sorted(TARGETS))
    every.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "grace-edge-api-surface")
    every.add_argument("--cuda-root", default="/usr/local/cuda", help="CUDA toolkit with include/cuda.h (pycuda)")
    args = parser.parse_args(argv)
    if args.command == "record":
        pairs = [tuple(item.split("=", 1)) if "=" in item else (item, item) for item in args.modules.split(",")]
        print(record(pairs, args.label, args.out))
    else:
        record_all(args.only, args.work, args.cuda_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
