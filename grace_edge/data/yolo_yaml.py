"""Read Ultralytics data YAMLs: the one place that resolves a split to its image files.

A split entry is a folder of images, a ``.txt`` list of image paths, or a list of either; relative entries are
resolved against the YAML's ``path`` (itself relative to the YAML's folder), list lines against the list's folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from grace_edge.data.images import is_image
from grace_edge.errors import InputError


MAKE_DATA_YAML = "make one with 'grace-edge data neu-det'"  # the hint of every command that takes --data


def check_data_yaml(data: str | os.PathLike[str]) -> Path:
    """``data`` if it is a data YAML file, else one line saying what it is and how to get one."""
    path = Path(data)
    if path.is_file() and path.suffix.lower() in (".yaml", ".yml"):
        return path
    if path.is_dir():
        inside = path / "data.yaml"
        raise InputError(f"{path}: a folder, not a data YAML file ("
                         + (f"pass {inside}" if inside.is_file() else MAKE_DATA_YAML) + ")")
    if path.is_file():
        raise InputError(f"{path}: not a data YAML file (.yaml or .yml; {MAKE_DATA_YAML})")
    raise InputError(f"{path}: data YAML not found ({MAKE_DATA_YAML})")


def load_data_yaml(data: str | os.PathLike[str]) -> tuple[dict[str, Any], Path]:
    """Parse a data YAML; return (its dict, the dataset root)."""
    import yaml

    path = check_data_yaml(data)
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a readable YAML file ({e.__class__.__name__})") from None
    if not isinstance(cfg, dict):
        raise InputError(f"{path}: a data YAML must be a mapping with 'names' and split keys such as 'val'")
    root = Path(cfg.get("path") or ".")
    if not root.is_absolute():
        root = path.resolve().parent / root
    return cfg, root


def class_names(cfg: dict[str, Any], origin: Path) -> list[str]:
    """The class names of a data YAML dict, index order."""
    names = cfg.get("names")
    if isinstance(names, dict):
        try:
            indexed = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            raise InputError(f"{origin}: 'names' keys must be class indices 0..n-1") from None
        if sorted(indexed) != list(range(len(indexed))):
            raise InputError(f"{origin}: 'names' keys must be 0..{len(indexed) - 1}, got {sorted(indexed)}")
        names = [indexed[i] for i in range(len(indexed))]
    if not isinstance(names, list) or not names:
        raise InputError(f"{origin}: 'names' must be a non-empty list or {{index: name}} dict of classes")
    return [str(n) for n in names]


def images_in(folder: Path) -> list[Path]:
    """Image files under ``folder``, sorted."""
    return sorted(p for p in folder.rglob("*") if is_image(p) and p.is_file())


def _list_images(source: Path) -> list[Path]:
    if source.is_dir():
        return images_in(source)
    if source.is_file() and source.suffix == ".txt":
        lines = [ln.strip() for ln in source.read_text(encoding="utf-8").splitlines()]
        return [Path(ln) if Path(ln).is_absolute() else source.parent / ln for ln in lines if ln]
    raise InputError(f"{source}: split source not found (expected a folder of images or a .txt list of images)")


def split_images(data: str | os.PathLike[str], split: str = "val") -> list[Path]:
    """All image files of ``split`` in the data YAML ``data``, sorted; an error if there are none."""
    cfg, root = load_data_yaml(data)
    value = cfg.get(split)
    if not value:
        keys = [k for k in ("train", "val", "test") if cfg.get(k)]
        raise InputError(f"{data}: no split {split!r} in the data YAML (it has: {', '.join(keys) or 'none'})")
    entries = value if isinstance(value, list) else [value]
    paths: list[Path] = []
    for entry in entries:
        source = Path(str(entry))
        paths += _list_images(source if source.is_absolute() else root / source)
    if not paths:
        raise InputError(f"{data}: the {split} split has no images")
    return sorted(paths)


def pick_evenly(paths: Sequence[Path], n: int | None) -> list[Path]:
    """``n`` of the sorted ``paths`` spread evenly (every class of a class-sorted dataset); all when ``n`` is None
    or at least their number."""
    paths = sorted(paths)
    if n is None or n >= len(paths):
        return paths
    if n < 1:
        raise InputError(f"the number of images to pick must be positive, got {n}")
    import numpy as np

    return [paths[i] for i in np.linspace(0, len(paths) - 1, n).round().astype(int)]
