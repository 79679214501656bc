"""Read one Pascal VOC annotation file and check it against the image it describes.

Conventions:
- Box corners are taken as pixel-edge coordinates in ``[0, width] x [0, height]``: a box is valid when
  ``0 <= xmin < xmax <= width`` and ``0 <= ymin < ymax <= height`` (NEU-DET's corners run 1..200 in 200x200 images).
  Its area is ``(xmax - xmin) * (ymax - ymin)`` pixels, with no ``+1``.
- ``<difficult>1</difficult>`` boxes are kept as normal boxes (NEU-DET has 81); the flag is only recorded.
- A box repeated in the same file (same class and corners) is one object: :func:`drop_duplicate_boxes` keeps the
  first (NEU-DET has 3: crazing_120, inclusion_62, patches_198). Ultralytics would drop them too, at load time.
- The ``<filename>`` tag is ignored: callers match an XML file to its image by file stem.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from grace_edge.errors import InputError


class VocError(InputError):
    """A VOC file that cannot be read or is malformed; ``.path`` and ``.reason`` name the file and the fault."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class VocBox:
    """One ``<object>``: class name from its ``<name>`` tag and the box corners in pixels."""

    name: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    difficult: bool = False

    @property
    def area(self) -> float:
        """Box area in pixels, ``(xmax - xmin) * (ymax - ymin)``."""
        return (self.xmax - self.xmin) * (self.ymax - self.ymin)


@dataclass(frozen=True)
class VocAnnotation:
    """One VOC XML file: the image size it declares and its boxes."""

    path: Path
    width: int
    height: int
    boxes: tuple[VocBox, ...]


def _text(parent: ET.Element, tag: str, where: str) -> str:
    node = parent.find(tag)
    if node is None or node.text is None or not node.text.strip():
        raise InputError(f"{where} has no <{tag}>")
    return node.text.strip()


def _number(parent: ET.Element, tag: str, where: str) -> float:
    text = _text(parent, tag, where)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InputError(f"{where} <{tag}> is not a number: {text!r}")
    return value


def _int(parent: ET.Element, tag: str, where: str) -> int:
    value = _number(parent, tag, where)
    if value != int(value) or value <= 0:
        raise InputError(f"{where} <{tag}> must be a positive whole number, got {value:g}")
    return int(value)


def _box(obj: ET.Element, index: int) -> VocBox:
    where = f"<object> #{index + 1}"
    name = _text(obj, "name", where)
    bndbox = obj.find("bndbox")
    if bndbox is None:
        raise InputError(f"{where} ({name}) has no <bndbox>")
    where = f"{where} ({name}) <bndbox>"
    corners = [_number(bndbox, tag, where) for tag in ("xmin", "ymin", "xmax", "ymax")]
    difficult = obj.find("difficult")
    flag = difficult is not None and (difficult.text or "").strip() not in ("", "0")
    return VocBox(name, *corners, difficult=flag)


def parse_voc(path: str | Path) -> VocAnnotation:
    """Parse one VOC XML file; raise :class:`VocError` (naming the file and the fault) when it is malformed."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise VocError(path, f"not well-formed XML ({e})") from None
    except OSError as e:
        raise VocError(path, f"cannot read ({e.strerror or e})") from None
    try:
        if root.tag != "annotation":
            raise InputError(f"root element is <{root.tag}>, expected <annotation>")
        size = root.find("size")
        if size is None:
            raise InputError("no <size>")
        width, height = _int(size, "width", "<size>"), _int(size, "height", "<size>")
        boxes = tuple(_box(obj, i) for i, obj in enumerate(root.iter("object")))
    except InputError as e:
        raise VocError(path, str(e)) from None
    return VocAnnotation(path, width, height, boxes)


def box_problems(annotation: VocAnnotation, classes: Sequence[str]) -> list[str]:
    """What is wrong with the boxes of ``annotation``: unknown class, empty box, box outside the image."""
    problems = []
    w, h = annotation.width, annotation.height
    for i, b in enumerate(annotation.boxes):
        where = f"<object> #{i + 1} ({b.name}) [{b.xmin:g}, {b.ymin:g}, {b.xmax:g}, {b.ymax:g}]"
        if b.name not in classes:
            problems.append(f"{where}: unknown class {b.name!r}; expected one of {', '.join(classes)}")
        if b.xmax <= b.xmin or b.ymax <= b.ymin:
            problems.append(f"{where}: empty box (needs xmin < xmax and ymin < ymax)")
        elif b.xmin < 0 or b.ymin < 0 or b.xmax > w or b.ymax > h:
            problems.append(f"{where}: box outside the {w}x{h} image")
    return problems


def drop_duplicate_boxes(annotation: VocAnnotation) -> tuple[VocAnnotation, int]:
    """``annotation`` with exact repeats of a box (same class and corners) removed, and how many were removed."""
    seen: dict[tuple[str, float, float, float, float], VocBox] = {}
    for b in annotation.boxes:
        seen.setdefault((b.name, b.xmin, b.ymin, b.xmax, b.ymax), b)
    dropped = len(annotation.boxes) - len(seen)
    return (replace(annotation, boxes=tuple(seen.values())) if dropped else annotation), dropped


def yolo_lines(annotation: VocAnnotation, classes: Sequence[str]) -> list[str]:
    """YOLO label lines ``class cx cy w h`` (normalised to the image size) for a checked annotation."""
    w, h = annotation.width, annotation.height
    index = {name: i for i, name in enumerate(classes)}
    return [
        f"{index[b.name]} {(b.xmin + b.xmax) / 2 / w:.6f} {(b.ymin + b.ymax) / 2 / h:.6f} "
        f"{(b.xmax - b.xmin) / w:.6f} {(b.ymax - b.ymin) / h:.6f}"
        for b in annotation.boxes
    ]
