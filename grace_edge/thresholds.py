"""Per-class confidence thresholds: the one file format that ``val`` writes and ``predict``, ``Detector`` and the line
service read (``thresholds.yaml``).

A line is run at one operating point per class (a missed crack costs more than a false reject of a scratch), so the
score a detection must reach is a per-class number, not one ``--conf``. The file::

    format: grace-edge-thresholds/1
    default: 0.25            # a class the file does not list
    classes:
      crazing: 0.31
      scratches: 0.42
    source: {...}            # optional, free-form: what chose these numbers (val run, recall target, ...)

Only plain YAML is read (``yaml.safe_load``): a thresholds file can never run code.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from grace_edge.errors import InputError

FORMAT = "grace-edge-thresholds/1"
KEYS = ("format", "default", "classes", "source")


@dataclass(frozen=True)
class Thresholds:
    """The minimum score per class name; ``default`` for a class not listed."""

    classes: Mapping[str, float] = field(default_factory=dict)
    default: float = 0.25
    source: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self.classes, self.default, "thresholds")

    def for_class(self, name: str) -> float:
        return float(self.classes.get(name, self.default))

    def per_label(self, names: Sequence[str]) -> np.ndarray:
        """The threshold of each label index of a model whose classes are ``names``; refuses a name it lacks."""
        unknown = sorted(set(self.classes) - set(names))
        if unknown:
            raise InputError(f"thresholds: class {unknown[0]!r} is not one of the model's classes {list(names)}")
        return np.array([self.for_class(n) for n in names], dtype=np.float32)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT, "default": float(self.default)}
        out["classes"] = {name: float(value) for name, value in self.classes.items()}
        if self.source:
            out["source"] = dict(self.source)
        return out


def _check(classes: Mapping[Any, Any], default: Any, label: str) -> None:
    """Every class a name and every score in [0, 1]; the one-line error starts with ``label``."""
    _check_score(label, "default", default)
    for name, value in classes.items():
        if not isinstance(name, str) or not name:
            raise InputError(f"{label}: class name {name!r} is not a non-empty string")
        _check_score(label, f"classes.{name}", value)


def _check_score(label: str, key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 1:
        raise InputError(f"{label}: {key} = {value!r} is not a score between 0 and 1")


def parse_thresholds(data: Any, label: str = "thresholds") -> Thresholds:
    """A Thresholds from the loaded YAML mapping; one-line InputError naming ``label`` and the key otherwise."""
    if not isinstance(data, dict):
        raise InputError(f"{label}: not a mapping with format/default/classes")
    if data.get("format") != FORMAT:
        raise InputError(f"{label}: format is {data.get('format')!r}, expected {FORMAT!r}")
    extra = sorted(set(data) - set(KEYS))
    if extra:
        raise InputError(f"{label}: unknown key {extra[0]!r} (allowed: {', '.join(KEYS)})")
    classes = data.get("classes") or {}
    if not isinstance(classes, dict):
        raise InputError(f"{label}: classes is not a mapping of class name to score")
    source = data.get("source") or {}
    if not isinstance(source, dict):
        raise InputError(f"{label}: source is not a mapping")
    default = data.get("default", 0.25)
    _check(classes, default, label)  # here, so that the error names ``label``, not "thresholds"
    return Thresholds(classes=dict(classes), default=default, source=source)


def load_thresholds(path: str | os.PathLike[str]) -> Thresholds:
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"thresholds file {path}: cannot be read ({err.strerror or err})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise InputError(f"thresholds file {path}: not valid YAML ({type(err).__name__})") from None
    return parse_thresholds(data, label=f"thresholds file {path}")


def save_thresholds(path: str | os.PathLike[str], thresholds: Thresholds) -> Path:
    """Write atomically, with a comment saying what reads it."""
    import yaml

    from grace_edge.io import write_text

    header = "# grace-edge per-class score thresholds: read by predict --thresholds, Detector and the line config\n"
    return write_text(path, header + yaml.safe_dump(thresholds.to_dict(), sort_keys=False))
