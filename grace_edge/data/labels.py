"""YOLO label files, the one reader: where an image's label file is, and what its lines say.

The label file is found as Ultralytics finds it: the last ``/images/`` folder in the image path becomes ``/labels/``
and the extension becomes ``.txt``. Each line is ``class x_center y_center width height``, normalized to 0-1; a
blank line is skipped. Evaluation reads whole boxes (:func:`read_boxes`); training's checks and ``--fraction`` read
the class ids only (:func:`read_classes`), so training refuses no more than before. Every error is one line naming
``file:line``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np

from grace_edge.errors import InputError

# Normalized label values may overshoot 0-1 by rounding when written with 6 decimals; more is a broken label.
_EDGE_TOLERANCE = 1e-3


def label_path_for(image: Path) -> Path:
    """Ultralytics' rule: replace the last ``/images/`` folder with ``/labels/`` and the extension with ``.txt``."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return Path(sb.join(os.fspath(image).rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt")


def read_classes(path: Path, nc: int | None = None) -> np.ndarray:
    """The class id of every line of label file ``path`` ([n] int64), each a whole number in 0..nc-1 (``nc`` None:
    any id >= 0). Only the first field is read: what decides whether Ultralytics keeps the image."""
    return np.asarray([_class_id(where, fields[0], nc) for where, fields, _ in _lines(path)], dtype=np.int64)


def read_boxes(path: Path, nc: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes [n, 4] x1, y1, x2, y2 normalized to 0-1 (float64) and classes [n] of label file ``path``; any line that
    is not exactly ``class x_center y_center width height`` with a box inside the image is an InputError."""
    boxes, classes = [], []
    for where, fields, text in _lines(path):
        if len(fields) != 5:
            raise InputError(f"{where}: expected 5 values 'class x_center y_center width height', "
                             f"got {len(fields)}: {text!r}")
        classes.append(_class_id(where, fields[0], nc))
        try:
            cx, cy, w, h = (float(v) for v in fields[1:])
        except ValueError:
            raise InputError(f"{where}: not a number in {text!r}") from None
        if not all(np.isfinite((cx, cy, w, h))) or w <= 0 or h <= 0:
            raise InputError(f"{where}: box width and height must be positive, got {text!r}")
        x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        if min(x1, y1) < -_EDGE_TOLERANCE or max(x2, y2) > 1 + _EDGE_TOLERANCE:
            raise InputError(f"{where}: box {text!r} is outside the image (values must be normalized 0-1)")
        boxes.append(np.clip([x1, y1, x2, y2], 0.0, 1.0))
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(classes, dtype=np.int64)


def _lines(path: Path) -> Iterator[tuple[str, list[str], str]]:
    """(``file:line``, its fields, its stripped text) of each non-blank line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: label file does not read ({type(e).__name__})") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if fields:
            yield f"{path}:{lineno}", fields, line.strip()


def _class_id(where: str, text: str, nc: int | None) -> int:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: class id {text!r} is not a number") from None
    if nc is not None and not (value.is_integer() and 0 <= value < nc):
        raise InputError(f"{where}: class id {text} is not one of the {nc} classes (0..{nc - 1})")
    if not (value.is_integer() and value >= 0):
        raise InputError(f"{where}: class id {text} is not a whole number >= 0")
    return int(value)
