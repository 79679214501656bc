"""Measure the house: lines per room, import arrows between rooms, and the INT8 build's walk between rooms.

A room is a subpackage of ``grace_edge`` (``grace_edge/*.py`` at the top are the hall: contracts shared by all).
Run it on any checkout, e.g. an old commit unpacked with ``git archive``, to compare layouts side by side:

    python tools/house_metrics.py                      # this checkout, static measures only
    python tools/house_metrics.py --root /tmp/old --walk --neu-det ../shared/data/NEU-DET

``--walk`` runs a tiny INT8 build (untrained GRACE-n, imgsz 64, 4 calibration images, gate on 6 val images) under a
profiler and counts how often the call chain steps from one room into another: a measure of how far a reader
follows the build through the folders. It needs NEU-DET and takes a minute or two on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

HALL = "(hall)"


def room_of(module: str) -> str | None:
    """``grace_edge.export.quantize`` -> ``export``; top-level modules are the hall; not ours -> None."""
    parts = module.split(".")
    if parts[0] != "grace_edge":
        return None
    return parts[1] if len(parts) > 2 else HALL


# pipeline order; an arrow from an earlier stage into a later one means a stage reaches downstream
PIPELINE = ("data", "model", "train", "evaluate", "export", "build", "engine", "runtime", "bench")


def _stage(room: str) -> int:
    return PIPELINE.index(room) if room in PIPELINE else -1


def modules(root: Path) -> dict[str, Path]:
    pkg = root / "grace_edge"
    return {".".join(p.relative_to(root).with_suffix("").parts): p for p in sorted(pkg.rglob("*.py"))}


def imported(tree: ast.AST, module: str) -> list[str]:
    """Every grace_edge module named by an import anywhere in the file (function-level imports too)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: resolve against this module's package
                pkg = module.split(".")[: -node.level] if not module.endswith("__init__") else module.split(".")[: 1 - node.level]
                base = ".".join(pkg + ([base] if base else []))
            found += [base] + [f"{base}.{a.name}" for a in node.names]
    return [m for m in found if m.startswith("grace_edge")]


def static_measures(root: Path) -> dict:
    mods = modules(root)
    lines: Counter[str] = Counter()
    files: Counter[str] = Counter()
    arrows: Counter[tuple[str, str]] = Counter()
    for name, path in mods.items():
        src = path.read_text(encoding="utf-8")
        room = room_of(name)
        lines[room] += len(src.splitlines())
        files[room] += 1
        # one arrow per (module, room it imports from): ``from a.b import c`` may name a function or a module
        targets = set()
        for target in imported(ast.parse(src), name):
            if target in mods or f"{target}.__init__" in mods:
                targets.add(room_of(target if target in mods else f"{target}.__init__"))
        for to in targets - {room, HALL, None}:
            arrows[(room, to)] += 1
    biggest = max(((len(p.read_text().splitlines()), n) for n, p in mods.items()), default=(0, ""))
    return {
        "lines_per_room": dict(sorted(lines.items())),
        "files_per_room": dict(sorted(files.items())),
        "room_arrows": {f"{a} -> {b}": n for (a, b), n in sorted(arrows.items())},
        "distinct_room_arrows": len(arrows),
        "module_imports_across_rooms": sum(arrows.values()),
        "arrows_into_later_stages": sorted(f"{a} -> {b}" for a, b in arrows if _stage(a) < _stage(b)),
        "largest_module": {"module": biggest[1], "lines": biggest[0]},
    }


