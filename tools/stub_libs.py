"""Link-only stub shared libraries, so that a binding module whose native libraries are absent can be imported.

NVIDIA's ``tensorrt_bindings/tensorrt.so`` needs ``libnvinfer.so.N``, ``libnvonnxparser.so.N`` and
``libnvinfer_plugin.so.N`` (the ``tensorrt_libs`` wheels that carry them only download from NVIDIA's own index). The
binding module resolves only a few C entry points from them (``createInferBuilder_INTERNAL``, ...). A stub library
with the right SONAME that defines each of those symbols as a function returning 0 (NULL) lets ``import tensorrt``
succeed, so the whole pybind11 API surface, docstrings included, can be read on a machine without a GPU. Any call
that reaches the native side gets NULL back, which is what TensorRT does when CUDA cannot initialise:
``trt.Builder(logger)`` raises ``TypeError: pybind11::init(): factory function returned nullptr``.

Nothing here is used at run time or in CI: tools/record_api_surface.py calls it to record the surface into
tests/fakes/api_surface/*.json, which CI reads.

    python tools/stub_libs.py path/to/tensorrt.so OUT_DIR     # writes OUT_DIR/lib*.so.N stubs, prints their paths
"""

from __future__ import annotations

import argparse
import ctypes
import re
import subprocess
import sys
from pathlib import Path

# Libraries the system provides; never stubbed.
SYSTEM_LIBS = re.compile(r"^(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux.*|libpython.*)\.so")


def needed_libs(shared_object: Path) -> list[str]:
    """The NEEDED entries of ``shared_object`` (``readelf -d``) that are not system libraries."""
    out = subprocess.run(["readelf", "-d", str(shared_object)], capture_output=True, text=True, check=True).stdout
    names = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    return [n for n in names if not SYSTEM_LIBS.match(n)]


def missing_symbols(shared_object: Path) -> list[str]:
    """Strong undefined symbols that neither Python, libc/libstdc++ (versioned) nor libdl provide."""
    out = subprocess.run(["nm", "-D", "--undefined-only", str(shared_object)], capture_output=True, text=True,
                         check=True).stdout
    symbols = []
    for line in out.splitlines():
        kind, _, name = line.strip().partition(" ")
        if kind != "U" or "@" in name or name.startswith(("Py", "_Py")) or name in ("dlopen", "dlsym", "dlclose"):
            continue
        symbols.append(name)
    return sorted(symbols)


def make_stubs(shared_object: Path, out_dir: Path, only: list[str] | None = None) -> list[Path]:
    """Compile one stub per non-system NEEDED library (or per name in ``only``); the first defines every missing symbol.

    The dynamic linker searches all loaded libraries for a symbol, so one library defining all of them is enough.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    libs = only if only is not None else needed_libs(shared_object)
    symbols = missing_symbols(shared_object)
    made = []
    for i, soname in enumerate(libs):
        body = "".join(f"void *{name}(void) {{ return 0; }}\n" for name in symbols) if i == 0 else ""
        source = out_dir / f"{soname}.c"
        source.write_text("/* link-only stub made by tools/stub_libs.py: every function returns NULL */\n" + body
                          + "int grace_edge_stub_marker = 1;\n")
        target = out_dir / soname
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(target), f"-Wl,-soname,{soname}", str(source)],
                       check=True)
        made.append(target)
    return made


def preload(stubs: list[Path]) -> None:
    """Load the stubs globally, so that a later import finds each NEEDED library already loaded under its SONAME."""
    for path in stubs:
        ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shared_object", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    for path in make_stubs(args.shared_object, args.out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