WALK = r"""
import json, sys, tempfile
from pathlib import Path
root, neu_det = sys.argv[1], sys.argv[2]
from grace_edge.data.neu_det import convert
try:
    from grace_edge.engine.pipeline import BuildOptions, build
except ImportError:  # before the house move
    from grace_edge.build.cli import BuildOptions, build
tmp = Path(tempfile.mkdtemp(prefix="house-walk-"))
data = convert(neu_det, tmp / "ds", seed=0, limit_per_class=2).yaml_path
pkg = str(Path(root).resolve() / "grace_edge") + "/"
rooms, calls, first = {}, [], []  # every call's room; the room of each function's first call (a reader's walk)
seen = set()
where = []  # the function that entered each room of the reader's walk
def room(code):
    r = rooms.get(code)
    if r is None:
        f = code.co_filename
        if not f.startswith(pkg):
            r = ""
        else:
            parts = f[len(pkg):].split("/")
            r = parts[0] if len(parts) > 1 else "(hall)"
        rooms[code] = r
    return r
def prof(frame, event, arg):
    if event != "call":
        return
    code = frame.f_code
    r = room(code)
    if not r or r == "(hall)":
        return
    if not calls or calls[-1] != r:
        calls.append(r)
    # a step of the build is a named function: not a module's or a class body's import-time code (no CO_OPTIMIZED
    # flag), not a comprehension (part of the function around it)
    if code not in seen and code.co_flags & 0x1 and not code.co_name.startswith("<"):
        seen.add(code)
        if not first or first[-1] != r:
            first.append(r)
            where.append(f"{r}: {code.co_filename[len(pkg):]}:{code.co_name}")
# Count what touches the ONNX model: every parse of ONNX bytes and every model hash (file or in-memory digest).
import hashlib, onnx, grace_edge.artifact as artifact
counts = {"onnx_reads": 0, "model_hashes": 0}
def counted(fn, key):
    def wrapper(*a, **k):
        counts[key] += 1
        return fn(*a, **k)
    return wrapper
for name in ("load", "load_model", "load_from_string", "load_model_from_string"):
    setattr(onnx, name, counted(getattr(onnx, name), "onnx_reads"))
for name in ("sha256_file", "onnx_digest"):
    if hasattr(artifact, name):
        setattr(artifact, name, counted(getattr(artifact, name), "model_hashes"))
try:
    opts = BuildOptions(precision="int8", model="grace-n", imgsz=64, data=data, calib_images=4, gate_images=6,
                        out=tmp / "m.onnx", max_map_drop=100.0)
except TypeError:
    raise
sys.setprofile(prof)
try:
    build(opts, log=lambda m: None)
finally:
    sys.setprofile(None)
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
print(json.dumps({"calls": calls, "first": first, "where": where, **counts}))
"""


def _changes(steps: list[str]) -> dict:
    pairs = Counter(frozenset(p) for p in zip(steps, steps[1:]))
    back = sum(1 for a, b in zip(steps, steps[1:]) if _stage(b) < _stage(a))
    returns = sum(1 for i, r in enumerate(steps[1:], 1) if r in steps[:i])
    return {
        "room_changes": len(steps) - 1,
        "back_up_the_pipeline": back,
        "returns_to_a_room_left": returns,
        "changes_by_pair": {" <-> ".join(sorted(p)): n for p, n in sorted(pairs.items(), key=lambda kv: -kv[1])},
        "sequence": steps,
    }


def walk(root: Path, neu_det: Path) -> dict:
    """The rooms the INT8 build passes through, in order (consecutive calls in one room collapsed), two ways:
    ``reader``: each named function counted at its first call only, the walk of someone reading the build once (a
    loop over images that calls the data room per image counts once; a module's import-time code and comprehensions
    are not steps of the build); ``calls``: every call. Plus how often the build
    parsed ONNX bytes and hashed a model (file SHA-256 or in-memory digest)."""
    env = {**os.environ, "PYTHONPATH": str(root), "YOLO_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", WALK, str(root), str(Path(neu_det).resolve())], env=env, cwd=root,
                         capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"INT8 build walk failed:\n{out.stderr[-3000:]}")
    found = json.loads(out.stdout.strip().splitlines()[-1])
    reader = _changes(found["first"])
    return {
        "reader_room_changes": reader["room_changes"],
        "call_room_changes": len(found["calls"]) - 1,
        "onnx_reads": found["onnx_reads"],
        "model_hashes": found["model_hashes"],
        "rooms_visited": sorted(set(found["first"])),
        "reader_steps": found["where"],
        "reader": reader,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="checkout to measure")
    p.add_argument("--walk", action="store_true", help="also trace a tiny INT8 build (needs --neu-det)")
    p.add_argument("--neu-det", type=Path, default=os.environ.get("GRACE_NEU_DET"), help="raw NEU-DET root")
    p.add_argument("--json", type=Path, help="also write the result here")
    a = p.parse_args()
    result = {"root": str(a.root), **static_measures(a.root)}
    if a.walk:
        if not a.neu_det:
            raise SystemExit("--walk needs --neu-det DIR (or $GRACE_NEU_DET)")
        result["int8_build_walk"] = walk(a.root, a.neu_det)
    text = json.dumps(result, indent=2)
    if a.json:
        a.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
